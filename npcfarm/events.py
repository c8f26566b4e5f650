"""Bridge events: what game servers push into the inbox (one JSON document per entry).

Closed, bounded models: an event that does not fit is dead-lettered with the reason,
never half-applied. Player speech is data — bounded, stripped of control characters
by the check below — and nothing in it can change what an NPC is allowed to do.
"""

from __future__ import annotations

import math
import unicodedata
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from npcfarm.domain import MAX_GAME_FIELDS, NPC, GameValue, NpcId, Scalar, Vec3, WorldId

MAX_EVENT_BYTES = 4096  # larger inbox entries are dead-lettered unparsed
MAX_EVENT_DEPTH = 16  # deeper nesting is dead-lettered before it reaches the JSON parser
MAX_PLAYER_TEXT = 500  # characters of player speech carried to a decision
MAX_EVENT_ID = 60  # an interaction's answer has tick id `ix-{event_id}`, at most 64
MAX_FLAGS = 16  # state flags one npc_state event may set
MAX_REASON_CHARS = 300  # a dead letter's reason is cut here
EventId = Annotated[str, Field(min_length=1, max_length=MAX_EVENT_ID)]
PlayerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Flag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$")]
TraceParent = Annotated[str, Field(pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId = Field(
        description="the bridge's own id: the idempotency key of an interaction and a trace "
        "id; unique across the farm (every bridge and world) for at least a day"
    )
    ts: float | None = Field(
        None, description="the game's clock, epoch seconds; validated, not stored or used"
    )
    traceparent: TraceParent | None = Field(
        None,
        description="W3C trace context (`00-<trace id>-<span id>-<flags>`): the farm's spans "
        "of this event (ingest, queue, task, engine, publish) join the bridge's trace",
    )

    @field_validator("ts")
    @classmethod
    def _finite_ts(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("ts must be a finite number")
        return value


class NpcStateEvent(_Event):
    """The game moved or changed an NPC; absent fields keep their value."""

    type: Literal["npc_state"]
    npc_id: NpcId = Field(description="a registered NPC")
    position: Vec3 | None = Field(
        None, description="replaces the record's `position` (and the tier manager's copy)"
    )
    health: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="replaces `state.health`"
    )
    hunger: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="replaces `state.hunger`"
    )
    time_of_day: Annotated[float, Field(ge=0.0, lt=24.0)] | None = Field(
        None, description="replaces `state.time_of_day` (hours)"
    )
    flags: Annotated[list[Flag], Field(max_length=MAX_FLAGS)] | None = Field(
        None, description="replaces the whole `state.flags` list (`[]` clears it)"
    )
    game: Annotated[dict[str, GameValue], Field(max_length=MAX_GAME_FIELDS)] | None = Field(
        None,
        description="fields of the world's game profile (docs/BRIDGE.md, Game profiles); each "
        "replaces the stored value; checked against the profile (type, bounds, rows)",
    )


class PlayerPositionEvent(_Event):
    """Where a player is; drives activation tiers."""

    type: Literal["player_position"]
    world: WorldId
    player_id: PlayerId
    position: Vec3 = Field(description="only `x` and `y` are used for distances")


class PlayerLeftEvent(_Event):
    """A player logged out or left the world."""

    type: Literal["player_left"]
    world: WorldId
    player_id: PlayerId


class InteractionEvent(_Event):
    """A player talks to, attacks, trades with or gives to an NPC: answered at once."""

    type: Literal["interaction"]
    npc_id: NpcId = Field(description="a registered NPC")
    player_id: PlayerId
    kind: Literal["talk", "attack", "trade", "gift", "help"] = Field(
        description="what the player did; `help`: healed or rescued the NPC"
    )
    text: Annotated[str, Field(max_length=MAX_PLAYER_TEXT)] | None = Field(
        None,
        description="the player's words; no character of Unicode category Cc or Cf except "
        "line feed and tab",
    )

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
    npc_id: NpcId = Field(description="a registered NPC")
    flag: Flag
    set: bool = Field(True, description="`false` clears the flag")


class NpcRegisterEvent(_Event):
    """Register an NPC, or replace its record (idempotent: the same record twice is one
    NPC). One record per event, so the event size cap bounds it; send many for bulk."""

    type: Literal["npc_register"]
    npc: NPC = Field(description="the whole NPC record (schema `npc`)")


class NpcRemoveEvent(_Event):
    """Remove an NPC: its record, its indexes, its due ticks and its latest decision."""

    type: Literal["npc_remove"]
    npc_id: NpcId = Field(description="a registered NPC")


class WorldProfileEvent(_Event):
    """Say which game profile a world plays (`rpg` until set): its actions, state fields
    and archetypes. Set it before registering the world's NPCs."""

    type: Literal["world_profile"]
    world: WorldId
    profile: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="a shipped profile (`rpg`, `strategy`)"
    )


