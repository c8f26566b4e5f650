"""Domain types shared by every package: NPCs, tiers, ticks and decisions.

These are the contracts between bridges, the scheduler, the workers and the brains,
so they are closed (`extra="forbid"`) and bounded: nothing free-form or unbounded
from outside can reach the game through them.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DECISION_SCHEMA: Literal["npcfarm.decision"] = (
    "npcfarm.decision"  # schema name carried by every published decision
)
DECISION_VERSION: Literal[1] = 1  # bumped on any incompatible change of `Decision`
MAX_SPEECH_CHARS = 240  # a bark or line of dialogue; longer text is cut at a word
MAX_NEARBY = 32  # nearby players / NPCs kept per NPC state
MAX_GAME_FIELDS = 64  # fields of a game profile's state one NPC may hold
GAME_VERSION: Literal[2] = 2  # the decision schema of profiles other than `rpg`

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


Scalar = int | float | bool | str
GameValue = Scalar | list[dict[str, Scalar]]  # a profile's field: a value or a table's rows


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
    time_of_day: Annotated[float, Field(ge=0.0, lt=24.0)] = Field(12.0, description="hours")
    nearby_players: Annotated[list[Nearby], Field(max_length=MAX_NEARBY)] = []
    nearby_npcs: Annotated[list[Nearby], Field(max_length=MAX_NEARBY)] = []
    flags: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=16)] = Field(
        [], description="stored, not read by the rules brain (inbox events are stricter)"
    )
    game: Annotated[dict[str, GameValue], Field(max_length=MAX_GAME_FIELDS)] = Field(
        {},
        description="the state fields of the world's game profile (a `strategy` village's "
        "stores, army, neighbours...): checked against the profile by the inbox",
    )


class NPC(_Closed):
    """One NPC's registry record."""

    id: NpcId = Field(description="the NPC's id, unique across the farm")
    name: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="shown name")
    archetype: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="an archetype of the catalogue; import refuses any other"
    )
    world: WorldId = Field("default", description="the world whose streams carry it")
    region: Annotated[str, Field(max_length=48)] = Field("", description="free label")
    faction: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = Field(
        None, description="NPCs of one faction may share an attack target (allies)"
    )
    personality: Personality = Field(Personality(), description="the Big Five")
    tier: Tier = Field(
        Tier.BRONZE,
        description="the tier it is scheduled in when registered; in a live world the farm "
        "then moves it without changing the record",
    )
    position: Vec3 = Field(Vec3(), description="where it is")
    state: NPCState = Field(NPCState(), description="what the game last reported")


class Tick(_Closed):
    """One NPC due for a decision, as carried inside a batch message."""

    npc_id: NpcId
    tick_id: Annotated[str, Field(min_length=1, max_length=64)]
    tier: Tier
    enqueued_at: float  # epoch seconds when the scheduler (or CLI) published it
    expires_at: float | None = None  # epoch seconds; None: never dropped (Gold, jobs)


class Timings(_Closed):
    """Epoch milliseconds of each step, and the derived durations."""

    enqueued_at: float = Field(
        description="epoch ms when the tick was enqueued (sweep time, or the job's)"
    )
    started_at: float = Field(description="epoch ms when the worker started the message")
    decided_at: float = Field(description="epoch ms when the brain finished")
    published_at: float = Field(description="epoch ms just before the publish call")
    queue_ms: float = Field(description="`started_at - enqueued_at`, never negative")
    decide_ms: float = Field(description="`decided_at - started_at`")
    latency_ms: float = Field(
        description="`published_at - enqueued_at`, never negative: how long the game waited"
    )


class Decision(_Closed):
    """What the farm tells the game an NPC does next (schema `npcfarm.decision/1`)."""

    schema_: Literal["npcfarm.decision"] = Field(
        DECISION_SCHEMA, alias="schema", description="schema name"
    )
    version: Literal[1] = Field(DECISION_VERSION, description="schema version")
    seq: int = Field(
        0,
        description="farm-wide sequence number, assigned by Redis at publish time "
        "(strictly increasing in publish order; gaps are other worlds')",
    )
    npc_id: NpcId = Field(description="the NPC")
    world: WorldId = Field(description="the NPC's world (from its record when decided)")
    tick_id: str = Field(
        description="the tick or job this answers; `ix-` + `event_id` for the answer to an "
        "interaction"
    )
    tier: Tier = Field(description="the tier (queue) the tick ran on; `gold` for an answer")
    action: Action = Field(description="what the NPC does next (the archetype allows it)")
    target: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="the entity the action is aimed at (a nearby id or a player)"
    )
    speech: Annotated[str, Field(max_length=MAX_SPEECH_CHARS)] | None = Field(
        None, description="a bark or line to say"
    )
    emotion: Emotion = Field(Emotion.NEUTRAL, description="emotion label")
    source: Source = Field(description="what produced it: the model, the rules, the cache")
    model: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="the base model's name when `source` is `llm` or `cache`"
    )
    reason: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="why this is not its brain's first choice (below), else null"
    )
    timings: Timings = Field(description="when each step happened")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GameDecision(_Closed):
    """A decision of a game profile other than `rpg` (schema `npcfarm.decision/2`): the
    profile's action with its typed parameters, and the decision kind it settles."""

    schema_: Literal["npcfarm.decision"] = Field(
        DECISION_SCHEMA, alias="schema", description="schema name"
    )
    version: Literal[2] = Field(GAME_VERSION, description="schema version")
    seq: int = Field(0, description="as in version 1")
    npc_id: NpcId = Field(description="the NPC (a strategy game's AI player)")
    world: WorldId = Field(description="its world")
    profile: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="the world's game profile, whose actions and parameters this uses"
    )
    tick_id: str = Field(description="the tick or job this answers")
    tier: Tier = Field(description="the tier (queue) the tick ran on")
    kind: Annotated[str, Field(max_length=32)] = Field(
        description="the decision kind (economy, military, diplomacy, review...)"
    )
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="one of the profile's actions"
    )
    target: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="what it is aimed at (a village, a player), per the action"
    )
    params: Annotated[dict[str, Scalar], Field(max_length=16)] = Field(
        {}, description="the action's parameters, typed and within the profile's bounds"
    )
    speech: Annotated[str, Field(max_length=600)] | None = Field(
        None, description="text the action carries (a diplomatic message, a plan's why)"
    )
    source: Source = Field(description="what produced it")
    model: Annotated[str, Field(max_length=64)] | None = None
    reason: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="why this is not its brain's first choice, else null"
    )
    timings: Timings = Field(description="when each step happened")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


AnyDecision = Decision | GameDecision


_VERSION_2 = re.compile(rb'"version"\s*:\s*2\b')


def parse_decision(raw: str | bytes) -> AnyDecision:
    """A published decision of either schema version (what bridges and tools read)."""
    if _VERSION_2.search(raw if isinstance(raw, bytes) else raw.encode()):
        return GameDecision.model_validate_json(raw)
    return Decision.model_validate_json(raw)


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
    origin: Literal["cli", "interaction", "decide_now"] = "cli"
    player_id: NpcId | None = None
    kind: Literal["talk", "attack", "trade", "gift", "help"] | None = None  # what the player did
    brain: Literal["rules", "llm"] = "llm"  # a player is answered by the best brain there is
    text: Annotated[str, Field(max_length=500)] | None = None  # player words, data only
