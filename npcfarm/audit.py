"""The audit log of admin actions: who did what, when, with which arguments.

A capped Redis stream, so every host's CLI writes to the same log; the archive
issue copies it into PostgreSQL for keeps.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from npcfarm import archive
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
    """Log an admin action in Redis and, through the archive stream, in the database."""
    who, when = operator(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args = json.dumps(details, default=str, sort_keys=True)
    pipe = client.pipeline(transaction=True)
    pipe.xadd(
        keys.audit,
        {"who": who, "what": action, "when": when, "args": args},
        maxlen=AUDIT_MAXLEN,
        approximate=True,
    )
    body = {"who": who, "action": action, "when": when, "args": json.loads(args)}
    kept = archive.event("audit", f"audit:{uuid.uuid4().hex}", "", body)
    archive.append(pipe, keys, [kept])
    entry_id, _ = pipe.execute()
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
