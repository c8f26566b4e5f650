"""Domain types shared by every package: NPCs, tiers, ticks and decisions.

These are the contracts between bridges, the scheduler, the workers and the brains,
so they are closed (`extra="forbid"`) and bounded: nothing free-form or unbounded
from outside can reach the game through them.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DECISION_SCHEMA: Literal["npcfarm.decision"] = (
    "npcfarm.decision"  # schema name carried by every published decision
)
DECISION_VERSION: Literal[1] = 1  # bumped on any incompatible change of `Decision`
MAX_SPEECH_CHARS = 240  # a bark or line of dialogue; longer text is cut at a word
MAX_NEARBY = 32  # nearby players / NPCs kept per NPC state

NpcId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
WorldId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,48}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class Tier(StrEnum):
    """Activation tier; also the name of the Celery queue that carries its ticks."""

    GOLD = "gold"
    SILVER = "silver"
    BRONZE = "bronze"


TIER_ORDER: tuple[Tier, ...] = (Tier.GOLD, Tier.SILVER, Tier.BRONZE)  # strict priority


class Action(StrEnum):
    """The closed action vocabulary; archetypes allow subsets of it."""

    IDLE = "idle"
    WANDER = "wander"
    MOVE_TO = "move_to"
    FOLLOW = "follow"
    FLEE = "flee"
    GUARD = "guard"
    SPEAK = "speak"
    EMOTE = "emote"
    TRADE = "trade"
    ATTACK = "attack"
    USE = "use"
    QUEST = "quest"
    REST = "rest"
    HIDE = "hide"
    FEED = "feed"


class Emotion(StrEnum):
    NEUTRAL = "neutral"
    CALM = "calm"
    HAPPY = "happy"
    CURIOUS = "curious"
    AFRAID = "afraid"
    ANGRY = "angry"
    SAD = "sad"
    SUSPICIOUS = "suspicious"
    HUNGRY = "hungry"


class Source(StrEnum):
    LLM = "llm"
    RULES = "rules"
    CACHE = "cache"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Personality(_Closed):
    """Big Five traits in [0, 1]."""

    openness: Unit = 0.5
    conscientiousness: Unit = 0.5
    extraversion: Unit = 0.5
    agreeableness: Unit = 0.5
    neuroticism: Unit = 0.5


class Vec3(_Closed):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    @field_validator("x", "y", "z")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("coordinates must be finite numbers")
        return value


class Nearby(_Closed):
    """Another entity the bridge reports near this NPC."""

    id: NpcId
    distance: Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)]
    hostile: bool = False


class NPCState(_Closed):
    """What the game reports about an NPC right now."""

    health: Unit = 1.0
    hunger: Unit = 0.0
    time_of_day: Annotated[float, Field(ge=0.0, lt=24.0)] = 12.0
    nearby_players: Annotated[list[Nearby], Field(max_length=MAX_NEARBY)] = []
    nearby_npcs: Annotated[list[Nearby], Field(max_length=MAX_NEARBY)] = []
    flags: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=16)] = []


class NPC(_Closed):
    """One NPC's registry record."""

    id: NpcId
    name: Annotated[str, Field(min_length=1, max_length=64)]
    archetype: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    world: WorldId = "default"
    region: Annotated[str, Field(max_length=48)] = ""
    faction: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = None  # allies
    personality: Personality = Personality()
    tier: Tier = Tier.BRONZE
    position: Vec3 = Vec3()
    state: NPCState = NPCState()


class Tick(_Closed):
    """One NPC due for a decision, as carried inside a batch message."""

    npc_id: NpcId
    tick_id: Annotated[str, Field(min_length=1, max_length=64)]
    tier: Tier
    enqueued_at: float  # epoch seconds when the scheduler (or CLI) published it
    expires_at: float | None = None  # epoch seconds; None: never dropped (Gold, jobs)


class Timings(_Closed):
    """Epoch milliseconds of each step, and the derived durations."""

    enqueued_at: float
    started_at: float
    decided_at: float
    published_at: float
    queue_ms: float
    decide_ms: float
    latency_ms: float  # enqueue to publish: what a bridge waits


class Decision(_Closed):
    """What the farm tells the game an NPC does next (schema `npcfarm.decision/1`)."""

    schema_: Literal["npcfarm.decision"] = Field(DECISION_SCHEMA, alias="schema")
    version: Literal[1] = DECISION_VERSION
    seq: int = 0  # per-farm monotonic sequence; assigned by Redis at publish time
    npc_id: NpcId
    world: WorldId
    tick_id: str
    tier: Tier
    action: Action
    target: Annotated[str, Field(max_length=64)] | None = None
    speech: Annotated[str, Field(max_length=MAX_SPEECH_CHARS)] | None = None
    emotion: Emotion = Emotion.NEUTRAL
    source: Source
    model: Annotated[str, Field(max_length=64)] | None = None
    reason: Annotated[str, Field(max_length=64)] | None = None  # why a fallback happened
    timings: Timings

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def clip_speech(text: str) -> str:
    """Bound a line of speech at a word boundary so it always fits the schema."""
    text = " ".join(text.split())
    if len(text) <= MAX_SPEECH_CHARS:
        return text
    cut = text[: MAX_SPEECH_CHARS - 1].rsplit(" ", 1)[0]
    return cut + "…"


MAX_BATCH = 5000  # ticks one message may carry


class TickBatch(_Closed):
    """The body of one tick message: many NPCs of one tier and one archetype."""

    tier: Tier
    archetype: Annotated[str, Field(max_length=32)]
    enqueued_at: float
    expires_at: float | None = None
    lease_s: float = Field(3.0, gt=0, le=86_400)  # how long its exclusive claims hold
    brain: Literal["rules", "llm"] = "rules"  # llm falls back to rules without an engine
    ticks: Annotated[
        list[tuple[NpcId, Annotated[str, Field(max_length=64)]]],
        Field(min_length=1, max_length=MAX_BATCH),
    ]  # (npc id, tick id)

    def as_ticks(self) -> list[Tick]:
        return [
            Tick(
                npc_id=npc_id,
                tick_id=tick_id,
                tier=self.tier,
                enqueued_at=self.enqueued_at,
                expires_at=self.expires_at,
            )
            for npc_id, tick_id in self.ticks
        ]


class Job(_Closed):
    """A single-NPC decision that must not be lost: CLI one-offs, player interactions."""

    npc_id: NpcId
    tick_id: Annotated[str, Field(min_length=1, max_length=64)]
    tier: Tier = Tier.GOLD
    enqueued_at: float
    origin: Literal["cli", "interaction"] = "cli"
    player_id: NpcId | None = None
    kind: Literal["talk", "attack", "trade", "gift", "help"] | None = None  # what the player did
    brain: Literal["rules", "llm"] = "llm"  # a player is answered by the best brain there is
    text: Annotated[str, Field(max_length=500)] | None = None  # player words, data only
