"""Benchmark: the rules path end to end (scheduler -> Redis -> Celery -> results).

    python -m ops.bench.rules_path [--npcs 100000] [--naive 10000] [--flood-seconds 15]

Three phases in one run, on one private redis-server and the same workers:
1. farm: every NPC due at once; the real scheduler sweeps them into batched messages;
   decisions/s from first enqueue to the last decision published;
2. naive: one Celery message per NPC decision (same decision code), same workers;
3. Gold under a Bronze flood: Gold latency p50/p95 with the farm idle, then with Bronze
   NPCs offering 10x the capacity measured in phase 1; Gold ticks shed must be 0.
Workers: a Gold lane (`-Q gold -c 2`) and a bulk lane (`-Q silver,bronze -c 2`, nice 19),
the deployment docs/OPERATIONS.md recommends when Gold latency matters under overload.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from npcfarm.domain import NPC, TIER_ORDER, Nearby, NPCState, Personality, Tier
from npcfarm.redisconn import connect, keys_for
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import get_settings
from npcfarm.stats import percentile
from ops.bench.harness import RULES_ONLY, console, private_redis, seed, wait_until, write_report
from schedules.config import parse_ticks
from schedules.placement import make_due_now, place_npcs

ARCHETYPES = ("vampire", "werewolf", "zombie", "ghoul", "lich", "human")
GOLD_NPCS = 200  # Gold NPCs ticking every second during the flood phase


def ticks_toml(*, bronze_interval: float, bronze_limit: int) -> str:
    return f"""
