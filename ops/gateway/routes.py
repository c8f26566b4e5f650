"""The /ai endpoints: NPCs, events, interactions, world state and decisions.

Writes become inbox entries with `source = key-<id>` (so their receipts come back on
`receipts:key-<id>`), checked first by the ingest's own parser so a bad event is
refused here with the code the ingest would dead-letter it with. A request that asks
to wait (`wait_ms`, at most `gateway_max_wait_ms`) reads its receipts or its answer;
otherwise it returns 202 at once with the ids to poll.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from npcfarm.domain import NPC, NpcId, Vec3, WorldId
from npcfarm.errors import EventRefused
from npcfarm.events import MAX_EVENT_ID, MAX_PLAYER_TEXT, DeadCode, PlayerId
from ops.bridge.entries import parse
from ops.gateway.apikeys import ApiKey
from ops.gateway.app import Gateway
from ops.gateway.problems import ErrorCode, Problem, refused
from ops.gateway.waits import answer, receipts, stream_after, world_state

router = APIRouter(prefix="/ai", tags=["bridge"])
MAX_BULK = 500  # records or events one request may carry


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


async def caller(request: Request) -> ApiKey:
    return await gateway(request).caller(request)


Caller = Annotated[ApiKey, Depends(caller)]
Wait = Annotated[int, Query(ge=0, le=120_000, description="how long to wait (ms)")]


class Accepted(BaseModel):
    """What became of each submitted event: `applied` or `dead` (with `code`) where the
    ingest answered within `wait_ms`, else `pending` (poll the receipts)."""

    entries: list[dict[str, Any]]


class RegisterBody(BaseModel):
    npcs: Annotated[list[NPC], Field(min_length=1, max_length=MAX_BULK)]


class PlayerState(BaseModel):
    player_id: PlayerId
    position: Vec3
    left: bool = Field(False, description="the player left the world (position ignored)")


class NpcState(BaseModel):
    npc_id: NpcId
    position: Vec3 | None = None
    health: float | None = None
    hunger: float | None = None
    time_of_day: float | None = None
    flags: list[str] | None = None


class WorldStateBody(BaseModel):
    world: WorldId
    players: Annotated[list[PlayerState], Field(max_length=MAX_BULK)] = []
    npcs: Annotated[list[NpcState], Field(max_length=MAX_BULK)] = []


class InteractionBody(BaseModel):
    npc_id: NpcId
    player_id: PlayerId
    kind: Literal["talk", "attack", "trade", "gift", "help"]
    text: Annotated[str, Field(max_length=MAX_PLAYER_TEXT)] | None = None
    event_id: Annotated[str, Field(min_length=1, max_length=MAX_EVENT_ID)] | None = Field(
        None, description="the idempotency key (a fresh one when absent)"
    )


def _event_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def _check(raw: str) -> Any:
    """The ingest's own parse: a refused event is a 422 with its dead-letter code."""
    try:
        return parse(raw)
    except EventRefused as exc:
        raise refused(exc.code, str(exc)) from exc


async def _world_of(gw: Gateway, key: ApiKey, npc_id: str) -> str:
    world = await gw.world_of(npc_id)
    if not world:
        raise refused(DeadCode.UNKNOWN_NPC, f"unknown NPC id {npc_id!r}")
    _scope(key, world)
    return str(world)


def _scope(key: ApiKey, world: str) -> None:
    if not key.allows(world):
        raise Problem(403, ErrorCode.FORBIDDEN_WORLD, f"this key may not use world {world!r}")


async def _submit(gw: Gateway, key: ApiKey, raws: list[str], wait_ms: int) -> JSONResponse:
    found = await receipts(gw, key.source, raws, min(wait_ms, gw.settings.gateway_max_wait_ms))
    if len(found) == 1 and found[0]["status"] == "dead":  # one event: refuse it as such
        code = found[0].get("code", DeadCode.INTERNAL)
        raise refused(code, f"the ingest dead-lettered it (inbox entry {found[0]['inbox_id']})")
    done = all(r["status"] != "pending" for r in found)
    return JSONResponse(Accepted(entries=found).model_dump(), status_code=200 if done else 202)


@router.post("/npc/register", response_model=Accepted)
async def register(
    body: RegisterBody, key: Caller, request: Request, wait_ms: Wait = 2000
) -> Response:
    """Register or replace NPCs (idempotent), one `npc_register` event each."""
    gw = gateway(request)
    for npc in body.npcs:
        _scope(key, npc.world)
    raws = []
    for npc in body.npcs:
        event = {
            "type": "npc_register",
            "event_id": _event_id("reg"),
            "npc": npc.model_dump(mode="json"),
        }
        raws.append(json.dumps(event))
        _check(raws[-1])
    return await _submit(gw, key, raws, wait_ms)


@router.delete("/npc/{npc_id}", response_model=Accepted)
async def remove(npc_id: str, key: Caller, request: Request, wait_ms: Wait = 2000) -> Response:
    """Remove an NPC (`npc_remove`)."""
    gw = gateway(request)
    await _world_of(gw, key, npc_id)
    raw = json.dumps({"type": "npc_remove", "event_id": _event_id("rm"), "npc_id": npc_id})
    _check(raw)
    gw.forget(npc_id)
    return await _submit(gw, key, [raw], wait_ms)


