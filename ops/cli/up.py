"""`npcfarm up`: the whole farm on one machine, playing a live demo world.

Starts (when no Redis URL is configured) an embedded redis-server, seeds a demo world,
then runs a worker, the scheduler (ticks and activation tiers), the ingest and a
simulated game server that walks players through the world and talks to NPCs through
the real bridge protocol, with a live view. Everything it starts it stops, in
reverse order, on Ctrl-C, SIGTERM or when `--duration` runs out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import redis
from celery import Celery
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.engine import make_url

from npcfarm import audit, tracing
from npcfarm.errors import NpcFarmError, RedisUnavailable
from npcfarm.keys import Keys
from npcfarm.memory.store import MemoryStore
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.registry import npc_count
from npcfarm.settings import Settings
from ops.bridge.demo import DEMO_WORLD_M, demo_npcs
from ops.cli.status import gather, render
from ops.cli.top import for_output, watch
from ops.servers.embedded_redis import EmbeddedRedis
from schedules.config import load_ticks
from schedules.placement import register_npcs
from workers.launch import engine_slots, spawn_worker, stop_worker, worker_argv
from workers.supervise import Supervised

if TYPE_CHECKING:
    from ops.archive.archiver import Archiver

log = logging.getLogger(__name__)

WORKER_START_TIMEOUT_S = 60.0  # a worker that has not answered by then has failed
DEMO_PLAYERS = 12  # simulated players walking the demo world
DEMO_CONVERSATION_GAP_S = 20.0  # a simulated player's next line comes ~30 s later
SIM_STEP_S = 0.5  # simulated game server tick


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
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("seeding demo world", total=count)
        register_npcs(
            client,
            keys,
            demo_npcs(count, seed=seed),
            config,
            advance=lambda n: progress.advance(task, n),
        )
    audit.record(client, keys, "world.demo", npcs=count, seed=seed, by="npcfarm up")
    return count


def _wait_for_worker(app: Celery, worker: subprocess.Popen[bytes]) -> None:
    """Tick only once a worker answers, so startup time is not counted as latency."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise NpcFarmError(f"the worker exited with code {worker.returncode}; see worker.log")
        if app.control.ping(timeout=0.5):
            return
    raise NpcFarmError("the worker did not answer within a minute; see worker.log")


