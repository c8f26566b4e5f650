"""Test fixtures: a real redis-server (or valkey-server, `NPCFARM_TEST_STORE=valkey`)
for the session and real Celery workers.

The server is started before any test module is imported, because `celeryconfig`
reads the broker URL once at import; each test then starts from empty farm keys.
Kombu's routing table (`_kombu.binding.*`) is left alone, so a running worker keeps
receiving what is published.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from npcfarm.keys import QUEUE_ORDER, Keys
from npcfarm.settings import Settings, get_settings
from ops.servers.embedded_redis import EmbeddedRedis, valkey_server_binary
from tests.pg import TestServer, start_server
from workers.launch import ALL_QUEUES

_server: EmbeddedRedis | None = None
WORKER_READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STORES = ("redis", "valkey")  # NPCFARM_TEST_STORE: which server speaking Redis the suite uses


def pytest_configure(config: pytest.Config) -> None:
    global _server
    store = os.environ.get("NPCFARM_TEST_STORE", "redis")
    if store not in STORES:
        raise pytest.UsageError(f"NPCFARM_TEST_STORE={store!r}: one of {', '.join(STORES)}")
    binary = valkey_server_binary() if store == "valkey" else None
    data = Path(tempfile.mkdtemp(prefix=f"npcfarm-test-{store}-"))
    _server = EmbeddedRedis(data_dir=data, port=_free_port(), appendonly=False, binary=binary)
    _server.start()
    os.environ["NPCFARM_REDIS_URL"] = _server.url
    os.environ["NPCFARM_DATA_DIR"] = str(data / "farm")
    os.environ.pop("NPCFARM_CONFIG", None)
    os.environ["NPCFARM_ENGINE_ENABLED"] = "false"  # engine tests turn it on with a tiny model
    get_settings.cache_clear()


def pytest_report_header(config: pytest.Config) -> str:
    store = os.environ.get("NPCFARM_TEST_STORE", "redis")
    return f"store: {store} ({_server.url if _server else '-'})"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


def clean_farm(client: redis.Redis, keys: Keys) -> None:
    doomed = list(client.scan_iter(f"{keys.prefix}:*", count=1000))
    doomed += [*QUEUE_ORDER]
    doomed += [k for k in client.scan_iter("celery*", count=1000)]
    doomed += [k for k in client.scan_iter("dramatiq*", count=1000)]
    if doomed:
        client.unlink(*doomed)


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix)


@pytest.fixture
def client(settings: Settings, keys: Keys) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(settings.resolved_redis_url, decode_responses=True)
    clean_farm(conn, keys)
    yield conn
    conn.close()


def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    """Poll a condition (bounded); the only waiting tests do."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")


WorkerFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real `celery worker` subprocesses; each is stopped after the test."""
    from workers.app import app  # noqa: PLC0415
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    started: list[subprocess.Popen[bytes]] = []

    def start(
        *,
        queues: str = ALL_QUEUES,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        name = f"test{len(started)}-{os.getpid()}@%h"
        logfile = tmp_path / f"worker{len(started)}.log"
        argv = worker_argv(
            queues=queues,
            pool=pool,
            concurrency=concurrency,
            loglevel="WARNING",
            hostname=name,
            logfile=logfile,
        )
        proc = spawn_worker(argv, redis_url=settings.resolved_redis_url, env=env)
        started.append(proc)
        node = name.replace("%h", socket.gethostname())

        def answered() -> bool:
            if proc.poll() is not None:
                log = logfile.read_text() if logfile.exists() else ""
                raise AssertionError(f"worker exited with {proc.returncode}: {log[-2000:]}")
            return bool(app.control.ping(destination=[node], timeout=0.3))

        wait_for(answered, timeout=WORKER_READY_TIMEOUT_S, what=f"worker {node} to answer")
        return proc

    yield start
    for proc in started:
        stop_worker(proc, timeout_s=10)


# -- the archive: a real PostgreSQL (tests/pg.py), SQLite for the embedded default ------


@pytest.fixture(scope="session")
def postgres() -> Iterator[TestServer]:
    """The session's PostgreSQL: `NPCFARM_TEST_DATABASE_URL`, else one started here."""
    server = start_server()
    yield server
    server.close()


@pytest.fixture
def empty_database_url(postgres: TestServer) -> Iterator[str]:
    """A fresh database of its own for one test, never migrated; dropped after it."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def archive_url(empty_database_url: str) -> str:
    """A fresh database migrated to the head revision."""
    from ops.archive.db import migrate  # noqa: PLC0415

    migrate(empty_database_url)
    return empty_database_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The embedded default's SQLite archive (in a folder that does not exist yet), migrated."""
    from ops.archive.db import migrate  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'archive' / 'archive.db'}"
    migrate(url)
    return url
