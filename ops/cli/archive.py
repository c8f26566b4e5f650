"""Archive sub-commands (`npcfarm archive migrate|status`) and the `archiver` process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

import redis
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from npcfarm.errors import TransientError
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.settings import get_settings
from ops.archive.archiver import CLAIM_IDLE_MS, Archiver, dead_letters, lag
from ops.archive.db import current_revision, head_revision, make_engine, migrate, row_counts

archive_app = typer.Typer(
    help="The durable archive (PostgreSQL; SQLite when embedded).", no_args_is_help=True
)
console = Console()
T = TypeVar("T")


def where(url: str) -> str:
    """The archive URL as it may be printed (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def reach(url: str, step: Callable[[], T]) -> T:
    """Run a database step; an unreachable or refusing database becomes a clear error."""
    try:
        return step()
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())
        raise TransientError(
            f"archive database {where(url)} failed: {reason} (start it, or set "
            "NPCFARM_ARCHIVE_URL; unset, the archive is SQLite under the data directory)"
        ) from exc


@archive_app.command("migrate")
def archive_migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the archive's tables (safe to repeat)."""
    url = get_settings().resolved_archive_url
    reached = reach(url, lambda: migrate(url, revision))
    console.print(f"archive {where(url)} is at revision {reached}")


@archive_app.command("status")
def archive_status() -> None:
    """Schema revision, rows per table and the backlog still waiting in Redis."""
    settings = get_settings()
    url = settings.resolved_archive_url
    engine = make_engine(url)
    try:
        revision = reach(url, lambda: current_revision(engine))
        counts = reach(url, lambda: row_counts(engine)) if revision else {}
    finally:
        engine.dispose()
    head = head_revision()
    state = "current" if revision == head else f"needs `npcfarm archive migrate` to {head}"
    console.print(f"archive {where(url)}: revision {revision or 'none'} ({state})")
    table = Table("table", "rows")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    if counts:
        console.print(table)
    client, keys = connect(settings), keys_for(settings)
    try:
        backlog = lag(client, keys)
        stats = client.hgetall(keys.archive_stats)
        dead = int(client.xlen(dead_letters(keys)))
    except redis.RedisError as exc:
        console.print(f"[yellow]backlog unknown:[/] Redis unavailable ({exc})")
        return
    console.print(
        f"backlog: {backlog.length:,} in the stream, {backlog.pending:,} in flight; "
        f"{dead:,} dead letters"
    )
    counters = sorted((str(k), int(v)) for k, v in stats.items())
    console.print(
        "archiver: " + (", ".join(f"{k} {v:,}" for k, v in counters) or "no batch written yet")
    )


def archiver(
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default: host:pid).")] = None,
    claim_idle_ms: Annotated[
        int, typer.Option(help="Take over a dead archiver's entries after this idle time.")
    ] = CLAIM_IDLE_MS,
    batch: Annotated[int | None, typer.Option(help="Events per transaction.")] = None,
    commit_delay_s: Annotated[float, typer.Option(hidden=True)] = 0.0,  # fault drills only
) -> None:
    """Write archive events from Redis into the database (run several: they share a group)."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    client = connect(settings)
    require(client)
    url = settings.resolved_archive_url
    revision = reach(url, lambda: migrate(url))
    engine = make_engine(url)
    service = Archiver(
        client,
        keys_for(settings),
        engine,
        consumer=consumer or f"{socket.gethostname()}:{os.getpid()}",
        batch=batch or settings.archive_batch,
        wait_ms=settings.archive_wait_ms,
        claim_idle_ms=claim_idle_ms,
        commit_delay_s=commit_delay_s,
    )
    service.ensure_group()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(f"archiver {service.consumer}: {where(url)} at revision {revision}; Ctrl-C stops")
    try:
        service.serve(stop)
    finally:
        engine.dispose()
