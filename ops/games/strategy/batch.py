"""Many players' reads and orders in one request: what an operator's connector needs.

An AI operator plays every AI player of a game; one state read per player per turn
and one call per order would cost the game an API call per decision or more. The
batch routes take the same reads and the same orders as the single ones (the same
strict bodies, the same refusal codes, each order on its own: one refused order does
not stop the others) in one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops.games.strategy.bodies import (
    AllianceBody,
    BuildBody,
    Id,
    InviteBody,
    MessageBody,
    OfferBody,
    SendBody,
    TrainBody,
)
from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.game import Game

MAX_BATCH = 500  # players or orders in one request


class StateAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Id
    reports_after: Id = 0
    messages_after: Id = 0


class StatesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    players: Annotated[list[StateAsk], Field(min_length=1, max_length=MAX_BATCH)]
    radius: Annotated[float, Field(ge=0, le=50)] = 10


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    player: Id
    path: Annotated[str, Field(max_length=128)]  # as in the single route, after /players/{p}
    body: dict[str, Any] = {}


class OrdersBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orders: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_BATCH)]


Handler = Callable[[Game, int, re.Match[str], dict[str, Any]], dict[str, Any]]


def _build(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    return g.build(p, int(m[1]), BuildBody.model_validate(b).building)


def _train(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    body = TrainBody.model_validate(b)
    return g.train(p, int(m[1]), body.unit, body.count)


def _send(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    body = SendBody.model_validate(b)
    return g.send(p, int(m[1]), body.to, body.kind, body.troops)


def _offer(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    body = OfferBody.model_validate(b)
    return g.create_offer(
        p,
        body.village,
        give=body.give.resource,
        give_amount=body.give.amount,
        want=body.want.resource,
        want_amount=body.want.amount,
    )


def _found(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    return g.create_alliance(p, AllianceBody.model_validate(b).name)


def _invite(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    return g.invite(p, int(m[1]), InviteBody.model_validate(b).player)


def _join(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    return g.accept_invite(p, int(m[1]))


def _message(g: Game, p: int, m: re.Match[str], b: dict[str, Any]) -> dict[str, Any]:
    body = MessageBody.model_validate(b)
    return g.send_message(p, body.to, body.text)


ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"^/villages/(\d{1,16})/build$"), _build),
    (re.compile(r"^/villages/(\d{1,16})/train$"), _train),
    (re.compile(r"^/villages/(\d{1,16})/send$"), _send),
    (re.compile(r"^/trade/offers$"), _offer),
    (re.compile(r"^/alliances$"), _found),
    (re.compile(r"^/alliances/(\d{1,16})/invite$"), _invite),
    (re.compile(r"^/alliances/(\d{1,16})/accept$"), _join),
    (re.compile(r"^/messages$"), _message),
]


def dispatch(game: Game, player: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One order by its single route's path; Refused with the route's codes."""
    for pattern, handler in ROUTES:
        found = pattern.match(path)
        if found:
            try:
                return handler(game, player, found, body)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise Refused(Code.BAD_REQUEST, f"{where}: {first['msg']}") from exc
    raise Refused(Code.NOT_FOUND, f"no order route {path!r}")


def states(game: Game, body: StatesBody) -> dict[str, Any]:
    out = []
    for ask in body.players:
        try:
            out.append(
                game.state_of(
                    ask.id,
                    reports_after=ask.reports_after,
                    messages_after=ask.messages_after,
                    radius=body.radius,
                )
            )
        except Refused as exc:
            out.append({"player": {"id": ask.id}, "code": str(exc.code), "reason": exc.reason})
    return {"game_time": game.now, "states": out}


def orders(game: Game, body: OrdersBody) -> dict[str, Any]:
    results = []
    for item in body.orders:
        try:
            results.append({"accepted": True, **dispatch(game, item.player, item.path, item.body)})
        except Refused as exc:
            results.append({"accepted": False, "code": str(exc.code), "reason": exc.reason})
    return {"results": results}
