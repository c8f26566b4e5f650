"""Turn archive events into table rows, refusing bodies that break their kind's contract.

A refusal is a ValueError with a reason, which the archiver dead-letters: one bad
producer must not hold back the batch it shares with good events.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from npcfarm.archive import ArchiveEvent
from npcfarm.domain import NPC
from npcfarm.errors import first_problem

Row = dict[str, Any]


def to_row(ev: ArchiveEvent) -> Row:
    """The row for `ev`'s table (`schema.HISTORY[ev.kind]`, or `npcs` for kind `npc`)."""
    if not math.isfinite(ev.ts):
        raise ValueError(f"{ev.kind} {ev.id!r}: ts is not a finite number")
    data = ev.data
    if ev.kind == "npc":
        return npc_row(_npc(data), ev.ts)
    if ev.kind == "interaction":
        return {
            "event_id": ev.id,
            "npc_id": ev.npc_id,
            "ts": ev.ts,
            "player_id": _need(ev, "player_id"),
            "kind": _need(ev, "kind"),
            "text": _opt(ev, "text"),
        }
    if ev.kind == "decision":
        timings = data.get("timings")
        latency = timings.get("latency_ms") if isinstance(timings, dict) else None
        return {
            "event_id": ev.id,
            "npc_id": ev.npc_id or _need(ev, "npc_id"),
            "ts": ev.ts,
            "world": _need(ev, "world"),
            "tick_id": _need(ev, "tick_id"),
            "tier": _need(ev, "tier"),
            "action": _need(ev, "action"),
            "target": _opt(ev, "target"),
            "speech": _opt(ev, "speech"),
            "emotion": _opt(ev, "emotion"),
            "source": _need(ev, "source"),
            "model": _opt(ev, "model"),
            "reason": _opt(ev, "reason"),
            "latency_ms": _number(ev, latency, "timings.latency_ms"),
            "body": data,
        }
    if ev.kind == "memory":
        return {
            "event_id": ev.id,
            "npc_id": ev.npc_id,
            "ts": ev.ts,
            "kind": _need(ev, "kind"),
            "player_id": _opt(ev, "player_id"),
            "text": _opt(ev, "text"),
            "importance": _number(ev, data.get("importance"), "importance"),
            "body": data,
        }
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise ValueError(f"audit {ev.id!r}: args must be an object")
    return {
        "event_id": ev.id,
        "ts": ev.ts,
        "who": _need(ev, "who"),
        "action": _need(ev, "action"),
        "args": args,
    }


def npc_row(npc: NPC, ts: float) -> Row:
    record = npc.model_dump(mode="json")
    return {
        "id": npc.id,
        "world": npc.world,
        "name": npc.name,
        "archetype": npc.archetype,
        "faction": npc.faction,
        "record": record,
        "updated_at": ts,
    }


def _npc(data: dict[str, Any]) -> NPC:
    try:
        return NPC.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"npc record: {first_problem(exc, subject='npc')}") from exc


def _need(ev: ArchiveEvent, key: str) -> str:
    value = ev.data.get(key)
    if value is None or value == "":
        raise ValueError(f"{ev.kind} {ev.id!r}: missing {key!r}")
    return _text(ev, value, key)


def _opt(ev: ArchiveEvent, key: str) -> str | None:
    value = ev.data.get(key)
    return None if value is None else _text(ev, value, key)


def _text(ev: ArchiveEvent, value: object, key: str) -> str:
    if isinstance(value, dict | list):
        raise ValueError(f"{ev.kind} {ev.id!r}: {key!r} must be text, not {type(value).__name__}")
    return str(value)


def _number(ev: ArchiveEvent, value: object, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{ev.kind} {ev.id!r}: {key!r} must be a finite number")
    return float(value)
