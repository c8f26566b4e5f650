"""Bridge events: what game servers push into the inbox (one JSON document per entry).

Closed, bounded models: an event that does not fit is dead-lettered with the reason,
never half-applied. Player speech is data — bounded, stripped of control characters
by the check below — and nothing in it can change what an NPC is allowed to do.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from npcfarm.domain import NpcId, Vec3, WorldId

MAX_EVENT_BYTES = 4096  # larger inbox entries are dead-lettered unparsed
MAX_PLAYER_TEXT = 500  # characters of player speech carried to a decision
EventId = Annotated[str, Field(min_length=1, max_length=60)]  # ix-{id} must fit a tick id
PlayerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Flag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$")]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId  # the bridge's own id: idempotency key and trace id
    ts: float | None = None  # the game's clock, epoch seconds (informational)

    @field_validator("ts")
    @classmethod
    def _finite_ts(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("ts must be a finite number")
        return value


class NpcStateEvent(_Event):
    """The game moved or changed an NPC; absent fields keep their value."""

    type: Literal["npc_state"]
    npc_id: NpcId
    position: Vec3 | None = None
    health: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    hunger: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    time_of_day: Annotated[float, Field(ge=0.0, lt=24.0)] | None = None
    flags: Annotated[list[Flag], Field(max_length=16)] | None = None


class PlayerPositionEvent(_Event):
    """Where a player is; drives activation tiers."""

    type: Literal["player_position"]
    world: WorldId
    player_id: PlayerId
    position: Vec3


class PlayerLeftEvent(_Event):
    """A player logged out or left the world."""

    type: Literal["player_left"]
    world: WorldId
    player_id: PlayerId


class InteractionEvent(_Event):
    """A player talks to, attacks, trades with or gives to an NPC: answered at once."""

    type: Literal["interaction"]
    npc_id: NpcId
    player_id: PlayerId
    kind: Literal["talk", "attack", "trade", "gift", "help"]  # help: healed or rescued it
    text: Annotated[str, Field(max_length=MAX_PLAYER_TEXT)] | None = None

    @field_validator("text")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t"]
        if bad:
            raise ValueError(f"text contains {len(bad)} control character(s)")
        return value


class QuestFlagEvent(_Event):
    """A quest involving the NPC started or ended: keeps it at least Silver while set."""

    type: Literal["quest_flag"]
    npc_id: NpcId
    flag: Flag
    set: bool = True


BridgeEvent = Annotated[
    NpcStateEvent | PlayerPositionEvent | PlayerLeftEvent | InteractionEvent | QuestFlagEvent,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[BridgeEvent] = TypeAdapter(BridgeEvent)
