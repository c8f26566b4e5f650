"""API keys of the gateway: stored hashed, scoped to worlds, revocable, audited.

A key reads `nfk_<id>_<secret>`. Only a SHA-256 digest of the secret is stored, under
the key's id, so a leaked Redis dump holds no usable key; the secret has 256 bits of
entropy, so a fast hash is enough (slow hashes guard guessable passwords). The id is
public: it names the key in audit entries, rate-limit buckets and receipt streams.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass

import redis

from npcfarm import audit
from npcfarm.errors import InvalidInput
from npcfarm.keys import Keys

_TOKEN = re.compile(r"^nfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
WORLD_ANY = "*"  # a key scoped to every world (operators' tools)


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    worlds: tuple[str, ...]
    rate: float  # requests per second, refilled continuously
    burst: int  # bucket size: requests allowed at once
    created: float
    digest: str
    revoked: float | None = None
    note: str = ""

    def allows(self, world: str) -> bool:
        return WORLD_ANY in self.worlds or world in self.worlds

    @property
    def source(self) -> str:
        """The inbox `source` (receipt stream) of this key's events."""
        return f"key-{self.key_id}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    client: redis.Redis,
    keys: Keys,
    *,
    worlds: tuple[str, ...],
    rate: float,
    burst: int,
    note: str = "",
) -> tuple[ApiKey, str]:
    """A new key and its token (shown once; only its digest is kept)."""
    if not worlds:
        raise InvalidInput("a key needs at least one world (or '*')")
    if rate <= 0 or burst < 1:
        raise InvalidInput("rate must be positive and burst at least 1")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(
        key_id, tuple(sorted(set(worlds))), rate, burst, time.time(), digest(secret), note=note
    )
    client.hset(keys.api_keys, key_id, json.dumps(asdict(key)))
    audit.record(
        client, keys, "key.create", key_id=key_id, worlds=list(key.worlds), rate=rate, burst=burst
    )
    return key, f"nfk_{key_id}_{secret}"


def revoke(client: redis.Redis, keys: Keys, key_id: str) -> bool:
    """Refuse the key from now on (kept, marked, for the audit trail)."""
    key = get(client, keys, key_id)
    if key is None or key.revoked is not None:
        return False
    revoked = {**asdict(key), "revoked": time.time()}
    client.hset(keys.api_keys, key_id, json.dumps(revoked))
    audit.record(client, keys, "key.revoke", key_id=key_id)
    return True


def get(client: redis.Redis, keys: Keys, key_id: str) -> ApiKey | None:
    raw = client.hget(keys.api_keys, key_id)
    return load(raw) if raw else None


def all_keys(client: redis.Redis, keys: Keys) -> list[ApiKey]:
    return sorted((load(raw) for raw in client.hvals(keys.api_keys)), key=lambda k: k.created)


def load(raw: str | bytes) -> ApiKey:
    """A stored key record."""
    data = json.loads(raw)
    data["worlds"] = tuple(data["worlds"])
    return ApiKey(**data)


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    found = _TOKEN.match(token)
    return (found.group(1), found.group(2)) if found else None
