"""Benchmark: the rules path on dramatiq's Redis broker beside Celery's (issue 14).

    python -m ops.bench.dramatiq_path [--npcs 50000] [--naive 3000] [--flood-seconds 10]
        [--rounds 2] [--first celery|dramatiq] [--gold-poll-ms 10] [--bulk-poll-ms 100]
        [--flood N] [--idle-seconds 4] [--out docs/bench]

Should the farm's task queue be dramatiq? Decided by measuring where it matters, with
everything else held equal: one private redis-server, the same seeded NPCs, the same
scheduler (the real due-sweep, one message per batch of one tier and archetype), the
same plain decision functions (`run_tick_batch`, `decide_ticks`), the same lanes on the
same 2 cores (a Gold lane of 2 processes x 1 slot; a bulk lane of 2 x 1 for Silver and
Bronze at nice 10, as `ops.bench.rules_path` runs Celery). Only the task queue differs.

0. idle: the share of a core the idle lanes and Redis use (polling costs);
1. batched: every NPC due at once, decisions/s from the first enqueue to the last
   publish (the bulk lane's throughput);
2. naive: one message per NPC decision, decisions/s (each queue's per-message cost);
3. Gold p50/p95 with the farm idle, then under a Bronze flood of 10x the better
   batched rate (the same flood for both), Bronze held back by the same backlog limit.
Phases 1 and 2 also report the CPU they cost per decision (workers, Redis, this
process), which another process on the machine moves far less than it moves rates.

Phases 0-2 run for one queue and then the other, each on freshly started workers, and
phase 3 likewise, so neither queue's idle workers take CPU from the other's run and both
floods are the same size; `--rounds` repeats each, order reversed every other round,
and the table gives medians. dramatiq's consumers poll Redis (they do not block like
Celery's BRPOP), backing off up to `dramatiq_worker_timeout` when idle: the Gold lane
runs with `--gold-poll-ms` (dramatiq's default of 1,000 ms would add up to a second to
an idle Gold lane's first message), the bulk lane with `--bulk-poll-ms`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from npcfarm.domain import TickBatch, Tier
from npcfarm.results import read_results
from npcfarm.stats import percentile
from ops.bench.dramatiq_report import medians, table
from ops.bench.harness import RULES_ONLY, console, private_redis, seed, wait_until, write_report
from ops.bench.rules_path import Bench, npcs, ticks_toml
from schedules.config import TierTicks, parse_ticks
from schedules.placement import make_due_now, place_npcs
from schedules.sweep import DueSweep

QUEUES = ("celery", "dramatiq")
REPO = Path(__file__).resolve().parents[2]  # dramatiq's CLI imports the actors from here
FLOOD_FACTOR = 10  # Bronze NPCs ticking every second, per decision/s of batched capacity
FLOOD_CAP = 400_000  # ... bounded, as in rules_path, so seeding stays short
LANES = ("gold", "bulk")  # the order in which both paths start (and list) their lanes
LANE_PROCESSES = 2  # per lane, one slot each (Celery prefork -c 2; dramatiq -p 2 -t 1)
START_TIMEOUT_S = 60.0  # workers of one queue answering
PHASE_TIMEOUT_S = 600.0  # a phase that takes longer has hung
BULK_NICE = 10  # the bulk lane's nice, as rules_path runs it
IDLE_SETTLE_S = 1.0  # started lanes finish their own start-up work in this
GOLD_WARMUP_S = 2.0  # rules_path's Gold phases ignore ticks enqueued in their first 2 s
# /proc/<pid>/stat, fields after the command's closing parenthesis (proc(5), from 0)
STAT_SESSION, STAT_UTIME, STAT_STIME = 3, 11, 12


class CeleryPath(Bench):
    """The farm as deployed: rules_path's Bench, Celery lanes started by workers.launch."""

    name = "celery"

    def __init__(self, tmp: Path, url: str) -> None:
        super().__init__(tmp)
        self.url = url

    def start(self) -> list[subprocess.Popen[bytes]]:
        """A Gold lane and a niced bulk lane; returns once both answer a ping."""
        from workers.launch import spawn_worker, worker_argv  # noqa: PLC0415

        def lane(queues: str, host: str, nice: int) -> subprocess.Popen[bytes]:
            argv = worker_argv(
                queues=queues,
                concurrency=LANE_PROCESSES,
                loglevel="WARNING",
                hostname=f"{host}@%h",
                include=("ops.bench.naive",),
                logfile=self.tmp / f"celery-{host}.log",
            )
            return spawn_worker(argv, redis_url=self.url, env=RULES_ONLY, nice=nice)

        procs = [lane("gold", "gold", 0), lane("silver,bronze", "bulk", BULK_NICE)]  # LANES
        answering = len(procs)  # one ping reply per lane (its hostname)
        return started(
            self, procs, lambda: len(self.app.control.ping(timeout=0.5) or []), answering
        )

    def clear(self) -> None:
        """Celery's queues are emptied by rules_path's Bench itself."""


