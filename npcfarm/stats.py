"""Farm counters kept in Redis, and the per-tier summary that `status` and `up` show.

Counters are plain HINCRBYs next to the work that causes them, so every process of
every host adds to the same figures without a metrics server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis

from npcfarm.domain import TIER_ORDER, Tier
from npcfarm.keys import Keys, queue_key

RATE_WINDOW_S = 10  # decisions/s is averaged over this many whole seconds


REASON = "reason_"  # counter prefix: decisions per `reason` (reason_llm_backlog, ...)


CACHE_HITS = "cache_hits"  # per-tier counter: model answers taken from the response cache
CACHE_MISSES = "cache_misses"  # per-tier counter: cache lookups that went on to the model


def cache_hit_rate(counters: dict[str, int]) -> float | None:
    """Share of response-cache lookups answered, None before any lookup."""
    total = counters.get(CACHE_HITS, 0) + counters.get(CACHE_MISSES, 0)
    return counters.get(CACHE_HITS, 0) / total if total else None


def reason_counts(counters: dict[str, int]) -> dict[str, int]:
    """Decisions by `reason` (model fallbacks, claim re-decisions) from a tier's counters."""
    return {k.removeprefix(REASON): v for k, v in counters.items() if k.startswith(REASON) and v}


def bump(client: redis.Redis, keys: Keys, tier: Tier, counter: str, amount: int = 1) -> None:
    if amount:
        client.hincrby(keys.stats(tier), counter, amount)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no samples."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass(slots=True)
class TierSummary:
    tier: Tier
    npcs: int = 0
    queue_depth: int = 0
    due_now: int = 0
    rate: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)


def summarize(client: redis.Redis, keys: Keys, *, now: float | None = None) -> list[TierSummary]:
    """One pipelined round trip for every figure of every tier."""
    now = time.time() if now is None else now
    second = int(now)
    pipe = client.pipeline(transaction=False)
    for tier in TIER_ORDER:
        pipe.zcard(keys.due(tier))
        pipe.llen(queue_key(tier))
        pipe.zcount(keys.due(tier), "-inf", now)
        pipe.mget([keys.rate(tier, s) for s in range(second - RATE_WINDOW_S, second)])
        pipe.lrange(keys.latencies(tier), 0, -1)
        pipe.hgetall(keys.stats(tier))
    replies = pipe.execute()
    out = []
    for i, tier in enumerate(TIER_ORDER):
        npcs, depth, due, rates, lats, counters = replies[i * 6 : i * 6 + 6]
        samples = [float(x) for x in lats]
        out.append(
            TierSummary(
                tier=tier,
                npcs=int(npcs),
                queue_depth=int(depth),
                due_now=int(due),
                rate=sum(int(r) for r in rates if r) / RATE_WINDOW_S,
                p50_ms=percentile(samples, 50),
                p95_ms=percentile(samples, 95),
                counters={k: int(v) for k, v in counters.items()},
            )
        )
    return out
