"""Keeping a Celery worker running: restart it whenever it exits without being asked.

A Celery 5.7 / kombu 5.7 worker can exit by itself, with status 0, while its Redis
restarts (`Unrecoverable error: AttributeError("'NoneType' object has no attribute
'hostname'")` as kombu closes the lost connection; seen in the chaos benchmark). A
supervisor that restarts on failure only would leave it down. `npcfarm worker` and
`npcfarm up` therefore run each worker under this supervisor: any exit that was not
asked for is logged and the worker starts again, after a back-off that grows while
it keeps failing quickly and resets once it has run for a while.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # waits before restart n (then the last, again)
STEADY_S = 60.0  # a worker up this long has recovered: the back-off starts again at 1 s

Spawn = Callable[[], subprocess.Popen[bytes]]


class Supervised:
    """One worker process and its restarts; `check()` is called by the owner's loop."""

    def __init__(self, name: str, spawn: Spawn) -> None:
        self.name = name
        self._spawn = spawn
        self.proc = spawn()
        self.restarts = 0
        self._started = time.monotonic()
        self._failures = 0
        self._due: float | None = None

    def check(self) -> bool:
        """Restart the worker if it exited (after its back-off); True while it is up."""
        code = self.proc.poll()
        if code is None:
            return True
        now = time.monotonic()
        if self._due is None:
            self._failures = 0 if now - self._started > STEADY_S else self._failures + 1
            wait = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            log.warning("worker %s exited (%s): restarting in %g s", self.name, code, wait)
            self._due = now + wait
        if now < self._due:
            return False
        self.proc, self._due = self._spawn(), None
        self._started = now
        self.restarts += 1
        log.warning("worker %s restarted (restart %d)", self.name, self.restarts)
        return True

    def stop(self, stopper: Callable[[subprocess.Popen[bytes]], None]) -> None:
        self._due = None
        stopper(self.proc)


def run_supervised(name: str, spawn: Spawn, *, stop_timeout_s: float = 60.0) -> int:
    """Run one worker in the foreground until SIGTERM or SIGINT; both are handed to the
    worker (a warm shutdown: running tasks finish). Returns the worker's last status."""
    stopping = threading.Event()

    def ask_to_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    worker = Supervised(name, spawn)
    while not stopping.wait(0.5):
        worker.check()
    proc = worker.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode or 0)
