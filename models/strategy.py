"""The strategy brain: routine economy and military moves of Travian-style AI players.

The profile's considerations (models/profiles/strategy.toml) score what to do; this
module decides how: which building a build order wants next, which unit and how
many, which neighbour a raid is worth (weaker, reachable, not an ally), where to send
help, what to trade at what ratio. A player's standing goal (its last strategic
review: grow, fortify, raid, ally) tilts the scores for the hours it covers. Every
choice is checked against the profile's parameter bounds; an action whose
parameters cannot be filled (nothing affordable) gives way to the next best.
Deterministic in (seed, NPC, tick), like the RPG brain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.profiles.schema import Profile
from models.profiles.utility import utilities
from models.profiles.values import Scalar, check_params, styles_of
from npcfarm.domain import NPC
from npcfarm.errors import InvalidInput

NOISE = 0.02
RAID_EDGE = 1.5  # raid only where our attack is this many times their known defence
GOAL_BIAS: dict[str, dict[str, float]] = {
    "grow": {"build": 0.3, "trade": 0.1},
    "fortify": {"train": 0.3, "build": 0.1, "raid": -0.3},
    "raid": {"raid": 0.35, "train": 0.15},
    "ally": {"propose_alliance": 0.4, "reinforce": 0.2},
}
RESOURCES = ("wood", "clay", "iron", "crop")
MERCHANT_LOAD = 500  # resources one merchant carries (the reference game's rule)
FIELD_OF = {"wood": "woodcutter", "clay": "clay_pit", "iron": "iron_mine", "crop": "cropland"}


@dataclass(frozen=True, slots=True)
class GameChoice:
    """One decision of a profile other than the RPG's (schema v2)."""

    action: str
    kind: str
    target: str | None = None
    params: dict[str, Scalar] = field(default_factory=dict)
    speech: str | None = None


Resolver = Callable[[Mapping[str, Any], Mapping[str, float]], tuple[str | None, dict[str, Any]]]


def rules_kinds(profile: Profile, state: Mapping[str, Any]) -> set[str]:
    """The decision kinds the rules decide now (`llm_when` ones while no condition holds)."""
    out = set()
    for name, kind in profile.kinds.items():
        if kind.brain == "rules" or (
            kind.brain == "llm_when" and not any(state.get(c) for c in kind.when)
        ):
            out.add(name)
    return out


def decide(
    profile: Profile,
    npcs: Sequence[NPC],
    states: Sequence[Mapping[str, Any]],
    tick_keys: Sequence[str],
    *,
    seed: int,
    goals: Mapping[str, str] | None = None,
    every_kind: bool = False,
) -> list[GameChoice]:
    """The rules' choice for every NPC of the batch (all of one profile). Kinds meant for
    the model are left out unless `every_kind` (no model: the rules answer those too,
    with templated messages and a plan from the state)."""
    styles = [styles_of(profile, n.personality, n.archetype) for n in npcs]
    scores, actions = utilities(profile, [n.archetype for n in npcs], states, styles)
    goals = goals or {}
    for i, npc in enumerate(npcs):
        allowed = set(profile.kinds) if every_kind else rules_kinds(profile, states[i])
        for j, name in enumerate(actions):
            if profile.actions[name].kind not in allowed:
                scores[i, j] = -np.inf
            else:
                scores[i, j] += GOAL_BIAS.get(goals.get(npc.id, ""), {}).get(name, 0.0)
        scores[i] += NOISE * _noise(seed, npc.id, tick_keys[i], len(actions))
    out = []
    for i in range(len(npcs)):
        out.append(_resolve(profile, actions, scores[i], states[i], styles[i]))
    return out


def _resolve(
    profile: Profile,
    actions: tuple[str, ...],
    row: np.ndarray,
    state: Mapping[str, Any],
    styles: Mapping[str, float],
) -> GameChoice:
    for j in np.argsort(-row):
        if not np.isfinite(row[j]):
            break
        name = actions[int(j)]
        resolver = RESOLVERS.get(name)
        target, params = resolver(state, styles) if resolver else (None, {})
        if params is None or (target is None and _needs_target(profile, name)):
            continue
        try:
            checked = check_params(profile, name, params)
        except InvalidInput:  # a parameter the rules cannot fill (the model's to write)
            continue
        return GameChoice(name, profile.actions[name].kind, target, checked)
    return GameChoice(action="idle", kind=profile.actions["idle"].kind)


def _needs_target(profile: Profile, action: str) -> bool:
    return profile.actions[action].target != "none"


