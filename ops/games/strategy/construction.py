"""Construction: one upgrade at a time per village, paid up front, done at an event."""

from __future__ import annotations

from typing import Any

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.rules import BUILDINGS, MAX_LEVEL, upgrade_cost, upgrade_time
from ops.games.strategy.state import GameState, named
from ops.games.strategy.world import Construction


class ConstructionOrders(GameState):
    def build(self, player: int, village: int, building: str) -> dict[str, Any]:
        """Start upgrading `building` one level; refused while another upgrade runs."""
        v = self.village_of(player, village)
        if building not in BUILDINGS:
            raise Refused(Code.UNKNOWN_BUILDING, f"no building {building!r}")
        level = v.levels[building]
        if level >= MAX_LEVEL:
            raise Refused(Code.BUILDING_MAX_LEVEL, f"{building} is at level {MAX_LEVEL}")
        if v.construction is not None:
            busy = v.construction
            raise Refused(
                Code.QUEUE_BUSY,
                f"{busy.building} to level {busy.level} finishes at {busy.finishes_at:.0f}",
            )
        cost = upgrade_cost(building, level)
        self.pay(v, cost)
        finishes = self.now + upgrade_time(building, level, v.levels["main_building"])
        v.construction = Construction(building, level + 1, finishes)
        self.schedule(finishes, "built", v.id)
        return {
            "building": building,
            "level": level + 1,
            "finishes_at": finishes,
            "cost": named(cost),
        }

    def _on_built(self, village: int, _arg: int) -> None:
        v = self.villages[village]
        done = v.construction
        if done is None:
            return
        v.construction = None
        v.settle(self.now)  # production up to now at the old level and caps
        v.levels[done.building] = done.level
        self.refresh(v, settled=True)
