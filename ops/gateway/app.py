"""The gateway application: authentication, rate limits, body caps, health and metrics.

FastAPI on uvicorn, for three reasons: the rAthena integration this door is for names
it; request and response bodies are the farm's own pydantic models, so the OpenAPI
document and the JSON Schemas come from the same classes the ingest validates with;
and long-polls and the server-sent event stream need an async server, where a slow
client costs a coroutine, not a thread. Redis is reached with redis-py's asyncio client.

Every write goes through the inbox (the ingest applies it, with the same validation,
dead letters and idempotency as a Redis bridge's event); every read comes from the
latest hash and the world streams. The gateway holds no state of its own beyond keys.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from npcfarm.keys import Keys
from npcfarm.settings import Settings, get_settings
from ops.docs.protocol import DOCUMENTS, schema_of
from ops.gateway import apikeys
from ops.gateway.apikeys import ApiKey
from ops.gateway.problems import (
    PROBLEM_JSON,
    ErrorCode,
    Problem,
    on_problem,
    on_validation,
    problem_body,
)

API_VERSION = "1"  # in the `Npcfarm-Api` header; a breaking change moves to /ai/v2/

# KEYS: api keys hash, the key's bucket; ARGV: key id, SHA-256 of the secret, now.
# Returns {0} unknown or wrong secret, {3} revoked, {2, wait s} limited, {1, 0, record}.
# One round trip per request; a wrong secret never spends the key's tokens.
_ADMIT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {0} end
local key = cjson.decode(raw)
if key.digest ~= ARGV[2] then return {0} end
if key.revoked ~= cjson.null and key.revoked ~= nil then return {3} end
local now, rate, burst = tonumber(ARGV[3]), tonumber(key.rate), tonumber(key.burst)
local held = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens = tonumber(held[1]) or burst
local ts = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed, wait = 2, (1 - tokens) / rate
if tokens >= 1 then allowed, tokens, wait = 1, tokens - 1, 0 end
redis.call('HSET', KEYS[2], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait), raw}
"""
WORLD_CACHE_S = 5.0  # how long the gateway trusts a looked-up NPC -> world
WORLD_CACHE_MAX = 100_000


class Gateway:
    """What every route needs: settings, key names, the async Redis client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            settings.resolved_redis_url, decode_responses=True, health_check_interval=30
        )
        self._admit = self.redis.register_script(_ADMIT)
        self._worlds: dict[str, tuple[str, float]] = {}
        self.metrics = CollectorRegistry()
        self.requests = Counter(
            "npcfarm_gateway_requests",
            "Gateway requests by route and status.",
            ["route", "status"],
            registry=self.metrics,
        )

    async def caller(self, request: Request) -> ApiKey:
        """The key of `Authorization: Bearer nfk_...`, after its rate limit."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        parts = apikeys.split_token(token.strip()) if scheme.lower() == "bearer" else None
        if parts is None:
            raise _unauthorized("an `Authorization: Bearer nfk_...` key is required")
        key_id, secret = parts
        found = await self._admit(
            keys=[self.keys.api_keys, self.keys.bucket(key_id)],
            args=[key_id, apikeys.digest(secret), time.time()],
        )
        status = int(found[0])
        if status == 0:
            raise _unauthorized("unknown key")
        if status == 3:
            raise _unauthorized("the key was revoked")
        if status == 2:
            retry = max(1, math.ceil(float(found[1])))
            raise Problem(
                429,
                ErrorCode.RATE_LIMITED,
                "over the key's rate limit",
                headers={"Retry-After": str(retry)},
            )
        key = apikeys.load(found[2])
        return key

    async def world_of(self, npc_id: str) -> str | None:
        """The NPC's world, cached for WORLD_CACHE_S (a moved NPC is seen within it)."""
        now = time.monotonic()
        cached = self._worlds.get(npc_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        world = await self.redis.hget(self.keys.world_of, npc_id)
        if world:
            if len(self._worlds) >= WORLD_CACHE_MAX:
                self._worlds.clear()
            self._worlds[npc_id] = (str(world), now + WORLD_CACHE_S)
        return str(world) if world else None

    def forget(self, npc_id: str) -> None:
        self._worlds.pop(npc_id, None)


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, ErrorCode.UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Bearer realm="npcfarm"'}
    )


class BodyLimit:
    """Refuses bodies over the cap before any route reads them, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise Problem(413, ErrorCode.BODY_TOO_LARGE, f"body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> JSONResponse:
    body = problem_body(413, ErrorCode.BODY_TOO_LARGE, f"body over {limit} bytes")
    return JSONResponse(body, status_code=413, media_type=PROBLEM_JSON)


def create_app(settings: Settings | None = None) -> FastAPI:
    from ops.gateway.routes import router  # noqa: PLC0415  (routes import this module)

    gateway = Gateway(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.redis.aclose()

    app = FastAPI(
        title="npcfarm gateway",
        version=API_VERSION,
        summary="The bridge protocol over HTTP: events in, decisions out (docs/GATEWAY.md).",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)

    async def on_redis(_request: Request, exc: Exception) -> JSONResponse:
        problem = Problem(503, ErrorCode.UNAVAILABLE, f"Redis unavailable: {type(exc).__name__}")
        return await on_problem(_request, problem)

    app.add_exception_handler(RedisError, on_redis)

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        gateway.requests.labels(
            getattr(route, "path", "unmatched"), str(response.status_code)
        ).inc()
        response.headers["Npcfarm-Api"] = API_VERSION
        return response

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, bool]:
        """The process answers (liveness)."""
        return {"ok": True}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> dict[str, bool]:
        """Redis answers (readiness): 503 `unavailable` otherwise."""
        await gateway.redis.ping()
        return {"ok": True}

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus: requests by route and status."""
        return Response(generate_latest(gateway.metrics), media_type=CONTENT_TYPE_LATEST)

    @app.get("/ai/schemas", tags=["schemas"])
    async def schemas() -> dict[str, list[str]]:
        """The JSON Schema documents served under /ai/schemas/{name}."""
        return {"schemas": sorted(DOCUMENTS)}

    @app.get("/ai/schemas/{name}", tags=["schemas"])
    async def schema(name: str) -> dict[str, Any]:
        """One JSON Schema (the same files as docs/schemas/)."""
        if name not in DOCUMENTS:
            raise Problem(404, ErrorCode.NOT_FOUND, f"no schema {name!r}")
        return schema_of(name)

    app.include_router(router)
    app.add_middleware(BodyLimit, limit=gateway.settings.gateway_max_body_bytes)
    return app
