"""What a model may say: its own line, not the player's, and only where speech belongs.

A player's words go into the prompt as data, and a small model will happily hand them
back as the NPC's speech ("p-node-1: Line one and a tabbed line two"), so a player
could make an NPC say anything; it also falls into loops ("mouse mouse mouse ...",
"Baa-ba-ba-ba-ba..."). Such a line is refused and the rules brain answers instead,
with the reason on the decision (`player_echo`, `degenerate`), counted like every
other fallback reason.
"""

from __future__ import annotations

import itertools
import re
import zlib

from npcfarm.domain import Action

# actions that may carry speech (the rules brain's own vocabulary, docs/BRIDGE.md §3)
SPEAKING = frozenset(
    {
        Action.SPEAK,
        Action.TRADE,
        Action.EMOTE,
        Action.QUEST,
        Action.ATTACK,
        Action.FLEE,
        Action.FEED,
        Action.FOLLOW,
    }
)
# actions aimed at someone: an answer to a player aims them at that player
AT_PLAYER = frozenset(
    {
        Action.SPEAK,
        Action.EMOTE,
        Action.TRADE,
        Action.FOLLOW,
        Action.FLEE,
        Action.ATTACK,
        Action.QUEST,
    }
)
# actions that take no target (docs/BRIDGE.md §3): a model's target on them is dropped
UNTARGETED = frozenset(
    {Action.IDLE, Action.WANDER, Action.USE, Action.REST, Action.HIDE, Action.FEED}
)
QUOTE_WORDS = 4  # a run of more of the player's words than this is an echo, not a quote
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MARKUP = re.compile(
    r"<[/!?a-zA-Z][^>]*>|```|\{\{|\}\}|\[/?[a-z]+\]|https?://|[\x00-\x08\x0b-\x1f\x7f]"
)


def refusal(speech: str, player_words: str | None) -> str | None:
    """`player_echo`, `degenerate`, or None when the line may be said."""
    words = [w.lower() for w in _WORD.findall(speech)]
    if player_words and _echoes(words, [w.lower() for w in _WORD.findall(player_words)]):
        return "player_echo"
    if _MARKUP.search(speech) or _repeats(speech, words):
        return "degenerate"
    return None


def _echoes(said: list[str], heard: list[str]) -> bool:
    run = QUOTE_WORDS + 1
    if len(heard) < run:
        return len(heard) >= 2 and said == heard  # a short line handed back whole
    theirs = {tuple(heard[i : i + run]) for i in range(len(heard) - run + 1)}
    return any(tuple(said[i : i + run]) in theirs for i in range(len(said) - run + 1))


def _repeats(speech: str, words: list[str]) -> bool:
    """A loop: few distinct words, one word many times running, or text that
    compresses far better than language does."""
    if len(words) >= 6 and len(set(words)) / len(words) < 0.4:
        return True
    streak = 1
    for before, word in itertools.pairwise(words):
        streak = streak + 1 if word == before else 1
        if streak >= 4:
            return True
    data = speech.encode()
    return len(data) >= 48 and len(zlib.compress(data, 9)) / len(data) < 0.3
