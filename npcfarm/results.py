"""Publishing decisions where bridges read them, and reading them back.

Lua calls of at most `PUBLISH_CHUNK` decisions hand out sequence numbers, replace
each NPC's latest decision, append to the world's capped stream, clear the coalescing
marks and update the counters; all calls of a batch go in one pipelined round trip.
Chunking keeps each script short, so Redis serves other clients (a Gold worker's
reads) between the chunks of a large Bronze batch instead of after all of it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import cast

import redis

from npcfarm.domain import AnyDecision, Tier, parse_decision
from npcfarm.keys import Keys
from npcfarm.redisconn import StreamEntries

PUBLISH_CHUNK = 64  # decisions per script call: bounds how long one call blocks Redis

# Every key a call touches is declared (stores such as DragonflyDB refuse others):
# KEYS: seq, latest(world), results(world), pending, stats(tier), rate(tier, now),
#       lat(tier), archive, then one published mark per decision (idempotent calls only)
# ARGV: maxlen, samples, idempotency ttl (0: off), archive maxlen (0: not archived), ts,
#       then 5 per decision: npc id, tick id, decision JSON without `seq`, latency ms,
#       part ("" whole, "action": its speech entry follows, "speech": that entry)
# The archive event of a decision is appended in the same call as its publish, so a
# crash can never leave a published decision unarchived; it is written with the
# decision's final entry (whole or speech), whose id `npc:tick` the archiver dedupes.
_PUBLISH = """
local maxlen, samples, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local archive_max, ts = tonumber(ARGV[4]), ARGV[5]
local published, dup = 0, 0
local lats = {}
for i = 6, #ARGV, 5 do
  local npc, tick, body, lat, part = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local fresh = true
  if ttl > 0 then
    fresh = redis.call('SET', KEYS[8 + (i - 1) / 5], '1', 'NX', 'EX', ttl) ~= false
  end
  if fresh then
    local seq = redis.call('INCR', KEYS[1])
    local doc = string.sub(body, 1, -2) .. ',"seq":' .. seq .. '}'
    redis.call('HSET', KEYS[2], npc, doc)
    if part == '' then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'npc', npc, 'seq', seq, 'd', doc)
    else
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'npc', npc, 'seq', seq, 'd', doc,
        'part', part)
    end
    if archive_max > 0 and part ~= 'action' then
      redis.call('XADD', KEYS[8], 'MAXLEN', '~', archive_max, '*', 'id', npc .. ':' .. tick,
        'kind', 'decision', 'npc', npc, 'ts', ts, 'd', doc)
    end
    if part ~= 'speech' then  -- a decision counts once, when the game can act on it
      published = published + 1
      lats[#lats + 1] = lat
    end
  elseif part ~= 'speech' then
    dup = dup + 1
  end
  if part ~= 'speech' and redis.call('HGET', KEYS[4], npc) == tick then
    redis.call('HDEL', KEYS[4], npc)
  end
end
if published > 0 then
  redis.call('HINCRBY', KEYS[5], 'decided', published)
  redis.call('INCRBY', KEYS[6], published)
  redis.call('EXPIRE', KEYS[6], 120)
  redis.call('LPUSH', KEYS[7], unpack(lats))
  redis.call('LTRIM', KEYS[7], 0, samples - 1)
end
if dup > 0 then redis.call('HINCRBY', KEYS[5], 'duplicates', dup) end
return {published, dup}
"""


class ResultPublisher:
    """Writes decisions for bridges; keyword-only so call sites name every limit."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        stream_maxlen: int,
        latency_samples: int,
        published_ttl_s: int,
        archive_tiers: Collection[str] = (),
        archive_maxlen: int = 0,
    ) -> None:
        """Decisions of `archive_tiers` are archived with their publish (`archive_maxlen`
        caps the archive stream; 0 archives nothing)."""
        self._client = client
        self._keys = keys
        self._maxlen = stream_maxlen
        self._samples = latency_samples
        self._ttl = published_ttl_s
        self._archived = frozenset(archive_tiers) if archive_maxlen > 0 else frozenset()
        self._archive_maxlen = archive_maxlen
        self._script = client.register_script(_PUBLISH)

    def publish(
        self,
        decisions: Sequence[AnyDecision],
        *,
        idempotent: bool = False,
        parts: Sequence[str] | None = None,
    ) -> int:
        """Publish; with `idempotent`, a tick id already published is skipped (redelivery).
        `parts` marks entries `action` (the speech entry follows) or `speech` (that entry,
        same tick id, its own seq); "" is a whole decision. Returns decisions published
        (speech entries are not counted: the decision was counted with its action)."""
        by_world: dict[tuple[str, Tier], list[tuple[AnyDecision, str]]] = defaultdict(list)
        for decision, part in zip(decisions, parts or [""] * len(decisions), strict=True):
            by_world[(decision.world, decision.tier)].append((decision, part))
        now = time.time()
        second, ts = int(now), f"{now:.6f}"
        ttl = self._ttl if idempotent else 0
        pipe = self._client.pipeline(transaction=False)
        for (world, tier), group in by_world.items():
            fixed = [
                self._keys.seq,
                self._keys.latest(world),
                self._keys.results(world),
                self._keys.pending,
                self._keys.stats(tier),
                self._keys.rate(tier, second),
                self._keys.latencies(tier),
                self._keys.archive,
            ]
            archive_max = self._archive_maxlen if str(tier) in self._archived else 0
            for start in range(0, len(group), PUBLISH_CHUNK):
                chunk = group[start : start + PUBLISH_CHUNK]
                args: list[str | int | float] = [self._maxlen, self._samples, ttl, archive_max, ts]
                marks: list[str] = []
                for d, part in chunk:
                    body = d.model_dump_json(by_alias=True, exclude={"seq"})
                    args += [d.npc_id, d.tick_id, body, round(d.timings.latency_ms, 2), part]
                    if ttl:
                        speech = part == "speech"
                        marks.append(self._keys.published(d.npc_id, d.tick_id, speech=speech))
                self._script(keys=fixed + marks, args=args, client=pipe)
        return sum(int(published) for published, _dup in pipe.execute())


def latest_decision(client: redis.Redis, keys: Keys, world: str, npc_id: str) -> AnyDecision | None:
    raw = client.hget(keys.latest(world), npc_id)
    return parse_decision(raw) if raw else None


def read_results(
    client: redis.Redis,
    keys: Keys,
    world: str,
    *,
    last_id: str = "0-0",
    count: int = 1000,
    block_ms: int | None = None,
) -> list[tuple[str, AnyDecision]]:
    """What a bridge does: XREAD from its last id; returns (entry id, decision) pairs."""
    reply = client.xread({keys.results(world): last_id}, count=count, block=block_ms)
    streams = cast(list[tuple[str, StreamEntries]], reply or [])
    return [
        (entry_id, parse_decision(fields["d"]))
        for _stream, rows in streams
        for entry_id, fields in rows
    ]


# KEYS: pending; ARGV: pairs of npc id, tick id. Clears marks of ticks that were dropped.
_RELEASE = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""


def release_ticks(client: redis.Redis, keys: Keys, ticks: Sequence[tuple[str, str]]) -> int:
    """Drop the coalescing marks of ticks that will never publish (expired, unknown NPC)."""
    if not ticks:
        return 0
    args = [part for pair in ticks for part in pair]
    return int(client.eval(_RELEASE, 1, keys.pending, *args))
