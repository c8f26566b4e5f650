"""From a `strategy` decision (schema v2) to the game's order, and back to an outcome.

One decision is at most two API calls (founding an alliance, then inviting); `plan`
and `idle` are none. Troops are picked from those at home: the best attackers for a
raid or an attack, the best defenders to reinforce an ally, scouts to scout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from npcfarm.domain import GameDecision

SCOUTS_SENT = 3
PROPOSAL = "Our villages are neighbours. Join my alliance and we stand together."
NO_CALL = ("idle", "plan")


@dataclass(frozen=True, slots=True)
class Order:
    """One API call: POST `path` (under /api/players/{player}) with `body`."""

    path: str
    body: dict[str, Any]


def orders_for(
    d: GameDecision,
    player: int,
    village: Mapping[str, Any],
    rules: Mapping[str, Any],
    *,
    has_alliance: bool,
) -> list[Order] | None:
    """The calls that carry out a decision ([] for none); None when it cannot be carried
    out from this village (the outcome says so)."""
    v = int(village["id"])
    home = {u: int(n) for u, n in village["troops_home"].items() if int(n) > 0}
    units = rules["units"]
    a, p = d.action, d.params
    if a in NO_CALL:
        return []
    if a == "build":
        return [Order(f"/villages/{v}/build", {"building": p["building"]})]
    if a == "train":
        return [Order(f"/villages/{v}/train", {"unit": p["unit"], "count": p["count"]})]
    if a in ("raid", "attack", "reinforce"):
        key = "def_inf" if a == "reinforce" else "attack"
        troops = _pick(home, units, int(p["troops"]), key)
        if not troops or d.target is None:
            return None
        kind = {"raid": "raid", "attack": "attack", "reinforce": "reinforce"}[a]
        return [Order(f"/villages/{v}/send", {"to": int(d.target), "kind": kind, "troops": troops})]
    if a == "scout":
        scouts = min(home.get("scout", 0), SCOUTS_SENT)
        if not scouts or d.target is None:
            return None
        body = {"to": int(d.target), "kind": "scout", "troops": {"scout": scouts}}
        return [Order(f"/villages/{v}/send", body)]
    if a == "trade":
        give = {"resource": p["offer"], "amount": int(p["amount"])}
        want = {"resource": p["want"], "amount": int(p["amount"])}
        return [Order("/trade/offers", {"village": v, "give": give, "want": want})]
    if a == "message" and d.target is not None:
        return [Order("/messages", {"to": int(d.target), "text": str(p["text"])})]
    if a == "propose_alliance" and d.target is not None:
        invite = Order("/alliances/{alliance}/invite", {"player": int(d.target)})
        found = Order("/alliances", {"name": f"Pact of {player}"})
        letter = Order("/messages", {"to": int(d.target), "text": PROPOSAL})
        return [invite, letter] if has_alliance else [found, invite, letter]
    if a == "join_alliance" and d.target is not None:
        return [Order(f"/alliances/{int(d.target)}/accept", {})]
    return None


def _pick(
    home: Mapping[str, int], units: Mapping[str, Any], count: int, key: str
) -> dict[str, int]:
    """Up to `count` units at home, best by `key` first (no scouts)."""
    out: dict[str, int] = {}
    for unit in sorted(home, key=lambda u: -float(units[u][key])):
        if unit == "scout" or count <= 0 or float(units[unit][key]) <= 0:
            continue
        n = min(home[unit], count)
        out[unit], count = n, count - n
    return out
