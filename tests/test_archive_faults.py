"""The archive under failure: an archiver process killed mid-batch, PostgreSQL down a while.

Both check the promise of the design: what a producer appended is archived exactly
once, and producers never wait on the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text

from npcfarm.archive import ArchiveEvent, event
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.settings import Settings
from ops.archive.archiver import GROUP, Archiver, lag
from ops.archive.db import make_engine
from tests.archive_events import column, decision_body, produce, stats
from tests.conftest import wait_for
from tests.pg import TestServer

OUTAGE_S = float(os.environ.get("NPCFARM_TEST_OUTAGE_S", "60"))  # how long PostgreSQL is down
RATE = 200  # decision events per second the producer keeps up through the outage
TICK_S = 0.05  # the producer appends RATE * TICK_S events every tick


@pytest.fixture
def engine(archive_url: str) -> Iterator[Engine]:
    engine = make_engine(archive_url)
    yield engine
    engine.dispose()


def interaction(i: int) -> ArchiveEvent:
    body = {"player_id": "ann", "kind": "talk", "text": f"line {i}"}
    return event("interaction", f"ix-{i:05d}", f"npc-{i % 7}", body, ts=1_000.0 + i)


def open_transactions(engine: Engine) -> int:
    """Sessions on this database that wrote and have not committed yet."""
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'idle in transaction'"
                )
            )
            or 0
        )


@pytest.mark.slow
def test_an_archiver_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    client: redis.Redis, keys: Keys, engine: Engine, archive_url: str, tmp_path: Path
) -> None:
    produced = [interaction(i) for i in range(1000)]
    produce(client, keys, produced)
    log = (tmp_path / "archiver.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.archive",
            "--consumer",
            "doomed",
            "--batch",
            "50",
            "--commit-delay-s",
            "1.0",
        ],  # hold each transaction open 1 s: room to aim the kill
        env={**os.environ, "NPCFARM_ARCHIVE_URL": archive_url},
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(
            lambda: stats(client, keys).get("batches", 0) >= 2 and proc.poll() is None,
            timeout=60,
            what="two committed batches",
        )
        wait_for(lambda: open_transactions(engine) == 1, what="a batch written, not committed")
        proc.kill()
        assert proc.wait(10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    event_of = {entry_id: f["id"] for entry_id, f in entries(client.xrange(keys.archive))}
    in_flight = {
        event_of[str(p["message_id"])]
        for p in client.xpending_range(keys.archive, GROUP, "-", "+", 1000, consumername="doomed")
    }
    before = set(column(engine, "interactions"))
    assert len(in_flight) == 50  # the whole batch it was writing...
    assert not in_flight & before  # ...of which nothing was committed
    assert 100 <= len(before) <= 950

    heir = Archiver(client, keys, engine, consumer="heir", wait_ms=20, claim_idle_ms=300)
    wait_for(
        lambda: heir.run_once() == 0 and client.xpending(keys.archive, GROUP)["pending"] == 0,
        timeout=30,
        what="the heir to claim and archive everything",
    )
    assert column(engine, "interactions") == sorted(ev.id for ev in produced)
    counts = stats(client, keys)
    assert counts["archived"] == 1000  # every row inserted exactly once, by one or the other
    assert counts.get("duplicates", 0) == 0


class Producer(threading.Thread):
    """Appends decision events on a fixed schedule, as workers do; never touches SQL."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        super().__init__(daemon=True)
        self._client = redis.Redis.from_url(settings.resolved_redis_url, decode_responses=True)
        self._keys = keys
        self.stop = threading.Event()
        self.ticks: list[tuple[float, int]] = []  # (monotonic time, events appended so far)
        self.ids: list[str] = []

    def run(self) -> None:
        per_tick, due = int(RATE * TICK_S), time.monotonic()
        while not self.stop.is_set():
            n = len(self.ids)
            batch = [
                event(
                    "decision",
                    f"npc-{i % 50}:tick-{i}",
                    f"npc-{i % 50}",
                    decision_body(f"npc-{i % 50}", f"tick-{i}"),
                    ts=time.time(),
                )
                for i in range(n, n + per_tick)
            ]
            produce(self._client, self._keys, batch)
            self.ids += [ev.id for ev in batch]
            self.ticks.append((time.monotonic(), len(self.ids)))
            due += TICK_S
            self.stop.wait(max(0.0, due - time.monotonic()))
        self._client.close()

    def appended_between(self, start: float, end: float) -> int:
        inside = [n for t, n in self.ticks if start <= t <= end]
        return inside[-1] - inside[0] if inside else 0


@pytest.mark.slow
@pytest.mark.timeout(OUTAGE_S + 240)
def test_postgres_down_for_a_minute_backlog_waits_in_redis_and_drains_exactly_once(
    client: redis.Redis, keys: Keys, settings: Settings, engine: Engine, postgres: TestServer
) -> None:
    if not postgres.can_restart:
        pytest.skip("NPCFARM_TEST_DATABASE_URL names a server these tests cannot stop")
    archiver = Archiver(client, keys, engine, consumer="survivor")
    archiver.ensure_group()
    done = threading.Event()
    serving = threading.Thread(target=archiver.serve, args=(done,), daemon=True)
    producer = Producer(settings, keys)
    serving.start()
    producer.start()
    try:
        wait_for(lambda: stats(client, keys).get("archived", 0) >= RATE, what="archiving")
        down = time.monotonic()
        postgres.stop()
        try:
            wait_for(lambda: stats(client, keys).get("failures", 0) >= 2, what="failed writes")
            threading.Event().wait(max(0.0, OUTAGE_S - (time.monotonic() - down)))
            assert serving.is_alive()
            backlog = lag(client, keys)
        finally:
            postgres.start()
        up = time.monotonic()
        threading.Event().wait(2.0)  # producing on while the archiver catches up
        producer.stop.set()
        producer.join(10)
        wait_for(
            lambda: stats(client, keys).get("archived", 0) == len(producer.ids),
            timeout=120,
            what="the backlog to drain",
        )
    finally:
        producer.stop.set()
        done.set()
        serving.join(15)
    outage = up - down
    # producers kept their rate: nothing they do waits on the database
    assert producer.appended_between(down, up) >= 0.95 * RATE * outage
    gaps = [b[0] - a[0] for a, b in zip(producer.ticks, producer.ticks[1:], strict=False)]
    assert max(gaps) < 0.5
    # the backlog waited in Redis, unacknowledged, and then every event landed once
    assert backlog.length >= 0.95 * RATE * OUTAGE_S
    assert column(engine, "decisions") == sorted(producer.ids)
    counts = stats(client, keys)
    assert counts["archived"] == len(producer.ids)
    assert counts["failures"] >= 2
    assert client.xpending(keys.archive, GROUP)["pending"] == 0
