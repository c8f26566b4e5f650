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
from npcfarm.errors import ClaimContention
from npcfarm.keys import Keys
from npcfarm.redisconn import text

EXCLUSIVE = {
    Action.ATTACK: "attack",
    Action.TRADE: "trade",
    Action.USE: "use",
    Action.GUARD: "guard",
}
SHAREABLE = {Action.ATTACK}  # allies may gang up on one target, never share a trade

# Every key a call touches is declared (stores such as DragonflyDB refuse others), so
# the NPCs' previous claims are read first and passed in; when one changed meanwhile
# (another worker settled the same NPC), the call changes nothing and returns {-1}.
# KEYS: held(world), the n claim keys, then the previous claims read (distinct)
# ARGV: lease ms, n, then n x (npc, faction, share, previous claim or ''),
#       then pairs (npc, previous claim or '') whose new decision claims nothing
_CLAIM = """
local lease, n = ARGV[1], tonumber(ARGV[2])
for i = 0, n - 1 do
  local npc, prev = ARGV[3 + i * 4], ARGV[6 + i * 4]
  if (redis.call('HGET', KEYS[1], npc) or '') ~= prev then return {-1} end
end
for i = 3 + n * 4, #ARGV, 2 do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return {-1} end
end
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
  local key, npc, faction, share = KEYS[2 + i], ARGV[b], ARGV[b + 1], ARGV[b + 2]
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
for i = 3 + n * 4, #ARGV, 2 do release(ARGV[i], nil) end
return out
"""
SETTLE_ATTEMPTS = 8  # reads of previous claims raced by another settle of the same NPCs


def _kind(action: Action | str) -> str:
    """The claim's name: the RPG's (attack, trade, use, guard), else the action's own."""
    return EXCLUSIVE[Action(action)] if action in EXCLUSIVE else str(action)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """`action`: an RPG action, or a game profile's exclusive action by name (`raid`)."""

    npc_id: str
    action: Action | str
    target: str
    faction: str | None = None


class Claims:
    def __init__(self, client: redis.Redis, keys: Keys, *, lease_ms: int) -> None:
        self._client = client
        self._keys = keys
        self._lease_ms = lease_ms
        self._script = client.register_script(_CLAIM)

    def settle(
        self, world: str, requests: Sequence[ClaimRequest], released: Sequence[str]
    ) -> list[bool]:
        """Try every claim in order (strongest first); release the NPCs in `released`."""
        if not requests and not released:
            return []
        held = self._keys.held_claim(world)
        claim_keys = [self._keys.claim(world, _kind(r.action), r.target) for r in requests]
        npcs = [r.npc_id for r in requests] + list(released)
        for _ in range(SETTLE_ATTEMPTS):
            prev = {n: text(v) for n, v in zip(npcs, self._client.hmget(held, npcs), strict=True)}
            args: list[str | int] = [self._lease_ms, len(requests)]
            for r in requests:
                share = "1" if r.action in SHAREABLE else "0"
                args += [r.npc_id, r.faction or "", share, prev[r.npc_id] or ""]
            for npc in released:
                args += [npc, prev[npc] or ""]
            before = sorted({k for k in prev.values() if k})
            reply = self._script(keys=[held, *claim_keys, *before], args=args)
            if reply != [-1]:
                return [int(x) > 0 for x in reply]
        raise ClaimContention(f"claims of {len(npcs)} NPCs in {world!r} kept changing")
