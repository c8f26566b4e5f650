"""The shapes of what the server answers (request bodies are in `bodies`).

They are what the OpenAPI document shows; the tests validate real `Game` output
against them with `extra="forbid"`, so the documented shape and the served one
cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ops.games.strategy.bodies import Goods, Strict
from ops.games.strategy.errors import Code


class Refusal(Strict):
    accepted: Literal[False] = False
    code: Code
    reason: str
    errors: list[dict[str, Any]] | None = None


class Accepted(BaseModel):
    """`accepted: true` and the order's details (ids, `finishes_at`, `arrives_at`...)."""

    model_config = ConfigDict(extra="allow")
    accepted: Literal[True] = True


class ResourceSet(Strict):
    wood: float
    clay: float
    iron: float
    crop: float


class World(Strict):
    size: int
    game_time: float
    speed: float
    players: int
    villages: int
    alliances: int
    seed: int
    clock: Literal["realtime", "manual"]


class PlayerRow(Strict):
    id: int
    name: str
    alliance: int | None
    population: int
    villages: list[int]


class Invite(Strict):
    alliance: int
    name: str
    from_: int = Field(alias="from")


class PlayerView(PlayerRow):
    invites: list[Invite]


class AllianceView(Strict):
    id: int
    name: str
    leader: int
    members: list[int]
    capacity: int
    invited: list[int]


class Upgrade(Strict):
    level: int
    cost: ResourceSet
    time_s: float


class ConstructionView(Strict):
    building: str
    level: int
    finishes_at: float


class TrainingView(Strict):
    unit: str
    count: int = Field(description="units of the batch not yet home")
    done: int = Field(description="of those, finished (already counted in troops_home)")
    per_unit_s: float
    started_at: float
    finishes_at: float


class Stationed(Strict):
    village: int = Field(description="where they come from, or where they stand")
    player: int
    troops: dict[str, int]


class Merchants(Strict):
    total: int
    free: int


class VillageView(Strict):
    id: int
    name: str
    x: int
    y: int
    population: int
    resources: ResourceSet = Field(description="as of game_time")
    production: ResourceSet = Field(description="net per game hour (crop after upkeep)")
    capacity: ResourceSet
    crop_upkeep: int
    buildings: dict[str, int]
    construction: ConstructionView | None
    upgrades: dict[str, Upgrade | None] = Field(description="next level; null at the maximum")
    training: list[TrainingView]
    train_time_s: dict[str, float | None] = Field(description="null: barracks too low")
    troops_home: dict[str, int]
    troops_away: dict[str, int]
    reinforcements_here: list[Stationed]
    reinforcements_abroad: list[Stationed]
    merchants: Merchants


class MovementView(Strict):
    id: int
    kind: Literal["attack", "raid", "reinforce", "scout", "return", "trade"]
    mission: str
    origin: int
    from_village: int
    to_village: int
    troops: dict[str, int]
    cargo: ResourceSet
    departed_at: float
    arrives_at: float


class IncomingView(Strict):
    id: int
    kind: Literal["hostile", "reinforce", "trade"]
    from_player: int
    from_village: int
    to_village: int
    troops: dict[str, int] | None = Field(description="null for hostile movements")
    cargo: ResourceSet
    arrives_at: float


class Movements(Strict):
    outgoing: list[MovementView]
    incoming: list[IncomingView]


class Side(Strict):
    player: int
    village: int


class Scouted(Strict):
    resources: ResourceSet
    troops: dict[str, int]
    buildings: dict[str, int]
    population: int


class Report(Strict):
    id: int
    time: float
    kind: Literal["battle", "scouting", "starvation"]
    role: Literal["attacker", "defender", "reinforcement", "owner"]
    loot: ResourceSet
    mission: Literal["attack", "raid", "scout"] | None = None
    winner: Literal["attacker", "defender"] | None = None
    attacker: Side | None = None
    defender: Side | None = None
    attacker_troops: dict[str, int] | None = None
    attacker_losses: dict[str, int] | None = None
    attack: float | None = None
    defence: float | None = None
    defender_troops: dict[str, int] | None = None
    defender_losses: dict[str, int] | None = None
    own_losses: dict[str, int] | None = None
    wall: int | None = None
    scouted: Scouted | None = None
    village: int | None = None
    losses: dict[str, int] | None = None


class Message(Strict):
    id: int
    time: float
    from_: int = Field(alias="from")
    from_name: str
    to: int
    text: str


class OfferView(Strict):
    id: int
    player: int
    village: int
    give: Goods
    want: Goods
    created_at: float
    distance: float | None


class TradeView(Strict):
    own: list[OfferView]
    market: list[OfferView]


class MapRow(Strict):
    village: int
    name: str
    player: int
    alliance: int | None
    x: int
    y: int
    population: int
    distance: float


class PlayerState(Strict):
    game_time: float
    version: str = Field(description="also the ETag; unchanged while only the clock moves")
    player: PlayerView
    alliance: AllianceView | None
    villages: list[VillageView]
    movements: Movements
    reports: list[Report]
    reports_cursor: int
    reports_more: bool
    messages: list[Message]
    messages_cursor: int
    messages_more: bool
    trade: TradeView
    nearby: list[MapRow]


class ReportPage(Strict):
    reports: list[Report]
    cursor: int
    more: bool


class MessagePage(Strict):
    messages: list[Message]
    cursor: int
    more: bool
