"""Shared parts of the benchmarks: a private Redis, seeding, waiting, reporting.

Benchmarks never touch a user's farm: each starts its own redis-server on a free
loopback port and points this process (and the workers it spawns) at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import Progress

from npcfarm.domain import NPC
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.settings import get_settings
from ops.servers.embedded_redis import EmbeddedRedis

console = Console()
# Rules-path benchmarks measure the farm, not a language model loading in every worker.
RULES_ONLY = {"NPCFARM_ENGINE_ENABLED": "false"}
SEED_CHUNK = 2_000  # NPC records per pipelined write


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throw-away redis-server; this process's settings point at it while it runs."""
    # A SIGTERM must still run the cleanup (workers and Redis live in their own sessions).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="npcfarm-bench-") as tmp:
        server = EmbeddedRedis(data_dir=Path(tmp), port=free_port(), appendonly=False)
        with server:
            os.environ["NPCFARM_REDIS_URL"] = server.url
            get_settings.cache_clear()
            yield server.url


def seed(client: redis.Redis, keys: Keys, npcs: Iterable[NPC], total: int, label: str) -> None:
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        chunk: list[NPC] = []
        for npc in npcs:
            chunk.append(npc)
            if len(chunk) == SEED_CHUNK:
                save_npcs(client, keys, chunk)
                progress.advance(task, len(chunk))
                chunk = []
        save_npcs(client, keys, chunk)
        progress.advance(task, len(chunk))


def wait_until(
    done: Callable[[], int], target: int, *, timeout: float, label: str
) -> list[tuple[float, int]]:
    """Poll a counter until it reaches `target`; returns (seconds, count) samples."""
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=target)
        while (elapsed := time.perf_counter() - start) < timeout:
            count = done()
            samples.append((elapsed, count))
            progress.update(task, completed=count)
            if count >= target:
                return samples
            time.sleep(0.05)
    raise TimeoutError(f"{label}: reached {samples[-1][1]} of {target} in {timeout:g} s")


def machine() -> str:
    return f"{platform.node()} ({os.cpu_count()} CPUs, {platform.python_version()})"


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **report,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
