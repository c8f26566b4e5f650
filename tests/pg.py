"""The tests' PostgreSQL: `NPCFARM_TEST_DATABASE_URL` (a server the tests may create
databases on) wins; else a private cluster from ops/servers/embedded_postgres.py, without fsync."""

from __future__ import annotations

import os

from ops.servers.embedded_postgres import URL_ENV, PostgresServer
from ops.servers.embedded_postgres import start_server as start_private

TestServer = PostgresServer


def start_server() -> PostgresServer:
    given = os.environ.get(URL_ENV)
    return PostgresServer(given) if given else start_private(durable=False)
