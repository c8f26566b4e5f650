"""How the rules brain answers a player: what was done, the bond, the quests held.

The utility table (models/rules.py) scores an NPC's situation; it cannot know that
the player in front of it is an old friend, the one who betrayed it, or the one it
gave a quest to, nor that it was just asked to trade. A reaction is decided on top
of that choice for NPCs a player is dealing with, from the NPC's memory of that
player: a friend is greeted, an enemy refused (or fought, by an aggressive NPC), a
trade request answered with trade, a quest giver speaks of the quest. Everything
stays inside the archetype's allowed actions; where no reaction applies the
utility choice stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.archetypes import get_archetype
from models.rules import RuleChoice
from npcfarm.domain import NPC, Action, Emotion, clip_speech

FRIEND_FROM = 0.4  # mean of trust and affinity at or above this: a friend
ENEMY_FROM = -0.4  # at or below this (or any betrayal): an enemy
AGGRESSIVE_FROM = 0.55  # derived aggression above which an NPC fights an enemy


@dataclass(frozen=True, slots=True)
class Standing:
    """What an NPC holds about the player it answers (from its memory)."""

    player_id: str
    kind: str | None = None  # what the player did now: talk, attack, trade, gift, help
    trust: float = 0.0
    affinity: float = 0.0
    betrayals: int = 0
    quests: Sequence[tuple[str, str]] = ()  # active quests: (name, note)

    @property
    def regard(self) -> float:
        return (self.trust + self.affinity) / 2

    @property
    def enemy(self) -> bool:
        return self.betrayals > 0 or self.regard <= ENEMY_FROM

    @property
    def friend(self) -> bool:
        return not self.enemy and self.regard >= FRIEND_FROM


def aggression(npc: NPC) -> float:
    """The rules brain's derived trait (see models/rules.py)."""
    p = npc.personality
    return 0.6 * (1 - p.agreeableness) + 0.4 * p.neuroticism


Choose = Callable[[Action, Emotion, str | None], RuleChoice | None]


def react(npc: NPC, standing: Standing) -> RuleChoice | None:
    """The answer to this player, or None to keep the utility choice."""
    allowed = get_archetype(npc.archetype).allowed_actions
    who, kind = standing.player_id, standing.kind

    def choice(action: Action, emotion: Emotion, line: str | None) -> RuleChoice | None:
        if action not in allowed:
            return None
        return RuleChoice(action, who, clip_speech(line) if line else None, emotion)

    if kind == "attack" or standing.enemy:
        return _hostile(npc, standing, choice)
    if kind == "trade":
        return choice(Action.TRADE, Emotion.CURIOUS, f"Let us see what you have, {who}.") or (
            choice(Action.SPEAK, Emotion.NEUTRAL, f"I do not trade, {who}.")
        )
    if standing.quests and kind in (None, "talk", "help"):
        name, note = standing.quests[0]
        about = note or "Have you done what I asked?"
        told = choice(Action.QUEST, Emotion.CURIOUS, f"The {name.replace('_', ' ')}: {about}")
        if told is not None:
            return told
    if kind == "gift":
        thanks = "You are too kind, old friend." if standing.friend else "A gift? Thank you."
        return choice(Action.SPEAK, Emotion.HAPPY, f"{thanks} {who}.")
    if kind == "help":
        return choice(Action.SPEAK, Emotion.HAPPY, f"I owe you one, {who}.")
    if standing.friend:
        return choice(Action.SPEAK, Emotion.HAPPY, f"Good to see you again, {who}!")
    return None


def _hostile(npc: NPC, standing: Standing, choice: Choose) -> RuleChoice | None:
    """Attacked, or facing an enemy: an aggressive NPC fights, the others flee an attack
    and refuse an enemy whatever it asks."""
    who, fights = standing.player_id, aggression(npc) >= AGGRESSIVE_FROM
    if standing.kind == "attack":
        if fights or standing.enemy:
            return choice(Action.ATTACK, Emotion.ANGRY, f"You will regret that, {who}.")
        return choice(Action.FLEE, Emotion.AFRAID, "Stay away from me!") or choice(
            Action.HIDE, Emotion.AFRAID, None
        )
    if fights:
        fought = choice(Action.ATTACK, Emotion.ANGRY, f"I have waited for this, {who}.")
        if fought is not None:
            return fought
    line = "I do not deal with traitors." if standing.betrayals else "Leave me be."
    return choice(Action.SPEAK, Emotion.SUSPICIOUS, f"{line} Go away, {who}.")
