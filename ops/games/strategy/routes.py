"""The /api routes: thin wrappers that take the lock and call one `Game` method.

Reads answer the shapes in `models`; every order answers `{"accepted": true, ...}` or
a refusal `{"accepted": false, "code", "reason"}` whose status follows its code.
`GET .../state` is the one call a connector needs per decision, with an ETag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from ops.games.strategy import batch
from ops.games.strategy.app import Host, dumps
from ops.games.strategy.bodies import (
    AcceptBody,
    AdvanceBody,
    AllianceBody,
    BuildBody,
    InviteBody,
    MessageBody,
    OfferBody,
    RecallBody,
    SendBody,
    TrainBody,
)
from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.game import Game
from ops.games.strategy.models import (
    Accepted,
    MapRow,
    MessagePage,
    OfferView,
    PlayerRow,
    PlayerState,
    Refusal,
    ReportPage,
    World,
)
from ops.games.strategy.rules import rules_document

REFUSALS: dict[int | str, dict[str, Any]] = {
    s: {"model": Refusal} for s in (400, 401, 403, 404, 409, 413, 429)
}
router = APIRouter(prefix="/api", responses=REFUSALS)
PlayerId = Annotated[int, Path(ge=0, le=2**53)]
VillageId = Annotated[int, Path(ge=0, le=2**53)]
Cursor = Annotated[int, Query(ge=0, le=2**53)]
Radius = Annotated[float, Query(ge=0, le=50)]
VILLAGE = "/players/{player}/villages/{village}"


def _host(request: Request) -> Host:
    found: Host = request.app.state.host
    return found


def _read(request: Request, call: Callable[[Game], Any]) -> Any:
    host = _host(request)
    with host.lock:
        return call(host.game)


def _order(request: Request, call: Callable[[Game], dict[str, Any]]) -> dict[str, Any]:
    return {"accepted": True, **_read(request, call)}


@router.get("/rules", tags=["world"])
async def rules() -> dict[str, Any]:
    """Every number and formula of the game (unit stats, costs, growth, combat)."""
    return rules_document()


@router.get("/world", response_model=World, tags=["world"])
async def world(request: Request) -> dict[str, Any]:
    clock = "realtime" if _host(request).realtime else "manual"
    return dict(_read(request, lambda g: g.world())) | {"clock": clock}


@router.get("/players", response_model=list[PlayerRow], tags=["world"])
async def players(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _read(request, lambda g: g.players_list(offset, limit))
    return result


@router.get("/map", response_model=list[MapRow], tags=["world"])
async def map_near(
    request: Request,
    x: Annotated[float, Query(ge=-1e6, le=1e6)],
    y: Annotated[float, Query(ge=-1e6, le=1e6)],
    radius: Radius = 10,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Villages within `radius` tiles of (x, y), nearest first."""
    result: list[dict[str, Any]] = _read(request, lambda g: g.near(x, y, radius, limit=limit))
    return result


@router.get("/trade/offers", response_model=list[OfferView], tags=["trade"])
async def offers(
    request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 100
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _read(request, lambda g: g.offers_list(limit))
    return result


@router.get(
    "/players/{player}/state",
    tags=["player"],
    responses={200: {"model": PlayerState}, 304: {"description": "unchanged (If-None-Match)"}},
)
async def state(
    request: Request,
    player: PlayerId,
    reports_after: Cursor = 0,
    messages_after: Cursor = 0,
    radius: Radius = 10,
) -> Response:
    """Everything the player needs to decide. The ETag (= `version`) ignores the clock
    and resource amounts; after a 304, extrapolate resources from `production`."""
    body = _read(
        request,
        lambda g: g.state_of(
            player, reports_after=reports_after, messages_after=messages_after, radius=radius
        ),
    )
    etag = f'"{body["version"]}"'
    headers = {"ETag": etag, "X-Game-Time": f"{body['game_time']:.3f}"}
    asked = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in asked.split(",")}
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return Response(dumps(body), media_type="application/json", headers=headers)


