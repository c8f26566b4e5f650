"""Per-process resources of a worker: Redis client, key names, result publisher.

Created lazily on first use in each process (and re-created after a fork), so task
bodies stay thin and tests can build a context against any Redis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis

from npcfarm.keys import Keys
from npcfarm.redisconn import connect, keys_for
from npcfarm.results import ResultPublisher
from npcfarm.settings import Settings, get_settings


@dataclass(slots=True)
class WorkerContext:
    settings: Settings
    client: redis.Redis
    keys: Keys
    publisher: ResultPublisher

    @classmethod
    def build(cls, settings: Settings) -> WorkerContext:
        client = connect(settings)
        keys = keys_for(settings)
        publisher = ResultPublisher(
            client,
            keys,
            stream_maxlen=settings.stream_maxlen,
            latency_samples=settings.latency_samples,
            published_ttl_s=settings.published_ttl_s,
            archive_tiers=settings.archive_tiers,
            archive_maxlen=settings.archive_stream_max,
        )
        return cls(settings=settings, client=client, keys=keys, publisher=publisher)


_current: WorkerContext | None = None
_pid: int | None = None


def get() -> WorkerContext:
    global _current, _pid
    if _current is None or _pid != os.getpid():
        _current = WorkerContext.build(get_settings())
        _pid = os.getpid()
    return _current


def reset() -> None:
    global _current, _pid
    _current, _pid = None, None
