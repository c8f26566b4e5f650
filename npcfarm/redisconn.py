"""Redis clients built from the settings; the only place that turns a URL into a client."""

from __future__ import annotations

from typing import cast

import redis

from npcfarm.errors import RedisUnavailable
from npcfarm.keys import Keys
from npcfarm.settings import Settings, get_settings

SOCKET_TIMEOUT_S = 5.0  # a Redis call that hangs longer is treated as a failure


def connect(settings: Settings | None = None) -> redis.Redis:
    """A client with decoded (str) responses; `rediss://` and passwords come from the URL."""
    settings = settings or get_settings()
    return redis.Redis.from_url(
        settings.resolved_redis_url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )


def keys_for(settings: Settings | None = None) -> Keys:
    return Keys((settings or get_settings()).key_prefix)


def require(client: redis.Redis) -> None:
    """Fail with a clear, actionable error when Redis is not there."""
    try:
        client.ping()
    except redis.RedisError as exc:
        kwargs = client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        raise RedisUnavailable(
            f"cannot reach Redis at {where}: {exc}. Start the farm with `npcfarm up` "
            "(embedded Redis) or set NPCFARM_REDIS_URL."
        ) from exc


StreamEntries = list[tuple[str, dict[str, str]]]


def stream_gone(exc: redis.ResponseError) -> bool:
    """The stream or its consumer group vanished (FLUSHDB, a Redis restore, DEL): NOGROUP,
    or UNBLOCKED for a reader blocked on it at that moment. Recreate the group and go on."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


def text(value: object) -> str | None:
    """A reply of a `decode_responses` client as the `str` it is (redis-py types it loosely)."""
    return None if value is None else str(value)


def binary(client: redis.Redis) -> redis.Redis:
    """A client of the same server whose replies stay bytes, for reading what others
    wrote: a reply holding bytes that are not UTF-8 would otherwise fail inside redis-py,
    before the reader could refuse the one entry that holds them."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def entries(reply: object) -> StreamEntries:
    """XRANGE / XREVRANGE replies of a `decode_responses` client."""
    return cast(StreamEntries, reply or [])