class DramatiqPath(Bench):
    """The same workload published to dramatiq actors (ops/bench/dramatiq_actors.py)."""

    name = "dramatiq"

    def __init__(self, tmp: Path, url: str, *, gold_poll_ms: int, bulk_poll_ms: int) -> None:
        super().__init__(tmp)
        from ops.bench import dramatiq_actors  # noqa: PLC0415 - after the env points here

        self.actors = dramatiq_actors
        self.url = url
        self.poll_ms = {"gold": gold_poll_ms, "bulk": bulk_poll_ms}

        def publish(batch: TickBatch) -> None:
            dramatiq_actors.TICKS[batch.tier].send(batch.model_dump(mode="json"))

        self.publish = publish

    def scheduler(self, toml: str) -> Any:
        """rules_path's scheduler, its backlog limit read from dramatiq's queues.

        The sweep holds a tier back by the length of Celery's queue list; dramatiq's
        lists have other names, so without this the flood would never be held back
        and Bronze would pile up in Redis, unlike on the Celery path.
        """
        sched = super().scheduler(toml)
        sched._sweep = DramatiqSweep(self.client, self.keys, limit=self.settings.sweep_limit)
        return sched

    def naive(self, count: int) -> dict[str, float]:
        """rules_path's naive phase, each NPC decision its own dramatiq message."""
        before = self.decided()
        start = time.perf_counter()
        for i in range(count):
            self.actors.naive_decide.send(f"b{i}", f"naive-{i}", time.time())
        wait_until(lambda: self.decided() - before, count, timeout=PHASE_TIMEOUT_S, label="naive")
        elapsed = time.perf_counter() - start
        return {"decisions": count, "seconds": elapsed, "per_s": count / elapsed}

    def start(self) -> list[subprocess.Popen[bytes]]:
        """Both lanes through dramatiq's CLI; returns once every process booted."""
        self.client.delete(self.actors.ready_key())
        procs = [  # in LANES order
            self._lane("gold", ["gold"], 0),
            self._lane("bulk", ["silver", "bronze"], BULK_NICE),
        ]
        booted = LANE_PROCESSES * len(procs)
        return started(self, procs, lambda: int(self.client.scard(self.actors.ready_key())), booted)

    def _lane(self, name: str, queues: list[str], nice: int) -> subprocess.Popen[bytes]:
        argv = [
            *(sys.executable, "-m", "dramatiq", self.actors.__name__),
            *("--processes", str(LANE_PROCESSES), "--threads", "1"),
            *("--log-file", str(self.tmp / f"dramatiq-{name}.log"), "--queues", *queues),
        ]
        env = {
            **os.environ,
            **RULES_ONLY,
            "NPCFARM_REDIS_URL": self.url,
            # An idle consumer polls with a backoff up to this (dramatiq's default: 1 s).
            "dramatiq_worker_timeout": str(self.poll_ms[name]),
        }
        return subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,  # noqa: PLW1509
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def clear(self) -> None:
        """Drop dramatiq's queues, acks and heartbeats; called only while no lane runs."""
        stale = list(self.client.scan_iter(f"{self.actors.NAMESPACE}:*"))
        if stale:
            self.client.delete(*stale)


Path_ = CeleryPath | DramatiqPath


class DramatiqSweep(DueSweep):
    """The due-sweep with its backlog read from dramatiq's queue lists."""

    def backlog(self, tier: Tier, ticks: TierTicks) -> int:
        from ops.bench.dramatiq_actors import queue_key  # noqa: PLC0415

        return int(self._client.llen(queue_key(tier))) * ticks.batch_size


def started(
    path: Path_, procs: list[subprocess.Popen[bytes]], answering: Callable[[], int], target: int
) -> list[subprocess.Popen[bytes]]:
    """`procs` once `answering()` reaches `target`; stopped, with their logs shown, if never."""
    try:
        wait_until(answering, target, timeout=START_TIMEOUT_S, label=f"{path.name} workers")
    except BaseException:
        stop(procs)
        for log in sorted(path.tmp.glob(f"{path.name}-*.log")):
            console.print(f"[red]{log.name}[/]:\n" + "\n".join(log.read_text().splitlines()[-20:]))
        raise
    return procs


