"""Memory and the archive together: restore after Redis loss, decisions through an outage."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from npcfarm.domain import Emotion, Tier
from npcfarm.keys import Keys
from npcfarm.memory.remember import (
    remember_interaction,
    remember_quest,
    remember_reply,
    store_summary,
)
from npcfarm.memory.store import MemoryStore
from npcfarm.memory.summary import deterministic_summary, due_sessions, summary_memory
from npcfarm.registry import save_npcs
from npcfarm.settings import Settings, get_settings
from ops.archive.archiver import Archiver
from ops.archive.db import make_engine
from ops.archive.restore import restore
from ops.archive.schema import HISTORY
from schedules.placement import place_npcs
from schedules.scheduler import Scheduler
from tests.conftest import WorkerFactory, wait_for
from tests.helpers import fast_ticks, make_npc, write_fast_ticks
from tests.pg import TestServer
from workers.app import app
from workers.dispatch import batch_publisher

DAY = 86_400.0
OUTAGE_S = float(os.environ.get("NPCFARM_TEST_OUTAGE_S", "60"))


def _drain(archiver: Archiver, client: redis.Redis, keys: Keys) -> None:
    def done() -> bool:
        archiver.run_once()
        info = client.xinfo_groups(keys.archive)[0]
        return int(info["pending"]) == 0 and int(info.get("lag") or 0) == 0

    wait_for(done, timeout=30, what="the archive stream to drain")


def _form_memories(store: MemoryStore) -> None:
    t0 = time.time() - 8 * DAY
    for n in range(5):
        npc = f"npc-{n}"
        for e in range(30):  # more than the hot caps hold
            t = t0 + e * 3_600 + n
            player = f"p{e % 4}"
            remember_interaction(
                store,
                npc,
                event_id=f"{npc}-{e}",
                player_id=player,
                kind=("talk", "gift", "help", "attack", "trade")[e % 5],
                text=f"words number {e}",
                now=t,
            )
            remember_reply(
                store,
                npc,
                tick_id=f"ix-{npc}-{e}",
                player_id=player,
                speech=f"reply {e}",
                emotion=Emotion.CALM,
                action="speak",
                now=t + 1,
            )
            hot, recall = store.load(npc, now=t + 600)
            for session in due_sessions(hot, t + 600, store.gap_s):
                summary = summary_memory(
                    session, deterministic_summary(session, hot, recall), source="rules"
                )
                store_summary(store, npc, session, summary, now=t + 600)
        remember_quest(store, npc, event_id=f"{npc}-q", flag="ring", active=True, now=t0 + DAY)


def test_restore_rebuilds_what_redis_lost(
    client: redis.Redis, keys: Keys, settings: Settings, archive_url: str
) -> None:
    store = MemoryStore.from_settings(client, keys, settings)
    _form_memories(store)
    engine = make_engine(archive_url)
    archiver = Archiver(client, keys, engine, consumer="t")
    archiver.ensure_group()
    _drain(archiver, client, keys)
    now = time.time()
    before = {f"npc-{n}": store.load(f"npc-{n}", now=now) for n in range(5)}
    client.flushdb()  # Redis is lost
    report = restore(store, engine, now=now)
    assert report.npcs == 5 and report.skipped == 0
    for npc, (hot, recall) in before.items():
        got_hot, got_recall = store.load(npc, now=now)
        assert got_hot.turns == hot.turns
        assert got_hot.rel == hot.rel and got_hot.quest == hot.quest
        assert sorted(m.id for m in got_recall.facts) == sorted(m.id for m in recall.facts)
        assert {m.id: m.text for m in got_recall.summaries} == {
            m.id: m.text for m in recall.summaries
        }
        assert [p.model_dump() for p in got_recall.mood] == [p.model_dump() for p in recall.mood]
    engine.dispose()


@pytest.fixture
def archiving(
    client: redis.Redis, keys: Keys, archive_url: str
) -> Iterator[tuple[Archiver, threading.Event]]:
    engine = make_engine(archive_url)
    archiver = Archiver(client, keys, engine, consumer="outage")
    archiver.ensure_group()
    stop = threading.Event()
    thread = threading.Thread(target=archiver.serve, args=(stop,), daemon=True)
    thread.start()
    yield archiver, stop
    stop.set()
    thread.join(timeout=30)
    engine.dispose()


def _decided(client: redis.Redis, keys: Keys) -> int:
    return int(client.hget(keys.stats(Tier.GOLD), "decided") or 0)


def test_decisions_go_on_at_full_rate_while_postgresql_is_down(  # noqa: PLR0917 (fixtures)
    client: redis.Redis,
    keys: Keys,
    postgres: TestServer,
    archive_url: str,
    archiving: tuple[Archiver, threading.Event],
    start_worker: WorkerFactory,
    tmp_path: Path,
) -> None:
    """Workers never touch the database: a PostgreSQL outage costs them nothing, and what
    piled up in the stream meanwhile is archived, once, when it returns."""
    if not postgres.can_restart:
        pytest.skip("the PostgreSQL server was given by URL; this test must stop its own")
    npcs = [make_npc(f"g{i}", tier=Tier.GOLD) for i in range(40)]
    save_npcs(client, keys, npcs)
    place_npcs(client, keys, npcs, fast_ticks())
    start_worker()
    sched = Scheduler(
        client,
        keys,
        get_settings(),
        publish=batch_publisher(app),
        ticks_path=write_fast_ticks(tmp_path),
    )
    sched.start()
    try:
        time.sleep(3)
        mark, began = _decided(client, keys), time.monotonic()
        time.sleep(10)
        rate_up = (_decided(client, keys) - mark) / (time.monotonic() - began)
        postgres.stop()
        try:
            mark, began = _decided(client, keys), time.monotonic()
            time.sleep(OUTAGE_S)
            rate_down = (_decided(client, keys) - mark) / (time.monotonic() - began)
            backlog = client.xlen(keys.archive)
        finally:
            postgres.start()
    finally:
        sched.stop()
    assert rate_up > 20 and rate_down >= 0.8 * rate_up, (rate_up, rate_down)
    assert backlog >= rate_down * OUTAGE_S * 0.5  # the decisions waited in the stream
    engine = make_engine(archive_url)

    def archived_all() -> bool:
        with engine.connect() as conn:
            archived = conn.scalar(select(func.count()).select_from(HISTORY["decision"]))
        return archived == _decided(client, keys)  # every Gold decision, exactly once

    wait_for(archived_all, timeout=120, what="the backlog to drain after PostgreSQL returned")
    engine.dispose()
