"""`npcfarm metrics` behind basic auth: no scrape without the configured credentials."""

from __future__ import annotations

import socket

import httpx

from ops.servers.metrics_http import serve


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scrapes_need_the_credentials_when_set() -> None:
    port = _port()
    server, thread = serve("127.0.0.1", port, user="prom", password="s3cret")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, auth=("prom", "wrong")).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Basic !!!"}).status_code == 401
        ok = httpx.get(url, auth=("prom", "s3cret"))
        assert ok.status_code == 200 and "python_info" in ok.text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_without_credentials_it_is_open_on_its_address() -> None:
    port = _port()
    server, thread = serve("127.0.0.1", port, user=None, password=None)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
