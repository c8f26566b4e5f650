"""Benchmark: Gold latency under a Bronze flood, for each way a host can favour Gold.

    python -m ops.bench.flood [--capacity-npcs 30000] [--seconds 12] [--only NAME ...]

One private redis-server; the farm's capacity is measured once (the rules path's
batched phase), then for each topology the two lanes are started as an operator
would (a Gold lane `-Q gold -c 2` and a bulk lane `-Q silver,bronze -c 2`, only their
CPU scheduling differs), Gold p95 is measured with the farm idle and under a Bronze
flood of 10x that capacity, and the lanes are stopped. The topology with the lowest
flood/idle ratio is what OPERATIONS.md recommends (target <= 1.25x).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.bench.harness import RULES_ONLY, console, private_redis, wait_until, write_report
from ops.bench.rules_path import Bench


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    bulk_nice: int = 0
    bulk_idle: bool = False
    gold_cpus: frozenset[int] | None = None
    bulk_cpus: frozenset[int] | None = None
    bulk_concurrency: int = 2


def topologies() -> list[Topology]:
    cores = sorted(os.sched_getaffinity(0))
    last = frozenset(cores[-1:])
    rest = frozenset(cores[:-1]) or last
    return [
        Topology("nice 10 (before)", bulk_nice=10),
        Topology("nice 19", bulk_nice=19),
        Topology("SCHED_IDLE", bulk_idle=True),
        Topology("SCHED_IDLE, nice 19", bulk_nice=19, bulk_idle=True),
        Topology("SCHED_IDLE, bulk pinned to the last core", bulk_idle=True, bulk_cpus=last),
        Topology(
            "nice 19, lanes on their own cores",
            bulk_nice=19,
            gold_cpus=rest,
            bulk_cpus=last,
        ),
    ]


def run_topology(bench: Bench, top: Topology, *, seconds: float, flood: int) -> dict[str, Any]:
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    url = bench.settings.resolved_redis_url
    lanes = [
        spawn_worker(
            worker_argv(
                queues="gold",
                concurrency=2,
                loglevel="WARNING",
                hostname="gold@%h",
                logfile=bench.tmp / "gold.log",
            ),
            redis_url=url,
            env=RULES_ONLY,
            cpus=set(top.gold_cpus) if top.gold_cpus else None,
        ),
        spawn_worker(
            worker_argv(
                queues="silver,bronze",
                concurrency=top.bulk_concurrency,
                loglevel="WARNING",
                hostname="bulk@%h",
                logfile=bench.tmp / "bulk.log",
            ),
            redis_url=url,
            env=RULES_ONLY,
            nice=top.bulk_nice,
            idle=top.bulk_idle,
            cpus=set(top.bulk_cpus) if top.bulk_cpus else None,
        ),
    ]
    try:
        wait_until(
            lambda: len(bench.app.control.ping(timeout=0.5) or []), 2, timeout=60, label="lanes"
        )
        idle = bench.gold_latencies(seconds, flood=0)
        flooded = bench.gold_latencies(seconds, flood=flood)
    finally:
        for proc in lanes:
            stop_worker(proc)
    for run in (idle, flooded):
        run.pop("samples")
    ratio = flooded["p95_ms"] / idle["p95_ms"] if idle["p95_ms"] else float("inf")
    console.print(
        f"{top.name}: gold p95 idle {idle['p95_ms']:.1f} ms, flood {flooded['p95_ms']:.1f} ms "
        f"= {ratio:.2f}x; bronze decided {flooded['bronze_decided']:,}"
    )
    return {"topology": top.name, "idle": idle, "flood": flooded, "ratio": ratio}


def capacity(bench: Bench, npcs: int) -> float:
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    lane = spawn_worker(
        worker_argv(queues="silver,bronze", concurrency=2, loglevel="WARNING", hostname="cap@%h"),
        redis_url=bench.settings.resolved_redis_url,
        env=RULES_ONLY,
    )
    try:
        wait_until(
            lambda: len(bench.app.control.ping(timeout=0.5) or []), 1, timeout=60, label="lane"
        )
        return bench.farm(npcs)["per_s"]
    finally:
        stop_worker(lane)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capacity-npcs", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=12.0, help="per idle and flood run")
    parser.add_argument("--only", nargs="*", help="topology names to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    chosen = [t for t in topologies() if not args.only or t.name in args.only]
    with private_redis(), tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        per_s = capacity(bench, args.capacity_npcs)
        flood = min(400_000, int(10 * per_s))
        console.print(f"capacity {per_s:,.0f} decisions/s: flood of {flood:,} Bronze ticks/s")
        runs = []
        for n, top in enumerate(chosen, 1):
            console.print(f"[dim]({n}/{len(chosen)})[/] {top.name} ...")
            runs.append(run_topology(bench, top, seconds=args.seconds, flood=flood))
    best = min(runs, key=lambda r: r["ratio"])
    console.print(f"[bold]best[/]: {best['topology']} at {best['ratio']:.2f}x (target <= 1.25x)")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"capacity_per_s": per_s, "flood_per_s": flood, "runs": runs, "best": best}
    write_report(args.out / "flood.json", report)
    console.print(f"wrote {args.out / 'flood.json'}")


if __name__ == "__main__":
    main()
