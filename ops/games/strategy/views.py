"""What players see: one player's whole state in one read, the map, the lists.

Views change nothing (finished units are counted, not collected), so polling cannot
change how a game plays out. `version_of` hashes a state without the fields that move
with the clock alone (`game_time` and resource amounts, which a client extrapolates
from `production` and `capacity`), so a poller gets 304 until something happened.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from ops.games.strategy.rules import (
    BUILDINGS,
    MAX_LEVEL,
    RESOURCES,
    UNITS,
    train_time,
    upgrade_cost,
    upgrade_time,
)
from ops.games.strategy.state import GameState, named
from ops.games.strategy.world import Movement, Offer, Player, Troops, Village

PAGE_MAX = 100  # reports or messages in one answer
NEAR_MAX = 100  # villages in `nearby` and in a map answer before the farthest are cut
MARKET_IN_STATE = 20  # nearest open offers of others in a player's state
VOLATILE = ("game_time", "version")  # top-level state fields left out of the version


class Views(GameState):
    def world(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "game_time": self.now,
            "speed": self.speed,
            "players": len(self.players),
            "villages": len(self.villages),
            "alliances": len(self.alliances),
            "seed": self.seed,
        }

    def players_list(self, offset: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        ids = sorted(self.players)[offset : offset + limit]
        return [self._player_row(self.players[i]) for i in ids]

    def near(
        self, x: float, y: float, radius: float, *, limit: int = NEAR_MAX, skip: int = 0
    ) -> list[dict[str, Any]]:
        """Villages within `radius` of (x, y), nearest first (ties by id); `skip` an owner."""
        d = np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)
        inside = np.nonzero(d <= radius)[0]
        order = inside[np.lexsort((self.village_ids[inside], d[inside]))]
        rows = []
        for i in order:
            v = self.villages[int(self.village_ids[i])]
            if v.owner == skip:
                continue
            rows.append(self._village_row(v) | {"distance": round(float(d[i]), 3)})
            if len(rows) >= limit:
                break
        return rows

    def state_of(
        self, player: int, *, reports_after: int = 0, messages_after: int = 0, radius: float = 10
    ) -> dict[str, Any]:
        """Everything one player needs to decide, as of now, in one answer."""
        p = self.player(player)
        home = self.villages[p.villages[0]]
        reports = self.reports_of(player, after=reports_after)
        messages = self.messages_of(player, after=messages_after)
        mine = [self.movements[i] for i in sorted(p.movements)]
        incoming = sorted(
            (
                m
                for v in p.villages
                for m in map(self.movements.__getitem__, self.villages[v].incoming)
                if m.owner != player
            ),
            key=lambda m: (m.arrives_at, m.id),
        )
        market = sorted(
            (o for o in self.offers.values() if o.owner != player),
            key=lambda o: (self._offer_distance(o, home), o.id),
        )[:MARKET_IN_STATE]
        state = {
            "game_time": self.now,
            "player": self._player_row(p) | {"invites": self._invites(p)},
            "alliance": self._alliance_view(p),
            "villages": [self._village_view(self.villages[v], mine) for v in p.villages],
            "movements": {
                "outgoing": [_movement_view(m) for m in mine],
                "incoming": [_incoming_view(m) for m in incoming],
            },
            "reports": reports["reports"],
            "reports_cursor": reports["cursor"],
            "reports_more": reports["more"],
            "messages": messages["messages"],
            "messages_cursor": messages["cursor"],
            "messages_more": messages["more"],
            "trade": {
                "own": [self._offer_view(self.offers[i], home) for i in sorted(p.offers)],
                "market": [self._offer_view(o, home) for o in market],
            },
            "nearby": self.near(home.x, home.y, radius, skip=player),
        }
        state["version"] = version_of(state)
        return state

    def reports_of(self, player: int, *, after: int = 0, limit: int = PAGE_MAX) -> dict[str, Any]:
        return _page(self.player(player).reports, after, limit, "reports")

    def messages_of(self, player: int, *, after: int = 0, limit: int = PAGE_MAX) -> dict[str, Any]:
        return _page(self.player(player).messages, after, limit, "messages")

    def offers_list(self, limit: int = PAGE_MAX) -> list[dict[str, Any]]:
        return [self._offer_view(self.offers[i], None) for i in sorted(self.offers)[:limit]]

    def _player_row(self, p: Player) -> dict[str, Any]:
        return {
            "id": p.id,
            "name": p.name,
            "alliance": p.alliance,
            "population": sum(self.villages[v].population for v in p.villages),
            "villages": list(p.villages),
        }

    def _village_row(self, v: Village) -> dict[str, Any]:
        return {
            "village": v.id,
            "name": v.name,
            "player": v.owner,
            "alliance": self.players[v.owner].alliance,
            "x": v.x,
            "y": v.y,
            "population": v.population,
        }

    def _invites(self, p: Player) -> list[dict[str, Any]]:
        return [
            {"alliance": a, "name": self.alliances[a].name, "from": inviter}
            for a, inviter in sorted(p.invites.items())
            if a in self.alliances
        ]

    def _alliance_view(self, p: Player) -> dict[str, Any] | None:
        if p.alliance is None:
            return None
        a = self.alliances[p.alliance]
        return {
            "id": a.id,
            "name": a.name,
            "leader": a.leader,
            "members": list(a.members),
            "capacity": self.capacity(a),
            "invited": sorted(a.invited),
        }

    def _village_view(self, v: Village, mine: list[Movement]) -> dict[str, Any]:
        t = self.now
        home = dict(v.home)
        for unit, n in v.trained_at(t).items():
            home[unit] = home.get(unit, 0) + n
        away: Troops = {}
        for troops in [m.troops for m in mine if m.origin == v.id]:
            _merge(away, troops)
        for host in v.abroad:
            _merge(away, self.villages[host].stationed[v.id])
        mb, barracks = v.levels["main_building"], v.levels["barracks"]
        return {
            "id": v.id,
            "name": v.name,
            "x": v.x,
            "y": v.y,
            "population": v.population,
            "resources": named(v.amounts_at(t)),
            "production": named(v.rate),
            "capacity": named(v.cap),
            "crop_upkeep": v.upkeep,
            "buildings": dict(v.levels),
            "construction": None
            if v.construction is None
            else {
                "building": v.construction.building,
                "level": v.construction.level,
                "finishes_at": v.construction.finishes_at,
            },
            "upgrades": {
                b: None
                if v.levels[b] >= MAX_LEVEL
                else {
                    "level": v.levels[b] + 1,
                    "cost": named(upgrade_cost(b, v.levels[b])),
                    "time_s": round(upgrade_time(b, v.levels[b], mb), 3),
                }
                for b in BUILDINGS
            },
            "training": [
                {
                    "unit": b.unit,
                    "count": b.count - b.collected,
                    "done": b.done_at(t) - b.collected,
                    "per_unit_s": b.per_unit_s,
                    "started_at": b.started_at,
                    "finishes_at": b.finishes_at,
                }
                for b in v.training
                if b.count > b.done_at(t)
            ],
            "train_time_s": {
                u: round(train_time(u, barracks), 3) if barracks >= spec.barracks else None
                for u, spec in UNITS.items()
            },
            "troops_home": home,
            "troops_away": away,
            "reinforcements_here": [
                {"village": o, "player": self.villages[o].owner, "troops": dict(troops)}
                for o, troops in sorted(v.stationed.items())
            ],
            "reinforcements_abroad": [
                {
                    "village": h,
                    "player": self.villages[h].owner,
                    "troops": dict(self.villages[h].stationed[v.id]),
                }
                for h in sorted(v.abroad)
            ],
            "merchants": {
                "total": v.levels["marketplace"],
                "free": v.levels["marketplace"] - v.merchants_busy,
            },
        }

    def _offer_distance(self, o: Offer, home: Village) -> float:
        seller = self.villages[o.village]
        return float(np.hypot(seller.x - home.x, seller.y - home.y))

    def _offer_view(self, o: Offer, home: Village | None) -> dict[str, Any]:
        return {
            "id": o.id,
            "player": o.owner,
            "village": o.village,
            "give": {"resource": RESOURCES[o.give[0]], "amount": o.give[1]},
            "want": {"resource": RESOURCES[o.want[0]], "amount": o.want[1]},
            "created_at": o.created_at,
            "distance": None if home is None else round(self._offer_distance(o, home), 3),
        }


def _merge(into: Troops, troops: Troops) -> None:
    for unit, n in troops.items():
        into[unit] = into.get(unit, 0) + n


def _movement_view(m: Movement) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "mission": m.mission,
        "origin": m.origin,
        "from_village": m.source,
        "to_village": m.target,
        "troops": dict(m.troops),
        "cargo": named(m.cargo),
        "departed_at": m.departed_at,
        "arrives_at": m.arrives_at,
    }


def _incoming_view(m: Movement) -> dict[str, Any]:
    """Others' movements to us: hostile ones without their strength or mission."""
    hostile = m.kind in ("attack", "raid", "scout")
    return {
        "id": m.id,
        "kind": "hostile" if hostile else m.kind,
        "from_player": m.owner,
        "from_village": m.source,
        "to_village": m.target,
        "troops": None if hostile else dict(m.troops),
        "cargo": named(m.cargo),
        "arrives_at": m.arrives_at,
    }


def _page(items: Any, after: int, limit: int, name: str) -> dict[str, Any]:
    newer = [item for item in items if item["id"] > after]
    page = newer[: max(0, min(limit, PAGE_MAX))]
    return {name: page, "cursor": page[-1]["id"] if page else after, "more": len(newer) > len(page)}


def version_of(state: dict[str, Any]) -> str:
    """A hash of everything in a state except what moves with the clock alone."""
    stable = {k: v for k, v in state.items() if k not in VOLATILE}
    stable["villages"] = [
        {k: v for k, v in village.items() if k != "resources"} for village in state["villages"]
    ]
    raw = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(raw.encode(), digest_size=10).hexdigest()
