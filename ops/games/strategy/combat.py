"""Combat as pure functions: powers, Travian's power-law losses, casualties, loot.

No randomness: the same armies always give the same result, so an AI can compute an
outcome before it sends anything (the formulas are in `rules.FORMULAS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.games.strategy import rules
from ops.games.strategy.rules import UNITS
from ops.games.strategy.world import Troops


@dataclass(frozen=True, slots=True)
class Outcome:
    attack: float
    defence: float
    attacker_loss: float  # fraction of each attacking unit type lost
    defender_loss: float  # fraction of each defending unit type lost (every group)
    attacker_won: bool


def attack_power(troops: Troops) -> tuple[float, float]:
    """(infantry, cavalry) attack sums."""
    infantry = cavalry = 0.0
    for unit, n in troops.items():
        spec = UNITS[unit]
        if spec.cavalry:
            cavalry += spec.attack * n
        else:
            infantry += spec.attack * n
    return infantry, cavalry


def defence_power(groups: list[Troops], wall: int, infantry: float, cavalry: float) -> float:
    """Defence against an attack of that mix, wall and militia included."""
    total = infantry + cavalry
    share_inf = infantry / total if total > 0 else 1.0
    troops = sum(
        n * (UNITS[u].def_inf * share_inf + UNITS[u].def_cav * (1.0 - share_inf))
        for group in groups
        for u, n in group.items()
    )
    base = rules.BASE_DEFENCE + rules.WALL_FLAT * wall
    return float((base + troops) * rules.WALL_FACTOR**wall)


def battle(kind: str, attackers: Troops, defenders: list[Troops], wall: int) -> Outcome:
    """An `attack` fights until one side is gone; a `raid` both sides survive in part."""
    infantry, cavalry = attack_power(attackers)
    a = infantry + cavalry
    d = defence_power(defenders, wall, infantry, cavalry)
    k = rules.LOSS_EXPONENT
    if kind == "raid":
        x = (a / d) ** k
        return Outcome(a, d, 1.0 / (1.0 + x), x / (1.0 + x), x > 1.0)
    if a > d:
        return Outcome(a, d, (d / a) ** k, 1.0, True)
    return Outcome(a, d, 1.0, (a / d) ** k if d > 0 else 0.0, False)


def scouting(scouts: int, defending_scouts: int, wall: int) -> Outcome:
    """Scouts against scouts only; defenders never lose any."""
    power = scouts * rules.SCOUT_ATTACK
    counter = defending_scouts * rules.SCOUT_DEFENCE * rules.WALL_FACTOR**wall
    if counter <= 0:
        return Outcome(power, 0.0, 0.0, 0.0, True)
    if power > counter:
        return Outcome(power, counter, (counter / power) ** rules.LOSS_EXPONENT, 0.0, True)
    return Outcome(power, counter, 1.0, 0.0, False)


def casualties(troops: Troops, loss: float) -> Troops:
    if loss >= 1.0:
        return dict(troops)
    lost = {u: min(n, int(n * loss + 0.5)) for u, n in troops.items()}
    return {u: n for u, n in lost.items() if n > 0}


def remove(troops: Troops, lost: Troops) -> None:
    for unit, n in lost.items():
        left = troops.get(unit, 0) - n
        if left > 0:
            troops[unit] = left
        else:
            troops.pop(unit, None)


def carry(troops: Troops) -> int:
    return sum(UNITS[u].carry * n for u, n in troops.items())


def loot(available: list[float], capacity: float) -> list[float]:
    """Whole units of each resource, in proportion to what the target holds."""
    held = sum(available)
    if held <= 0 or capacity <= 0:
        return [0.0] * 4
    share = min(1.0, capacity / held)
    return [float(int(amount * share)) for amount in available]
