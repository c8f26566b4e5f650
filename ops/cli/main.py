"""The `npcfarm` command: run the farm's processes and administer it.

Logging is configured here, at the entry point, and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Annotated

import typer
from rich.console import Console

from models.archetypes import archetype_names
from npcfarm import audit, tracing
from npcfarm.domain import Job, Tier
from npcfarm.errors import InvalidInput, NpcFarmError
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.registry import get_npc
from npcfarm.results import latest_decision
from npcfarm.settings import get_settings
from ops.cli.acl import acl_command
from ops.cli.admin import npc_app, ticks_app, world_app
from ops.cli.archive import archive_app, archiver
from ops.cli.docs import docs
from ops.cli.gateway import gateway, keys_app
from ops.cli.memory import memory_app
from ops.cli.models import evaluate, models_app

app = typer.Typer(
    help="npcfarm: a worker farm that makes decisions for game NPCs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(npc_app, name="npc")
app.add_typer(world_app, name="world")
app.add_typer(ticks_app, name="ticks")
app.add_typer(models_app, name="models")
app.add_typer(memory_app, name="memory")
app.add_typer(archive_app, name="archive")
app.add_typer(keys_app, name="keys")
app.command()(gateway)
app.command(name="acl")(acl_command)
app.command(name="docs")(docs)
app.command("archiver")(archiver)
app.command(name="eval")(evaluate)
console = Console()


def _setup_logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def up(
    *,
    npcs: Annotated[int, typer.Option(help="NPCs in the demo world (seeded if fewer).")] = 1000,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: run).")] = 0,
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    game: Annotated[str, typer.Option(help="rpg (the demo world) or strategy.")] = "rpg",
    players: Annotated[int, typer.Option(help="strategy: AI players (villages).")] = 100,
    speed: Annotated[float, typer.Option(help="strategy: game seconds per second.")] = 600,
) -> None:
    """Run everything on one machine: embedded Redis, scheduler, worker, demo world; with
    `--game strategy`, the reference strategy game played by AI players through the farm."""
    logging.basicConfig(level=logging.WARNING)
    if game == "strategy":
        from ops.cli.up_strategy import run_strategy  # noqa: PLC0415

        run_strategy(
            get_settings(),
            players=players,
            duration=duration or None,
            concurrency=concurrency,
            speed=speed,
        )
        return
    if game != "rpg":
        raise typer.BadParameter(f"unknown game {game!r} (rpg, strategy)")
    from ops.cli.up import run_up  # noqa: PLC0415

    run_up(get_settings(), npcs=npcs, duration=duration or None, concurrency=concurrency)


@app.command()
def worker(
    *,
    queues: Annotated[str, typer.Option(help="Queues to consume, strict order.")] = (
        "gold,silver,bronze,memory"
    ),
    concurrency: Annotated[int, typer.Option(help="Pool size (default: CPUs).")] = 0,
    pool: Annotated[
        str,
        typer.Option(
            help="auto, prefork, threads or solo. auto: a GPU worker, or a model lane (gold "
            "or silver, no bronze, engine on), is one process of threads feeding one model "
            "(slots = the base's n_seq_max); any other lane is prefork."
        ),
    ] = "auto",
    loglevel: Annotated[str, typer.Option()] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Celery node name.")] = None,
    nice: Annotated[int, typer.Option(help="Lower CPU priority (bulk lanes).")] = 0,
    idle: Annotated[
        bool, typer.Option(help="SCHED_IDLE: run only when no other lane wants the CPU.")
    ] = False,
    gpu: Annotated[int | None, typer.Option(help="Pin to this GPU (CUDA device index).")] = None,
) -> None:
    """Run a Celery worker on the farm's queues (Gold before Silver before Bronze),
    restarted whenever it exits unasked (workers/supervise.py)."""

    from workers.launch import (  # noqa: PLC0415
        engine_slots,
        lane_pool,
        spawn_dramatiq,
        spawn_worker,
        worker_argv,
    )
    from workers.supervise import run_supervised  # noqa: PLC0415

    settings = get_settings()
    if pool == "auto":
        pool = lane_pool(queues, engine_enabled=settings.engine_enabled, gpu=gpu is not None)
    if pool == "threads" and not concurrency:
        concurrency = engine_slots(settings)  # slots >= n_seq_max keep every sequence busy
    argv = worker_argv(
        queues=queues,
        concurrency=concurrency or None,
        pool=pool,
        loglevel=loglevel,
        hostname=hostname,
    )
    env = {"CUDA_VISIBLE_DEVICES": str(gpu)} if gpu is not None else {}  # llama.cpp: one GPU
    if settings.task_queue == "dramatiq":  # the same task bodies as dramatiq actors
        threads = concurrency if pool == "threads" else 1
        processes = 1 if pool == "threads" else (concurrency or settings.worker_concurrency)

        def spawn_dq() -> subprocess.Popen[bytes]:
            return spawn_dramatiq(
                queues,
                redis_url=settings.resolved_redis_url,
                processes=processes,
                threads=max(threads, 1),
                env=env,
                nice=nice,
                poll_ms=10 if "gold" in queues else 100,
            )

        _setup_logging()
        raise typer.Exit(run_supervised(hostname or queues, spawn_dq))

    def spawn() -> subprocess.Popen[bytes]:
        return spawn_worker(
            argv,
            redis_url=settings.resolved_redis_url,
            env=env,
            nice=nice,
            idle=idle,
            own_session=False,  # dies with this supervisor's process group
            quiet=False,
        )

    _setup_logging()
    raise typer.Exit(run_supervised(hostname or queues, spawn))


@app.command()
def scheduler() -> None:
    """Run a scheduler (the leader sweeps; any other is a hot standby)."""
    from schedules.scheduler import Scheduler  # noqa: PLC0415
    from workers.app import app as celery_app  # noqa: PLC0415
    from workers.dispatch import publishers  # noqa: PLC0415

    _setup_logging()
    tracing.setup_process("npcfarm-scheduler")
    settings = get_settings()
    client = connect(settings)
    require(client)
    send = publishers(settings, celery_app)
    sched = Scheduler(
        client, keys_for(settings), settings, publish=send.batch, publish_summary=send.summary
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sched.start(handle_signals=True)
    stop.wait()
    sched.stop()


@app.command()
def redis(
    port: Annotated[int, typer.Option(help="Port (default: embedded_redis_port).")] = 0,
) -> None:
    """Run the embedded redis-server in the foreground (for separate worker processes)."""
    from ops.servers.embedded_redis import EmbeddedRedis  # noqa: PLC0415

    settings = get_settings()
    server = EmbeddedRedis(
        data_dir=settings.data_dir / "redis", port=port or settings.embedded_redis_port
    )
    with server:
        console.print(f"redis-server listening on {server.url}; Ctrl-C stops it")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Queue depth, due and shed counts, live workers, decisions/s and latency per tier."""
    from ops.cli.status import gather, render  # noqa: PLC0415
    from workers.app import app as celery_app  # noqa: PLC0415

    settings = get_settings()
    client = connect(settings)
    require(client)
    farm = gather(client, keys_for(settings), celery_app)
    if as_json:
        print(json.dumps(farm.as_dict(), indent=2))
    else:
        console.print(render(farm))


