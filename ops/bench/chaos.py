"""Benchmark: the farm under chaos, real processes killed under steady load.

    python -m ops.bench.chaos [--npcs 1000] [--rate 5] [--window 15] [--restart-delay 1] \\
        [--faults ingest,worker,scheduler,archiver,redis,redis-kill] [--fsync always]

A private redis-server (append-only, `appendfsync always` unless `--fsync`), a SQLite
archive, two workers, two schedulers (a leader and a hot standby), an ingest and an
archiver, each a process of its own started as an operator starts it; the demo world
ticking on the packaged ticks.toml; players sending interactions all along. One at a
time, with a recovery window after each: the ingest, a worker, the leading scheduler
and the archiver are killed with SIGKILL and started again, and Redis is restarted
from its append-only file, once cleanly (SHUTDOWN) and once killed. Then the load
stops, the farm drains, and the report says what was lost, answered twice or is
missing from the archive, and how long Gold ticks paused after each fault.

A job in a dead worker's hands (or cut off by a Redis restart) comes back once it has
been unacknowledged for `visibility_timeout_s` (10 s here), at the next sweep of
kombu's unacknowledged set: at the start of a worker, else every ~100 s. The drain
waits up to 150 s for such answers, and the report shows how long they took.
Writes `chaos.json`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import Progress, TaskID

from npcfarm.domain import Tier
from npcfarm.settings import PACKAGED_TICKS
from ops.bench.chaos_farm import VISIBILITY_TIMEOUT_S, Farm
from ops.bench.chaos_load import Bridge, Entry, Players, read_stream
from ops.bench.chaos_report import (
    FaultRecord,
    Observed,
    analyse,
    archived_ids,
    fault_table,
    summary_line,
    totals_table,
)
from ops.bench.harness import console, write_report
from schedules.config import load_ticks

WORLD = "demo-0"  # the world `npcfarm world demo` seeds
FAULTS = {  # name -> what it does, as the report calls it; the default order
    # first: an inbox entry the killed ingest had read is taken over after 30 s idle,
    # which the faults after it give it
    "ingest": "ingest kill -9",
    "worker": "worker kill -9",
    "scheduler": "leader kill -9",
    "archiver": "archiver kill -9",
    "redis": "Redis SHUTDOWN",
    "redis-kill": "Redis kill -9",
}
TARGETS = {"worker": "worker-1", "ingest": "ingest", "archiver": "archiver"}  # who is killed
LEADER_WAIT_S = 5.0  # bound on finding the leading scheduler (a lease is 3 s)
SETTLE_S = 30.0  # bound on each drain step after the answers (queues, archive)
STEP_S = 0.2  # how often the run supervises the farm and refreshes its progress


@dataclass(frozen=True)
class Plan:
    """The run's shape; the defaults are the benchmark's (about three minutes)."""

    npcs: int = 1000
    rate: float = 5.0  # interactions per second
    workers: int = 2
    concurrency: int = 2  # pool processes per worker
    warmup_s: float = 10.0
    window_s: float = 15.0  # recovery window after each restart
    restart_delay_s: float = 1.0  # a supervisor's pause before starting a process again
    faults: tuple[str, ...] = tuple(FAULTS)
    drain_s: float = 150.0  # how long the drain waits for the last answers
    fsync: str = "always"  # the AOF's appendfsync
    run_id: str = field(default_factory=lambda: f"cx{int(time.time()) % 100_000}")

    def worker_delay_s(self) -> float:
        """A dead worker's late-acked job returns once older than the visibility timeout;
        the replacement's first sweep of the unacknowledged set restores it."""
        return max(self.restart_delay_s, VISIBILITY_TIMEOUT_S + 1.0)

    def expected_s(self) -> float:
        delays = [
            self.worker_delay_s() if f == "worker" else self.restart_delay_s for f in self.faults
        ]
        return self.warmup_s + sum(delays) + len(self.faults) * (self.window_s + 2.0)


class Run:
    """The chaos schedule: waits that keep supervising the farm and showing progress."""

    def __init__(self, plan: Plan, farm: Farm, progress: Progress, task: TaskID) -> None:
        self.plan = plan
        self.farm = farm
        self.progress = progress
        self.task = task
        self.players: Players | None = None
        self.bridge: Bridge | None = None
        self.began = time.monotonic()

    def wait(self, seconds: float, label: str, done: Callable[[], bool] = lambda: False) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.farm.supervise()
            self.show(label)
            if done():
                return True
            time.sleep(STEP_S)
        return done()

    def show(self, label: str) -> None:
        sent = len(self.players.sent) if self.players else 0
        answered = len(self.bridge.answers) if self.bridge else 0
        up = sum(m.running() for m in self.farm.members.values())
        self.progress.update(
            self.task,
            completed=time.monotonic() - self.began,
            description=f"{label:<28} sent {sent:>5} answered {answered:>5} "
            f"processes {up}/{len(self.farm.members)}",
        )

    def inflict(self, name: str) -> FaultRecord:
        """One fault, then its recovery window."""
        plan, farm = self.plan, self.farm
        what = FAULTS[name]
        if name in ("redis", "redis-kill"):
            down = farm.redis_down(clean=name == "redis")
            self.wait(plan.restart_delay_s, f"{what}: down")
            back, target = farm.redis_up(), "redis"
        else:
            target = TARGETS.get(name) or self.leader()
            down = farm.kill(target)
            delay = plan.worker_delay_s() if name == "worker" else plan.restart_delay_s
            self.wait(delay, f"{what}: down")
            back, _ready = farm.restart(target)
            if name == "scheduler":
                back = down  # the standby, already running, is the replacement
        self.wait(plan.window_s, f"{what}: recovering")
        return FaultRecord(what, target, down, back, time.time())

    def leader(self) -> str:
        deadline = time.monotonic() + LEADER_WAIT_S
        while (name := self.farm.leader()) is None and time.monotonic() < deadline:
            self.wait(STEP_S, "finding the leader")
        return name or "scheduler-1"

    def drain(self, client: redis.Redis) -> Drained:
        """Stop the load, wait for the last answers, stop ticking, let queues and archive
        empty, and read what the bridge had not yet."""
        assert self.players is not None and self.bridge is not None
        self.players.stop()
        began = time.monotonic()
        answered = self.wait(self.plan.drain_s, "drain: last answers", _answered(self))
        waited = time.monotonic() - began
        self.farm.stop("scheduler-1", "scheduler-2")
        self.wait(SETTLE_S, "drain: queues", lambda: self.farm.queues_empty(client))
        self.wait(SETTLE_S, "drain: archive", lambda: self.farm.archive_caught_up(client))
        self.bridge.stop()
        while self.bridge.read_once(client):
            pass
        decisions, interactions = archived_ids(self.farm.archive_url)
        return Drained(
            final=read_stream(client, self.farm.keys.results(WORLD)),
            decisions=decisions,
            interactions=interactions,
            answers_s=waited,
            complete=answered,
        )


