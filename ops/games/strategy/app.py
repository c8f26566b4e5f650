"""The game behind HTTP: the door (token, rate limit, body cap), errors, the clock.

One operator token acts for every player (the AI operator names the player in the
path). The door runs before routing, so a request without the token is refused
before its body is even read, and every answer, refusals included, is JSON with a
stable `code`. A background task moves a real-time game on once a second, under the
same lock the routes take, so each request sees one consistent moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops.games.strategy.errors import Code, Refused, status_of
from ops.games.strategy.game import Game
from ops.games.strategy.ratelimit import Limiter

log = logging.getLogger(__name__)

TICK_S = 1.0  # how often a real-time server moves its clock
RATE = 50.0  # requests per second per token
BURST = 100.0  # requests a token may make at once
MAX_BODY = 64 * 1024  # bytes in one request body


class Host:
    """What the routes share: the game, its lock, and whether its clock runs itself."""

    def __init__(self, game: Game, *, token: str, realtime: bool) -> None:
        self.game, self.token, self.realtime = game, token, realtime
        self.lock = threading.Lock()

    def tick(self, real_seconds: float) -> None:
        with self.lock:
            self.game.advance(self.game.speed * real_seconds)


def refusal(code: Code, reason: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"accepted": False, "code": code.value, "reason": reason}
    return JSONResponse(body, status_code=status_of(code), headers=headers)


class Door:
    """Token check, per-token rate limit and body cap for everything under /api."""

    def __init__(self, app: ASGIApp, *, host: Host, limiter: Limiter, max_body: int) -> None:
        self.app, self.host, self.limiter, self.max_body = app, host, limiter, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        refused = self._admit(headers)
        if refused is not None:
            await refused(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise HTTPException(413, f"body over {self.max_body} bytes")
            return message

        await self.app(scope, counted, send)

    def _admit(self, headers: dict[bytes, bytes]) -> JSONResponse | None:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.host.token.encode()
        ):
            return refusal(
                Code.UNAUTHORIZED,
                "`Authorization: Bearer <operator token>` is required",
                headers={"WWW-Authenticate": 'Bearer realm="strategy"'},
            )
        wait = self.limiter.take(token.strip())
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            return refusal(
                Code.RATE_LIMITED,
                f"over the rate limit; retry in {retry} s",
                headers={"Retry-After": retry},
            )
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return refusal(Code.BODY_TOO_LARGE, f"body over {self.max_body} bytes")
        return None


async def _on_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return refusal(exc.code, exc.reason)


async def _on_invalid(_request: Request, exc: Exception) -> JSONResponse:
    """A malformed body, query or path: `bad_request` with where it went wrong."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))[:200]}
        for e in exc.errors()
    ][:20]
    reason = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)[:500]
    body = {"accepted": False, "code": Code.BAD_REQUEST.value, "reason": reason, "errors": errors}
    return JSONResponse(body, status_code=400)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.BODY_TOO_LARGE}
    code = codes.get(exc.status_code, Code.BAD_REQUEST)
    return refusal(code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_bug(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return refusal(Code.INTERNAL, f"internal error: {type(exc).__name__}")


def create_app(
    game: Game,
    *,
    token: str | None = None,
    rate: float = RATE,
    burst: float = BURST,
    realtime: bool = True,
    tick_s: float = TICK_S,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The HTTP server of `game`. `realtime=False` leaves the clock to
    `POST /api/clock/advance` (tests, fast simulations over HTTP)."""
    from ops.games.strategy.routes import router  # noqa: PLC0415  (routes import this module)

    host = Host(game, token=token or secrets.token_urlsafe(24), realtime=realtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_run_clock(host, tick_s)) if realtime else None
        yield
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    app = FastAPI(
        title="npcfarm strategy game",
        summary="A Travian-style reference game server for the farm's AI players.",
        lifespan=lifespan,
    )
    app.state.host = host
    app.add_exception_handler(Refused, _on_refused)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, bool]:
        """The process answers; needs no token."""
        return {"ok": True}

    app.include_router(router)
    app.add_middleware(Door, host=host, limiter=Limiter(rate, burst), max_body=max_body)
    return app


async def _run_clock(host: Host, tick_s: float) -> None:
    """Game time follows real time: `speed` game seconds per real second elapsed."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(tick_s)
        now = time.monotonic()
        host.tick(now - last)
        last = now


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
