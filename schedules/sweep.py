"""The due-sweep: one Lua call per tier takes every NPC whose tick is due.

For each due NPC the script, atomically and only while the caller holds the leader
lease, either coalesces (a tick of it is still pending), sheds (the tier's queue is
over its backlog limit) or marks a new pending tick; and it always moves the NPC's
due time one interval (plus jitter) ahead. Python then groups the new ticks by
archetype into messages of at most `batch_size` ticks.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import redis

from npcfarm.domain import TickBatch, Tier
from npcfarm.keys import Keys, queue_key
from schedules.config import TierTicks

log = logging.getLogger(__name__)

# KEYS: due(tier), pending, leader, archetype hash, stats(tier)
# ARGV: now, limit, interval, jitter, leader token, pending timeout, seed, tick prefix, shed
_SWEEP = """
if redis.call('GET', KEYS[3]) ~= ARGV[5] then return {-1} end
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, jitter = tonumber(ARGV[3]), tonumber(ARGV[4])
local timeout_ms, seed, prefix = tonumber(ARGV[6]) * 1000, tonumber(ARGV[7]), ARGV[8]
local shed = ARGV[9] == '1'
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local out = {0}
local coalesced, lost, shedded, taken = 0, 0, 0, 0
for i, id in ipairs(ids) do
  seed = (seed * 16807) % 2147483647
  redis.call('ZADD', KEYS[1], now + interval + jitter * (2 * seed / 2147483647 - 1), id)
  local take = true
  local pending = redis.call('HGET', KEYS[2], id)
  if pending then
    local since = tonumber(string.match(pending, '^(%d+)'))
    if since and now * 1000 - since < timeout_ms then
      take = false
      coalesced = coalesced + 1
    else
      lost = lost + 1
    end
  end
  if take and shed then
    take = false
    shedded = shedded + 1
  end
  if take then
    local tick = prefix .. i
    redis.call('HSET', KEYS[2], id, tick)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
    out[#out + 1] = tick
    taken = taken + 1
  end
end
if taken > 0 then redis.call('HINCRBY', KEYS[5], 'enqueued', taken) end
if coalesced > 0 then redis.call('HINCRBY', KEYS[5], 'coalesced', coalesced) end
if lost > 0 then redis.call('HINCRBY', KEYS[5], 'lost', lost) end
if shedded > 0 then redis.call('HINCRBY', KEYS[5], 'shed_backpressure', shedded) end
out[1] = #ids
return out
"""

PublishBatch = Callable[[TickBatch], None]


@dataclass(slots=True)
class SweepResult:
    due: int = 0
    enqueued: int = 0
    messages: int = 0
    not_leader: bool = False


class DueSweep:
    """Runs the sweep for one tier at a time; owns no thread (the scheduler drives it)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, limit: int) -> None:
        self._client = client
        self._keys = keys
        self._limit = limit
        self._script = client.register_script(_SWEEP)

    def backlog(self, tier: Tier, ticks: TierTicks) -> int:
        """Ticks waiting in the tier's Celery queue (messages x batch size, an upper bound)."""
        return int(self._client.llen(queue_key(tier))) * ticks.batch_size

    def sweep_tier(
        self,
        tier: Tier,
        ticks: TierTicks,
        *,
        token: str,
        publish: PublishBatch,
        now: float | None = None,
    ) -> SweepResult:
        now = time.time() if now is None else now
        shed = bool(ticks.backlog_limit) and self.backlog(tier, ticks) > ticks.backlog_limit
        prefix = f"{int(now * 1000)}-{secrets.token_hex(3)}."
        reply = self._script(
            keys=[
                self._keys.due(tier),
                self._keys.pending,
                self._keys.leader,
                self._keys.archetype_of,
                self._keys.stats(tier),
            ],
            args=[
                now,
                self._limit,
                ticks.interval_s,
                ticks.jitter_s,
                token,
                ticks.pending_timeout_s,
                secrets.randbelow(2_147_483_646) + 1,
                prefix,
                "1" if shed else "0",
            ],
        )
        if reply[0] == -1:
            return SweepResult(not_leader=True)
        result = SweepResult(due=int(reply[0]))
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for i in range(1, len(reply), 3):
            groups[reply[i + 1]].append((reply[i], reply[i + 2]))
        expires_at = now + ticks.expiry_s if ticks.expiry_s else None
        for archetype, members in groups.items():
            for start in range(0, len(members), ticks.batch_size):
                chunk = members[start : start + ticks.batch_size]
                publish(
                    TickBatch(
                        tier=tier,
                        archetype=archetype or "unknown",
                        enqueued_at=now,
                        expires_at=expires_at,
                        ticks=chunk,
                    )
                )
                result.messages += 1
                result.enqueued += len(chunk)
        return result