[tiers.gold]
interval_s = 1.0
jitter_s = 0.1
expiry_s = 0
pending_timeout_s = 10.0
batch_size = 64
backlog_limit = 0
[tiers.silver]
interval_s = 10.0
jitter_s = 1.0
expiry_s = 10.0
pending_timeout_s = 20.0
batch_size = 128
backlog_limit = 20000
[tiers.bronze]
interval_s = {bronze_interval}
jitter_s = {bronze_interval / 10}
expiry_s = 0
pending_timeout_s = 3600.0
batch_size = 256
backlog_limit = {bronze_limit}
"""


def npcs(count: int, *, tier: Tier, world: str, prefix: str, seed_: int = 1) -> list[NPC]:
    rng = random.Random(seed_)
    return [
        NPC(
            id=f"{prefix}{i}",
            name=f"N{i}",
            archetype=ARCHETYPES[i % 6],
            world=world,
            tier=tier,
            personality=Personality(
                openness=rng.random(),
                extraversion=rng.random(),
                agreeableness=rng.random(),
                neuroticism=rng.random(),
            ),
            state=NPCState(
                health=rng.random(),
                hunger=rng.random(),
                time_of_day=rng.random() * 23,
                nearby_players=[Nearby(id="p1", distance=rng.uniform(1, 80))],
            ),
        )
        for i in range(count)
    ]


class Bench:
    def __init__(self, tmp: Path) -> None:
        from workers.app import app  # noqa: PLC0415
        from workers.dispatch import batch_publisher  # noqa: PLC0415 - after the env points here

        self.app = app
        self.publish = batch_publisher(app)
        self.settings = get_settings()
        self.client, self.keys = connect(self.settings), keys_for(self.settings)
        self.tmp = tmp

    def decided(self) -> int:
        return sum(int(self.client.hget(self.keys.stats(t), "decided") or 0) for t in TIER_ORDER)

    def scheduler(self, toml: str) -> Any:
        from schedules.scheduler import Scheduler, publish_ticks_config  # noqa: PLC0415

        path = self.tmp / f"ticks-{time.monotonic_ns()}.toml"
        path.write_text(toml)
        # Each phase runs on its own tick configuration: make it the farm's active one.
        publish_ticks_config(self.client, self.keys, toml, source=str(path))
        settings = self.settings.model_copy(update={"sweep_interval_s": 0.05})
        return Scheduler(self.client, self.keys, settings, publish=self.publish, ticks_path=path)

    def farm(self, count: int) -> dict[str, float]:
        toml = ticks_toml(bronze_interval=3600.0, bronze_limit=0)
        crowd = npcs(count, tier=Tier.BRONZE, world="bulk", prefix="b")
        seed(self.client, self.keys, crowd, count, f"seeding {count:,} NPCs")
        place_npcs(self.client, self.keys, crowd, parse_ticks(toml), now=time.time() + 3600)
        sched = self.scheduler(toml)
        before = self.decided()
        sched.start()
        make_due_now(self.client, self.keys, Tier.BRONZE, [n.id for n in crowd])
        start = time.perf_counter()
        wait_until(lambda: self.decided() - before, count, timeout=600, label="farm")
        elapsed = time.perf_counter() - start
        sched.stop()
        return {"decisions": count, "seconds": elapsed, "per_s": count / elapsed}

    def naive(self, count: int) -> dict[str, float]:
        from ops.bench.naive import NAIVE_TASK  # noqa: PLC0415

        before = self.decided()
        start = time.perf_counter()
        for i in range(count):  # what a one-task-per-NPC scheduler does
            self.app.send_task(
                NAIVE_TASK,
                args=[f"b{i}", f"naive-{i}", time.time()],
                queue="bronze",
                routing_key="bronze",
            )
        wait_until(lambda: self.decided() - before, count, timeout=600, label="naive")
        elapsed = time.perf_counter() - start
        return {"decisions": count, "seconds": elapsed, "per_s": count / elapsed}

    def gold_latencies(self, seconds: float, *, flood: int) -> dict[str, Any]:
        """Gold latency while `flood` Bronze NPCs tick every second (0: idle farm)."""
        for key in self.client.scan_iter(f"{self.keys.prefix}:due:*"):
            self.client.delete(key)
        self.client.delete(
            self.keys.pending, "bronze", "silver", "gold", *[self.keys.stats(t) for t in TIER_ORDER]
        )
        toml = ticks_toml(bronze_interval=1.0, bronze_limit=20_000)
        config = parse_ticks(toml)
        gold = npcs(GOLD_NPCS, tier=Tier.GOLD, world="gold", prefix="g", seed_=2)
        save_npcs(self.client, self.keys, gold)
        if flood:
            have = int(self.client.scard(self.keys.world_npcs("bulk")))
            if have < flood:
                extra = npcs(flood, tier=Tier.BRONZE, world="bulk", prefix="b")[have:]
                seed(self.client, self.keys, extra, len(extra), "seeding the flood")
            ids = [f"b{i}" for i in range(flood)]
            self.client.zadd(self.keys.due(Tier.BRONZE), dict.fromkeys(ids, time.time()))
        place_npcs(self.client, self.keys, gold, config)  # after seeding: none starts overdue
        stream_start = "0-0"
        if self.client.exists(self.keys.results("gold")):
            stream_start = self.client.xinfo_stream(self.keys.results("gold"))["last-generated-id"]
        sched = self.scheduler(toml)
        sched.start()
        warmup, began = 2.0, time.time()
        time.sleep(seconds + warmup)
        sched.stop()
        lat = [
            d.timings.latency_ms
            for _, d in read_results(
                self.client, self.keys, "gold", last_id=stream_start, count=1_000_000
            )
            if d.timings.enqueued_at / 1000 > began + warmup
        ]
        stats = {
            t: {k: int(v) for k, v in self.client.hgetall(self.keys.stats(t)).items()}
            for t in TIER_ORDER
        }
        gold_shed = sum(stats[Tier.GOLD].get(c, 0) for c in ("shed_expired", "missed", "lost"))
        return {
            "gold_decisions": len(lat),
            "p50_ms": percentile(lat, 50),
            "p95_ms": percentile(lat, 95),
            "mean_ms": statistics.fmean(lat) if lat else 0.0,
            "gold_shed": gold_shed,
            "bronze_decided": stats[Tier.BRONZE].get("decided", 0),
            "bronze_backlog_skips": stats[Tier.BRONZE].get("backlog_skips", 0),
            "samples": lat,
            "counters": {str(t): stats[t] for t in TIER_ORDER},
        }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["farm (batched)", "naive (1 task/NPC)"]
    rates = [report["farm"]["per_s"], report["naive"]["per_s"]]
    left.bar(names, rates, color=["tab:green", "tab:gray"])
    left.set_ylabel("NPC decisions / s")
    left.set_title(f"rules path end to end: {rates[0] / rates[1]:.1f}x naive")
    for label, run in (("idle", report["idle"]), ("bronze flood", report["flood"])):
        xs = sorted(run["samples"])
        right.plot(xs, [i / max(1, len(xs)) for i in range(len(xs))], label=label)
    right.set_xlabel("Gold enqueue-to-publish latency (ms)")
    right.set_ylabel("fraction of Gold decisions")
    right.set_title("Gold latency, idle vs under a 10x Bronze flood")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npcs", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=10_000)
    parser.add_argument("--flood-seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    parser.add_argument("--gold-pool", default="prefork", help="pool of the Gold lane")
    parser.add_argument("--gold-concurrency", type=int, default=2)
    parser.add_argument("--bulk-nice", type=int, default=19, help="nice of the bulk lane")
    args = parser.parse_args()
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        include = ("ops.bench.naive",)
        workers = [
            spawn_worker(
                worker_argv(
                    queues="gold",
                    concurrency=args.gold_concurrency,
                    pool=args.gold_pool,
                    loglevel="WARNING",
                    hostname="gold@%h",
                    include=include,
                    logfile=Path(tmp) / "gold.log",
                ),
                redis_url=url,
                env=RULES_ONLY,
            ),
            spawn_worker(
                worker_argv(
                    queues="silver,bronze",
                    concurrency=2,
                    loglevel="WARNING",
                    hostname="bulk@%h",
                    include=include,
                    logfile=Path(tmp) / "bulk.log",
                ),
                redis_url=url,
                env=RULES_ONLY,
                nice=args.bulk_nice,
            ),
        ]
        try:
            wait_until(
                lambda: len(bench.app.control.ping(timeout=0.5) or []),
                2,
                timeout=60,
                label="workers starting",
            )
            report: dict[str, Any] = {"farm": bench.farm(args.npcs)}
            console.print(f"farm: {report['farm']['per_s']:,.0f} decisions/s")
            report["naive"] = bench.naive(args.naive)
            console.print(f"naive: {report['naive']['per_s']:,.0f} decisions/s")
            flood = min(400_000, int(10 * report["farm"]["per_s"]))
            report["idle"] = bench.gold_latencies(args.flood_seconds, flood=0)
            report["flood"] = bench.gold_latencies(args.flood_seconds, flood=flood)
            report["flood_bronze_npcs_per_s"] = flood
            report["topology"] = {
                "gold_pool": args.gold_pool,
                "bulk_nice": args.bulk_nice,
                "gold_concurrency": args.gold_concurrency,
            }
        finally:
            for proc in workers:
                stop_worker(proc)
    summarize(report)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(report, args.out / "rules_path.png")
    for run in ("idle", "flood"):
        report[run].pop("samples")
    write_report(args.out / "rules_path.json", report)
    console.print(f"wrote {args.out / 'rules_path.json'} and {args.out / 'rules_path.png'}")


def summarize(report: dict[str, Any]) -> None:
    farm, naive = report["farm"]["per_s"], report["naive"]["per_s"]
    idle, flood = report["idle"], report["flood"]
    ratio = flood["p95_ms"] / idle["p95_ms"] if idle["p95_ms"] else float("inf")
    console.print(
        f"[bold]rules path[/]: {farm:,.0f} decisions/s batched vs {naive:,.0f} naive "
        f"= {farm / naive:.1f}x (targets: >= 10,000/s and >= 10x)"
    )
    console.print(
        f"[bold]gold p95[/]: idle {idle['p95_ms']:.1f} ms, under a "
        f"{report['flood_bronze_npcs_per_s']:,}/s bronze flood {flood['p95_ms']:.1f} ms "
        f"= {ratio:.2f}x (target <= 1.25x); gold shed {flood['gold_shed']}; "
        f"bronze decided during the flood {flood['bronze_decided']:,}"
    )


if __name__ == "__main__":
    main()
