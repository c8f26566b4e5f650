"""`npcfarm up`: embedded Redis, scheduler, worker and a demo world, with a live view.

Everything it starts it also stops, in reverse order, on Ctrl-C, SIGTERM or when
`--duration` runs out: scheduler first (no new ticks), then the worker (warm
shutdown finishes what it holds), then Redis (flushing its append-only file).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType

import redis
from celery import Celery
from rich.console import Console, Group
from rich.live import Live
from rich.progress import Progress
from rich.table import Table

from npcfarm import audit
from npcfarm.domain import Decision
from npcfarm.errors import NpcFarmError, RedisUnavailable
from npcfarm.keys import Keys
from npcfarm.redisconn import connect, entries, keys_for, require
from npcfarm.registry import load_npcs, npc_count, save_npcs
from npcfarm.settings import Settings
from ops.demo import demo_npcs
from ops.embedded_redis import EmbeddedRedis
from ops.status import gather, render
from ops.worker import spawn_worker, stop_worker, worker_argv
from schedules.config import load_ticks
from schedules.placement import place_npcs

log = logging.getLogger(__name__)

SEED_CHUNK = 500  # NPCs written per pipelined round trip while seeding
WORKER_START_TIMEOUT_S = 60.0  # a worker that has not answered by then has failed
RECENT = 8  # decisions shown under the table


@contextlib.contextmanager
def redis_for(settings: Settings, console: Console) -> Iterator[None]:
    """Start the embedded server when no URL is configured; otherwise use the given one."""
    if not settings.embedded:
        yield
        return
    server = EmbeddedRedis(data_dir=settings.data_dir / "redis", port=settings.embedded_redis_port)
    if server.already_running():
        raise RedisUnavailable(
            f"something already answers on 127.0.0.1:{settings.embedded_redis_port} "
            "(another `npcfarm up`?): stop it, or set NPCFARM_EMBEDDED_REDIS_PORT"
        )
    console.print(f"[dim]embedded redis-server on {server.url} (data in {server.data_dir})[/]")
    with server:
        yield


def seed_world(settings: Settings, count: int, console: Console, *, seed: int = 7) -> int:
    client, keys = connect(settings), keys_for(settings)
    if npc_count(client, keys) >= count:
        return 0
    config, _ = load_ticks(settings.ticks_file)
    batch = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("seeding demo world", total=count)
        for npc in demo_npcs(count, seed=seed):
            batch.append(npc)
            if len(batch) == SEED_CHUNK:
                save_npcs(client, keys, batch)
                place_npcs(client, keys, batch, config)
                progress.advance(task, len(batch))
                batch = []
        save_npcs(client, keys, batch)
        place_npcs(client, keys, batch, config)
        progress.advance(task, len(batch))
    audit.record(client, keys, "world.demo", npcs=count, seed=seed, by="npcfarm up")
    return count


def recent_decisions(client: redis.Redis, keys: Keys, world: str, count: int) -> Table:
    """The latest decisions of one world, as a bridge would read them."""
    table = Table(title=f"latest decisions in {world}", title_justify="left", expand=False)
    for column in ("NPC", "archetype", "tier", "action", "target", "emotion", "says", "ms"):
        table.add_column(column, overflow="ellipsis", no_wrap=True,
                         max_width=48 if column == "says" else None)  # fmt: skip
    rows = entries(client.xrevrange(keys.results(world), count=count))
    found = load_npcs(client, keys, [fields["npc"] for _, fields in rows])
    for (_, fields), npc in zip(rows, found, strict=True):
        d = Decision.model_validate_json(fields["d"])
        table.add_row(
            npc.name if npc else d.npc_id, npc.archetype if npc else "?", str(d.tier),
            str(d.action), d.target or "", str(d.emotion), d.speech or "",
            f"{d.timings.latency_ms:.0f}",
        )  # fmt: skip
    return table


def _wait_for_worker(app: Celery, worker: subprocess.Popen[bytes]) -> None:
    """Tick only once a worker answers, so startup time is not counted as latency."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise NpcFarmError(f"the worker exited with code {worker.returncode}; see worker.log")
        if app.control.ping(timeout=0.5):
            return
    raise NpcFarmError("the worker did not answer within a minute; see worker.log")


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_up(settings: Settings, *, npcs: int, duration: float | None, concurrency: int) -> None:
    from ops.dispatch import batch_publisher  # noqa: PLC0415 - imports the Celery app
    from schedules.scheduler import Scheduler  # noqa: PLC0415
    from workers.app import app  # noqa: PLC0415

    console = Console()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with redis_for(settings, console):
        client, keys = connect(settings), keys_for(settings)
        require(client)
        if seeded := seed_world(settings, npcs, console):
            console.print(f"seeded a demo world of {seeded:,} NPCs")
        argv = worker_argv(
            concurrency=concurrency, loglevel="WARNING", logfile=settings.data_dir / "worker.log"
        )
        worker = spawn_worker(argv, redis_url=settings.resolved_redis_url)
        console.print("[dim]waiting for the worker…[/]")
        _wait_for_worker(app, worker)
        scheduler = Scheduler(client, keys, settings, publish=batch_publisher(app))
        scheduler.start(handle_signals=True)
        console.print("[bold]npcfarm is up[/] — Ctrl-C stops everything cleanly")
        deadline = time.monotonic() + duration if duration else None
        try:
            _watch(console, client=client, keys=keys, app=app, deadline=deadline, worker=worker)
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            scheduler.stop()
            stop_worker(worker)
        console.print(render(gather(client, keys, None), title="npcfarm — final"))


def _watch(
    console: Console,
    *,
    client: redis.Redis,
    keys: Keys,
    app: Celery,
    deadline: float | None,
    worker: subprocess.Popen[bytes],
) -> None:
    def frame() -> Group:
        table = render(gather(client, keys, app), title="npcfarm — live (Ctrl-C to stop)")
        return Group(table, recent_decisions(client, keys, "demo-0", RECENT))

    def running() -> bool:
        if worker.poll() is not None:
            raise NpcFarmError(f"the worker exited with code {worker.returncode}; see worker.log")
        return deadline is None or time.monotonic() < deadline

    if sys.stdout.isatty():
        with Live(frame(), console=console, refresh_per_second=2) as live:
            while running():
                time.sleep(1.0)
                live.update(frame())
    else:
        while running():
            time.sleep(5.0)
            console.print(frame())