def stop(procs: list[subprocess.Popen[bytes]], *, timeout_s: float = 20.0) -> None:
    """Warm shutdown of each lane (SIGTERM), then its whole session killed if it hangs."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: its children, not ours
            proc.wait()


@contextmanager
def running(path: Path_) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One queue's lanes for the length of a block, stopped whatever happens."""
    path.clear()
    with console.status(f"starting {path.name} workers"):
        procs = path.start()
    try:
        yield procs
    finally:
        stop(procs)
        path.clear()


def session_cpu_s(session: int) -> float:
    """CPU seconds (user + system) of the live processes of one session: a lane's
    master and the children it forked (each lane is started in a session of its own)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[STAT_SESSION]) == session:
            ticks += int(fields[STAT_UTIME]) + int(fields[STAT_STIME])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_now(path: Path_, procs: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds used so far by each lane (`procs` in LANES order), the redis-server,
    and this process (the scheduler's sweeps and publishes, or the naive sender)."""
    info = path.client.info("cpu")
    return {
        **{lane: session_cpu_s(p.pid) for lane, p in zip(LANES, procs, strict=True)},
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        "publisher": sum(os.times()[:2]),
    }


def idle_cpu(path: Path_, procs: list[subprocess.Popen[bytes]], seconds: float) -> dict[str, Any]:
    """Share of one core the lanes and Redis use with nothing to do: Celery's consumers
    block in BRPOP; dramatiq's poll Redis, as often as their poll setting makes them."""
    with console.status(f"{path.name}: idle lanes, {seconds:g} s"):
        time.sleep(IDLE_SETTLE_S)  # past the start-up work of the processes
        before = cpu_now(path, procs)
        time.sleep(seconds)
        after = cpu_now(path, procs)
    return {f"{k}_pct": (after[k] - before[k]) * 100 / seconds for k in (*LANES, "redis")}


def with_cpu(
    path: Path_, procs: list[subprocess.Popen[bytes]], phase: Callable[[], dict[str, float]]
) -> dict[str, Any]:
    """A phase's result with the CPU it cost per decision, in µs, by process kind.

    Wall-clock rates on this shared 2-core machine move with whatever else runs; CPU per
    decision does not, and on 2 dedicated cores it is what bounds the rate."""
    before = cpu_now(path, procs)
    result: dict[str, Any] = dict(phase())
    after = cpu_now(path, procs)
    per = {k: (after[k] - before[k]) * 1e6 / result["decisions"] for k in before}
    result["cpu_us_per_decision"] = {**per, "total": sum(per.values())}
    return result


def batched(path: Path_, ids: list[str], toml: str) -> dict[str, float]:
    """rules_path's farm phase on NPCs already seeded and placed: all due at once."""
    path.client.delete(path.keys.pending)  # no tick of a previous phase still pending
    sched = path.scheduler(toml)
    before = path.decided()
    sched.start()
    try:
        make_due_now(path.client, path.keys, Tier.BRONZE, ids)
        start = time.perf_counter()
        label = f"{path.name} batched"
        wait_until(lambda: path.decided() - before, len(ids), timeout=PHASE_TIMEOUT_S, label=label)
        elapsed = time.perf_counter() - start
    finally:
        sched.stop()
    return {"decisions": len(ids), "seconds": elapsed, "per_s": len(ids) / elapsed}


