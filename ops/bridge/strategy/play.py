"""Carrying out one AI player's decision against the game, and what came of it.

Shared by the connector (the game over HTTP, decisions from the farm) and the season
simulation (the game in process, the same brain called directly), so both play by
the same rules: an order refused by the game is an outcome with its code, never an
error, and a raid's or a scout's report comes back as the outcome of the decision
that sent it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from npcfarm.domain import GameDecision
from ops.bridge.strategy.orders import Order, orders_for


class Refusal(Exception):
    """The game refused an order: its stable code and its reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


Call = Callable[[int, Order], dict[str, Any]]  # (player, order) -> the game's answer


@dataclass(frozen=True, slots=True)
class Outcome:
    tick_id: str
    status: str  # accepted, refused, done
    code: str | None = None
    detail: str | None = None
    values: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Missions:
    """Movements on their way, by (target village, mission): their decisions' tick ids."""

    waiting: dict[tuple[int, str], deque[str]] = field(default_factory=lambda: defaultdict(deque))

    def sent(self, target: int, mission: str, tick_id: str) -> None:
        self.waiting[(target, mission)].append(tick_id)

    def reported(self, report: Mapping[str, Any]) -> Outcome | None:
        """The outcome a report of ours brings (a battle or a scouting we started)."""
        if report.get("role") != "attacker":
            return None
        key = (int(report["defender"]["village"]), str(report["mission"]))
        queue = self.waiting.get(key)
        if not queue:
            return None
        tick = queue.popleft()
        loot = sum(float(x) for x in (report.get("loot") or {}).values())
        lost = sum(int(n) for n in (report.get("attacker_losses") or {}).values())
        won = report.get("winner") == "attacker"
        detail = (
            f"{report['mission']} on village {key[0]}: {'won' if won else 'lost'}, "
            f"{loot:.0f} resources carried, {lost} troops lost"
        )
        code = "victory" if won else "defeat"
        return Outcome(tick, "done", code, detail, {"loot": round(loot, 1), "lost": lost})


def carry_out(
    call: Call,
    d: GameDecision,
    *,
    player: int,
    village: Mapping[str, Any],
    rules: Mapping[str, Any],
    alliance: int | None,
    missions: Missions,
) -> Outcome | None:
    """Do what the decision says; its immediate outcome (None for idle)."""
    if d.action == "idle":
        return None
    orders = orders_for(d, player, village, rules, has_alliance=alliance is not None)
    if orders is None:
        return Outcome(d.tick_id, "refused", "not_possible", f"{d.action}: nothing to send")
    answer: dict[str, Any] = {}
    for planned in orders:
        path = planned.path.replace("{alliance}", str(answer.get("alliance", alliance)))
        try:
            answer = call(player, Order(path, planned.body))
        except Refusal as exc:
            return Outcome(d.tick_id, "refused", exc.code, exc.reason[:400])
    if d.action in ("raid", "attack", "scout") and d.target is not None:
        missions.sent(int(d.target), d.action, d.tick_id)
    values = {k: float(v) for k, v in answer.items() if isinstance(v, int | float)}
    return Outcome(d.tick_id, "accepted", None, None, dict(list(values.items())[:16]))
