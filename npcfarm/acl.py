"""Redis ACL rules for the farm's three roles: least privilege, by key and command.

- `farm`: the farm's processes (workers, scheduler, ingest, archiver, gateway, CLI).
  They get every key under the prefix and Celery's own keys, with no admin or
  dangerous commands (no FLUSHALL, CONFIG, KEYS, DEBUG, SHUTDOWN, ...).
- `bridge-<world>`: one user per world, for a game server. It may XADD to the inbox
  and read only its own world's results stream, latest hash and receipt stream
  (`source` = its user name). It cannot touch the Celery queues, other worlds, or any
  other key.
- `operator`: read-only commands on every key, for dashboards and people.

On Redis >= 7 a bridge's inbox access is write-only (`%W~`), so it cannot read other
worlds' events from it. Redis 6 has no read/write key permissions: there a bridge can
also XRANGE the inbox, which the output says.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis

from npcfarm.keys import QUEUE_ORDER, Keys

BRIDGE_COMMANDS = (
    "xadd",  # the inbox
    "xread",  # results and receipts
    "xrange",
    "xrevrange",
    "xlen",
    "hget",  # the latest hash
    "hmget",
    "hgetall",
    "hscan",
    "hlen",
    "ping",
    "hello",
    "client|setname",
)
# Celery's bindings, unacked index, events and control (pidbox) reply queues
CELERY_KEYS = ("_kombu.*", "unacked*", "celery*", "*.celery.pidbox*")


@dataclass(frozen=True, slots=True)
class AclUser:
    name: str
    password: str  # shown once; only its SHA-256 goes into the rules
    rules: tuple[str, ...]

    @property
    def setuser(self) -> tuple[str, ...]:
        """The ACL SETUSER arguments: reset, then on, the password digest and the rules."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return (self.name, "reset", "on", f"#{digest}", *self.rules)

    def line(self) -> str:
        """This user as a line of a Redis ACL file (`aclfile`)."""
        return " ".join(("user", *self.setuser[:1], *self.setuser[2:]))


def apply(client: redis.Redis, found: list[AclUser]) -> None:
    """Create or replace the users on a running server (ACL SETUSER each)."""
    for user in found:
        client.execute_command("ACL", "SETUSER", *user.setuser)  # type: ignore[no-untyped-call]


def server_major(client: redis.Redis) -> int:
    return int(str(client.info("server")["redis_version"]).split(".")[0])


def bridge_name(world: str) -> str:
    return f"bridge-{world}"


def users(keys: Keys, worlds: list[str], *, redis_major: int) -> list[AclUser]:
    """The farm, operator and one bridge user per world, with fresh passwords."""
    p = keys.prefix
    farm = (
        "resetkeys",
        "resetchannels",
        f"~{p}:*",
        *(f"~{q}*" for q in QUEUE_ORDER),
        *(f"~{k}" for k in CELERY_KEYS),
        "&*",
        "+@all",
        "-@admin",
        "-@dangerous",
        "+info",
        "+client|setname",
        "+client|getname",
        "+client|id",
    )
    operator = (
        "resetkeys",
        "resetchannels",
        "~*",
        "-@all",
        "+@read",
        "-@dangerous",
        "+info",
        "+ping",
        "+hello",
    )
    out = [AclUser("npcfarm-farm", secrets.token_urlsafe(24), farm)]
    out.append(AclUser("npcfarm-operator", secrets.token_urlsafe(24), operator))
    for world in sorted(set(worlds)):
        name = bridge_name(world)
        inbox = f"%W~{keys.inbox}" if redis_major >= 7 else f"~{keys.inbox}"
        rules = (
            "resetkeys",
            "resetchannels",
            inbox,
            f"~{keys.results(world)}",
            f"~{keys.latest(world)}",
            f"~{keys.receipts(name)}",
            "-@all",
            *(f"+{c}" for c in BRIDGE_COMMANDS),
        )
        out.append(AclUser(name, secrets.token_urlsafe(24), rules))
    return out
