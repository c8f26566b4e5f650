"""Builders for archive tests: events of every kind, producing them, draining an archiver."""

from __future__ import annotations

from typing import Any, cast

import redis
from sqlalchemy import Engine, text

from npcfarm.archive import ArchiveEvent, append, event
from npcfarm.domain import Action, Decision, Source, Tier, Timings
from npcfarm.keys import Keys
from ops.archive.archiver import Archiver
from tests.helpers import make_npc

STREAM_MAX = 2_000_000  # the settings default: no test comes near it


def decision_body(npc_id: str, tick_id: str) -> dict[str, Any]:
    timings = Timings(
        enqueued_at=1.0,
        started_at=2.0,
        decided_at=3.0,
        published_at=4.0,
        queue_ms=1.0,
        decide_ms=1.0,
        latency_ms=42.5,
    )
    decision = Decision(
        npc_id=npc_id,
        world="w1",
        tick_id=tick_id,
        tier=Tier.GOLD,
        action=Action.SPEAK,
        target="ann",
        speech="Well met.",
        source=Source.LLM,
        model="gemma3-270m",
        timings=timings,
    )
    return decision.model_dump(mode="json", by_alias=True)


def one_of_each(tag: str, ts: float = 1_000.0) -> list[ArchiveEvent]:
    """One event of every kind; ids carry `tag`."""
    npc = make_npc(f"npc-{tag}")
    return [
        event("npc", f"npc-{tag}@{ts}", npc.id, npc.model_dump(mode="json"), ts=ts),
        event(
            "interaction",
            f"ix-{tag}",
            npc.id,
            {"player_id": "ann", "kind": "gift", "text": "a rose"},
            ts=ts,
        ),
        event("decision", f"{npc.id}:t-{tag}", npc.id, decision_body(npc.id, f"t-{tag}"), ts=ts),
        event(
            "memory",
            f"mem-{tag}",
            npc.id,
            {"kind": "fact", "player_id": "ann", "importance": 0.9, "text": "Ann gave me a rose."},
            ts=ts,
        ),
        event(
            "audit",
            f"audit-{tag}",
            "",
            {"who": "op@host", "action": "npc.import", "args": {"file": "npcs.yaml"}},
            ts=ts,
        ),
    ]


def memory(tag: str, npc_id: str, ts: float, kind: str = "summary") -> ArchiveEvent:
    return event("memory", f"mem-{tag}", npc_id, {"kind": kind, "text": f"memory {tag}"}, ts=ts)


def produce(client: redis.Redis, keys: Keys, events: list[ArchiveEvent]) -> None:
    pipe = client.pipeline(transaction=False)
    append(pipe, keys, events, maxlen=STREAM_MAX)
    pipe.execute()


def drain(archiver: Archiver, *, rounds: int = 10_000) -> int:
    """Run rounds until one finds nothing; returns the entries acknowledged."""
    total = 0
    for _ in range(rounds):
        done = archiver.run_once()
        if not done:
            return total
        total += done
    raise AssertionError(f"archiver still busy after {rounds} rounds")


def column(engine: Engine, table: str, name: str = "event_id") -> list[Any]:
    """All values of one column, sorted (duplicates would show)."""
    with engine.connect() as conn:
        return sorted(conn.scalars(text(f"SELECT {name} FROM {table}")))


def stats(client: redis.Redis, keys: Keys) -> dict[str, int]:
    return {str(k): int(v) for k, v in client.hgetall(keys.archive_stats).items()}


def add_raw(client: redis.Redis, keys: Keys, fields: dict[str, str]) -> str:
    """Append an entry as a buggy producer might (no `ArchiveEvent` in between)."""
    return str(client.xadd(keys.archive, cast(dict[Any, Any], fields)))