@app.command()
def enqueue(
    npc: Annotated[str, typer.Option("--npc", help="NPC id.")],
    tier: Annotated[Tier, typer.Option(help="Queue to run it on.")] = Tier.GOLD,
    tick_id: Annotated[str | None, typer.Option(help="Idempotency key (default: new).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the decision.")] = 0,
) -> None:
    """Enqueue a one-off decision for one NPC (acknowledged late, published once)."""
    from workers.app import app as celery_app  # noqa: PLC0415
    from workers.dispatch import publishers  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    record = get_npc(client, keys, npc)
    if record.archetype not in archetype_names():
        raise InvalidInput(f"NPC {npc!r} has archetype {record.archetype!r}, unknown to this build")
    job = Job(
        npc_id=npc,
        tick_id=tick_id or f"job-{uuid.uuid4().hex[:16]}",
        tier=tier,
        enqueued_at=time.time(),
        origin="cli",
    )
    publishers(settings, celery_app).job(job)
    audit.record(client, keys, "enqueue", npc=npc, tier=str(tier), tick_id=job.tick_id)
    console.print(f"enqueued {job.tick_id} for {npc} on {tier}")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        decision = latest_decision(client, keys, record.world, npc)
        if decision is not None and decision.tick_id == job.tick_id:
            print(decision.model_dump_json(by_alias=True, indent=2))
            return
        time.sleep(0.05)
    if wait:
        raise NpcFarmError(f"no decision for {job.tick_id} within {wait:g} s (is a worker up?)")


