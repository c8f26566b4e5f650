"""Which game profile each world plays: one hash, read once per batch.

A world plays `rpg` until a bridge says otherwise (a `world_profile` event, or
`npcfarm world profile`); the profile decides which actions, state fields and
archetypes its NPCs have (models/profiles).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from npcfarm.keys import Keys
from npcfarm.redisconn import text

DEFAULT_PROFILE = "rpg"


def profiles_of(client: redis.Redis, keys: Keys, worlds: Iterable[str]) -> dict[str, str]:
    """Each world's profile name (`rpg` when unset)."""
    names = list(dict.fromkeys(worlds))
    if not names:
        return {}
    found = client.hmget(keys.world_profiles, names)
    return {w: text(p) or DEFAULT_PROFILE for w, p in zip(names, found, strict=True)}


def set_profile(client: redis.Redis, keys: Keys, world: str, profile: str) -> None:
    client.hset(keys.world_profiles, world, profile)