def gold(path: Path_, seconds: float, flood: int) -> dict[str, Any]:
    """Gold latency with the farm idle, then under the Bronze flood."""
    out: dict[str, Any] = {}
    for phase, size in (("idle", 0), ("flood", flood)):
        label = f"{path.name}: Gold, {phase} ({size:,} Bronze NPCs/s), {seconds:g} s"
        stream = path.keys.results("gold")
        exists = path.client.exists(stream)
        last = path.client.xinfo_stream(stream)["last-generated-id"] if exists else "0-0"
        began = time.time()
        with console.status(label):
            out[phase] = path.gold_latencies(seconds, flood=size)
            out[phase].pop("samples")
        # Where the latency went: waiting for a worker (queue) or deciding and publishing.
        waits = [
            d.timings.queue_ms
            for _, d in read_results(path.client, path.keys, "gold", last_id=last, count=10**6)
            if d.timings.enqueued_at / 1000 > began + GOLD_WARMUP_S
        ]
        out[phase] |= {"queue_p50_ms": percentile(waits, 50), "queue_p95_ms": percentile(waits, 95)}
        console.print(
            f"{path.name} Gold {phase}: p50 {out[phase]['p50_ms']:.1f} ms, "
            f"p95 {out[phase]['p95_ms']:.1f} ms, of which queued p50 "
            f"{out[phase]['queue_p50_ms']:.1f} ms ({out[phase]['gold_decisions']:,} decisions)"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npcs", type=int, default=50_000, help="NPCs in the batched phase")
    parser.add_argument("--naive", type=int, default=3_000, help="messages in the naive phase")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="0: no Gold phase")
    parser.add_argument(
        "--flood", type=int, default=0, help="Bronze NPCs/s (default: 10x the best batched rate)"
    )
    parser.add_argument("--idle-seconds", type=float, default=4.0, help="idle lanes' CPU")
    parser.add_argument("--rounds", type=int, default=2, help="each phase, order reversed")
    parser.add_argument("--first", choices=QUEUES, default="celery", help="which queue runs first")
    parser.add_argument(
        "--gold-poll-ms",
        type=int,
        default=10,
        help="dramatiq Gold lane's longest idle poll (dramatiq_worker_timeout; default 1000)",
    )
    parser.add_argument("--bulk-poll-ms", type=int, default=100, help="the same, bulk lane")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    import dramatiq  # noqa: PLC0415

    order = [args.first, *(q for q in QUEUES if q != args.first)]
    report: dict[str, Any] = {
        "dramatiq_version": dramatiq.__version__,
        "order": order,
        "rounds": args.rounds,
        "load_average_before": os.getloadavg()[0],  # the machine is shared: was it quiet?
        "sizes": {"npcs": args.npcs, "naive": args.naive, "flood_seconds": args.flood_seconds},
        "topology": {
            "lanes": f"gold {LANE_PROCESSES}x1, bulk (silver, bronze) {LANE_PROCESSES}x1 "
            f"nice {BULK_NICE}",
            "dramatiq_poll_ms": {"gold": args.gold_poll_ms, "bulk": args.bulk_poll_ms},
        },
    }
    with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
        polls = {"gold_poll_ms": args.gold_poll_ms, "bulk_poll_ms": args.bulk_poll_ms}
        paths: list[Path_] = [
            CeleryPath(Path(tmp), url) if q == "celery" else DramatiqPath(Path(tmp), url, **polls)
            for q in order
        ]
        for path in paths:
            report[path.name] = {}
        measure(paths, args, report)
    report["load_average_after"] = os.getloadavg()[0]
    console.print(table(report))
    console.print(
        f"load average {report['load_average_before']:.2f} before, "
        f"{report['load_average_after']:.2f} after (2 cores: above ~2, another process ran)"
    )
    write_report(args.out / "dramatiq_path.json", report)
    console.print(f"wrote {args.out / 'dramatiq_path.json'}")


def measure(paths: list[Path_], args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Throughput of each queue in turn, then Gold under the same flood for each; each
    `--rounds` times, the order reversed every other round (A B B A) so that a load
    burst from elsewhere does not land on one queue only."""
    first = paths[0]
    toml = ticks_toml(bronze_interval=3600.0, bronze_limit=0)
    crowd = npcs(args.npcs, tier=Tier.BRONZE, world="bulk", prefix="b")
    seed(first.client, first.keys, crowd, args.npcs, f"seeding {args.npcs:,} NPCs")
    place_npcs(first.client, first.keys, crowd, parse_ticks(toml), now=time.time() + 3600)
    ids = [n.id for n in crowd]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {p.name: defaultdict(list) for p in paths}
    for path in alternating(paths, args.rounds):
        with running(path) as procs:
            runs[path.name]["idle_cpu"].append(idle_cpu(path, procs, args.idle_seconds))
            phases = {
                "batched": partial(batched, path, ids, toml),
                "naive": partial(path.naive, min(args.naive, args.npcs)),
            }
            for phase, run in phases.items():
                runs[path.name][phase].append(with_cpu(path, procs, run))
        got = runs[path.name]
        console.print(
            f"{path.name}: batched {got['batched'][-1]['per_s']:,.0f} decisions/s, "
            f"naive {got['naive'][-1]['per_s']:,.0f}/s"
        )
    for path in paths:
        for phase in ("idle_cpu", "batched", "naive"):
            report[path.name][phase] = medians(runs[path.name][phase])
    if not args.flood_seconds:
        return
    best = max(report[p.name]["batched"]["per_s"] for p in paths)
    flood = args.flood or min(FLOOD_CAP, int(FLOOD_FACTOR * best))
    report["flood_bronze_npcs_per_s"] = flood
    for path in alternating(paths, args.rounds):
        with running(path):
            for phase, result in gold(path, args.flood_seconds, flood).items():
                runs[path.name][phase].append(result)
    for path in paths:
        report[path.name]["gold"] = {p: medians(runs[path.name][p]) for p in ("idle", "flood")}


def alternating(paths: list[Path_], rounds: int) -> Iterator[Path_]:
    for r in range(rounds):
        yield from (paths if r % 2 == 0 else reversed(paths))


if __name__ == "__main__":
    main()
