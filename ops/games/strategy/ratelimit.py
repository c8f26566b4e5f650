"""A token bucket per caller: a steady rate with a burst, refused with a wait time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

KEYS_MAX = 10_000  # buckets kept; past this the table starts again (bounded memory)


@dataclass(slots=True)
class Bucket:
    tokens: float
    stamp: float


@dataclass(slots=True)
class Limiter:
    rate: float  # tokens per second
    burst: float  # bucket size
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate above 0 and a burst of at least 1 are needed")

    def take(self, key: str) -> float:
        """0 when admitted (one token spent), else the seconds until a token is there."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= KEYS_MAX:
                self._buckets.clear()
            bucket = self._buckets[key] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
