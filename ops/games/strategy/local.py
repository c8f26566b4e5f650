"""The game's HTTP API on a free loopback port, in a thread: for benchmarks and tools
that drive a game they hold in process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ops.games.strategy.app import create_app
from ops.games.strategy.game import Game


@contextmanager
def serving(game: Game, *, token: str, rate: float = 1000.0) -> Iterator[str]:
    """Serve `game` (its clock moved by the caller) until the block ends; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app(game, token=token, rate=rate, burst=int(rate), realtime=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the game server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
