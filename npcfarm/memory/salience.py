"""What in an interaction is worth remembering, and how it moves trust and affinity.

Deterministic and cheap (it runs in ingest for every interaction): the kind of act
sets the importance, the emotion and the card changes; a talk is searched for
promises and insults with small word lists, so "I promise to bring the herbs" becomes
a promise on the player's card and an insult becomes a fact. An attack by a player the
NPC trusted, or who owes it a promise, is recorded as a betrayal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from npcfarm.domain import Emotion


@dataclass(frozen=True, slots=True)
class Effect:
    importance: float  # of the fact it makes (0: no fact)
    fact: str  # "{p}" stands for the player id
    trust: float
    affinity: float
    emotion: Emotion
    valence: float


EFFECTS = {
    "help": Effect(0.95, "{p} saved my life", 0.35, 0.3, Emotion.HAPPY, 0.9),
    "gift": Effect(0.7, "{p} gave me a gift", 0.1, 0.15, Emotion.HAPPY, 0.6),
    "attack": Effect(0.85, "{p} attacked me", -0.4, -0.3, Emotion.ANGRY, -0.9),
    "trade": Effect(0.3, "{p} traded with me", 0.05, 0.03, Emotion.CALM, 0.2),
    "talk": Effect(0.0, "", 0.0, 0.02, Emotion.CURIOUS, 0.1),
}
INSULT = Effect(0.6, "{p} insulted me", -0.1, -0.15, Emotion.ANGRY, -0.5)
PROMISE = re.compile(r"\b(i promise|i swear|i will|i'll|you have my word)\b(.{0,100})", re.I)
INSULTS = frozenset(
    [
        "fool",
        "idiot",
        "stupid",
        "ugly",
        "coward",
        "rotten",
        "filth",
        "worm",
        "pathetic",
        "worthless",
        "vermin",
        "scum",
        "hate",
        "stinking",
        "disgusting",
    ]
)
TRUSTED = 0.3  # above this, an attack is a betrayal


def effect_of(kind: str, text: str | None) -> Effect:
    base = EFFECTS.get(kind, EFFECTS["talk"])
    if kind == "talk" and text and is_insult(text):
        return INSULT
    return base


def is_insult(text: str) -> bool:
    return bool(INSULTS & set(re.findall(r"[a-z]+", text.lower())))


def promise_in(text: str | None) -> str | None:
    """The promise a player made, as the NPC will quote it, or None."""
    if not text:
        return None
    match = PROMISE.search(text)
    if match is None:
        return None
    return " ".join(match.group(0).split())[:120]


def fact_text(effect: Effect, player_id: str, text: str | None) -> str:
    line = effect.fact.format(p=player_id)
    if text:  # the player's words, quoted as data (JSON string)
        line += ": " + json.dumps(" ".join(text.split())[:120], ensure_ascii=False)
    return line