@dataclass(frozen=True)
class Drained:
    """The state of things once the farm has drained."""

    final: dict[str, Entry]
    decisions: set[str]
    interactions: set[str]
    answers_s: float  # how long the last answers took after the load stopped
    complete: bool  # every interaction answered within the drain


def _answered(run: Run) -> Callable[[], bool]:
    def done() -> bool:
        assert run.players is not None and run.bridge is not None
        return all(f"ix-{e}" in run.bridge.answers for e in list(run.players.sent))

    return done


def run_chaos(plan: Plan, root: Path, *, out: Console = console) -> dict[str, Any]:
    """Run the plan in `root` (logs, Redis data, archive); returns the report."""
    unknown = set(plan.faults) - set(FAULTS)
    if unknown:
        raise ValueError(
            f"unknown fault(s) {', '.join(sorted(unknown))}: choose from {', '.join(FAULTS)}"
        )
    farm = Farm(root, workers=plan.workers, concurrency=plan.concurrency, fsync=plan.fsync)
    with Progress(console=out, transient=True) as progress:
        run = Run(plan, farm, progress, progress.add_task("starting", total=plan.expected_s()))
        try:
            farm.start(npcs=plan.npcs)
            with farm.client() as client:
                npc_ids = sorted(map(str, client.smembers(farm.keys.world_npcs(WORLD))))
            run.players = Players(
                farm.client, farm.keys, npc_ids, rate=plan.rate, run_id=plan.run_id
            )
            run.bridge = Bridge(farm.client, farm.keys, WORLD)
            run.bridge.start()
            run.players.start()
            run.wait(plan.warmup_s, "warm-up")
            records = [run.inflict(name) for name in plan.faults]
            with farm.client() as client:
                drained = run.drain(client)
        finally:
            try:
                for thread in (run.players, run.bridge):
                    if thread is not None:
                        thread.stop()
            finally:
                farm.close()  # every process and Redis, whatever happened above
    report = analyse(
        Observed(
            sent=dict(run.players.sent),
            npc_of=dict(run.players.npc_of),
            seen=dict(run.bridge.seen),
            final=drained.final,
            archived_decisions=drained.decisions,
            archived_interactions=drained.interactions,
            faults=records,
            crashes={m.name: m.crashes for m in farm.members.values() if m.crashes},
            archive_tiers=frozenset(farm.archive_tiers),
            gold_interval_s=load_ticks(PACKAGED_TICKS)[0][Tier.GOLD].interval_s,
            write_errors=run.players.write_errors,
        )
    )
    report["drain"] = {"last_answers_s": drained.answers_s, "complete": drained.complete}
    report["starts"] = {m.name: m.starts for m in farm.members.values()}
    report["plan"] = dict(vars(plan))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npcs", type=int, default=Plan.npcs)
    parser.add_argument("--rate", type=float, default=Plan.rate, help="interactions per second")
    parser.add_argument("--workers", type=int, default=Plan.workers)
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency)
    parser.add_argument("--warmup", type=float, default=Plan.warmup_s)
    parser.add_argument("--window", type=float, default=Plan.window_s, help="recovery window")
    parser.add_argument(
        "--restart-delay",
        type=float,
        default=Plan.restart_delay_s,
        help="pause before a killed process (or a killed Redis) is started again",
    )
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma list, in order")
    parser.add_argument("--fsync", default=Plan.fsync, choices=("always", "everysec", "no"))
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    plan = Plan(
        npcs=args.npcs,
        rate=args.rate,
        workers=args.workers,
        concurrency=args.concurrency,
        warmup_s=args.warmup,
        window_s=args.window,
        restart_delay_s=args.restart_delay,
        faults=tuple(f.strip() for f in args.faults.split(",") if f.strip()),
        fsync=args.fsync,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still clean up every process
    with tempfile.TemporaryDirectory(prefix="npcfarm-chaos-") as tmp:
        report = run_chaos(plan, args.logs or Path(tmp))
    console.print(fault_table(report))
    console.print(totals_table(report))
    console.print(summary_line(report))
    write_report(args.out / "chaos.json", report)
    console.print(f"wrote {args.out / 'chaos.json'}")


if __name__ == "__main__":
    main()
