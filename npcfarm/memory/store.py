"""Reading and writing one NPC's memory in Redis, atomically and idempotently.

Each update is an optimistic transaction over the NPC's two hashes (hot and recall):
read, change in Python (where the caps are enforced), write back with a fresh version
token, the archive events and the conversation index in the same MULTI. A concurrent
writer (ingest and a worker on the same NPC) makes it retry; an event id already seen
makes it a no-op, so a redelivered interaction is remembered once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis
from pydantic import BaseModel

from npcfarm import archive
from npcfarm.archive import ArchiveEvent
from npcfarm.keys import Keys
from npcfarm.memory.records import (
    Caps,
    HotMemory,
    Memory,
    MoodPoint,
    QuestCard,
    Recall,
    RelationshipCard,
    Session,
    Turn,
    cap_hot,
    cap_recall,
)
from npcfarm.settings import Settings

Mutate = Callable[[HotMemory, Recall, float], list[ArchiveEvent]]
NO_VERSION = ""  # an NPC with no memory yet


def new_version() -> str:
    """A random token, not a counter: a counter restarts after Redis is lost or restored
    and could meet a stale version a worker still caches."""
    return secrets.token_hex(8)


HOT_FIELDS = ("turns", "rel", "quest", "session", "closed", "seen")
RECALL_FIELDS = ("summaries", "facts", "mood")
MAX_RETRIES = 50
NOTABLE = ("fact", "summary")  # memory kinds listed in `memories_recent`
RECENT_CAP = 50


def _document(raw: dict[str, str], fields: tuple[str, ...]) -> str:
    """The hash's JSON fields as one JSON object, so pydantic-core parses and validates
    it in one pass (several times faster than json.loads plus model_validate)."""
    return "{" + ",".join(f'"{k}":{raw[k]}' for k in fields if raw.get(k)) + "}"


def parse_hot(raw: dict[str, str]) -> HotMemory:
    return HotMemory.model_validate_json(_document(raw, HOT_FIELDS))


def parse_recall(raw: dict[str, str]) -> Recall:
    return Recall.model_validate_json(_document(raw, RECALL_FIELDS))


def seen_mark(event_id: str) -> str:
    """A short digest of an update's id: idempotency without storing long bridge ids."""
    return hashlib.blake2b(event_id.encode(), digest_size=4).hexdigest()


def _hot_fields(hot: HotMemory) -> dict[str, str]:
    return {
        "turns": _json([[round(t.ts, 3), t.who, t.text, t.session] for t in hot.turns]),
        "rel": hot.rel.model_dump_json(),
        "quest": hot.quest.model_dump_json(),
        "session": hot.session.model_dump_json() if hot.session else "null",
        "closed": _json([s.model_dump(mode="json") for s in hot.closed]),
        "seen": _json(hot.seen),
    }


def _recall_fields(recall: Recall) -> dict[str, str]:
    return {
        "summaries": _json([m.model_dump(mode="json") for m in recall.summaries]),
        "facts": _json([m.model_dump(mode="json") for m in recall.facts]),
        "mood": _json([p.model_dump(mode="json") for p in recall.mood]),
    }


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def memory_event(
    npc_id: str,
    event_id: str,
    kind: str,
    record: Any,
    ts: float,
    *,
    player_id: str | None = None,
    importance: float | None = None,
    text: str | None = None,
) -> ArchiveEvent:
    """An archive event for one memory record (what restore reads back); its id is
    `npc/what:which`, unique across the farm and the same when an update is retried."""
    if isinstance(record, BaseModel):
        body = record.model_dump(mode="json")
    else:
        body = record._asdict() if isinstance(record, Turn) else record
    data = {
        "npc_id": npc_id,
        "kind": kind,
        "player_id": player_id,
        "importance": importance,
        "text": text,
        "body": body,
    }
    return archive.event("memory", f"{npc_id}/{event_id}", npc_id, data, ts=ts)


class MemoryStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        caps: Caps | None = None,
        *,
        conversation_gap_s: float = 60.0,
        archive_maxlen: int | None = None,
    ) -> None:
        self.client, self.keys = client, keys
        self.caps = caps or Caps()
        self.gap_s = conversation_gap_s
        self._archive_maxlen = archive_maxlen

    @classmethod
    def from_settings(cls, client: redis.Redis, keys: Keys, s: Settings) -> MemoryStore:
        caps = Caps(
            turns=s.memory_turns,
            card_bytes=s.memory_card_bytes,
            facts=s.memory_facts,
            summaries=s.memory_summaries,
            window_s=s.memory_window_days * 86_400,
        )
        return cls(
            client,
            keys,
            caps,
            conversation_gap_s=s.conversation_gap_s,
            archive_maxlen=s.archive_stream_max,
        )

    def load(self, npc_id: str, *, now: float | None = None) -> tuple[HotMemory, Recall]:
        """An NPC's memory as of `now`: nearline entries beyond the window count as gone."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.memory(npc_id))
        pipe.hgetall(self.keys.recall(npc_id))
        hot_raw, recall_raw = pipe.execute()
        at = time.time() if now is None else now
        return parse_hot(hot_raw), parse_recall(recall_raw).within(at, self.caps.window_s)

    def update(
        self, npc_id: str, event_id: str, mutate: Mutate, *, now: float | None = None
    ) -> bool:
        """Apply `mutate` once per event id; returns False when it was already applied."""
        mem, rec = self.keys.memory(npc_id), self.keys.recall(npc_id)
        with self.client.pipeline(transaction=True) as pipe:
            for _ in range(MAX_RETRIES):
                try:
                    pipe.watch(mem, rec)  # type: ignore[no-untyped-call]
                    hot = parse_hot(pipe.hgetall(mem))  # type: ignore[arg-type]
                    mark = seen_mark(event_id)
                    if mark in hot.seen:
                        pipe.unwatch()
                        return False
                    recall = parse_recall(pipe.hgetall(rec))  # type: ignore[arg-type]
                    at = now if now is not None else time.time()
                    events = mutate(hot, recall, at)
                    hot.seen.append(mark)
                    self._write(
                        pipe,
                        npc_id,
                        cap_hot(hot, self.caps, at),
                        cap_recall(recall, self.caps, at),
                        events,
                    )
                    return True
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"memory of {npc_id} kept changing; gave up after {MAX_RETRIES}")

    def _write(
        self, pipe: Any, npc_id: str, hot: HotMemory, recall: Recall, events: list[ArchiveEvent]
    ) -> None:
        mem, rec = self.keys.memory(npc_id), self.keys.recall(npc_id)
        pipe.multi()
        pipe.hset(mem, mapping=_hot_fields(hot))
        pipe.hset(mem, "v", new_version())
        pipe.hset(rec, mapping=_recall_fields(recall))
        pipe.expire(rec, int(self.caps.window_s))
        due = self.due_at(hot)
        if due is None:
            pipe.zrem(self.keys.conversations, npc_id)
        else:
            pipe.zadd(self.keys.conversations, {npc_id: due})
        archive.append(pipe, self.keys, events, maxlen=self._archive_maxlen)
        formed = [e for e in events if e.kind == "memory" and e.data["kind"] in NOTABLE]
        for e in formed:
            notable = {
                "npc": npc_id,
                "kind": e.data["kind"],
                "text": e.data["text"],
                "ts": e.ts,
                "player": e.data.get("player_id"),
            }
            pipe.lpush(self.keys.memories_recent, _json(notable))
        if formed:
            pipe.ltrim(self.keys.memories_recent, 0, RECENT_CAP - 1)
        pipe.execute()

    def due_at(self, hot: HotMemory) -> float | None:
        """When this NPC's conversations should be summarised (None: nothing to do)."""
        if hot.closed:
            return 0.0
        return hot.session.last + self.gap_s if hot.session else None

    def replace(self, npc_id: str, hot: HotMemory, recall: Recall, *, now: float) -> None:
        """Overwrite an NPC's memory (restore); archives nothing, it came from there."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.keys.memory(npc_id))  # type: ignore[no-untyped-call]
            self._write(
                pipe, npc_id, cap_hot(hot, self.caps, now), cap_recall(recall, self.caps, now), []
            )


__all__ = [
    "HotMemory",
    "Memory",
    "MemoryStore",
    "MoodPoint",
    "QuestCard",
    "Recall",
    "RelationshipCard",
    "Session",
    "Turn",
    "memory_event",
]
