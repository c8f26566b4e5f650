"""`npcfarm acl`: Redis ACL users for the farm, its bridges and its operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from npcfarm import acl, audit
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.settings import get_settings

console = Console(stderr=True)


def acl_command(
    world: Annotated[list[str], typer.Option(help="A world that gets a bridge user (repeat).")],
    apply: Annotated[bool, typer.Option(help="Create the users on the server now.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write them as an ACL file (aclfile).")] = None,
) -> None:
    """Least-privilege Redis users: npcfarm-farm (the farm's processes), one
    bridge-<world> per world (XADD the inbox, read its own world) and npcfarm-operator
    (read-only). Passwords are printed once; the server and the file keep digests."""
    settings = get_settings()
    client = connect(settings)
    require(client)
    major = acl.server_major(client)
    found = acl.users(keys_for(settings), world, redis_major=major)
    if out is not None:
        out.write_text("".join(user.line() + "\n" for user in found), encoding="utf-8")
        console.print(f"wrote {len(found)} users to {out} (load with `aclfile {out}`)")
    if apply:
        acl.apply(client, found)
        audit.record(client, keys_for(settings), "acl.apply", users=[u.name for u in found])
        console.print(f"created {len(found)} users on the server (ACL SAVE keeps them)")
    if major < 7:
        console.print(
            f"Redis {major}.x has no write-only key permissions: bridge users can also read "
            "the inbox (other worlds' events); Redis >= 7 makes it write-only"
        )
    table = Table("user", "password (shown once)", "may")
    for user in found:
        may = {"npcfarm-farm": "the farm's keys and Celery's", "npcfarm-operator": "read"}
        table.add_row(user.name, user.password, may.get(user.name, "XADD inbox, read its world"))
    Console().print(table)
