"""The archive's event envelope: what the hot path appends for PostgreSQL to keep.

Producers (ingest, workers, memory writes, the audit log) never touch the database:
they add entries to one Redis stream in the pipeline they already send, and the
archiver writes them in batches. Every event carries an id that is unique for what it
describes (an interaction's event id, `npc:tick` for a decision), so a redelivered
job or a re-read batch archives it once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import redis

from npcfarm.keys import Keys
from npcfarm.settings import get_settings

ArchiveKind = Literal["interaction", "decision", "memory", "audit", "npc"]
KINDS: tuple[ArchiveKind, ...] = ("interaction", "decision", "memory", "audit", "npc")
MAX_EVENT_ID = 200  # characters; longer ids are a producer bug


@dataclass(frozen=True, slots=True)
class ArchiveEvent:
    """One row-to-be. `data` is the kind's JSON body (see ops/archive/schema.py)."""

    id: str
    kind: ArchiveKind
    npc_id: str
    ts: float
    data: dict[str, Any]

    def fields(self) -> dict[str, str]:
        return {
            "id": self.id,
            "kind": self.kind,
            "npc": self.npc_id,
            "ts": f"{self.ts:.6f}",
            "d": json.dumps(self.data, separators=(",", ":"), default=str),
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> ArchiveEvent:
        """Parse a stream entry; raises ValueError (with the reason) when it is malformed."""
        try:
            kind = fields["kind"]
            event_id = fields["id"]
            data = json.loads(fields["d"])
            ts = float(fields["ts"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed archive entry: {exc!r}") from exc
        if kind not in KINDS:
            raise ValueError(f"unknown archive kind {kind!r}")
        if not event_id or len(event_id) > MAX_EVENT_ID or not isinstance(data, dict):
            raise ValueError("archive entry without a usable id or body")
        return cls(id=event_id, kind=kind, npc_id=fields.get("npc", ""), ts=ts, data=data)


def event(
    kind: ArchiveKind, event_id: str, npc_id: str, data: dict[str, Any], ts: float | None = None
) -> ArchiveEvent:
    return ArchiveEvent(id=event_id, kind=kind, npc_id=npc_id, ts=ts or time.time(), data=data)


def append(
    pipe: redis.Redis | redis.client.Pipeline,
    keys: Keys,
    events: list[ArchiveEvent],
    *,
    maxlen: int | None = None,
) -> None:
    """Queue XADDs on a pipeline (or send them); the cap protects Redis when the archive
    is down for far longer than it should be, and is counted by the archiver as lag.
    Producers on the hot path pass `settings.archive_stream_max` they already hold;
    occasional ones (audit, registry) leave it to the process settings."""
    if maxlen is None:
        maxlen = get_settings().archive_stream_max
    for ev in events:
        pipe.xadd(keys.archive, ev.fields(), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
