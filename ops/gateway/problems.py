"""Errors of the gateway as `application/problem+json` (RFC 9457) with a stable `code`.

Clients switch on `code` (a closed list, in docs/GATEWAY.md); `detail` is for people.
An event the ingest would dead-letter is refused here with the same code it would get
there (`not_json`, `invalid_event`, ...), because it is checked by the same function.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from npcfarm.events import DeadCode

PROBLEM_JSON = "application/problem+json"


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"  # 401: no key, a malformed, unknown or revoked key
    FORBIDDEN_WORLD = "forbidden_world"  # 403: the key is not scoped to that world
    RATE_LIMITED = "rate_limited"  # 429: the key's token bucket is empty (Retry-After)
    BODY_TOO_LARGE = "body_too_large"  # 413: over gateway_max_body_bytes
    INVALID_REQUEST = "invalid_request"  # 422: the request body or query is malformed
    NOT_FOUND = "not_found"  # 404: no such NPC or schema
    UNAVAILABLE = "unavailable"  # 503: Redis cannot be reached


ERROR_MEANINGS = {
    ErrorCode.UNAUTHORIZED: "401: no `Authorization: Bearer` key, or a malformed, unknown "
    "or revoked one; nothing was applied",
    ErrorCode.FORBIDDEN_WORLD: "403: the key is not scoped to the world the request names",
    ErrorCode.RATE_LIMITED: "429: the key's token bucket is empty; retry after "
    "`Retry-After` seconds",
    ErrorCode.BODY_TOO_LARGE: "413: the body is over `gateway_max_body_bytes`",
    ErrorCode.INVALID_REQUEST: "422: the body or query does not match the endpoint's "
    "schema (`errors` lists where)",
    ErrorCode.NOT_FOUND: "404: no such NPC, world or schema",
    ErrorCode.UNAVAILABLE: "503: Redis cannot be reached; retry",
}


class Problem(Exception):
    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def refused(code: DeadCode | str, detail: str) -> Problem:
    """An event refused by the ingest's own checks: 422 with the dead-letter code."""
    return Problem(422, str(code), detail)


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://npcfarm.invalid/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return JSONResponse(
        problem_body(exc.status, exc.code, exc.detail),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers=exc.headers,
    )


async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ][:20]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)[:500]
    body = problem_body(422, ErrorCode.INVALID_REQUEST, detail, errors=errors)
    return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)
