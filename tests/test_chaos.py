"""The chaos benchmark, short: a farm of real processes killed piece by piece under load.

A worker, the ingest, the leading scheduler and the archiver are each killed with
SIGKILL and started again, and Redis is restarted from its append-only file twice
(SHUTDOWN, then SIGKILL), while players keep sending interactions. Every interaction
must be answered, none twice, and every decision of the archived tiers must be in the
archive. The farm runs on its own Redis (free port, temporary folder), never on the
suite's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.bench.chaos import Plan, run_chaos

# Ingest first: an inbox entry it had read when killed is taken over after 30 s idle,
# which the later faults give it. Redis before the worker: a job cut off by a Redis
# restart comes back at the next sweep of kombu's unacknowledged set once 10 s old,
# which the restarted worker makes at its start (the periodic one comes every ~100 s,
# longer than this test; the benchmark's drain waits for it).
SHORT = Plan(
    npcs=300,
    rate=4.0,
    warmup_s=3.0,
    window_s=4.0,
    faults=("ingest", "redis", "redis-kill", "worker", "scheduler", "archiver"),
    drain_s=45.0,
)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_a_farm_killed_piece_by_piece_loses_nothing_and_answers_once(tmp_path: Path) -> None:
    report = run_chaos(SHORT, tmp_path)
    ix, archive, decisions = report["interactions"], report["archive"], report["decisions"]
    assert ix["sent"] >= 100
    assert ix["lost"] == 0, ix["lost_ids"]
    assert ix["answered_twice"] == 0, ix["twice_ids"]
    assert archive["missing"] == 0, archive["missing_ids"]
    assert archive["unexpected"] == 0
    assert archive["rows"] == archive["published"] > 0
    assert archive["interactions_missing"] == 0
    assert decisions["published_twice"] == 0
    assert decisions["vanished_after_read"] == 0  # appendfsync always: Redis kept every write
    # not asserted: report["crashes"], processes that exited unasked and were started
    # again (a worker can exit 0 on a Redis restart, inside kombu; see the benchmark)
    faults = {row["fault"]: row for row in report["faults"]}
    assert len(faults) == len(SHORT.faults)
    assert all(row["recover_s"] is not None for row in faults.values()), faults
    # where a process of the same kind carries on, or none is needed to tick, Gold ticks
    # swept after the restart are decided within one Gold interval
    for name in ("worker kill -9", "ingest kill -9", "archiver kill -9"):
        assert faults[name]["recover_s"] <= report["gold_interval_s"], faults[name]
