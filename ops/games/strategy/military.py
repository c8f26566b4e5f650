"""Troop movements: sending, recalling, and what happens when one arrives.

A movement keeps its id from departure until its troops are home again: an attack
that survives turns into a `return` with the same id (its `mission` says what it was),
so a connector can follow one id from order to loot.
"""

from __future__ import annotations

from typing import Any

from ops.games.strategy.battle import Battles
from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.rules import MERCHANT_SPEED, UNITS, travel_time
from ops.games.strategy.world import Movement, Troops, Village, distance, slowest

MISSIONS = ("attack", "raid", "reinforce", "scout")
MAX_UNITS = 10_000_000  # units of one type an order may name


class MilitaryOrders(Battles):
    def send(
        self, player: int, village: int, to: int, kind: str, troops: dict[str, int]
    ) -> dict[str, Any]:
        v = self.village_of(player, village)
        if kind not in MISSIONS:
            raise Refused(Code.BAD_REQUEST, f"kind must be one of {', '.join(MISSIONS)}")
        target = self.village(to)
        wanted = _troops(troops)
        if target.id == v.id:
            raise Refused(Code.OWN_VILLAGE, "troops are already in that village")
        if kind == "scout" and set(wanted) != {"scout"}:
            raise Refused(Code.SCOUTS_ONLY, "a scouting mission takes scouts only")
        if kind == "reinforce":
            if not self.allied(player, target.owner):
                raise Refused(Code.NOT_ALLIED, f"player {target.owner} is not an ally")
        elif target.owner == player:
            raise Refused(Code.OWN_VILLAGE, "that village is your own")
        elif self.allied(player, target.owner):
            raise Refused(Code.ALLIED_TARGET, f"player {target.owner} is an ally")
        v.collect(self.now)
        _take(v.home, wanted)
        movement = self._depart(kind, kind, origin=v, source=v, target=target, troops=wanted)
        return _sent(movement, distance(v, target))

    def recall(
        self, player: int, village: int, at: int, troops: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Bring reinforcements home from the village `at` (all of them by default)."""
        v = self.village_of(player, village)
        host = self.village(at)
        group = host.stationed.get(v.id)
        if not group:
            raise Refused(Code.NO_TROOPS, f"no troops of village {v.id} in village {at}")
        wanted = dict(group) if troops is None else _troops(troops)
        _take(group, wanted)
        if not group:
            del host.stationed[v.id]
            v.abroad.discard(host.id)
        movement = self._depart(
            "return", "reinforce", origin=v, source=host, target=v, troops=wanted
        )
        return _sent(movement, distance(host, v))

    def _depart(
        self,
        kind: str,
        mission: str,
        *,
        origin: Village,
        source: Village,
        target: Village,
        troops: Troops,
    ) -> Movement:
        trip = travel_time(distance(source, target), slowest(troops))
        movement = Movement(
            self.new_id("movement"),
            kind,
            mission,
            origin.owner,
            origin.id,
            source.id,
            target.id,
            troops,
            self.now,
            self.now + trip,
        )
        self.start_movement(movement)
        return movement

    def _on_arrive(self, movement_id: int, _arg: int) -> None:
        m = self.movements[movement_id]
        target = self.villages[m.target]
        if m.kind in ("attack", "raid"):
            self._battle(m, target)
        elif m.kind == "scout":
            self._scout(m, target)
        elif m.kind == "reinforce":
            self.end_movement(m)
            group = target.stationed.setdefault(m.origin, {})
            for unit, n in m.troops.items():
                group[unit] = group.get(unit, 0) + n
            self.villages[m.origin].abroad.add(target.id)
        elif m.kind == "trade":
            self.end_movement(m)
            target.settle(self.now)
            target.add(m.cargo)
            back = travel_time(distance(self.villages[m.source], target), MERCHANT_SPEED)
            self.schedule(self.now + back, "merchants", m.source, m.merchants)
        else:  # a return: troops and loot home
            self.end_movement(m)
            for unit, n in m.troops.items():
                target.home[unit] = target.home.get(unit, 0) + n
            target.settle(self.now)
            target.add(m.cargo)
            self.refresh(target)  # a starving village may now have troops to lose

    def _on_merchants(self, village: int, merchants: int) -> None:
        v = self.villages[village]
        v.merchants_busy = max(0, v.merchants_busy - merchants)


def _troops(raw: dict[str, int]) -> Troops:
    """A clean troop list (unknown units, negative or huge counts refused; zeros dropped)."""
    out: Troops = {}
    for unit, n in raw.items():
        if unit not in UNITS:
            raise Refused(Code.UNKNOWN_UNIT, f"no unit {unit!r}")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_UNITS:
            raise Refused(Code.BAD_REQUEST, f"{unit}: a count must be 0..{MAX_UNITS}")
        if n:
            out[unit] = n
    if not out:
        raise Refused(Code.NO_TROOPS, "no troops named")
    return out


def _take(pool: Troops, wanted: Troops) -> None:
    short = {u: n - pool.get(u, 0) for u, n in wanted.items() if pool.get(u, 0) < n}
    if short:
        raise Refused(Code.NO_TROOPS, f"missing {short}")
    for unit, n in wanted.items():
        pool[unit] -= n
        if pool[unit] == 0:
            del pool[unit]


def _sent(movement: Movement, tiles: float) -> dict[str, Any]:
    return {
        "movement": movement.id,
        "kind": movement.kind,
        "arrives_at": movement.arrives_at,
        "travel_s": movement.arrives_at - movement.departed_at,
        "distance": round(tiles, 3),
        "troops": dict(movement.troops),
    }
