"""The archiver against a real PostgreSQL and a real Redis: rows, idempotence, dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, text

from npcfarm.archive import event
from npcfarm.domain import Tier
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from ops.archive.archiver import GROUP, Archiver, Backlog, dead_letters, lag
from ops.archive.db import (
    load_registry,
    make_engine,
    memories_for,
    npc_ids_with_memories,
    upsert_npcs,
)
from tests.archive_events import (
    add_raw,
    column,
    decision_body,
    drain,
    memory,
    one_of_each,
    produce,
    stats,
)
from tests.helpers import make_npc


@pytest.fixture
def engine(archive_url: str) -> Iterator[Engine]:
    engine = make_engine(archive_url)
    yield engine
    engine.dispose()


@pytest.fixture
def archiver(client: redis.Redis, keys: Keys, engine: Engine) -> Archiver:
    service = Archiver(client, keys, engine, consumer="test", wait_ms=20)
    service.ensure_group()
    return service


def one_row(engine: Engine, sql: str) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(text(sql)).mappings().one())


def test_every_kind_lands_in_its_table_and_redelivery_duplicates_nothing(
    client: redis.Redis, keys: Keys, engine: Engine, archiver: Archiver
) -> None:
    produce(client, keys, one_of_each("a") + one_of_each("b"))
    assert drain(archiver) == 10
    assert column(engine, "npcs", "id") == ["npc-a", "npc-b"]
    assert column(engine, "interactions") == ["ix-a", "ix-b"]
    assert column(engine, "decisions") == ["npc-a:t-a", "npc-b:t-b"]
    assert column(engine, "memories") == ["mem-a", "mem-b"]
    assert column(engine, "audit_log") == ["audit-a", "audit-b"]
    assert one_row(engine, "SELECT * FROM npcs WHERE id = 'npc-a'") == {
        "id": "npc-a",
        "world": "w1",
        "name": "Npc-A",
        "archetype": "human",
        "faction": None,
        "record": make_npc("npc-a").model_dump(mode="json"),
        "updated_at": 1000.0,
    }
    assert one_row(engine, "SELECT * FROM interactions WHERE event_id = 'ix-a'") == {
        "event_id": "ix-a",
        "npc_id": "npc-a",
        "player_id": "ann",
        "kind": "gift",
        "text": "a rose",
        "ts": 1000.0,
    }
    assert one_row(engine, "SELECT * FROM decisions WHERE event_id = 'npc-a:t-a'") == {
        "event_id": "npc-a:t-a",
        "npc_id": "npc-a",
        "world": "w1",
        "tick_id": "t-a",
        "tier": "gold",
        "action": "speak",
        "target": "ann",
        "speech": "Well met.",
        "emotion": "neutral",
        "source": "llm",
        "model": "gemma3-270m",
        "reason": None,
        "latency_ms": 42.5,
        "ts": 1000.0,
        "body": decision_body("npc-a", "t-a"),
    }
    assert one_row(engine, "SELECT * FROM memories WHERE event_id = 'mem-a'") == {
        "event_id": "mem-a",
        "npc_id": "npc-a",
        "kind": "fact",
        "player_id": "ann",
        "importance": 0.9,
        "text": "Ann gave me a rose.",
        "ts": 1000.0,
        "body": {
            "kind": "fact",
            "player_id": "ann",
            "importance": 0.9,
            "text": "Ann gave me a rose.",
        },
    }
    assert one_row(engine, "SELECT * FROM audit_log WHERE event_id = 'audit-a'") == {
        "event_id": "audit-a",
        "ts": 1000.0,
        "who": "op@host",
        "action": "npc.import",
        "args": {"file": "npcs.yaml"},
    }
    assert stats(client, keys) == {"archived": 10, "batches": 1}

    produce(client, keys, one_of_each("a") + one_of_each("b"))  # the same ids once more
    assert drain(archiver) == 10
    for table, count in [
        ("npcs", 2),
        ("interactions", 2),
        ("decisions", 2),
        ("memories", 2),
        ("audit_log", 2),
    ]:
        assert len(column(engine, table, "*" if table == "npcs" else "event_id")) == count
    assert stats(client, keys) == {"archived": 10, "duplicates": 10, "batches": 2}
    assert client.xpending(keys.archive, GROUP)["pending"] == 0
    assert archiver.trim() == 20
    assert lag(client, keys) == Backlog(length=0, pending=0)


def test_entries_of_an_archiver_that_died_after_its_commit_are_claimed_and_add_nothing(
    client: redis.Redis, keys: Keys, engine: Engine, archiver: Archiver
) -> None:
    produce(client, keys, one_of_each("c"))
    assert drain(archiver) == 5
    produce(client, keys, one_of_each("c"))  # committed once; now delivered to a process
    client.xreadgroup(GROUP, "crashed", {keys.archive: ">"}, count=10)  # that dies before XACK
    assert pending_of(client, keys, "crashed") == 5
    heir = Archiver(client, keys, engine, consumer="heir", wait_ms=20, claim_idle_ms=0)
    assert drain(heir) == 5
    assert pending_of(client, keys, "crashed") == 0
    assert column(engine, "interactions") == ["ix-c"]
    assert column(engine, "decisions") == ["npc-c:t-c"]
    assert stats(client, keys) == {"archived": 5, "duplicates": 5, "batches": 2}


def test_entries_trimmed_by_the_producers_cap_before_archiving_are_counted_lost(
    client: redis.Redis, keys: Keys, engine: Engine
) -> None:
    """Only a backlog past `archive_stream_max` loses events; they must not jam the group."""
    mine = Archiver(client, keys, engine, consumer="mine", wait_ms=20, claim_idle_ms=0)
    mine.ensure_group()
    produce(client, keys, [memory(f"m{i}", "x", float(i)) for i in range(6)])
    client.xreadgroup(GROUP, "mine", {keys.archive: ">"}, count=3)  # then "mine" restarts
    client.xreadgroup(GROUP, "gone", {keys.archive: ">"}, count=3)  # and "gone" died
    client.xtrim(keys.archive, maxlen=2, approximate=False)  # drops m0..m3
    assert drain(mine) == 5  # its own three (all trimmed), then gone's two left (one trimmed)
    assert column(engine, "memories") == ["mem-m4", "mem-m5"]
    assert stats(client, keys) == {"archived": 2, "lost": 4, "batches": 2}
    assert client.xpending(keys.archive, GROUP)["pending"] == 0


def pending_of(client: redis.Redis, keys: Keys, consumer: str) -> int:
    rows = client.xpending_range(keys.archive, GROUP, "-", "+", 1000, consumername=consumer)
    return len(rows)


def test_malformed_entries_are_dead_lettered_with_their_reason_and_the_rest_archived(
    client: redis.Redis, keys: Keys, engine: Engine, archiver: Archiver
) -> None:
    good = one_of_each("ok")
    bad_fields = [
        ({"kind": "decision", "npc": "n", "ts": "1", "d": "{}"}, "KeyError('id')"),
        (
            {"id": "g1", "kind": "gossip", "npc": "n", "ts": "1", "d": "{}"},
            "unknown archive kind 'gossip'",
        ),
        (
            {"id": "j1", "kind": "memory", "npc": "n", "ts": "1", "d": "{not json"},
            "malformed archive entry: JSONDecodeError",
        ),
        (
            {"id": "t1", "kind": "memory", "npc": "n", "ts": "soon", "d": "{}"},
            "could not convert string to float",
        ),
        (
            event("interaction", "ix-bad", "n", {"kind": "talk"}).fields(),
            "interaction 'ix-bad': missing 'player_id'",
        ),
        (
            event(
                "npc", "npc-bad", "n", {"id": "n", "name": "N", "archetype": "Not Valid"}
            ).fields(),
            "npc record: archetype",
        ),
        (
            event("memory", "mem-nul", "n", {"kind": "fact", "text": "a\x00b"}).fields(),
            "database refused memory 'mem-nul': PostgreSQL text fields cannot contain NUL",
        ),
    ]
    entry_ids = {}
    for i, (fields, reason) in enumerate(bad_fields):
        produce(client, keys, good[i : i + 1])
        entry_ids[add_raw(client, keys, fields)] = (fields, reason)
    assert archiver.run_once() == 12  # one batch: the good five and the seven bad
    dead = entries(client.xrange(dead_letters(keys)))
    assert [d["archive_id"] for _, d in dead] == list(entry_ids)
    for _, letter in dead:
        fields, reason = entry_ids[letter["archive_id"]]
        assert reason in letter["reason"]
        assert json.loads(letter["raw"]) == fields
    assert client.xpending(keys.archive, GROUP)["pending"] == 0
    assert column(engine, "memories") == ["mem-ok"]
    assert column(engine, "interactions") == ["ix-ok"]
    assert column(engine, "npcs", "id") == ["npc-ok"]
    assert stats(client, keys) == {"archived": 5, "dead": 7, "batches": 1}


def test_registry_upsert_keeps_the_newer_record_and_round_trips(
    client: redis.Redis, keys: Keys, engine: Engine, archiver: Archiver
) -> None:
    first = [make_npc("a"), make_npc("b", tier=Tier.GOLD, player_at=3.5)]
    assert upsert_npcs(engine, first, ts=100.0) == 2
    assert load_registry(engine) == first
    assert upsert_npcs(engine, [make_npc("a", archetype="vampire")], ts=50.0) == 0  # older
    assert upsert_npcs(engine, [make_npc("a", archetype="vampire")], ts=100.0) == 0  # not newer
    moved = make_npc("b", world="castle")
    assert upsert_npcs(engine, [moved, make_npc("c")], ts=200.0) == 2
    assert load_registry(engine) == [first[0], moved, make_npc("c")]
    assert column(engine, "npcs", "updated_at") == [100.0, 200.0, 200.0]

    # the archiver applies the same rule to `npc` events
    vampire, ghoul = make_npc("a", archetype="vampire"), make_npc("c", archetype="ghoul")
    versions = [(vampire, 300.0), (make_npc("a", archetype="ghoul"), 250.0), (ghoul, 150.0)]
    produce(
        client,
        keys,
        [
            event("npc", f"{npc.id}@{ts}", npc.id, npc.model_dump(mode="json"), ts=ts)
            for npc, ts in versions
        ],
    )
    assert drain(archiver) == 3
    assert load_registry(engine) == [vampire, moved, make_npc("c")]
    assert stats(client, keys) == {"archived": 1, "duplicates": 2, "batches": 1}


def test_restore_reads_memories_in_the_order_they_happened(
    client: redis.Redis, keys: Keys, engine: Engine, archiver: Archiver
) -> None:
    produce(
        client,
        keys,
        [
            memory("x3", "x", 30.0),
            memory("y2", "y", 20.0, kind="fact"),
            memory("x1", "x", 10.0),
            memory("x0", "x", 5.0),
            memory("z1", "z", 15.0),
        ],
    )
    assert drain(archiver) == 5
    assert npc_ids_with_memories(engine) == ["x", "y", "z"]
    rows = memories_for(engine, ["x", "y"], since_ts=10.0)
    assert [r["event_id"] for r in rows] == ["mem-x1", "mem-y2", "mem-x3"]
    assert rows[1] == {
        "event_id": "mem-y2",
        "npc_id": "y",
        "kind": "fact",
        "player_id": None,
        "importance": None,
        "text": "memory y2",
        "ts": 20.0,
        "body": {"kind": "fact", "text": "memory y2"},
    }
    everyone = memories_for(engine, None, since_ts=0.0)
    assert [r["event_id"] for r in everyone] == ["mem-x0", "mem-x1", "mem-z1", "mem-y2", "mem-x3"]
    assert memories_for(engine, [], since_ts=0.0) == []
