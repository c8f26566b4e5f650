"""Activation tiers from player proximity: a pure computation over numpy arrays.

Distances come from a uniform grid (cell = the largest radius in play), so each
player is compared only with the NPCs of the 3x3 cells around it, never all pairs.
Hysteresis: an NPC rises to a tier inside the tier's promote radius and leaves it
only beyond the demote radius *and* after the cool-down, so one walking back and
forth across a radius does not flap. Floors (a quest flag, a strong relationship)
keep an NPC at least Silver. Caps keep the floored NPCs first, then the closest; the
rest queue for the tier below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I8 = NDArray[np.int8]
Bools = NDArray[np.bool_]

GOLD, SILVER, BRONZE = 0, 1, 2  # tier codes, in priority order (lower is higher)


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """Radii in metres, cool-down in seconds, caps per world; see docs/OPERATIONS.md."""

    gold_promote_m: float = 25.0
    gold_demote_m: float = 35.0
    silver_promote_m: float = 60.0
    silver_demote_m: float = 75.0
    cooldown_s: float = 5.0
    gold_cap: int = 200
    silver_cap: int = 400

    def __post_init__(self) -> None:
        if not (
            0 < self.gold_promote_m <= self.gold_demote_m
            and self.gold_demote_m <= self.silver_promote_m <= self.silver_demote_m
        ):
            raise ValueError("radii must grow: gold promote <= demote <= silver promote <= demote")


def nearest_players(npc_xy: F64, player_xy: F64, *, radius: float) -> tuple[F64, NDArray[np.intp]]:
    """Distance to, and index of, each NPC's nearest player within `radius` (inf, -1 if none)."""
    n = len(npc_xy)
    best = np.full(n, np.inf)
    who = np.full(n, -1, dtype=np.intp)
    if n == 0 or len(player_xy) == 0:
        return best, who
    cell = radius * (1 + 1e-6)  # a hair wider: pairs exactly `radius` apart stay adjacent
    cells = np.floor(npc_xy / cell).astype(np.int64)
    keys = cells[:, 0] * 1_000_003 + cells[:, 1]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    pcells = np.floor(player_xy / cell).astype(np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            wanted = (pcells[:, 0] + dx) * 1_000_003 + (pcells[:, 1] + dy)
            lo = np.searchsorted(sorted_keys, wanted, side="left")
            hi = np.searchsorted(sorted_keys, wanted, side="right")
            for p in np.nonzero(hi > lo)[0]:
                idx = order[lo[p] : hi[p]]
                d = np.hypot(npc_xy[idx, 0] - player_xy[p, 0], npc_xy[idx, 1] - player_xy[p, 1])
                closer = d < best[idx]
                best[idx[closer]] = d[closer]
                who[idx[closer]] = p
    far = best > radius
    best[far], who[far] = np.inf, -1
    return best, who


@dataclass(slots=True)
class TierState:
    """Per-NPC memory the hysteresis needs (persisted between recomputes)."""

    tier: I8
    last_gold: F64  # last time within the gold demote radius
    last_silver: F64  # last time within the silver demote radius (or floored)


def assign(
    distance: F64, state: TierState, floored: Bools, now: float, policy: TierPolicy
) -> tuple[TierState, Bools]:
    """New tiers and whether a cap pushed each NPC down; `state` is not modified."""
    was = state.tier
    last_gold = np.where(distance <= policy.gold_demote_m, now, state.last_gold)
    last_silver = np.where((distance <= policy.silver_demote_m) | floored, now, state.last_silver)
    gold = (distance <= policy.gold_promote_m) | (
        (was == GOLD) & (now - last_gold < policy.cooldown_s)
    )
    silver = (
        (distance <= policy.silver_promote_m)
        | floored
        | ((was <= SILVER) & (now - last_silver < policy.cooldown_s))
    )
    tier = np.where(gold, GOLD, np.where(silver, SILVER, BRONZE)).astype(np.int8)
    capped = np.zeros(len(tier), dtype=bool)
    # Caps: floored NPCs (quests, strong relationships) first, then the closest.
    rank = np.where(floored, -1e12, 0.0) + np.where(np.isfinite(distance), distance, 1e9)
    for level, cap in ((GOLD, policy.gold_cap), (SILVER, policy.silver_cap)):
        members = np.nonzero(tier == level)[0]
        if len(members) > cap:
            keep = members[np.argsort(rank[members], kind="stable")[:cap]]
            overflow = np.setdiff1d(members, keep, assume_unique=True)
            tier[overflow] = level + 1
            capped[overflow] = True
    return TierState(tier=tier, last_gold=last_gold, last_silver=last_silver), capped
