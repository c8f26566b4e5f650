"""Submitting inbox entries and waiting, boundedly, for what became of them.

A receipt or an answer is looked for from the stream's last entry *before* the write,
so one written between the XADD and the first XREAD is not missed. Waits block in
Redis (XREAD BLOCK), never by polling, and end at the caller's deadline.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

from npcfarm.domain import Tier
from npcfarm.redisconn import StreamEntries
from schedules.config import parse_ticks

if TYPE_CHECKING:
    from ops.gateway.app import Gateway

TIER_COUNT_LIMIT = 50_000  # worlds larger than this report no per-tier counts


Read = list[tuple[str, StreamEntries]]


async def _xread(gw: Gateway, streams: dict[str, str], count: int, block: int | None) -> Read:
    """XREAD of the gateway's decoding client, typed as what it returns."""
    reply = await gw.redis.xread(cast(Any, streams), count=count, block=block)
    return cast(Read, reply or [])


async def _last_id(gw: Gateway, stream: str) -> str:
    newest = await gw.redis.xrevrange(stream, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def receipts(gw: Gateway, source: str, raws: list[str], wait_ms: int) -> list[dict[str, Any]]:
    """XADD each raw event with `source`; the receipts that came within `wait_ms`."""
    stream = gw.keys.receipts(source)
    start = await _last_id(gw, stream) if wait_ms else "$"
    pipe = gw.redis.pipeline(transaction=False)
    for raw in raws:
        pipe.xadd(gw.keys.inbox, {"event": raw, "source": source})
    ids = [str(i) for i in await pipe.execute()]
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + wait_ms / 1000
    last = start
    while wait_ms and len(found) < len(ids):
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            break
        for _stream, rows in await _xread(gw, {stream: last}, 1000, left):
            for entry_id, fields in rows:
                last = entry_id
                if fields.get("inbox_id") in ids:
                    found[fields["inbox_id"]] = fields
    return [found.get(i) or {"inbox_id": i, "status": "pending"} for i in ids]


async def answer(
    gw: Gateway, source: str, raw: str, *, world: str, tick_id: str, wait_ms: int
) -> dict[str, Any]:
    """Submit an interaction; its receipt and the decision of `tick_id` (the speech
    entry, or the whole decision) if they come within `wait_ms`."""
    results, stream = gw.keys.results(world), gw.keys.receipts(source)
    starts = {results: await _last_id(gw, results), stream: await _last_id(gw, stream)}
    inbox_id = str(await gw.redis.xadd(gw.keys.inbox, {"event": raw, "source": source}))
    out: dict[str, Any] = {"tick_id": tick_id, "inbox_id": inbox_id}
    deadline = time.monotonic() + wait_ms / 1000
    needle = f'"tick_id":"{tick_id}"'
    while (left := int((deadline - time.monotonic()) * 1000)) > 0:
        for name, rows in await _xread(gw, starts, 1000, left):
            for entry_id, fields in rows:
                starts[name] = entry_id
                if name == stream and fields.get("inbox_id") == inbox_id:
                    out["receipt"] = fields
                    if fields.get("status") == "dead":
                        return out
                elif name == results and needle in fields.get("d", ""):
                    decision = json.loads(fields["d"])
                    if fields.get("part") == "action":
                        out["action"] = decision  # the game may move the NPC now
                    else:
                        out["decision"] = decision
                        return out
    return out


async def stream_after(
    gw: Gateway, world: str, after: str, count: int, wait_ms: int
) -> list[dict[str, Any]]:
    """Decision stream entries after `after`, as {id, part, decision}."""
    reply = await _xread(gw, {gw.keys.results(world): after}, count, wait_ms or None)
    return [
        {"id": entry_id, "part": fields.get("part", "whole"), "decision": json.loads(fields["d"])}
        for _stream, rows in reply
        for entry_id, fields in rows
    ]


async def world_state(gw: Gateway, world: str) -> dict[str, Any]:
    k = gw.keys
    players = {}
    seen_players = cast(dict[str, str], await gw.redis.hgetall(k.players(world)))
    for player, text in seen_players.items():
        x, y, z, seen = (float(v) for v in text.split())
        players[player] = {"position": {"x": x, "y": y, "z": z}, "seen": seen}
    members = sorted(cast(set[str], await gw.redis.smembers(k.world_npcs(world))))
    tiers: dict[str, int] | None = None
    if len(members) <= TIER_COUNT_LIMIT:
        tiers = {}
        for tier in Tier:
            scores = await gw.redis.zmscore(k.due(tier), members) if members else []
            tiers[str(tier)] = sum(1 for s in scores if s is not None)
    toml, version = cast(
        list[str | None], await gw.redis.hmget(k.ticks_config, ["toml", "version"])
    )
    ticks = parse_ticks(toml).model_dump(mode="json") if toml else None
    return {
        "world": world,
        "players": players,
        "npcs": len(members),
        "tiers": tiers,
        "ticks": ticks,
        "ticks_version": version,
    }
