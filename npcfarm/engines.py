"""Which worker processes have a model loaded: a Redis hash that `status` reads.

Each process with an engine writes its entry when the model is ready and refreshes
its `seen` time every HEARTBEAT_S from a daemon thread; a clean shutdown removes it.
A process that was killed cannot remove its own, so readers show only entries seen
recently, and every new registration drops the ones that went quiet.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from npcfarm.keys import Keys

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # how often a process with a model refreshes its entry and metrics
STALE_S = 3 * HEARTBEAT_S  # an entry not refreshed for this long is a dead process
_beating: dict[str, Any] = {}  # what this process's heartbeat writes; empty: it stops
_lock = threading.Lock()


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _split(
    client: redis.Redis, keys: Keys, now: float | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The registry read once: entries seen within STALE_S, and the names of the rest."""
    now = time.time() if now is None else now
    alive, dead = {}, []
    for name, raw in client.hgetall(keys.engines).items():
        info = json.loads(raw)
        if now - float(info.get("seen", info.get("at", 0))) <= STALE_S:
            alive[str(name)] = info
        else:
            dead.append(str(name))
    return alive, dead


def live(client: redis.Redis, keys: Keys, *, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Engines of processes that are still alive (seen within STALE_S)."""
    return _split(client, keys, now)[0]


Metrics = Callable[[], dict[str, Any]]  # the engine's live figures (Engine.metrics)


def _entry(info: dict[str, Any], metrics: Metrics | None) -> str:
    live = metrics() if metrics is not None else {}
    return json.dumps({**info, "metrics": live, "seen": time.time()})


def register(
    client: redis.Redis, keys: Keys, info: dict[str, Any], metrics: Metrics | None = None
) -> None:
    """Announce this process's engine, forget the dead, and keep the entry (and the
    engine's metrics) fresh every HEARTBEAT_S."""
    name = this_process()
    client.hset(keys.engines, name, _entry(info, metrics))
    _, dead = _split(client, keys, None)
    if dead:
        client.hdel(keys.engines, *dead)
    with _lock:
        running = bool(_beating)
        _beating.update(client=client, keys=keys, name=name, info=info, metrics=metrics)
    if not running:
        threading.Thread(target=_beat, daemon=True, name="engine-heartbeat").start()


def forget(client: redis.Redis, keys: Keys) -> None:
    """This process's engine is going away (worker shutdown): no more heartbeats."""
    with _lock:
        _beating.clear()
    client.hdel(keys.engines, this_process())


def _beat() -> None:
    while True:
        time.sleep(HEARTBEAT_S)
        with _lock:
            if not _beating:
                return
            beating = dict(_beating)
        client, keys = beating["client"], beating["keys"]
        try:
            client.hset(keys.engines, beating["name"], _entry(beating["info"], beating["metrics"]))
        except redis.RedisError as exc:  # Redis away for a while: the next beat retries
            log.debug("engine heartbeat failed: %s", exc)
