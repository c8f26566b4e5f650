"""Exclusive claims: who is attacking, trading with, using or guarding what.

A claim is a Redis key with a short lease (about one tick interval), taken atomically
before a decision is published. A live claim of another NPC wins (first come, for
the lease); NPCs of one faction may share an attack target. An NPC's previous claim
is released as soon as its next decision claims something else or nothing, so a
bridge never holds two conflicting claims at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from npcfarm.domain import Action
from npcfarm.keys import Keys

EXCLUSIVE = {
    Action.ATTACK: "attack",
    Action.TRADE: "trade",
    Action.USE: "use",
    Action.GUARD: "guard",
}
SHAREABLE = {Action.ATTACK}  # allies may gang up on one target, never share a trade

# KEYS: held(world); ARGV: lease ms, claim count n, then n x (key, npc, faction, share),
# then npc ids whose new decision claims nothing (their old claim is released).
_CLAIM = """
local lease, n = ARGV[1], tonumber(ARGV[2])
local function release(npc, keep)
  local prev = redis.call('HGET', KEYS[1], npc)
  if prev and prev ~= keep then
    local holder = redis.call('GET', prev)
    if holder and string.match(holder, '^(%S+)') == npc then redis.call('DEL', prev) end
    redis.call('HDEL', KEYS[1], npc)
  end
end
local out = {}
for i = 0, n - 1 do
  local b = 3 + i * 4
  local key, npc, faction, share = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local holder = redis.call('GET', key)
  local granted = 0
  if not holder then
    granted = 1
  else
    local owner, owner_faction = string.match(holder, '^(%S+) ?(%S*)')
    if owner == npc then granted = 1
    elseif share == '1' and faction ~= '' and owner_faction == faction then granted = 2 end
  end
  if granted == 1 then redis.call('SET', key, npc .. ' ' .. faction, 'PX', lease) end
  if granted > 0 then
    release(npc, key)
    redis.call('HSET', KEYS[1], npc, key)
  end
  out[#out + 1] = granted
end
for i = 3 + n * 4, #ARGV do release(ARGV[i], nil) end
return out
"""


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    npc_id: str
    action: Action
    target: str
    faction: str | None = None


class Claims:
    def __init__(self, client: redis.Redis, keys: Keys, *, lease_ms: int) -> None:
        self._keys = keys
        self._lease_ms = lease_ms
        self._script = client.register_script(_CLAIM)

    def settle(
        self, world: str, requests: Sequence[ClaimRequest], released: Sequence[str]
    ) -> list[bool]:
        """Try every claim in order (strongest first); release the NPCs in `released`."""
        if not requests and not released:
            return []
        args: list[str | int] = [self._lease_ms, len(requests)]
        for r in requests:
            key = self._keys.claim(world, EXCLUSIVE[r.action], r.target)
            args += [key, r.npc_id, r.faction or "", "1" if r.action in SHAREABLE else "0"]
        args += list(released)
        reply = self._script(keys=[self._keys.held_claim(world)], args=args)
        return [int(x) > 0 for x in reply]