@router.get("/players/{player}/reports", response_model=ReportPage, tags=["player"])
async def reports(
    request: Request,
    player: PlayerId,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    result: dict[str, Any] = _read(
        request, lambda g: g.reports_of(player, after=after, limit=limit)
    )
    return result


@router.get("/players/{player}/messages", response_model=MessagePage, tags=["player"])
async def messages(
    request: Request,
    player: PlayerId,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    found: dict[str, Any] = _read(
        request, lambda g: g.messages_of(player, after=after, limit=limit)
    )
    return found


@router.post(VILLAGE + "/build", response_model=Accepted, tags=["orders"])
async def build(
    request: Request, player: PlayerId, village: VillageId, body: BuildBody
) -> dict[str, Any]:
    return _order(request, lambda g: g.build(player, village, body.building))


@router.post(VILLAGE + "/train", response_model=Accepted, tags=["orders"])
async def train(
    request: Request, player: PlayerId, village: VillageId, body: TrainBody
) -> dict[str, Any]:
    return _order(request, lambda g: g.train(player, village, body.unit, body.count))


@router.post(VILLAGE + "/send", response_model=Accepted, tags=["orders"])
async def send(
    request: Request, player: PlayerId, village: VillageId, body: SendBody
) -> dict[str, Any]:
    return _order(request, lambda g: g.send(player, village, body.to, body.kind, body.troops))


@router.post(VILLAGE + "/recall", response_model=Accepted, tags=["orders"])
async def recall(
    request: Request, player: PlayerId, village: VillageId, body: RecallBody
) -> dict[str, Any]:
    """Bring this village's reinforcements home from village `at`."""
    return _order(request, lambda g: g.recall(player, village, body.at, body.troops))


@router.post("/players/{player}/trade/offers", response_model=Accepted, tags=["trade"])
async def offer(request: Request, player: PlayerId, body: OfferBody) -> dict[str, Any]:
    return _order(
        request,
        lambda g: g.create_offer(
            player,
            body.village,
            give=body.give.resource,
            give_amount=body.give.amount,
            want=body.want.resource,
            want_amount=body.want.amount,
        ),
    )


@router.post(
    "/players/{player}/trade/offers/{offer}/accept", response_model=Accepted, tags=["trade"]
)
async def accept_offer(
    request: Request, player: PlayerId, offer: PlayerId, body: AcceptBody | None = None
) -> dict[str, Any]:
    village = body.village if body is not None else None
    return _order(request, lambda g: g.accept_offer(player, offer, village))


@router.post(
    "/players/{player}/trade/offers/{offer}/cancel", response_model=Accepted, tags=["trade"]
)
async def cancel_offer(request: Request, player: PlayerId, offer: PlayerId) -> dict[str, Any]:
    return _order(request, lambda g: g.cancel_offer(player, offer))


@router.post("/players/{player}/alliances", response_model=Accepted, tags=["alliances"])
async def found_alliance(request: Request, player: PlayerId, body: AllianceBody) -> dict[str, Any]:
    return _order(request, lambda g: g.create_alliance(player, body.name))


@router.post("/players/{player}/alliances/leave", response_model=Accepted, tags=["alliances"])
async def leave(request: Request, player: PlayerId) -> dict[str, Any]:
    return _order(request, lambda g: g.leave_alliance(player))


@router.post(
    "/players/{player}/alliances/{alliance}/invite", response_model=Accepted, tags=["alliances"]
)
async def invite(
    request: Request, player: PlayerId, alliance: PlayerId, body: InviteBody
) -> dict[str, Any]:
    return _order(request, lambda g: g.invite(player, alliance, body.player))


@router.post(
    "/players/{player}/alliances/{alliance}/accept", response_model=Accepted, tags=["alliances"]
)
async def join(request: Request, player: PlayerId, alliance: PlayerId) -> dict[str, Any]:
    return _order(request, lambda g: g.accept_invite(player, alliance))


@router.post("/players/{player}/messages", response_model=Accepted, tags=["player"])
async def message(request: Request, player: PlayerId, body: MessageBody) -> dict[str, Any]:
    return _order(request, lambda g: g.send_message(player, body.to, body.text))


@router.post("/batch/states", tags=["batch"])
async def batch_states(request: Request, body: batch.StatesBody) -> dict[str, Any]:
    """Many players' `state` in one read (no ETag: a connector compares `version`)."""
    return dict(_read(request, lambda g: batch.states(g, body)))


@router.post("/batch/orders", tags=["batch"])
async def batch_orders(request: Request, body: batch.OrdersBody) -> dict[str, Any]:
    """Many orders, each on its own: `results[i]` is order i's answer or refusal."""
    return dict(_read(request, lambda g: batch.orders(g, body)))


@router.post("/clock/advance", response_model=Accepted, tags=["world"])
async def advance(request: Request, body: AdvanceBody) -> dict[str, Any]:
    """Move a manual clock on (a server started with `--manual`); refused otherwise."""
    if _host(request).realtime:
        raise Refused(Code.CLOCK_RUNNING, "this server's clock follows real time")
    return _order(request, lambda g: {"events": g.advance(body.seconds), "game_time": g.now})
