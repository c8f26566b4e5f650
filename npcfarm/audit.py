"""The audit log of admin actions: who did what, when, with which arguments.

A capped Redis stream, so every host's CLI writes to the same log; the archive
issue copies it into PostgreSQL for keeps.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import redis

from npcfarm.keys import Keys
from npcfarm.redisconn import entries

AUDIT_MAXLEN = 100_000  # entries kept in Redis (approximate)


def operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def record(client: redis.Redis, keys: Keys, action: str, **details: Any) -> str:
    entry_id = client.xadd(
        keys.audit,
        {
            "who": operator(),
            "what": action,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "args": json.dumps(details, default=str, sort_keys=True),
        },
        maxlen=AUDIT_MAXLEN,
        approximate=True,
    )
    return str(entry_id)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    who: str
    what: str
    when: str
    args: dict[str, Any]


def recent(client: redis.Redis, keys: Keys, count: int = 20) -> list[AuditEntry]:
    rows = entries(client.xrevrange(keys.audit, count=count))
    return [
        AuditEntry(
            id=entry_id,
            who=f.get("who", ""),
            what=f.get("what", ""),
            when=f.get("when", ""),
            args=json.loads(f.get("args", "{}")),
        )
        for entry_id, f in rows
    ]
