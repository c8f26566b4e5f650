"""Model answers kept in Redis for situations that repeat, keyed by what matters.

The key is the situation as the model would weigh it, not the rendered prompt: the
clock to the part of the day, health and hunger in quarters, distances in bands
(close, near, far), plus everything said and remembered verbatim. So an NPC standing in
the same place at the same part of day, with the same players around, hits the cache
while its prompt's minutes and percentages drift. The cache answers before the model
is asked and also while the model is loading, failing or resting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from npcfarm.domain import Nearby, Tier
from npcfarm.stats import CACHE_HITS, CACHE_MISSES

if TYPE_CHECKING:
    from tasks.context import WorkerContext
    from tasks.llm import Asked

CLOSE_M, NEAR_M = 3.0, 12.0  # distance bands: close enough to touch, to talk, else far
DAY_PARTS = ("night", "dawn", "morning", "noon", "afternoon", "evening")  # 4 h each


def _band(distance: float) -> str:
    return "close" if distance <= CLOSE_M else ("near" if distance <= NEAR_M else "far")


def _around(items: Sequence[Nearby]) -> list[str]:
    nearest = sorted(items, key=lambda n: n.distance)[:4]
    return [f"{n.id}:{_band(n.distance)}{':hostile' if n.hostile else ''}" for n in nearest]


def situation(asked: Asked) -> dict[str, Any]:
    """What the model's answer depends on, with volatile numbers bucketed."""
    npc, state = asked.npc, asked.npc.state
    return {
        "npc": npc.id,
        "archetype": npc.archetype,
        "health": round(state.health * 4),
        "hunger": round(state.hunger * 4),
        "day": DAY_PARTS[int(state.time_of_day // 4) % len(DAY_PARTS)],
        "players": _around(state.nearby_players),
        "npcs": _around(state.nearby_npcs),
        "flags": sorted(state.flags),
        "player": asked.player_id,
        "words": asked.words,
        "memory": list(asked.memory.lines) if asked.memory else [],
        "turns": list(asked.memory.turns) if asked.memory else [],
    }


def cache_key(model: str, system: str, asked: Asked) -> str:
    text = json.dumps([model, system, situation(asked)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def lookup(ctx: WorkerContext, keys: Sequence[str], tier: Tier | None) -> list[dict[str, Any]]:
    """Cached answer fields per key ({} for a miss); hits and misses are counted."""
    if not keys:
        return []
    raw = ctx.client.mget([ctx.keys.response_cache(k) for k in keys])
    found = [json.loads(r) if r else {} for r in raw]
    hits = sum(1 for f in found if f)
    if tier is not None:
        pipe = ctx.client.pipeline(transaction=False)
        for counter, amount in ((CACHE_HITS, hits), (CACHE_MISSES, len(keys) - hits)):
            if amount:
                pipe.hincrby(ctx.keys.stats(tier), counter, amount)
        pipe.execute()
    return found
