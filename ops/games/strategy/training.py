"""Training and upkeep: batches in a queue, units home as they finish, starvation.

A unit eats from the moment it is ordered, so crop production only changes at orders,
losses and arrivals, never while a batch runs; that keeps resources a straight line
between events. Finished units are collected lazily (views count them without
changing anything), so looking at the game never changes how it plays out.
"""

from __future__ import annotations

import math
from typing import Any

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.rules import CROP, TRAINING_QUEUE_MAX, UNITS, train_time
from ops.games.strategy.state import GameState, named
from ops.games.strategy.world import Batch, Troops, Village, upkeep_of

MAX_BATCH = 100_000  # units one training order may ask for


class TrainingOrders(GameState):
    def train(self, player: int, village: int, unit: str, count: int) -> dict[str, Any]:
        v = self.village_of(player, village)
        spec = UNITS.get(unit)
        if spec is None:
            raise Refused(Code.UNKNOWN_UNIT, f"no unit {unit!r}")
        if not 1 <= count <= MAX_BATCH:
            raise Refused(Code.BAD_REQUEST, f"count must be 1..{MAX_BATCH}")
        barracks = v.levels["barracks"]
        if barracks < spec.barracks:
            raise Refused(
                Code.BARRACKS_REQUIRED,
                f"{unit} needs barracks level {spec.barracks} (the village has {barracks})",
            )
        v.collect(self.now)
        if len(v.training) >= TRAINING_QUEUE_MAX:
            raise Refused(Code.TRAINING_QUEUE_FULL, f"{TRAINING_QUEUE_MAX} batches queued")
        cost = (
            spec.cost[0] * count,
            spec.cost[1] * count,
            spec.cost[2] * count,
            spec.cost[3] * count,
        )
        self.pay(v, cost)
        start = max(self.now, v.training[-1].finishes_at) if v.training else self.now
        batch = Batch(unit, count, train_time(unit, barracks), start)
        v.training.append(batch)
        v.upkeep += spec.upkeep * count
        self.refresh(v)
        self.schedule(batch.finishes_at, "trained", v.id)
        return {
            "unit": unit,
            "count": count,
            "per_unit_s": batch.per_unit_s,
            "starts_at": start,
            "finishes_at": batch.finishes_at,
            "cost": named(cost),
        }

    def _on_trained(self, village: int, _arg: int) -> None:
        self.villages[village].collect(self.now)

    def _on_starve(self, village: int, token: int) -> None:
        v = self.villages[village]
        if token != v.starve_token:
            return  # rates changed since this was scheduled
        v.settle(self.now)
        if v.rate[CROP] >= 0:
            return
        if v.stock[CROP] > 1e-6:  # float residue: not empty yet, look again when it is
            self.refresh(v, settled=True)
            return
        v.collect(self.now)
        deficit, killed = -v.rate[CROP], Troops()
        deficit = _starve(v.home, deficit, killed)
        deficit = self._starve_training(v, deficit, killed)
        for host in sorted(v.abroad):
            group = self.villages[host].stationed[v.id]
            deficit = _starve(group, deficit, killed)
            if not group:
                del self.villages[host].stationed[v.id]
                v.abroad.discard(host)
        if not killed:
            return  # everything left is on the move; a return settles it again
        v.upkeep -= upkeep_of(killed)
        self.refresh(v)
        self.report(
            v.owner,
            {
                "kind": "starvation",
                "role": "owner",
                "village": v.id,
                "losses": killed,
                "loot": named([0.0] * 4),
            },
        )

    def _starve_training(self, v: Village, deficit: float, killed: Troops) -> float:
        for batch in reversed(v.training):
            if deficit <= 0:
                break
            waiting = batch.count - batch.collected
            dead = min(waiting, math.ceil(deficit / UNITS[batch.unit].upkeep))
            batch.count -= dead
            deficit -= dead * UNITS[batch.unit].upkeep
            if dead:
                killed[batch.unit] = killed.get(batch.unit, 0) + dead
        v.training = type(v.training)(b for b in v.training if b.count > b.collected)
        return deficit


def _starve(troops: Troops, deficit: float, killed: Troops) -> float:
    """Kill the fewest units, hungriest first, to cover `deficit` crop per hour."""
    for unit in sorted(troops, key=lambda u: (-UNITS[u].upkeep, u)):
        if deficit <= 0:
            break
        upkeep = UNITS[unit].upkeep
        dead = min(troops[unit], math.ceil(deficit / upkeep))
        troops[unit] -= dead
        deficit -= dead * upkeep
        if dead:
            killed[unit] = killed.get(unit, 0) + dead
        if troops[unit] == 0:
            del troops[unit]
    return deficit
