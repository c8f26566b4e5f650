"""The HTTP side of `npcfarm metrics`: /metrics behind optional basic auth.

prometheus-client's own `start_http_server` has no authentication, and the farm's
counters name worlds, tiers and engines; so the exporter binds to loopback by default
and, when `metrics_user` and `metrics_password` are set, refuses scrapes without them
(Prometheus sends them with `basic_auth` in its scrape config).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


def guarded(app: Wsgi, user: str | None, password: str | None) -> Wsgi:
    """`app` behind basic auth when both are set, else `app` itself."""
    if not (user and password):
        return app
    expected = f"{user}:{password}".encode()

    def check(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, encoded = header.partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True) if scheme.lower() == "basic" else b""
        except (binascii.Error, ValueError):
            given = b""
        if hmac.compare_digest(given, expected):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("WWW-Authenticate", 'Basic realm="npcfarm metrics"'), ("Content-Type", "text/plain")],
        )
        return [b"authentication required\n"]

    return check


def serve(
    address: str, port: int, *, user: str | None, password: str | None
) -> tuple[WSGIServer, threading.Thread]:
    """Start serving /metrics in a thread; returns the server (shutdown() stops it)."""
    app = guarded(make_wsgi_app(REGISTRY), user, password)
    server = make_server(address, port, app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread
