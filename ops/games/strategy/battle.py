"""A hostile movement's arrival: the fight or the scouting, losses, loot, reports.

Every side gets a report: the attacker, the defender, and each player whose
reinforcements stood in the village. An attacker whose army dies learns nothing about
the defence; a scouted player hears of it only if it had scouts of its own.
"""

from __future__ import annotations

from typing import Any

from ops.games.strategy import combat
from ops.games.strategy.rules import travel_time
from ops.games.strategy.state import GameState, named
from ops.games.strategy.world import Movement, Troops, Village, distance, slowest, upkeep_of


class Battles(GameState):
    def _battle(self, m: Movement, target: Village) -> None:
        target.settle(self.now)
        target.collect(self.now)
        groups: list[tuple[Village, Troops]] = [(target, target.home)]
        groups += [(self.villages[o], t) for o, t in sorted(target.stationed.items())]
        defending = _total([t for _, t in groups])
        wall = target.levels["wall"]
        outcome = combat.battle(m.kind, m.troops, [t for _, t in groups], wall)
        sent = dict(m.troops)
        lost = combat.casualties(m.troops, outcome.attacker_loss)
        combat.remove(m.troops, lost)
        self._bury(self.villages[m.origin], lost)
        group_losses: dict[int, Troops] = {}
        for owner_village, troops in groups:
            dead = combat.casualties(troops, outcome.defender_loss)
            combat.remove(troops, dead)
            group_losses[owner_village.id] = dead
            self._bury(owner_village, dead)
        for origin in [o for o, t in target.stationed.items() if not t]:
            del target.stationed[origin]
            self.villages[origin].abroad.discard(target.id)
        taken = [0.0] * 4
        if m.troops:
            taken = combat.loot(target.stock, combat.carry(m.troops))
            target.stock = [target.stock[i] - taken[i] for i in range(4)]
        common = {
            "kind": "battle",
            "mission": m.kind,
            "winner": "attacker" if outcome.attacker_won else "defender",
            "attacker": {"player": m.owner, "village": m.origin},
            "defender": {"player": target.owner, "village": target.id},
            "attacker_troops": sent,
            "attacker_losses": lost,
            "loot": named(taken),
        }
        seen = bool(m.troops)  # only survivors bring news of the defence home
        self.report(
            m.owner,
            common
            | {
                "role": "attacker",
                "attack": round(outcome.attack, 2),
                "defence": round(outcome.defence, 2) if seen else None,
                "defender_troops": defending if seen else None,
                "defender_losses": _total(list(group_losses.values())) if seen else None,
                "wall": wall if seen else None,
            },
        )
        defence = common | {
            "attack": round(outcome.attack, 2),
            "defence": round(outcome.defence, 2),
            "defender_troops": defending,
            "defender_losses": _total(list(group_losses.values())),
            "wall": wall,
        }
        self.report(target.owner, defence | {"role": "defender"})
        for owner_village, _ in groups[1:]:
            own = group_losses[owner_village.id]
            self.report(owner_village.owner, defence | {"role": "reinforcement", "own_losses": own})
        self._after_fight(m, target, taken)

    def _scout(self, m: Movement, target: Village) -> None:
        target.settle(self.now)
        target.collect(self.now)
        wall = target.levels["wall"]
        theirs = target.home.get("scout", 0) + sum(
            t.get("scout", 0) for t in target.stationed.values()
        )
        outcome = combat.scouting(m.troops.get("scout", 0), theirs, wall)
        sent = dict(m.troops)
        lost = combat.casualties(m.troops, outcome.attacker_loss)
        combat.remove(m.troops, lost)
        self._bury(self.villages[m.origin], lost)
        common: dict[str, Any] = {
            "kind": "scouting",
            "mission": "scout",
            "winner": "attacker" if outcome.attacker_won else "defender",
            "attacker": {"player": m.owner, "village": m.origin},
            "defender": {"player": target.owner, "village": target.id},
            "attacker_troops": sent,
            "attacker_losses": lost,
            "loot": named([0.0] * 4),
        }
        scouted = None
        if outcome.attacker_won:
            scouted = {
                "resources": named(target.stock, 0),
                "troops": _total([target.home, *target.stationed.values()]),
                "buildings": dict(target.levels),
                "population": target.population,
            }
        self.report(m.owner, common | {"role": "attacker", "scouted": scouted})
        if theirs:
            self.report(target.owner, common | {"role": "defender", "wall": wall})
        self._after_fight(m, target, [0.0] * 4)

    def _after_fight(self, m: Movement, target: Village, cargo: list[float]) -> None:
        """Survivors turn round with what they carry; an empty army's movement ends."""
        self.end_movement(m)
        if not m.troops:
            return
        home = self.villages[m.origin]
        trip = travel_time(distance(target, home), slowest(m.troops))
        m.kind, m.source, m.target, m.cargo = "return", target.id, home.id, cargo
        m.departed_at, m.arrives_at = self.now, self.now + trip
        self.start_movement(m)

    def _bury(self, owner: Village, dead: Troops) -> None:
        """The dead stop eating: the owning village's crop rate changes now."""
        if dead:
            owner.upkeep -= upkeep_of(dead)
            self.refresh(owner)


def _total(groups: list[Troops]) -> Troops:
    out: Troops = {}
    for group in groups:
        for unit, n in group.items():
            out[unit] = out.get(unit, 0) + n
    return out
