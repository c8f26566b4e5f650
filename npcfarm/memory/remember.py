"""The memory-forming moments: a player's act, the NPC's reply, a quest flag, a summary.

Each is a mutation for `MemoryStore.update`, applied once per event id, returning the
archive events that record it. Conversations are tracked here: a session is one
player talking to the NPC; another player, or silence longer than the gap, ends it,
and an ended session waits in `closed` until its summary is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from npcfarm.archive import ArchiveEvent
from npcfarm.domain import Emotion
from npcfarm.memory.records import (
    TEXT,
    Bond,
    HotMemory,
    Memory,
    MoodPoint,
    Quest,
    Recall,
    Session,
    Turn,
)
from npcfarm.memory.salience import TRUSTED, effect_of, fact_text, promise_in
from npcfarm.memory.store import MemoryStore, memory_event

VALENCE = {
    Emotion.HAPPY: 0.6,
    Emotion.CALM: 0.3,
    Emotion.CURIOUS: 0.2,
    Emotion.NEUTRAL: 0.0,
    Emotion.HUNGRY: -0.1,
    Emotion.SUSPICIOUS: -0.3,
    Emotion.SAD: -0.5,
    Emotion.AFRAID: -0.6,
    Emotion.ANGRY: -0.7,
}
ACTS = {
    "gift": "(gives a gift)",
    "attack": "(attacks)",
    "trade": "(trades)",
    "help": "(comes to the rescue)",
    "talk": "(says nothing)",
}


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))


def _session(
    store: MemoryStore, hot: HotMemory, recall: Recall, *, npc_id: str, player_id: str, now: float
) -> Session:
    """The open session with this player, closing one that has ended."""
    current = hot.session
    if current and (current.player_id != player_id or now - current.last > store.gap_s):
        hot.closed.append(current)
        current = None
    if current is None:
        current = Session(
            id=f"{int(now * 1000):x}",  # unique per NPC; archive ids add the NPC
            player_id=player_id,
            started=now,
            last=now,
            mood_from=recall.mood[-1].emotion if recall.mood else None,
        )
    hot.session = current
    return current


def remember_interaction(
    store: MemoryStore,
    npc_id: str,
    *,
    event_id: str,
    player_id: str,
    kind: str,
    text: str | None,
    now: float | None = None,
    also: Sequence[ArchiveEvent] = (),
) -> bool:
    """A player's act: a turn, the relationship card, maybe a fact, a mood point.
    `also`: archive events to write in the same transaction (the interaction itself)."""

    def mutate(hot: HotMemory, recall: Recall, at: float) -> list[ArchiveEvent]:
        effect = effect_of(kind, text)
        session = _session(store, hot, recall, npc_id=npc_id, player_id=player_id, now=at)
        session.turns, session.last = session.turns + 1, at
        if kind not in session.kinds:
            session.kinds.append(kind)
        turn = Turn(
            ts=round(at, 3),
            who=player_id,
            text=" ".join((text or ACTS.get(kind, "")).split())[:TEXT],
            session=session.id,
        )
        hot.turns.append(turn)
        bond = hot.rel.players.setdefault(player_id, Bond())
        if session.turns == 1:
            bond.met += 1
        if kind == "attack" and (bond.trust > TRUSTED or bond.promises):
            owed = f" despite: {bond.promises[-1]}" if bond.promises else " after earning my trust"
            bond.betrayals.append(f"attacked me{owed}"[:120])
        bond.trust = _clamp(bond.trust + effect.trust)
        bond.affinity = _clamp(bond.affinity + effect.affinity)
        bond.last_seen = at
        if promise := promise_in(text):
            bond.promises.append(promise)
        point = MoodPoint(
            ts=at,
            emotion=effect.emotion,
            valence=effect.valence,
            cause=f"{kind} by {player_id}"[:60],
        )
        recall.mood.append(point)
        events = [
            memory_event(
                npc_id, f"turn:{event_id}", "turn", turn, at, player_id=player_id, text=turn.text
            ),
            memory_event(npc_id, f"rel:{event_id}", "relationship_card", hot.rel, at),
            memory_event(npc_id, f"mood:{event_id}", "mood", point, at),
            *also,
        ]
        if effect.importance:
            fact = _fact(
                recall,
                effect.fact.split()[1],  # the verb: "gave", "attacked", "insulted"...
                player_id=player_id,
                text=fact_text(effect, player_id, text if kind == "talk" else None),
                importance=effect.importance,
                at=at,
            )
            events.append(
                memory_event(
                    npc_id,
                    f"fact:{event_id}",
                    "fact",
                    fact,
                    at,
                    player_id=player_id,
                    importance=fact.importance,
                    text=fact.text,
                )
            )
        return events

    return store.update(npc_id, f"ix:{event_id}", mutate, now=now)


def _fact(
    recall: Recall, what: str, *, player_id: str, text: str, importance: float, at: float
) -> Memory:
    """A new fact, or the same fact about the same player again (counted, refreshed)."""
    fact_id = f"{what}:{player_id}"
    for fact in recall.facts:
        if fact.id == fact_id:
            fact.count += 1
            fact.ts = at
            fact.importance = min(1.0, importance + 0.05 * (fact.count - 1))
            fact.text = f"{text} ({fact.count} times)"[:200]
            return fact
    fact = Memory(
        id=fact_id, kind="fact", ts=at, text=text, importance=importance, player_id=player_id
    )
    recall.facts.append(fact)
    return fact


def remember_reply(
    store: MemoryStore,
    npc_id: str,
    *,
    tick_id: str,
    player_id: str,
    speech: str | None,
    emotion: Emotion,
    action: str,
    now: float | None = None,
) -> bool:
    """The NPC's answer to a player: its own turn in the conversation, and its mood."""

    def mutate(hot: HotMemory, recall: Recall, at: float) -> list[ArchiveEvent]:
        session = _session(store, hot, recall, npc_id=npc_id, player_id=player_id, now=at)
        session.turns, session.last = session.turns + 1, at
        turn = Turn(
            ts=round(at, 3), who="self", text=(speech or f"({action})")[:TEXT], session=session.id
        )
        hot.turns.append(turn)
        point = MoodPoint(
            ts=at,
            emotion=emotion,
            valence=VALENCE.get(emotion, 0.0),
            cause=f"talking with {player_id}"[:60],
        )
        recall.mood.append(point)
        return [
            memory_event(
                npc_id, f"turn:{tick_id}", "turn", turn, at, player_id="self", text=turn.text
            ),
            memory_event(npc_id, f"mood:{tick_id}", "mood", point, at),
        ]

    return store.update(npc_id, f"reply:{tick_id}", mutate, now=now)


