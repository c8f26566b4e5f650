"""Starting Celery workers with the farm's queue order (gold, silver, bronze, memory)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from npcfarm.errors import ConfigError
from npcfarm.keys import QUEUE_ORDER
from npcfarm.settings import Settings

PR_SET_PDEATHSIG = 1  # prctl(2)

ALL_QUEUES = ",".join(QUEUE_ORDER)
MODEL_QUEUES = ("gold", "silver")  # a worker on either may hold the language model


def lane_pool(queues: str, *, engine_enabled: bool, gpu: bool = False) -> str:
    """The pool for `--pool auto`. A model lane (Gold/Silver with the engine on, and no
    Bronze bulk) or any GPU worker is one process whose threads all feed its one engine:
    prefork would load one model copy per process, none batching with the others. A lane
    with Bronze bulk forks a process per CPU, since rules batches are CPU-bound Python."""
    wanted = ordered_queues(queues)
    serves_model = engine_enabled and any(q in MODEL_QUEUES for q in wanted)
    if serves_model and (gpu or "bronze" not in wanted):
        return "threads"
    return "prefork"


def engine_slots(settings: Settings) -> int:
    """Celery slots a model lane needs to keep every sequence of its engine busy."""
    from models.catalogue import configured_base  # noqa: PLC0415

    _, spec = configured_base(settings.model_catalogue, settings.engine_base)
    return spec.n_seq_max


def ordered_queues(spec: str) -> list[str]:
    """Validate a comma list of queues and put it in strict priority order."""
    wanted = {part.strip() for part in spec.split(",") if part.strip()}
    unknown = wanted - set(QUEUE_ORDER)
    if unknown or not wanted:
        raise ConfigError(
            f"unknown queue(s) {', '.join(sorted(unknown)) or '(none given)'}: "
            f"choose from {', '.join(QUEUE_ORDER)}"
        )
    return [name for name in QUEUE_ORDER if name in wanted]


def worker_argv(
    *,
    queues: str = ALL_QUEUES,
    concurrency: int | None = None,
    pool: str = "prefork",
    loglevel: str = "INFO",
    hostname: str | None = None,
    logfile: Path | None = None,
    include: tuple[str, ...] = (),
) -> list[str]:
    argv = ["worker", "-Q", ",".join(ordered_queues(queues)), "-P", pool, "-l", loglevel]
    if include:
        argv += ["-I", ",".join(include)]
    if concurrency:
        argv += ["-c", str(concurrency)]
    if hostname:
        argv += ["-n", hostname]
    if logfile:
        argv += ["--logfile", str(logfile)]
    return argv


def spawn_worker(
    argv: list[str],
    *,
    redis_url: str,
    env: dict[str, str] | None = None,
    nice: int = 0,
    idle: bool = False,
    cpus: set[int] | None = None,
    own_session: bool = True,
    quiet: bool = True,
) -> subprocess.Popen[bytes]:
    """A worker in its own process (used by `up`, `npcfarm worker`, tests, benchmarks).

    Bulk lanes (Silver, Bronze) yield the CPU to a Gold lane on the same host: `nice`
    lowers their priority, `idle` puts them in Linux's SCHED_IDLE class (they run only
    when nothing else wants the core, so a Gold task preempts them at once), `cpus`
    pins the process and its pool to those cores. See OPERATIONS.md, Workers.
    `own_session`: stopped by its parent, in order, not by the terminal's ^C; without
    it the worker shares its parent's process group and dies with it. `quiet`: output
    to the log file (or stderr captured); else the parent's terminal.
    """
    child_env = {**os.environ, **(env or {}), "NPCFARM_REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", *argv],
        env=child_env,
        preexec_fn=_child_setup(nice, idle, cpus),  # noqa: PLW1509
        start_new_session=own_session,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.PIPE if quiet and "--logfile" not in argv else None,
    )


def spawn_dramatiq(
    queues: str,
    *,
    redis_url: str,
    processes: int,
    threads: int = 1,
    env: dict[str, str] | None = None,
    nice: int = 0,
    poll_ms: int = 100,
) -> subprocess.Popen[bytes]:
    """A dramatiq worker (`task_queue = "dramatiq"`) on the farm's queues, in their
    strict order. `poll_ms`: how long an idle consumer waits between polls of Redis
    (dramatiq polls instead of blocking; its default, 1 s, would delay an idle Gold
    lane's first message by up to a second)."""
    child_env = {
        **os.environ,
        **(env or {}),
        "NPCFARM_REDIS_URL": redis_url,
        "NPCFARM_TASK_QUEUE": "dramatiq",
        "dramatiq_worker_timeout": str(poll_ms),
    }
    argv = [sys.executable, "-m", "dramatiq", "workers.dramatiq_app"]
    argv += ["--processes", str(processes), "--threads", str(threads)]
    argv += ["--queues", *ordered_queues(queues)]
    return subprocess.Popen(
        argv,
        env=child_env,
        preexec_fn=_child_setup(nice, False, None),  # noqa: PLW1509
    )


def _child_setup(nice: int, idle: bool, cpus: set[int] | None) -> Callable[[], None]:
    """What the child sets on itself before exec (inherited by its pool's processes)."""

    def apply() -> None:
        _die_with_parent()
        if nice:
            os.nice(nice)
        if idle and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)

    return apply


def _die_with_parent() -> None:
    """Linux: SIGTERM the worker when the process that started it dies, even by kill -9,
    so no orphaned worker keeps consuming (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def stop_worker(proc: subprocess.Popen[bytes], *, timeout_s: float = 20.0) -> None:
    """Warm shutdown (SIGTERM finishes running tasks), then kill as a last resort."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