@router.post("/npc/event", response_model=Accepted)
async def event(request: Request, key: Caller, wait_ms: Wait = 0) -> Response:
    """Any inbox event, exactly as a Redis bridge would XADD it (docs/BRIDGE.md §6)."""
    gw = gateway(request)
    body = await request.body()
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"not UTF-8: byte 0x{body[exc.start : exc.start + 1].hex()} at offset {exc.start}"
        raise refused(DeadCode.NOT_UTF8, detail) from exc
    parsed = _check(raw)
    world = getattr(parsed, "world", None)
    npc = getattr(parsed, "npc", None)
    if npc is not None:
        _scope(key, npc.world)
    elif world is not None:
        _scope(key, world)
    else:
        await _world_of(gw, key, parsed.npc_id)
    return await _submit(gw, key, [raw], wait_ms)


@router.post("/npc/{npc_id}/decide", response_model=Accepted)
async def decide_now(npc_id: str, key: Caller, request: Request, wait_ms: Wait = 0) -> Response:
    """One decision now at Gold priority (`decide_now`); its tick id is `now-<event_id>`."""
    gw = gateway(request)
    await _world_of(gw, key, npc_id)
    raw = json.dumps({"type": "decide_now", "event_id": _event_id("now"), "npc_id": npc_id})
    return await _submit(gw, key, [raw], wait_ms)


@router.get("/npc/{npc_id}/action")
async def action(
    npc_id: str,
    key: Caller,
    request: Request,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    wait_ms: Wait = 0,
) -> Response:
    """The NPC's latest decision; with `after_seq`, waits up to `wait_ms` for a newer
    one (204 when none came)."""
    gw = gateway(request)
    world = await _world_of(gw, key, npc_id)
    deadline = time.monotonic() + min(wait_ms, gw.settings.gateway_max_wait_ms) / 1000
    while True:
        raw = await gw.redis.hget(gw.keys.latest(world), npc_id)
        if raw and json.loads(raw).get("seq", 0) > after_seq:
            return Response(raw, media_type="application/json")
        if time.monotonic() >= deadline:
            return Response(status_code=204)
        await asyncio.sleep(0.05)


@router.post("/world/state", response_model=Accepted)
async def post_world_state(
    body: WorldStateBody, key: Caller, request: Request, wait_ms: Wait = 0
) -> Response:
    """Player positions (and departures) and NPC state of one world, in bulk."""
    gw = gateway(request)
    _scope(key, body.world)
    raws = []
    for p in body.players:
        event: dict[str, Any] = {
            "event_id": _event_id("pp"),
            "world": body.world,
            "player_id": p.player_id,
        }
        if p.left:
            event["type"] = "player_left"
        else:
            event |= {"type": "player_position", "position": p.position.model_dump()}
        raws.append(json.dumps(event))
    for n in body.npcs:
        await _world_of(gw, key, n.npc_id)
        state = n.model_dump(exclude_none=True, mode="json")
        raws.append(json.dumps({"type": "npc_state", "event_id": _event_id("ns"), **state}))
    for raw in raws:
        _check(raw)
    return await _submit(gw, key, raws, wait_ms)


@router.get("/world/{world}/state")
async def get_world_state(world: str, key: Caller, request: Request) -> dict[str, Any]:
    """Players, NPC counts per tier, and the active tick rates and caps."""
    _scope(key, world)
    return await world_state(gateway(request), world)


@router.post("/player/interaction")
async def interaction(
    body: InteractionBody, key: Caller, request: Request, wait_ms: Wait = 5000
) -> Response:
    """A player acts on an NPC: waits up to `wait_ms` for the whole answer (200), else
    202 with the tick id to poll (`GET /ai/npc/{id}/action`)."""
    gw = gateway(request)
    world = await _world_of(gw, key, body.npc_id)
    event_id = body.event_id or _event_id("gw")  # the answer's tick id: ix-gw-...
    raw = json.dumps(
        {"type": "interaction", **body.model_dump(exclude_none=True), "event_id": event_id}
    )
    _check(raw)
    tick_id = f"ix-{event_id}"
    found = await answer(
        gw,
        key.source,
        raw,
        world=world,
        tick_id=tick_id,
        wait_ms=min(wait_ms, gw.settings.gateway_max_wait_ms),
    )
    if found.get("receipt", {}).get("status") == "dead":
        return JSONResponse(found, status_code=422)
    return JSONResponse(found, status_code=200 if found.get("decision") else 202)


@router.get("/world/{world}/decisions")
async def decisions(
    world: str,
    *,
    key: Caller,
    request: Request,
    after: Annotated[str, Query(pattern=r"^([0-9]+-[0-9]+|0|\$)$")] = "0-0",
    count: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait_ms: Wait = 0,
) -> dict[str, Any]:
    """The world's decision stream after entry id `after` (long-poll with `wait_ms`)."""
    _scope(key, world)
    gw = gateway(request)
    rows = await stream_after(
        gw, world, after, count, min(wait_ms, gw.settings.gateway_max_wait_ms)
    )
    return {"entries": rows, "last_id": rows[-1]["id"] if rows else after}


@router.get("/world/{world}/decisions/stream")
async def decisions_stream(
    world: str, key: Caller, request: Request, after: str = "$"
) -> StreamingResponse:
    """The world's decision stream as server-sent events (`id` = stream entry id, so a
    reconnecting client resumes with `Last-Event-ID`)."""
    _scope(key, world)
    gw = gateway(request)
    start = request.headers.get("last-event-id") or after

    async def events() -> Any:
        last = start
        while not await request.is_disconnected():
            rows = await stream_after(gw, world, last, 100, 15_000)
            if not rows:
                yield ": keep-alive\n\n"
                continue
            for row in rows:
                last = row["id"]
                yield f"id: {row['id']}\nevent: decision\ndata: {json.dumps(row)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
