"""Putting NPCs on the tick schedule of their tier, with a random phase.

A random first due time inside one interval spreads a freshly imported world evenly
instead of making every NPC due in the same sweep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable

import redis

from npcfarm import archive
from npcfarm.domain import NPC, TIER_ORDER, Tier
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from schedules.config import TicksConfig


def place_npcs(
    client: redis.Redis,
    keys: Keys,
    npcs: Iterable[NPC],
    config: TicksConfig,
    *,
    now: float | None = None,
    rng: random.Random | None = None,
) -> int:
    """Schedule each NPC in its tier's due set (keeping its slot if already there)."""
    now = time.time() if now is None else now
    rng = rng or random.Random()
    pipe = client.pipeline(transaction=False)
    count = 0
    for npc in npcs:
        for other in TIER_ORDER:
            if other is not npc.tier:
                pipe.zrem(keys.due(other), npc.id)
        first = now + rng.uniform(0.0, config[npc.tier].interval_s)
        pipe.zadd(keys.due(npc.tier), {npc.id: first}, nx=True)
        count += 1
    pipe.execute()
    return count


def make_due_now(client: redis.Redis, keys: Keys, tier: Tier, npc_ids: Iterable[str]) -> None:
    """Pull NPCs' next tick forward to now (used by benchmarks and operators)."""
    client.zadd(keys.due(tier), dict.fromkeys(npc_ids, 0.0), xx=True)


REGISTER_CHUNK = 1_000  # NPCs saved and placed per pipelined round trip


def register_npcs(
    client: redis.Redis,
    keys: Keys,
    npcs: Iterable[NPC],
    config: TicksConfig,
    *,
    advance: Callable[[int], object] | None = None,
    archived: bool = True,
) -> int:
    """Save NPC records and put them on the schedule, in chunks (imports, demo worlds).

    The records also go to the archive, whose registry is the source of truth
    (`npcfarm npc sync` loads it back; it passes `archived=False`)."""
    total = 0
    chunk: list[NPC] = []
    for npc in npcs:
        chunk.append(npc)
        if len(chunk) == REGISTER_CHUNK:
            total += _register(client, keys, chunk, config, advance, archived=archived)
            chunk = []
    return total + _register(client, keys, chunk, config, advance, archived=archived)


def _register(
    client: redis.Redis,
    keys: Keys,
    chunk: list[NPC],
    config: TicksConfig,
    advance: Callable[[int], object] | None,
    *,
    archived: bool,
) -> int:
    save_npcs(client, keys, chunk)
    place_npcs(client, keys, chunk, config)
    if archived and chunk:
        now = time.time()
        events = [
            archive.event(
                "npc", f"npc:{n.id}:{time.time_ns()}", n.id, n.model_dump(mode="json"), ts=now
            )
            for n in chunk
        ]
        pipe = client.pipeline(transaction=False)
        archive.append(pipe, keys, events)
        pipe.execute()
    if advance is not None:
        advance(len(chunk))
    return len(chunk)
