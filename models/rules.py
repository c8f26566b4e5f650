"""The rules brain: utility scoring over the closed action vocabulary, one batch at a time.

It is the floor under every other brain (the LLM path falls back to it), so it must be
cheap, total and deterministic. Each NPC becomes a row of features (state, personality);
one matrix product with a weight table scores every action for the whole batch at once,
archetype biases and masks are added, and the best score wins.

A decision depends only on (seed, NPC, tick key): tie-breaking noise and bark choice
come from a hash of exactly those, so batch composition and order never matter.

Derived traits (Big Five in [0, 1] -> trait in [0, 1]):
    aggression  = 0.6 (1 - agreeableness) + 0.4 neuroticism
    patience    = 0.6 conscientiousness + 0.4 (1 - neuroticism)
    sociability = 0.6 extraversion + 0.4 agreeableness
    risk_taking = 0.4 openness + 0.4 extraversion + 0.2 (1 - conscientiousness)
    timidity    = 0.5 neuroticism + 0.5 (1 - risk_taking)
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from models.archetypes import Archetype, default_catalogue
from npcfarm.domain import NPC, Action, Emotion, clip_speech
from npcfarm.errors import InvalidInput

F64 = NDArray[np.float64]
U64 = NDArray[np.uint64]

ACTIONS: tuple[Action, ...] = tuple(Action)  # column order of every N x A matrix
EMOTIONS: tuple[Emotion, ...] = tuple(Emotion)
NEAR_M = 20.0  # proximity = exp(-distance / NEAR_M): 1 at 0 m, 0.37 at 20 m, 0 if absent
CROWD = 5  # this many nearby players (or NPCs) counts as a full crowd
STARVING_FROM = 0.6  # hunger where `starving` starts rising from 0 (it is 1 at hunger 1)
LOW_HEALTH = 0.25  # below this an NPC is afraid whatever it does
NOISE = 0.02  # amplitude of the tie-breaking noise, small against utility gaps
TALK_SOMETIMES = 3  # out of 8: chance of a bark with a non-social action near a player
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (2^64 / golden ratio)
_DISTANCE = operator.attrgetter("distance")
Ids = tuple[str | None, str | None, str | None]  # nearest player, hostile (else player), NPC

# Utility of each action as a weighted sum of features; absent pairs weigh 0.
# Interaction features (threat_hurt = threat * hurt, ...) carry the "when X and Y" rules.
WEIGHTS: dict[Action, dict[str, float]] = {
    Action.IDLE: {"one": 0.30, "quiet_patient": 0.20},
    Action.WANDER: {
        "one": 0.15,
        "quiet_risk": 0.60,
        "quiet_patient": -0.20,
        "hunger": 0.20,
        "off_hours": -0.40,
    },
    Action.MOVE_TO: {"one": 0.05, "quiet_risk": 0.30, "npc_near": 0.30, "off_hours": -0.30},
    Action.FOLLOW: {"player_social": 0.80, "player_near": 0.10, "threat": -0.40},
    Action.FLEE: {"threat": 0.20, "threat_hurt": 1.60, "threat_timid": 1.20, "threat_aggr": -1.0},
    Action.GUARD: {"one": 0.05, "quiet_patient": 0.50, "npc_near": 0.20, "threat_aggr": 0.30},
    Action.SPEAK: {"player_social": 1.60, "player_near": 0.20, "threat": -0.60},
    Action.EMOTE: {"one": 0.05, "player_near": 0.30, "player_social": 0.50, "crowd": 0.20},
    Action.TRADE: {"player_patient": 1.10, "player_social": 0.30, "hurt": -0.50, "threat": -0.8},
    Action.ATTACK: {"threat": 0.30, "threat_aggr": 1.80, "player_aggr": 0.60, "hurt": -0.8},
    Action.USE: {"one": 0.10, "quiet_patient": 0.20, "risk": 0.15},
    Action.QUEST: {"player_patient": 0.70, "player_social": 0.50, "hurt": -0.5, "threat": -0.8},
    Action.REST: {"hurt": 0.50, "off_hours": 0.45, "quiet_patient": 0.20, "threat": -1.0},
    Action.HIDE: {"threat_timid": 0.60, "threat_hurt": 0.60, "off_hours": 0.10},
    Action.FEED: {"hunger": 0.35, "starving": 1.50, "threat": -0.40},
}
FEATURES = tuple(sorted({f for w in WEIGHTS.values() for f in w}))
_W = np.array([[WEIGHTS[a].get(f, 0.0) for a in ACTIONS] for f in FEATURES])  # F x A

_COL = {a: i for i, a in enumerate(ACTIONS)}
_EMO = {e: i for i, e in enumerate(EMOTIONS)}


def _is(*actions: Action) -> NDArray[np.bool_]:
    """A boolean row over ACTIONS; `row[choice]` then tells which choices are in the set."""
    return np.array([a in actions for a in ACTIONS])


# Social actions need an audience: masked when no player is reported (so no one talks alone).
_SOCIAL = _is(Action.SPEAK, Action.TRADE, Action.FOLLOW, Action.QUEST, Action.EMOTE)
_NEEDS_ANYONE = _is(Action.ATTACK, Action.FLEE)  # masked when no player and no hostile
_RESTFUL = _is(Action.IDLE, Action.REST)
_ROAMING = _is(Action.WANDER, Action.MOVE_TO)
_TALK_ALWAYS = _is(Action.SPEAK, Action.TRADE, Action.EMOTE)
_TALK_SOMETIMES = _is(Action.QUEST, Action.ATTACK, Action.FLEE, Action.FEED, Action.FOLLOW)
# Which candidate id an action aims at: 0 nearest player, 1 nearest hostile (else player),
# 2 nearest NPC. Actions absent here take no target.
_TARGET = {
    **dict.fromkeys((Action.SPEAK, Action.TRADE, Action.FOLLOW, Action.QUEST, Action.EMOTE), 0),
    **dict.fromkeys((Action.ATTACK, Action.FLEE), 1),
    **dict.fromkeys((Action.MOVE_TO, Action.GUARD), 2),
}


@dataclass(frozen=True, slots=True)
class RuleChoice:
    """What the rules brain picked for one NPC."""

    action: Action
    target: str | None
    speech: str | None
    emotion: Emotion


@dataclass(frozen=True, slots=True)
class _Tables:
    """The catalogue as K x A arrays (K archetypes), built once per process."""

    index: dict[str, int]
    bias: F64
    day: F64
    night: F64
    allowed: NDArray[np.bool_]
    nocturnal: F64
    barks: tuple[tuple[tuple[str, ...], ...], ...]  # [archetype][emotion] -> clipped lines
    bark_counts: U64  # K x E


@functools.cache
def _tables() -> _Tables:
    cat: list[Archetype] = list(default_catalogue().values())
    barks = tuple(
        tuple(tuple(clip_speech(line) for line in a.barks_for(e)) for e in EMOTIONS) for a in cat
    )
    return _Tables(
        index={a.name: k for k, a in enumerate(cat)},
        bias=np.array([[a.action_bias.get(x, 0.0) for x in ACTIONS] for a in cat]),
        day=np.array([[a.day_bias.get(x, 0.0) for x in ACTIONS] for a in cat]),
        night=np.array([[a.night_bias.get(x, 0.0) for x in ACTIONS] for a in cat]),
        allowed=np.array([[x in a.allowed_actions for x in ACTIONS] for a in cat]),
        nocturnal=np.array([float(a.nocturnal) for a in cat]),
        barks=barks,
        bark_counts=np.array([[len(b) for b in per] for per in barks], dtype=np.uint64),
    )


def decide_batch(
    npcs: Sequence[NPC], tick_keys: Sequence[str], *, seed: int = 0
) -> list[RuleChoice]:
    """Choose an action, target, emotion and bark for each NPC; pure and deterministic."""
    if len(npcs) != len(tick_keys):
        raise InvalidInput(f"{len(npcs)} NPCs but {len(tick_keys)} tick keys")
    if not npcs:
        return []
    tables = _tables()
    arch = _archetype_rows(npcs, tables)
    raw, ids = _extract(npcs)
    cols = _features(raw, tables.nocturnal[arch])
    streams = _splitmix(
        _seeds(npcs, tick_keys, seed)[:, None]
        + np.arange(len(ACTIONS) + 1, dtype=np.uint64) * _GOLDEN
    )
    dark = cols["dark"][:, None]
    utility = (
        np.stack([cols[f] for f in FEATURES], axis=1) @ _W
        + tables.bias[arch]
        + dark * tables.night[arch]
        + (1.0 - dark) * tables.day[arch]
        + NOISE * _unit(streams[:, : len(ACTIONS)])
    )
    has_player, has_anyone = cols["crowd"] > 0, (cols["crowd"] > 0) | (cols["hostile"] > 0)
    mask = tables.allowed[arch]  # fancy indexing: a fresh copy, safe to narrow
    mask &= ~_SOCIAL | has_player[:, None]
    mask &= ~_NEEDS_ANYONE | has_anyone[:, None]
    choice = np.where(mask, utility, -np.inf).argmax(axis=1)
    emotion = _emotions(choice, cols)
    pick = streams[:, len(ACTIONS)]
    chance = (pick >> np.uint64(61)) < np.uint64(TALK_SOMETIMES)
    talk = _TALK_ALWAYS[choice] | (_TALK_SOMETIMES[choice] & has_player & chance)
    line = pick % tables.bark_counts[arch, emotion]
    out = []
    numbers = np.stack([choice, emotion, arch, talk, line.astype(np.intp)], axis=1).tolist()
    for (a, e, k, say, ln), near in zip(numbers, ids, strict=True):
        action, kind = ACTIONS[a], _TARGET.get(ACTIONS[a])
        target = None if kind is None else near[kind]
        speech = tables.barks[k][e][ln] if say else None
        out.append(RuleChoice(action=action, target=target, speech=speech, emotion=EMOTIONS[e]))
    return out


def _archetype_rows(npcs: Sequence[NPC], tables: _Tables) -> NDArray[np.intp]:
    try:
        return np.array([tables.index[npc.archetype] for npc in npcs], dtype=np.intp)
    except KeyError:
        unknown = sorted({npc.archetype for npc in npcs} - tables.index.keys())
        raise InvalidInput(f"unknown archetype(s): {', '.join(unknown)}") from None


def _extract(npcs: Sequence[NPC]) -> tuple[F64, list[Ids]]:
    """The one Python loop over inputs: raw numbers (N x 12) and the candidate target ids."""
    rows: list[tuple[float, ...]] = []
    ids: list[Ids] = []
    for npc in npcs:
        s, p = npc.state, npc.personality
        player = min(s.nearby_players, key=_DISTANCE, default=None)
        other = min(s.nearby_npcs, key=_DISTANCE, default=None)
        hostiles = [e for e in chain(s.nearby_players, s.nearby_npcs) if e.hostile]
        hostile = min(hostiles, key=_DISTANCE, default=None)
        rows.append(
            (
                s.health,
                s.hunger,
                s.time_of_day,
                p.openness,
                p.conscientiousness,
                p.extraversion,
                p.agreeableness,
                p.neuroticism,
                player.distance if player else math.inf,
                len(s.nearby_players),
                hostile.distance if hostile else math.inf,
                len(s.nearby_npcs),
            )
        )
        player_id = player.id if player else None
        ids.append((player_id, hostile.id if hostile else player_id, other.id if other else None))
    return np.array(rows, dtype=np.float64), ids


def _features(raw: F64, nocturnal: F64) -> dict[str, F64]:
    """Every column WEIGHTS may name, plus a few the emotion rules read."""
    health, hunger, hour, o, c, e, a, n, d_player, n_players, d_hostile, n_npcs = raw.T
    risk = 0.4 * o + 0.4 * e + 0.2 * (1.0 - c)
    aggression = 0.6 * (1.0 - a) + 0.4 * n
    patience = 0.6 * c + 0.4 * (1.0 - n)
    sociability = 0.6 * e + 0.4 * a
    timidity = 0.5 * n + 0.5 * (1.0 - risk)
    dark = np.clip((np.abs(hour - 12.0) - 5.0) / 2.0, 0.0, 1.0)  # 0 at 7-17 h, 1 at 19-5 h
    player_near = np.exp(-d_player / NEAR_M)
    threat = np.exp(-d_hostile / NEAR_M)
    quiet = 1.0 - np.maximum(player_near, threat)
    hurt = 1.0 - health
    return {
        "one": np.ones_like(health),
        "health": health,
        "hurt": hurt,
        "hunger": hunger,
        "starving": np.clip((hunger - STARVING_FROM) / (1.0 - STARVING_FROM), 0.0, 1.0),
        "dark": dark,
        "off_hours": np.where(nocturnal > 0, 1.0 - dark, dark),  # the hours it should sleep
        "player_near": player_near,
        "crowd": np.minimum(n_players, CROWD) / CROWD,
        "npc_near": np.minimum(n_npcs, CROWD) / CROWD,
        "threat": threat,
        "hostile": np.isfinite(d_hostile).astype(np.float64),  # 1 if any hostile is reported
        "risk": risk,
        "patience": patience,
        "sociability": sociability,
        "threat_hurt": threat * hurt,
        "threat_timid": threat * timidity,
        "threat_aggr": threat * aggression,
        "player_social": player_near * sociability,
        "player_aggr": player_near * aggression,
        "player_patient": player_near * patience,
        "quiet_patient": quiet * patience,
        "quiet_risk": quiet * risk,
    }


def _emotions(choice: NDArray[np.intp], cols: dict[str, F64]) -> NDArray[np.intp]:
    """First matching rule wins: the action itself, then the body, then temperament."""
    act = {a: choice == _COL[a] for a in (Action.FLEE, Action.ATTACK, Action.FEED)}
    hiding, guarding = choice == _COL[Action.HIDE], choice == _COL[Action.GUARD]
    social, threatened = _SOCIAL[choice], cols["hostile"] > 0
    rules = (
        (act[Action.FLEE], Emotion.AFRAID),
        (act[Action.ATTACK], Emotion.ANGRY),
        (act[Action.FEED], Emotion.HUNGRY),
        (cols["health"] < LOW_HEALTH, Emotion.AFRAID),
        (hiding & threatened, Emotion.AFRAID),
        (cols["starving"] >= 0.5, Emotion.HUNGRY),
        (social & (cols["sociability"] >= 0.5), Emotion.HAPPY),
        (social, Emotion.CURIOUS),
        (cols["health"] < 0.5, Emotion.SAD),
        (hiding | guarding | threatened, Emotion.SUSPICIOUS),
        (_RESTFUL[choice] & (cols["patience"] >= 0.5), Emotion.CALM),
        (_ROAMING[choice] & (cols["risk"] >= 0.5), Emotion.CURIOUS),
    )
    return np.select(
        [cond for cond, _ in rules], [_EMO[emo] for _, emo in rules], default=_EMO[Emotion.NEUTRAL]
    ).astype(np.intp)


def _seeds(npcs: Sequence[NPC], tick_keys: Sequence[str], seed: int) -> U64:
    """Stable 64-bit hash of (seed, id, key). Ids never hold NUL; keys may hold surrogates."""
    texts = (f"{seed}\0{npc.id}\0{key}" for npc, key in zip(npcs, tick_keys, strict=True))
    digests = (
        hashlib.blake2b(t.encode(errors="surrogatepass"), digest_size=8).digest() for t in texts
    )
    return np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)


def _splitmix(x: U64) -> U64:
    """splitmix64's output mix, elementwise; uint64 arrays wrap silently on overflow."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(z: U64) -> F64:
    """Top 53 bits as a float in [0, 1)."""
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
