"""The NPC registry in Redis: one JSON record per NPC plus the sets that index it.

Workers fetch a whole batch with one MGET; the scheduler only needs the archetype
hash, so it never parses records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis
from pydantic import ValidationError

from npcfarm.domain import NPC, Tier
from npcfarm.errors import InvalidInput, UnknownNPC, first_problem
from npcfarm.keys import Keys


def save_npcs(client: redis.Redis, keys: Keys, npcs: Iterable[NPC]) -> int:
    """Insert or replace NPC records (two pipelined round trips).

    An NPC that moves to another world leaves that world's index and latest hash.
    """
    npcs = list(npcs)
    if not npcs:
        return 0
    old_worlds = client.hmget(keys.world_of, [npc.id for npc in npcs])
    pipe = client.pipeline(transaction=False)
    count = 0
    for npc, old in zip(npcs, old_worlds, strict=True):
        if old and old != npc.world:
            pipe.srem(keys.world_npcs(str(old)), npc.id)
            pipe.hdel(keys.latest(str(old)), npc.id)
            pipe.hdel(keys.positions(str(old)), npc.id)
            pipe.hdel(keys.tier_state(str(old)), npc.id)
        pipe.hset(keys.world_of, npc.id, npc.world)
        pipe.hset(keys.positions(npc.world), npc.id, position_text(npc))
        pipe.set(keys.npc(npc.id), npc.model_dump_json())
        pipe.sadd(keys.npcs, npc.id)
        pipe.sadd(keys.world_npcs(npc.world), npc.id)
        pipe.sadd(keys.worlds, npc.world)
        pipe.hset(keys.archetype_of, npc.id, npc.archetype)
        count += 1
    pipe.execute()
    return count


def remove_npcs(client: redis.Redis, keys: Keys, npc_ids: Sequence[str]) -> int:
    """Remove NPCs and everything that schedules or indexes them; returns how many
    existed. Their memory and archive rows stay (an operator's `memory` commands)."""
    if not npc_ids:
        return 0
    worlds = client.hmget(keys.world_of, list(npc_ids))
    pipe = client.pipeline(transaction=False)
    for npc_id, found in zip(npc_ids, worlds, strict=True):
        if found:
            world = str(found)
            for key in (keys.latest(world), keys.positions(world), keys.tier_state(world)):
                pipe.hdel(key, npc_id)
            pipe.srem(keys.world_npcs(world), npc_id)
        for tier in Tier:
            pipe.zrem(keys.due(tier), npc_id)
        pipe.hdel(keys.world_of, npc_id)
        pipe.hdel(keys.archetype_of, npc_id)
        pipe.hdel(keys.pending, npc_id)
        pipe.srem(keys.npcs, npc_id)
        pipe.delete(keys.npc(npc_id))
    pipe.execute()
    return sum(1 for world in worlds if world)


def position_text(npc: NPC) -> str:
    """The compact "x y z" form the tier manager parses for a whole world at once."""
    p = npc.position
    return f"{p.x:.2f} {p.y:.2f} {p.z:.2f}"


def load_npcs(client: redis.Redis, keys: Keys, npc_ids: Sequence[str]) -> list[NPC | None]:
    """Records in the order asked; None where the id is unknown or the record is corrupt."""
    if not npc_ids:
        return []
    raws = client.mget([keys.npc(i) for i in npc_ids])
    out: list[NPC | None] = []
    for raw in raws:
        try:
            out.append(NPC.model_validate_json(raw) if raw else None)
        except ValidationError:
            out.append(None)
    return out


def get_npc(client: redis.Redis, keys: Keys, npc_id: str) -> NPC:
    found = load_npcs(client, keys, [npc_id])[0]
    if found is None:
        raise UnknownNPC(npc_id)
    return found


def npc_count(client: redis.Redis, keys: Keys) -> int:
    return int(client.scard(keys.npcs))


def parse_npc(data: object) -> NPC:
    """Validate one record from an import file, with a readable error."""
    try:
        return NPC.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(first_problem(exc, subject="record")) from exc