def _noise(seed: int, npc_id: str, tick: str, n: int) -> np.ndarray:
    digest = hashlib.blake2b(f"{seed}:{npc_id}:{tick}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little")).random(n)


# -- how: parameters and targets ---------------------------------------------------------


def _stores(state: Mapping[str, Any]) -> dict[str, float]:
    """Each resource as a share of its store's capacity."""
    caps = {"wood": "storage", "clay": "storage", "iron": "storage", "crop": "granary"}
    return {r: float(state.get(r, 0)) / max(float(state.get(caps[r], 0)), 1.0) for r in RESOURCES}


def _storage_wants(
    state: Mapping[str, Any],
    stores: Mapping[str, float],
    ready: set[str],
    level: Mapping[str, int],
    fields: list[int],
) -> list[str]:
    """Storage when it holds the economy back: full stores that still cannot pay for a
    field (the next level costs more than fits), or far behind the fields' levels."""
    capped = not any(FIELD_OF[r] in ready for r in RESOURCES) and max(stores.values()) > 0.95
    wants = []
    if capped or level.get("warehouse", 0) < min(fields) // 2:
        wants.append("warehouse")
    if (capped and stores["crop"] > 0.95) or level.get("granary", 0) < min(fields) // 2:
        wants.append("granary")
    return wants


