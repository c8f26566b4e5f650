"""Memory as prompt text, within a per-tier budget.

Greedy by value: how the NPC stands with the player in front of it, then the best
retrieved memories, then the conversation so far (newest first), then active quests.
Each line is flattened and clipped; what does not fit the budget is left out whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from npcfarm.memory.prefetch import MemoryView
from npcfarm.memory.records import Bond
from npcfarm.memory.retrieval import Scored, rank

CHARS_PER_TOKEN = 4  # rough, for budgets given in tokens


@dataclass(frozen=True, slots=True)
class PromptMemory:
    lines: list[str]  # cards and memories, each one line
    turns: list[str]  # the conversation, oldest first: 'p1: "..."' / 'me: "..."'
    ranked: list[Scored]


def _word(value: float) -> str:
    for floor, name in ((0.6, "high"), (0.2, "some"), (-0.2, "neutral"), (-0.6, "low")):
        if value >= floor:
            return name
    return "hostile"


def _quoted(text: str) -> str:
    """Player words as a JSON string: data, whatever quotes they contain."""
    return json.dumps(text, ensure_ascii=False)


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def bond_line(player_id: str, bond: Bond) -> str:
    line = (
        f"You and {player_id}: trust {_word(bond.trust)} ({bond.trust:+.2f}), affinity "
        f"{_word(bond.affinity)} ({bond.affinity:+.2f}), met {_times(bond.met)}."
    )
    if bond.promises:
        line += " They promised: " + "; ".join(_quoted(p) for p in bond.promises) + "."
    if bond.betrayals:
        line += " They betrayed you: " + "; ".join(bond.betrayals) + "."
    return line


def known_line(view: MemoryView, player_id: str) -> str:
    """What an NPC knows of a player, in one line for operators (`top`): the bond, the
    strongest fact and the newest promise; empty for a stranger."""
    bond = view.hot.rel.players.get(player_id)
    facts = [f for f in view.recall.facts if f.player_id == player_id]
    parts = []
    if bond is not None:
        parts.append(f"met {_times(bond.met)}, trust {bond.trust:+.2f}")
    if facts:
        parts.append(max(facts, key=lambda f: (f.importance, f.ts)).text)
    if bond is not None and bond.promises:
        parts.append(f"promised {_quoted(bond.promises[-1])}")
    return "; ".join(parts)


def recall_line(view: MemoryView, player_id: str) -> str | None:
    """What the rules brain says to a player about its strongest memory of them (not one
    the act being answered just formed), or None."""
    theirs = [t.ts for t in view.hot.turns if t.who == player_id]
    now = theirs[-1] if theirs else float("inf")  # the act being answered
    facts = [f for f in view.recall.facts if f.player_id == player_id and f.ts < now]
    if not facts:
        return None
    best = max(facts, key=lambda f: (f.importance, f.ts))
    deed = best.text.split(": ", 1)[0].removeprefix(f"{player_id} ")
    session = view.hot.session
    if session and session.player_id == player_id and best.ts >= session.started:
        return f"You {deed}, {player_id}. I will not forget it."  # earlier in this talk
    return f"I remember you, {player_id}. You {deed}."


def for_prompt(
    view: MemoryView,
    *,
    player_id: str | None,
    query: str,
    now: float,
    window_s: float,
    budget_chars: int,
) -> PromptMemory:
    if budget_chars <= 0:
        return PromptMemory([], [], [])
    left = budget_chars
    lines: list[str] = []

    def take(line: str) -> bool:
        nonlocal left
        if len(line) + 1 > left:
            return False
        lines.append(line)
        left -= len(line) + 1
        return True

    bonds = view.hot.rel.players
    if player_id and player_id in bonds:
        take(bond_line(player_id, bonds[player_id]))
    ranked = rank(view.recall, query=query, player_id=player_id, now=now, window_s=window_s)
    for scored in ranked[:3]:
        take(f"You remember: {scored.memory.text}")
    turns: list[str] = []
    for turn in reversed(view.hot.turns[-8:]):
        who = "me" if turn.who == "self" else turn.who
        line = f"{who}: {turn.text}"
        if len(line) + 1 > left:
            break
        turns.insert(0, line)
        left -= len(line) + 1
    active = [q for q, entry in view.hot.quest.quests.items() if entry.status == "active"]
    if active:
        take("Quests in progress: " + ", ".join(active[:5]) + ".")
    return PromptMemory(lines, turns, ranked)
