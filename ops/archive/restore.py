"""Rebuild NPC memory in Redis from the archive, after Redis was lost.

The archive holds every memory event (turns, card snapshots, facts, summaries, mood
points) with the record as it was written. Replaying them in order gives back the last
turns, the newest cards, each fact and summary at its latest, and the mood inside the
window; the caps then apply as they did live. Conversations in progress are not
restored (they were not summarised yet; their turns are back as plain turns).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Engine

from npcfarm.memory.records import (
    HotMemory,
    Memory,
    MoodPoint,
    QuestCard,
    Recall,
    RelationshipCard,
    Turn,
)
from npcfarm.memory.store import MemoryStore
from ops.archive.db import memories_for, npc_ids_with_memories

CHUNK = 500  # NPCs read from the archive at a time
TURN = TypeAdapter(Turn)


@dataclass(slots=True)
class RestoreReport:
    npcs: int = 0
    events: int = 0
    skipped: int = 0  # archived records that no longer validate


def rebuild(rows: Iterable[dict[str, Any]]) -> tuple[HotMemory, Recall, int]:
    """One NPC's memory from its archived memory rows (oldest first)."""
    hot, recall, skipped = HotMemory(), Recall(), 0
    facts: dict[str, Memory] = {}
    summaries: dict[str, Memory] = {}
    for row in rows:
        body = (row.get("body") or {}).get("body")
        try:
            match row["kind"]:
                case "turn":
                    hot.turns.append(TURN.validate_python(body))
                case "relationship_card":
                    hot.rel = RelationshipCard.model_validate(body)
                case "quest_card":
                    hot.quest = QuestCard.model_validate(body)
                case "fact":
                    fact = Memory.model_validate(body)
                    facts[fact.id] = fact
                case "summary":
                    summary = Memory.model_validate(body)
                    summaries[summary.id] = summary
                case "mood":
                    recall.mood.append(MoodPoint.model_validate(body))
                case _:
                    skipped += 1
        except ValidationError:
            skipped += 1
    recall.facts, recall.summaries = list(facts.values()), list(summaries.values())
    return hot, recall, skipped


def restore(
    store: MemoryStore,
    engine: Engine,
    *,
    npc_ids: list[str] | None = None,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> RestoreReport:
    """Overwrite the Redis memory of `npc_ids` (default: every NPC the archive knows)."""
    at = time.time() if now is None else now
    ids = npc_ids if npc_ids is not None else npc_ids_with_memories(engine)
    report = RestoreReport()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in memories_for(engine, chunk, since_ts=0.0):
            grouped[row["npc_id"]].append(row)
        for npc_id in chunk:
            rows = grouped.get(npc_id, [])
            if not rows:
                continue
            hot, recall, skipped = rebuild(rows)
            store.replace(npc_id, hot, recall, now=at)
            report.npcs += 1
            report.events += len(rows)
            report.skipped += skipped
        if progress is not None:
            progress(len(chunk))
    return report