def _loop(name: str, stop: threading.Event, step: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                step()
            except Exception:  # a demo loop must never take `up` down; it logs and goes on
                log.exception("%s loop failed; continuing", name)
                stop.wait(1.0)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


BULK_NICE = 19  # the bulk lane's nice: best measured for Gold under a flood (ops.bench.flood)
CPU_MODEL_SLOTS = 4  # Gold lane slots of the CPU demo (see start_workers)
# sized for a CPU-only model
DEMO_TICKS = Path(__file__).parent.parent / "bridge" / "demo_ticks.toml"


def demo_settings(settings: Settings) -> Settings:
    """Demo pacing: short conversations (simulated players move on quickly); on a machine
    whose llama.cpp cannot offload, the CPU-sized demo ticks."""
    if "NPCFARM_CONVERSATION_GAP_S" not in os.environ:
        settings = settings.model_copy(update={"conversation_gap_s": DEMO_CONVERSATION_GAP_S})
    if "NPCFARM_TICKS_FILE" in os.environ or not settings.engine_enabled:
        return settings
    try:
        from models.llm.native import supports_gpu_offload  # noqa: PLC0415

        if supports_gpu_offload():
            return settings
    except ImportError:
        pass  # no llama.cpp: the rules brain decides everything anyway
    return settings.model_copy(update={"ticks_file": DEMO_TICKS})


def prepare_model(settings: Settings, console: Console) -> bool:
    """Assemble the default model here, with a progress bar, before workers load it."""
    if not settings.engine_enabled:
        return False
    try:
        from models.catalogue import engine_config, load_model_catalogue  # noqa: PLC0415

        catalogue = (
            load_model_catalogue(settings.model_catalogue) if settings.model_catalogue else None
        )
        config = engine_config(
            settings.data_dir, settings.engine_base, catalogue=catalogue, console=console
        )
    except (ImportError, NpcFarmError, OSError) as exc:
        console.print(f"[yellow]no language model ({exc}); the rules brain decides[/]")
        return False
    console.print(f"[dim]model {config.base}: {config.model_path}[/]")
    return True


def start_workers(settings: Settings, llm: bool, concurrency: int) -> list[Supervised]:
    """With a model: a Gold lane with it and a bulk lane with rules (neither starves the
    other); without one, a single worker for every queue. Each is restarted if it exits
    (workers/supervise.py). The bulk lane runs at nice 19, the best of the CPU settings
    measured for Gold under a flood (docs/PERFORMANCE.md; SCHED_IDLE did worse)."""
    log_to = settings.data_dir / "worker.log"
    url = settings.resolved_redis_url
    env = {"NPCFARM_CONVERSATION_GAP_S": str(settings.conversation_gap_s)}  # the demo's pacing

    def lane(name: str, argv: list[str], lane_env: dict[str, str], nice: int) -> Supervised:
        return Supervised(name, lambda: spawn_worker(argv, redis_url=url, env=lane_env, nice=nice))

    if not llm:
        argv = worker_argv(concurrency=concurrency, loglevel="WARNING", logfile=log_to)
        return [lane("all", argv, env, nice=0)]
    gold = worker_argv(
        queues="gold,memory",
        pool="threads",  # one process, one model, every slot feeding its batch
        # On a CPU the engine is compute-bound from about 4 sequences (the engine
        # alone peaks at C=4 on 2 cores, docs/PERFORMANCE.md): more slots only
        # stretch each answer's latency. A GPU worker takes n_seq_max slots.
        concurrency=min(engine_slots(settings), CPU_MODEL_SLOTS),
        loglevel="WARNING",
        hostname="gold@%h",
        logfile=log_to,
    )
    bulk = worker_argv(
        queues="silver,bronze",
        concurrency=concurrency,
        loglevel="WARNING",
        hostname="bulk@%h",
        logfile=log_to,
    )
    return [
        lane("gold", gold, env, nice=0),
        lane("bulk", bulk, {**env, "NPCFARM_ENGINE_ENABLED": "false"}, nice=BULK_NICE),
    ]


def start_archiver(
    settings: Settings, client: redis.Redis, keys: Keys, console: Console
) -> Archiver:
    """The archive on this machine: SQLite under the data dir unless a URL is configured."""
    from ops.archive.archiver import Archiver  # noqa: PLC0415
    from ops.archive.db import make_engine, migrate  # noqa: PLC0415

    url = settings.resolved_archive_url
    revision = migrate(url)
    console.print(
        f"[dim]archive {make_url(url).render_as_string(hide_password=True)} "
        f"at revision {revision}[/]"
    )
    archiver = Archiver(
        client,
        keys,
        make_engine(url),
        consumer="up",
        batch=settings.archive_batch,
        wait_ms=settings.archive_wait_ms,
    )
    archiver.ensure_group()
    return archiver


def run_up(settings: Settings, *, npcs: int, duration: float | None, concurrency: int) -> None:
    from ops.bridge.ingest import Ingest  # noqa: PLC0415
    from ops.bridge.simulator import Simulator  # noqa: PLC0415
    from schedules.scheduler import Scheduler  # noqa: PLC0415
    from workers.app import app  # noqa: PLC0415
    from workers.dispatch import batch_publisher, publish_job, summary_publisher  # noqa: PLC0415 - the Celery app

    console = for_output(Console())
    if settings.task_queue != "celery":
        raise NpcFarmError(
            "npcfarm up runs Celery workers; with task_queue=dramatiq run npcfarm worker, "
            "scheduler and ingest yourself"
        )
    settings = demo_settings(settings)
    tracing.setup_process("npcfarm-up")  # its scheduler and ingest threads (workers: their own)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with redis_for(settings, console):
        client, keys = connect(settings), keys_for(settings)
        require(client)
        if seeded := seed_world(settings, npcs, console):
            console.print(f"seeded a demo world of {seeded:,} NPCs")
        workers = start_workers(settings, prepare_model(settings, console), concurrency)
        console.print("[dim]waiting for the workers…[/]")
        for worker in workers:
            _wait_for_worker(app, worker.proc)
        scheduler = Scheduler(
            client,
            keys,
            settings,
            publish=batch_publisher(app),
            publish_summary=summary_publisher(app),
        )
        scheduler.start(handle_signals=True)
        memory = MemoryStore.from_settings(client, keys, settings)
        ingest = Ingest(
            client,
            keys,
            publish_job=lambda job: publish_job(app, job),
            consumer="up",
            memory=memory,
        )
        ingest.ensure_group()
        sim = Simulator.start(
            client, keys, world="demo-0", size_m=DEMO_WORLD_M, players=DEMO_PLAYERS
        )
        stop = threading.Event()

        def play() -> None:
            sim.step(SIM_STEP_S)
            stop.wait(SIM_STEP_S)

        archiver = start_archiver(settings, client, keys, console)
        loops = [
            _loop("ingest", stop, lambda: ingest.serve(stop, block_ms=200)),
            _loop("simulator", stop, play),
            _loop("archiver", stop, lambda: archiver.serve(stop)),
        ]
        console.print("[bold]npcfarm is up[/] — Ctrl-C stops everything cleanly")
        deadline = time.monotonic() + duration if duration else None

        def running() -> bool:
            for worker in workers:
                worker.check()  # a worker that exited is restarted (see worker.log)
            return deadline is None or time.monotonic() < deadline

        try:
            watch(console, client, keys, app=app, world="demo-0", running=running)
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            stop.set()
            for thread in loops:
                thread.join(timeout=5)
            scheduler.stop()
            for worker in workers:
                worker.stop(stop_worker)
        console.print(render(gather(client, keys, None), title="npcfarm — final"))