class OutcomeEvent(_Event):
    """How the game took a decision: accepted, refused (with why), and what came of it
    (a battle report). Kept as the NPC's experience: a memory and an archive record."""

    type: Literal["outcome"]
    npc_id: NpcId = Field(description="a registered NPC")
    tick_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="the decision's `tick_id`"
    )
    status: Literal["accepted", "refused", "done"] = Field(
        description="`done`: the action finished (a raid came back, a building is up)"
    )
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")] | None = Field(
        None, description="the game's refusal or result code"
    )
    detail: Annotated[str, Field(max_length=400)] | None = Field(
        None, description="what happened, in words (a battle report's summary)"
    )
    values: Annotated[dict[str, Scalar], Field(max_length=16)] = Field(
        {}, description="figures of the outcome (loot, losses), kept in the archive"
    )

    @field_validator("detail")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
            raise ValueError("detail contains control characters")
        return value


class DecideNowEvent(_Event):
    """Ask for one decision of an NPC now, at Gold priority, without a player's words:
    the answer has tick id `now-{event_id}`."""

    type: Literal["decide_now"]
    npc_id: NpcId = Field(description="a registered NPC")


BridgeEvent = Annotated[
    NpcStateEvent
    | PlayerPositionEvent
    | PlayerLeftEvent
    | InteractionEvent
    | QuestFlagEvent
    | NpcRegisterEvent
    | NpcRemoveEvent
    | DecideNowEvent
    | WorldProfileEvent
    | OutcomeEvent,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[BridgeEvent] = TypeAdapter(BridgeEvent)


class DeadCode(StrEnum):
    """Why an inbox entry was dead-lettered: a closed list a bridge can switch on (the
    `reason` beside it is for people and may change wording)."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    TOO_DEEP = "too_deep"
    NOT_JSON = "not_json"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_NPC = "unknown_npc"
    NOT_APPLICABLE = "not_applicable"
    INTERNAL = "internal"


DEAD_CODE_MEANINGS = {  # documented in docs/BRIDGE.md (generated)
    DeadCode.TOO_LARGE: f"the `event` field is over {MAX_EVENT_BYTES:,} bytes; not parsed",
    DeadCode.NOT_UTF8: "the entry holds bytes that are not UTF-8; `raw` keeps them "
    "escaped (`\\xe9`)",
    DeadCode.TOO_DEEP: f"arrays or objects nest deeper than {MAX_EVENT_DEPTH} levels; not parsed",
    DeadCode.NOT_JSON: "not one JSON document (an empty or missing `event` field too); "
    "`NaN` and `Infinity` are not JSON",
    DeadCode.INVALID_EVENT: "JSON, but not one of the event schemas (`reason` names the "
    "field and the rule)",
    DeadCode.UNKNOWN_NPC: "names an NPC id the registry does not hold",
    DeadCode.NOT_APPLICABLE: "valid, but cannot be applied now (an interaction that "
    "cannot become a job)",
    DeadCode.INTERNAL: "applying it failed inside the farm: a bug, logged by the ingest; "
    "the rest of the read was applied",
}


class DeadLetter(BaseModel):
    """One entry of the dead-letter stream: an inbox entry the ingest refused, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DeadCode = Field(description="why the entry was refused, as a stable code")
    reason: Annotated[str, Field(max_length=MAX_REASON_CHARS)] = Field(
        description="why the entry was refused, for people (validation path and message)"
    )
    raw: Annotated[str, Field(max_length=MAX_EVENT_BYTES)] = Field(
        description="the entry's `event` text exactly as sent, cut at the event size cap "
        "(bytes that are not UTF-8 escaped as `\\xNN`); an entry without an `event` field "
        "keeps all its fields here as a JSON object"
    )
    inbox_id: Annotated[str, Field(pattern=r"^[0-9]+-[0-9]+$")] = Field(
        description="the id of the refused inbox entry"
    )

    @classmethod
    def of(cls, inbox_id: str, code: DeadCode, reason: str, raw: str) -> DeadLetter:
        """Cut reason and text to their caps, so any refusal fits the schema."""
        return cls(
            code=code,
            reason=reason[:MAX_REASON_CHARS],
            raw=raw[:MAX_EVENT_BYTES],
            inbox_id=inbox_id,
        )


MAX_SOURCE = 64  # a bridge's name in the inbox entry's `source` field
Source = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class Receipt(BaseModel):
    """One entry of a bridge's receipt stream `{prefix}:receipts:{source}`: how an inbox
    entry that named that `source` ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inbox_id: Annotated[str, Field(pattern=r"^[0-9]+-[0-9]+$")] = Field(
        description="the id XADD returned for the entry"
    )
    event_id: str = Field(
        description="the event's `event_id` (empty when the entry could not be parsed)"
    )
    status: Literal["applied", "dead"] = Field(
        description="`applied`, or `dead` (dead-lettered, with `code`)"
    )
    code: DeadCode | None = Field(None, description="the dead-letter code when `dead`")
