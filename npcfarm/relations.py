"""Relationship scores fade toward neutral: a floor is earned, not permanent.

A player's score with an NPC (-1..1, moved by interactions) halves every
`relationship_half_life_h` hours without contact. The ingest applies the fade to every
score of an NPC when one of them changes (both in one script), and the scheduler's
leader fades the bonded set now and then, so an NPC a player attacked once leaves the
Silver floor once the grudge has faded below the bond threshold, even if nobody
interacts with it again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import redis

from npcfarm.keys import Keys

BOND_THRESHOLD = 0.5  # |score| at or above this keeps the NPC at least Silver

# KEYS: applied(event), relationships(npc), bonded, touched(npc)
# ARGV: ttl, player, delta, threshold, npc, now, half-life seconds (0: never fade)
RELATE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
local player, delta, now, half = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6]), tonumber(ARGV[7])
local held, seen = redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[4])
local scores, touched = {}, {}
for i = 1, #held, 2 do scores[held[i]] = tonumber(held[i + 1]) end
for i = 1, #seen, 2 do touched[seen[i]] = tonumber(seen[i + 1]) end
scores[player] = scores[player] or 0
local strongest = 0
for who, score in pairs(scores) do
  local at = touched[who] or now
  if half > 0 then score = score * math.pow(0.5, math.max(0, now - at) / half) end
  if who == player then score = score + delta end
  if score > 1 then score = 1 elseif score < -1 then score = -1 end
  redis.call('HSET', KEYS[2], who, score)
  redis.call('HSET', KEYS[4], who, now)
  strongest = math.max(strongest, math.abs(score))
end
if strongest >= tonumber(ARGV[4]) then redis.call('SADD', KEYS[3], ARGV[5])
else redis.call('SREM', KEYS[3], ARGV[5]) end
return 1
"""


def faded(score: float, touched: float, now: float, half_life_s: float) -> float:
    """The score as it stands at `now`, last changed at `touched`."""
    if half_life_s <= 0:
        return score
    return score * math.pow(0.5, max(0.0, now - touched) / half_life_s)


def current(
    scores: Mapping[str, str], touched: Mapping[str, str], now: float, half_life_s: float
) -> dict[str, float]:
    """Every player's faded score with one NPC (hash values as Redis returns them)."""
    return {
        player: faded(float(score), float(touched.get(player, now)), now, half_life_s)
        for player, score in scores.items()
    }


def fade_bonded(
    client: redis.Redis,
    keys: Keys,
    *,
    half_life_s: float,
    threshold: float = BOND_THRESHOLD,
    now: float | None = None,
) -> list[str]:
    """Drop from the bonded set the NPCs whose strongest faded score fell below
    `threshold`; returns them. Two pipelined round trips for the whole set."""
    if half_life_s <= 0:
        return []
    now = time.time() if now is None else now
    bonded = sorted(str(n) for n in client.smembers(keys.bonded))
    if not bonded:
        return []
    pipe = client.pipeline(transaction=False)
    for npc_id in bonded:
        pipe.hgetall(keys.relationships(npc_id))
        pipe.hgetall(keys.relationships_touched(npc_id))
    replies = pipe.execute()
    faded_out = []
    for i, npc_id in enumerate(bonded):
        scores = current(replies[2 * i], replies[2 * i + 1], now, half_life_s)
        if max((abs(s) for s in scores.values()), default=0.0) < threshold:
            faded_out.append(npc_id)
    if faded_out:
        client.srem(keys.bonded, *faded_out)
    return faded_out
