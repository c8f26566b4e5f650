"""Request bodies of the orders: strict, so a confused client hears `bad_request`.

No extra keys, integers that are integers (not "5", not 5.0, not true), every number
bounded, so nothing a client sends can reach the game as a guess or a huge loop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ops.games.strategy.diplomacy import MESSAGE_MAX, NAME_MAX, NAME_MIN
from ops.games.strategy.military import MAX_UNITS
from ops.games.strategy.trade import MAX_AMOUNT
from ops.games.strategy.training import MAX_BATCH

Id = Annotated[int, Field(strict=True, ge=0, le=2**53)]
Name = Annotated[str, Field(min_length=1, max_length=32)]
Troops = dict[Name, Annotated[int, Field(strict=True, ge=0, le=MAX_UNITS)]]
Resource = Literal["wood", "clay", "iron", "crop"]
MAX_ADVANCE_S = 30 * 86_400.0  # one clock request may move a manual clock this far


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuildBody(Strict):
    building: Name


class TrainBody(Strict):
    unit: Name
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_BATCH)]


class SendBody(Strict):
    to: Id
    kind: Literal["attack", "raid", "reinforce", "scout"]
    troops: Annotated[Troops, Field(min_length=1, max_length=8)]


class RecallBody(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: Id = Field(description="the village the reinforcements stand in")
    troops: Annotated[Troops, Field(max_length=8)] | None = Field(
        None, description="how many of each (all of them when absent)"
    )


class Goods(Strict):
    resource: Resource
    amount: Annotated[int, Field(strict=True, ge=1, le=MAX_AMOUNT)]


class OfferBody(Strict):
    village: Id
    give: Goods
    want: Goods


class AcceptBody(Strict):
    village: Id | None = Field(None, description="the buyer's village (its first by default)")


class AllianceBody(Strict):
    name: Annotated[str, Field(min_length=NAME_MIN, max_length=NAME_MAX)]


class InviteBody(Strict):
    player: Id


class MessageBody(Strict):
    to: Id
    text: Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX)]


class AdvanceBody(Strict):
    seconds: Annotated[float, Field(ge=0, le=MAX_ADVANCE_S, allow_inf_nan=False)]