def _build(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """A build order: storage before it overflows, crop before it starves the army, the
    wall under threat, barracks and main building as the village grows, else the field
    of the scarcest resource; only what is affordable now."""
    rows = {r["building"]: r for r in state.get("buildings", []) if not r.get("maxed")}
    ready = {b for b, r in rows.items() if r.get("affordable")}
    level = {b: int(r.get("level", 0)) for b, r in rows.items()}
    stores = _stores(state)
    per_hour = max(float(state.get("production", 0)) / 4, 1.0)  # per resource, roughly
    fields = [level.get(FIELD_OF[r], 0) for r in RESOURCES]
    wants = _storage_wants(state, stores, ready, level, fields)
    if float(state.get("crop_net", 0)) < 0.1 * per_hour:
        wants.append("cropland")
    if float(state.get("threat", 0)) > 0.3:
        wants.append("wall")
    if level.get("main_building", 0) < min(fields) // 2 + 1:
        wants.append("main_building")
    if level.get("barracks", 0) < 1 and (
        styles.get("aggression", 0) > 0.6 or float(state.get("threat", 0)) > 0.3 or min(fields) >= 2
    ):
        wants.append("barracks")
    elif styles.get("aggression", 0) > 0.6 and level.get("barracks", 0) < min(3, *fields):
        wants.append("barracks")  # axemen need barracks 3
    if level.get("embassy", 0) < 1 and (
        state.get("invited") or (styles.get("diplomacy", 0) > 0.5 and min(fields) >= 2)
    ):
        wants.append("embassy")
    if level.get("marketplace", 0) < 1 and float(state.get("imbalance", 0)) > 0.4:
        wants.append("marketplace")
    if styles.get("patience", 0) > 0.7 and level.get("wall", 0) < min(fields):
        wants.append("wall")
    scarce = sorted(RESOURCES, key=lambda r: (level.get(FIELD_OF[r], 0), stores[r]))
    wants += [FIELD_OF[r] for r in scarce]
    for building in wants:
        if building in ready:
            return None, {"building": building}
    return None, None


def _level(state: Mapping[str, Any], building: str) -> int:
    rows = [r for r in state.get("buildings", []) if r.get("building") == building]
    return int(rows[0].get("level", 0)) if rows else 0


def _train(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """Scouts first while a neighbour's defence is unknown, then defenders against a
    threat, attackers for an aggressive player; as many as the stores pay for, times
    how much of them the player's style spends at once."""
    trainable = state.get("trainable", [])
    unknown = any(float(n.get("defense", -1)) < 0 for n in state.get("neighbours", []))
    scouts = [u for u in trainable if u["unit"] == "scout"]
    calm = float(state.get("threat", 0)) < 0.3
    if unknown and scouts and calm and not state.get("scouts_home"):
        can = int(scouts[0].get("affordable", 0))  # save up for them when they cost too much
        return (None, {"unit": "scout", "count": min(2, can)}) if can else (None, None)
    units = [u for u in trainable if int(u.get("affordable", 0)) > 0 and u["unit"] != "scout"]
    if not units:
        return None, None
    threat, aggression = float(state.get("threat", 0)), styles.get("aggression", 0.5)
    if threat > 0.3 or aggression < 0.4:
        best = max(units, key=lambda u: float(u.get("defense", 0)))
    else:
        best = max(units, key=lambda u: float(u.get("attack", 0)))
    spend = 0.4 + 0.4 * max(aggression, min(threat, 1.0))
    return None, {"unit": best["unit"], "count": max(1, int(best["affordable"] * spend))}


def _raid(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """The nearest neighbour, not an ally, whose known defence our attack beats well."""
    attack, home = float(state.get("attack_power", 0)), int(state.get("troops_home", 0))
    if home < 1 or attack <= 0:
        return None, None
    edge = RAID_EDGE * (1.5 - styles.get("risk_tolerance", 0.5))
    for n in state.get("neighbours", []):
        defense = float(n.get("defense", -1))
        if n.get("relation") != "ally" and defense >= 0 and attack >= edge * max(defense, 1.0):
            return str(n["village"]), {"troops": max(1, int(home * 0.7))}
    return None, None


def _attack(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """An enemy's village (at war), the weakest known one first."""
    home = int(state.get("troops_home", 0))
    enemies = [n for n in state.get("neighbours", []) if n.get("relation") == "enemy"]
    if home < 1 or not enemies:
        return None, None
    weakest = min(enemies, key=lambda n: d if (d := float(n.get("defense", -1))) >= 0 else 1e12)
    return str(weakest["village"]), {"troops": max(1, int(home * 0.9))}


def _reinforce(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    home = int(state.get("troops_home", 0))
    for n in state.get("neighbours", []):
        if n.get("relation") == "ally" and n.get("under_attack") and home > 1:
            return str(n["village"]), {"troops": max(1, int(home * 0.4))}
    return None, None


def _scout(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    if int(state.get("scouts_home", 0)) < 1:
        return None, None
    for n in state.get("neighbours", []):
        if float(n.get("defense", -1)) < 0 and n.get("relation") != "ally":
            return str(n["village"]), {}
    return None, None


def _trade(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    merchants = int(state.get("merchants_free", 0))
    if merchants < 1:
        return None, None  # no marketplace yet (the build order brings one), or all away
    stores = _stores(state)
    offer, want = max(RESOURCES, key=stores.__getitem__), min(RESOURCES, key=stores.__getitem__)
    surplus = float(state.get(offer, 0)) - float(state.get(want, 0))
    if offer == want or surplus < 100:
        return None, None
    amount = min(int(surplus * 0.25), MERCHANT_LOAD * merchants)
    return None, {"offer": offer, "want": want, "amount": amount}


def _propose(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """The most populous neutral neighbour: a strong friend nearby (an embassy first)."""
    neutral = [n for n in state.get("neighbours", []) if n.get("relation") == "neutral"]
    if not neutral or _level(state, "embassy") < 1:
        return None, None
    best = max(neutral, key=lambda n: int(n.get("population", 0)))
    return str(best["player"]), {}


def _message(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """A reply to whoever wrote last, in the player's manner (the rules' stand-in for
    the model's diplomacy)."""
    to = state.get("last_message_from")
    if not to or not state.get("message_received"):
        return None, None
    if styles.get("diplomacy", 0) >= 0.5:
        text = "Well met, neighbour. Let us keep the peace between our villages."
    elif styles.get("aggression", 0) >= 0.6:
        text = "Your words change nothing. Keep your troops away from my fields."
    else:
        text = "I have read your message. We shall see what the coming days bring."
    return str(to), {"text": text}


def _plan(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    """The strategic review, by rules: fortify under threat, raid with a clear edge and a
    taste for it, ally when exposed and sociable, else grow."""
    if float(state.get("threat", 0)) > 0.5:
        goal, why = "fortify", "an attack is coming"
    elif float(state.get("raid_ratio", 0)) > 2 and styles.get("aggression", 0) > 0.55:
        goal, why = "raid", "the neighbours are weak"
    elif not state.get("has_alliance") and styles.get("diplomacy", 0) > 0.5:
        goal, why = "ally", "alone among strangers"
    else:
        goal, why = "grow", "the economy first"
    return None, {"goal": goal, "hours": 6, "why": why}


def _join(state: Mapping[str, Any], styles: Mapping[str, float]) -> tuple[str | None, Any]:
    alliance = state.get("invite_alliance")
    if not state.get("invited") or not alliance or state.get("has_alliance"):
        return None, None
    if _level(state, "embassy") < 1:
        return None, None
    return str(alliance), {}


RESOLVERS: dict[str, Resolver] = {
    "join_alliance": _join,
    "message": _message,
    "plan": _plan,
    "build": _build,
    "train": _train,
    "raid": _raid,
    "attack": _attack,
    "reinforce": _reinforce,
    "scout": _scout,
    "trade": _trade,
    "propose_alliance": _propose,
}
