"""Which memories matter now: the Generative Agents score.

score = recency + importance + 2 x relevance, each scaled to [0, 1] over the candidates
(Park et al., 2023): recency decays exponentially with the hours since the memory
was formed (0.995 per hour), importance is set when the memory is formed, relevance is
the cosine similarity of the memory to the situation (what the player said, who is
present). No embedding model ships with the farm, so relevance is lexical (bag of
words); a memory about the player standing in front of the NPC counts as relevant.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from npcfarm.memory.records import Memory, Recall

DECAY_PER_HOUR = 0.995
# The paper weighs all three equally; here what the player is talking about right now
# counts double, so a month-old memory of the same matter beats yesterday's small talk.
RECENCY_W, IMPORTANCE_W, RELEVANCE_W = 1.0, 1.0, 2.0
STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "this",
        "that",
        "i",
        "you",
        "me",
        "my",
        "your",
        "we",
        "he",
        "she",
        "they",
        "them",
        "his",
        "her",
        "its",
        "our",
        "their",
        "do",
        "did",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "so",
        "what",
        "who",
        "how",
        "why",
        "when",
        "where",
        "there",
        "here",
        "from",
        "by",
        "as",
        "if",
        "then",
        "than",
    ]
)


@dataclass(frozen=True, slots=True)
class Scored:
    memory: Memory
    recency: float
    importance: float
    relevance: float

    @property
    def score(self) -> float:
        return (
            RECENCY_W * self.recency + IMPORTANCE_W * self.importance + RELEVANCE_W * self.relevance
        )


def _stem(word: str) -> str:
    """A crude suffix stripper, so "trade", "traded" and "trading" meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def words(text: str) -> Counter[str]:
    return Counter(_stem(w) for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOP)


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[w] for w, count in a.items() if w in b)
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return dot / norm


def _scaled(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return [min(1.0, max(0.0, v)) for v in values]
    return [(v - low) / (high - low) for v in values]


def rank(
    recall: Recall,
    *,
    query: str,
    player_id: str | None,
    now: float,
    window_s: float,
    limit: int = 5,
) -> list[Scored]:
    """The top memories for this moment, best first."""
    candidates = [*recall.within(now, window_s).summaries, *recall.within(now, window_s).facts]
    if not candidates:
        return []
    asked = words(query)
    recency = [DECAY_PER_HOUR ** (max(0.0, now - m.ts) / 3600) for m in candidates]
    relevance = [
        min(
            1.0,
            cosine(asked, words(m.text)) + (0.5 if player_id and m.player_id == player_id else 0),
        )
        for m in candidates
    ]
    rows = [
        Scored(m, r, i, v)
        for m, r, i, v in zip(
            candidates,
            _scaled(recency),
            _scaled([m.importance for m in candidates]),
            _scaled(relevance),
            strict=True,
        )
    ]
    rows.sort(key=lambda s: (s.score, s.memory.ts), reverse=True)
    return rows[:limit]
