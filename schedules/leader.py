"""A leader lease in Redis, so a second scheduler is a hot standby.

The holder renews well before the TTL runs out; a standby keeps trying SET NX and wins
within one TTL of the leader's death. Renewal and release compare the token first,
so a paused ex-leader can never extend or delete the new leader's lease, and the sweep
script checks the same token (fencing) before it enqueues anything.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket

import redis

from npcfarm.redisconn import text

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaderLease:
    def __init__(self, client: redis.Redis, key: str, *, ttl_s: float) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = int(ttl_s * 1000)
        self.token = f"{socket.gethostname()}:{secrets.token_hex(6)}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self.is_leader = False

    def tick(self) -> bool:
        """Acquire or renew; returns whether we lead now. Redis errors mean 'not leader'."""
        try:
            if self.is_leader and self._renew(keys=[self._key], args=[self.token, self._ttl_ms]):
                return True
            won = bool(self._client.set(self._key, self.token, nx=True, px=self._ttl_ms))
        except redis.RedisError as exc:
            log.warning("leader lease: Redis error, stepping down: %s", exc)
            won = False
        if won != self.is_leader:
            log.info("scheduler %s %s", self.token, "is now leader" if won else "lost the lease")
        self.is_leader = won
        return won

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the lease expires by itself anyway
            self._release(keys=[self._key], args=[self.token])
        self.is_leader = False

    def holder(self) -> str | None:
        return text(self._client.get(self._key))
