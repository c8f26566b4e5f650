"""The due-sweep: bounded Lua calls per tier take the NPCs whose tick is due.

For each due NPC the script, atomically and only while the caller holds the leader
lease, either coalesces (a tick of it is still pending) or marks a new pending tick,
and moves its due time one interval (plus jitter) ahead. Python then groups the new
ticks by archetype into messages of at most `batch_size` ticks.

Shedding under overload costs Redis nothing: while a tier's queue holds more than its
`backlog_limit`, its sweep is skipped and its NPCs simply stay due. When the sweep
resumes, each NPC gets one tick and the whole intervals it waited are counted as
`missed` (Gold has no limit, so it is never held back).
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
# ARGV: now, limit, interval, jitter, leader token, pending timeout, seed, tick prefix
_SWEEP = """
if redis.call('GET', KEYS[3]) ~= ARGV[5] then return {-1} end
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, jitter = tonumber(ARGV[3]), tonumber(ARGV[4])
local timeout_ms, seed, prefix = tonumber(ARGV[6]) * 1000, tonumber(ARGV[7]), ARGV[8]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local out = {0}
local coalesced, lost, missed, taken = 0, 0, 0, 0
for j = 1, #due, 2 do
  local id, i = due[j], (j + 1) / 2
  missed = missed + math.floor((now - tonumber(due[j + 1])) / interval)
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
if missed > 0 then redis.call('HINCRBY', KEYS[5], 'missed', missed) end
out[1] = #due / 2
return out
"""

PublishBatch = Callable[[TickBatch], None]
CLAIM_LEASE_INTERVALS = 1.5  # a claim outlives one tick interval, so its holder renews it


@dataclass(slots=True)
class SweepResult:
    due: int = 0
    enqueued: int = 0
    messages: int = 0
    not_leader: bool = False
    held_back: bool = False  # skipped: the tier's queue is over its backlog limit


class DueSweep:
    """Runs the sweep for one tier at a time; owns no thread (the scheduler drives it)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        limit: int,
        queue_of: Callable[[Tier], str] = queue_key,
    ) -> None:
        """`queue_of`: the Redis list a tier's messages wait in (Celery's or dramatiq's)."""
        self._client = client
        self._keys = keys
        self._limit = limit
        self._queue_of = queue_of
        self._script = client.register_script(_SWEEP)

    def backlog(self, tier: Tier, ticks: TierTicks) -> int:
        """Ticks waiting in the tier's Celery queue (messages x batch size, an upper bound)."""
        return int(self._client.llen(self._queue_of(tier))) * ticks.batch_size

    def sweep_tier(
        self,
        tier: Tier,
        ticks: TierTicks,
        *,
        token: str,
        publish: PublishBatch,
        now: float | None = None,
        max_chunks: int | None = None,
    ) -> SweepResult:
        """Sweep one tier, one bounded script call at a time (at most `max_chunks` calls)."""
        now = time.time() if now is None else now
        if ticks.backlog_limit and self.backlog(tier, ticks) > ticks.backlog_limit:
            self._client.hincrby(self._keys.stats(tier), "backlog_skips", 1)
            return SweepResult(held_back=True)
        total = SweepResult()
        chunks = 0
        while True:
            chunks += 1
            part = self._sweep_chunk(tier, ticks, token=token, publish=publish, now=now)
            total.due += part.due
            total.enqueued += part.enqueued
            total.messages += part.messages
            total.not_leader = part.not_leader
            if part.not_leader or part.due < self._limit or chunks == max_chunks:
                return total

    def _sweep_chunk(
        self, tier: Tier, ticks: TierTicks, *, token: str, publish: PublishBatch, now: float
    ) -> SweepResult:
        prefix = f"{int(now * 1000)}-{secrets.token_hex(4)}."
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
                        lease_s=ticks.interval_s * CLAIM_LEASE_INTERVALS,
                        brain=ticks.brain,
                        ticks=chunk,
                    )
                )
                result.messages += 1
                result.enqueued += len(chunk)
        return result
