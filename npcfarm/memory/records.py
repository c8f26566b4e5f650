"""What an NPC remembers, as bounded records, and the caps that keep them bounded.

Caps are enforced by eviction, never by an error: the oldest turns go first, the
least salient players leave a full relationship card, finished quests leave a full
quest card, the least important (and oldest) facts and summaries are forgotten.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from npcfarm.domain import Emotion

TEXT = 150  # characters per turn (the turns field then stays in a 4 KiB allocation)
NOTE = 120  # characters per promise, betrayal or quest note
SUMMARY_MIN, SUMMARY_MAX = 300, 600  # characters of a session summary
FACT_TEXT = 200
LIST_CAP = 3  # promises and betrayals kept per player
SEEN_CAP = 32  # recent updates kept (as short digests) for idempotent updates
MOOD_CAP = 48  # points of the emotional trajectory

# Rounded when written (compact JSON), not when read: reading is on the decision path.
Score = Annotated[float, Field(ge=-1.0, le=1.0), PlainSerializer(lambda v: round(v, 3))]
Stamp = Annotated[float, PlainSerializer(lambda v: round(v, 3))]  # epoch s, to the ms


class _Record(BaseModel):
    # Assignments are validated too, so rounding (compact JSON) applies to updates.
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class Turn(NamedTuple):
    """One line of a conversation. A plain tuple, `[ts, who, text, session]` in JSON: turns
    are the bulk of hot memory and are parsed on the decision path, where a model class
    per turn cost four times as much. Writers clip `text` to TEXT characters."""

    ts: float
    who: str  # a player id, or "self" for the NPC
    text: str
    session: str = ""


class Bond(_Record):
    """How an NPC stands with one player."""

    trust: Score = 0.0
    affinity: Score = 0.0
    promises: list[Annotated[str, Field(max_length=NOTE)]] = []
    betrayals: list[Annotated[str, Field(max_length=NOTE)]] = []
    met: int = 0
    last_seen: Stamp = 0.0

    def salience(self, now: float) -> float:
        days = max(0.0, now - self.last_seen) / 86_400
        weight = abs(self.trust) + abs(self.affinity) + 0.3 * len(self.betrayals)
        return weight + 0.2 * len(self.promises) + math.exp(-days / 7)


class RelationshipCard(_Record):
    players: dict[str, Bond] = {}


class Quest(_Record):
    status: Literal["active", "done"] = "active"
    since: Stamp = 0.0
    note: Annotated[str, Field(max_length=NOTE)] = ""


class QuestCard(_Record):
    quests: dict[str, Quest] = {}


class Session(_Record):
    """The conversation in progress (one player at a time)."""

    id: str
    player_id: str
    started: Stamp
    last: Stamp
    turns: int = 0
    kinds: list[str] = []  # what the player did in it (talk, gift, help...)
    mood_from: Emotion | None = None


class Memory(_Record):
    """A nearline memory: a session summary or a salient fact."""

    id: str
    kind: Literal["summary", "fact"]
    ts: Stamp
    text: Annotated[str, Field(max_length=SUMMARY_MAX)]
    importance: Annotated[float, Field(ge=0.0, le=1.0)]
    player_id: str | None = None
    source: str = "rules"  # who wrote a summary: "llm" or "rules"
    count: int = 1  # a repeated fact (the third gift) is one memory, counted


class MoodPoint(_Record):
    ts: Stamp
    emotion: Emotion
    valence: Score
    cause: Annotated[str, Field(max_length=60)] = ""


class HotMemory(_Record):
    turns: list[Turn] = []
    rel: RelationshipCard = Field(default_factory=RelationshipCard)
    quest: QuestCard = Field(default_factory=QuestCard)
    session: Session | None = None
    closed: list[Session] = []  # ended conversations awaiting their summary
    seen: list[str] = []


class Recall(_Record):
    summaries: list[Memory] = []
    facts: list[Memory] = []
    mood: list[MoodPoint] = []

    def within(self, now: float, window_s: float) -> Recall:
        """What is still inside the nearline window (older entries count as expired)."""
        floor = now - window_s
        return Recall(
            summaries=[m for m in self.summaries if m.ts >= floor],
            facts=[m for m in self.facts if m.ts >= floor],
            mood=[p for p in self.mood if p.ts >= floor],
        )


class Caps(BaseModel):
    """The bounds of one NPC's memory (from settings)."""

    turns: int = 20
    card_bytes: int = 2_048
    facts: int = 10
    summaries: int = 12
    window_s: float = 30 * 86_400


def _size(model: BaseModel) -> int:
    return len(model.model_dump_json().encode())


def cap_hot(hot: HotMemory, caps: Caps, now: float) -> HotMemory:
    hot.turns = hot.turns[-caps.turns :]
    hot.seen = hot.seen[-SEEN_CAP:]
    hot.closed = hot.closed[-3:]
    for bond in hot.rel.players.values():
        bond.promises, bond.betrayals = bond.promises[-LIST_CAP:], bond.betrayals[-LIST_CAP:]
    while hot.rel.players and _size(hot.rel) > caps.card_bytes:
        weakest = min(hot.rel.players, key=lambda p: hot.rel.players[p].salience(now))
        del hot.rel.players[weakest]
    while hot.quest.quests and _size(hot.quest) > caps.card_bytes:
        order = sorted(
            hot.quest.quests.items(), key=lambda q: (q[1].status == "active", q[1].since)
        )
        del hot.quest.quests[order[0][0]]
    return hot


def cap_recall(recall: Recall, caps: Caps, now: float) -> Recall:
    kept = recall.within(now, caps.window_s)

    def keep(items: list[Memory], limit: int) -> list[Memory]:
        ranked = sorted(items, key=lambda m: m.importance * math.exp(-(now - m.ts) / 2_592_000))
        return sorted(ranked[-limit:], key=lambda m: m.ts)

    kept.facts = keep(kept.facts, caps.facts)
    kept.summaries = keep(kept.summaries, caps.summaries)
    kept.mood = kept.mood[-MOOD_CAP:]
    return kept


def dumps(model: BaseModel) -> str:
    return model.model_dump_json(exclude_defaults=True)


def loads_list(raw: str | None) -> list[object]:
    data = json.loads(raw) if raw else []
    return data if isinstance(data, list) else []