def remember_quest(
    store: MemoryStore,
    npc_id: str,
    *,
    event_id: str,
    flag: str,
    active: bool,
    now: float | None = None,
) -> bool:
    """A quest flag set (active) or cleared (done) by the bridge."""

    def mutate(hot: HotMemory, _recall: Recall, at: float) -> list[ArchiveEvent]:
        quest = hot.quest.quests.get(flag) or Quest(since=at)
        quest.status = "active" if active else "done"
        hot.quest.quests[flag] = quest
        return [memory_event(npc_id, f"quest:{event_id}", "quest_card", hot.quest, at)]

    return store.update(npc_id, f"quest:{event_id}", mutate, now=now)


def store_summary(
    store: MemoryStore, npc_id: str, session: Session, summary: Memory, *, now: float | None = None
) -> bool:
    """Keep a finished session's summary and let the session go."""

    def mutate(hot: HotMemory, recall: Recall, at: float) -> list[ArchiveEvent]:
        hot.closed = [s for s in hot.closed if s.id != session.id]
        if hot.session and hot.session.id == session.id:
            hot.session = None
        if any(m.id == summary.id for m in recall.summaries):
            return []
        recall.summaries.append(summary)
        return [
            memory_event(
                npc_id,
                f"summary:{summary.id}",
                "summary",
                summary,
                summary.ts,
                player_id=summary.player_id,
                importance=summary.importance,
                text=summary.text,
            )
        ]

    return store.update(npc_id, f"summary:{session.id}", mutate, now=now)