@app.command()
def flower() -> None:
    """Run Flower on the farm's broker (basic auth from NPCFARM_FLOWER_USER/PASSWORD)."""
    from ops.servers.flower import exec_flower  # noqa: PLC0415

    exec_flower(get_settings())


@app.command()
def metrics(
    port: Annotated[int, typer.Option(help="HTTP port for /metrics.")] = 9808,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Serve the farm's counters to Prometheus (read from Redis at each scrape), behind
    basic auth when NPCFARM_METRICS_USER and NPCFARM_METRICS_PASSWORD are set."""
    from prometheus_client import REGISTRY  # noqa: PLC0415

    from ops.servers.metrics import FarmCollector  # noqa: PLC0415
    from ops.servers.metrics_http import serve  # noqa: PLC0415

    settings = get_settings()
    client = connect(settings)
    require(client)
    REGISTRY.register(FarmCollector(client, keys_for(settings)))
    password = settings.metrics_password.get_secret_value() if settings.metrics_password else None
    server, thread = serve(address, port, user=settings.metrics_user, password=password)
    guarded = "basic auth" if settings.metrics_user and password else "no auth"
    console.print(f"metrics on http://{address}:{port}/metrics ({guarded}); Ctrl-C stops")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    thread.join()


@app.command()
def ingest(
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default: host:pid).")] = None,
) -> None:
    """Apply bridge events from the inbox (run several: they share a consumer group)."""
    from npcfarm.memory.store import MemoryStore  # noqa: PLC0415
    from ops.bridge.ingest import Ingest  # noqa: PLC0415
    from workers.app import app as celery_app  # noqa: PLC0415
    from workers.dispatch import publishers  # noqa: PLC0415

    _setup_logging()
    tracing.setup_process("npcfarm-ingest")
    settings = get_settings()
    client = connect(settings)
    require(client)
    keys = keys_for(settings)
    service = Ingest(
        client,
        keys,
        publish_job=publishers(settings, celery_app).job,
        consumer=consumer or f"{socket.gethostname()}:{os.getpid()}",
        memory=MemoryStore.from_settings(client, keys, settings),
    )
    service.ensure_group()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    service.serve(stop)
    tracing.shutdown()


@app.command()
def top(
    world: Annotated[str, typer.Option(help="World whose latest decisions are shown.")] = "demo-0",
) -> None:
    """A live view of the farm: tiers, rates, latency, queues, shedding, dead letters."""
    from ops.cli.top import watch  # noqa: PLC0415
    from workers.app import app as celery_app  # noqa: PLC0415

    settings = get_settings()
    client = connect(settings)
    require(client)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one leaves `top`
        watch(
            console,
            client,
            keys_for(settings),
            app=celery_app,
            world=world,
            running=lambda: True,
            title="npcfarm top (Ctrl-C to stop)",
        )


@app.command(name="audit")
def audit_log(count: Annotated[int, typer.Option(help="Entries to show.")] = 20) -> None:
    """Show the most recent admin actions (who, what, when)."""
    settings = get_settings()
    client = connect(settings)
    require(client)
    for entry in audit.recent(client, keys_for(settings), count):
        console.print(f"{entry.when}  {entry.who:<24} {entry.what:<14} {json.dumps(entry.args)}")


def main() -> None:
    try:
        app()
    except NpcFarmError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
