"""What every part of the game shares: the records, the event queue, the lookups.

The order mixins (construction, training, military, diplomacy, trade) and the views
all read and change this one state; each lives in its own module so one concept stays
in one file. Lookups refuse unknown ids with their code, so an order never has to.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.rules import CROP, MEMBERS_PER_EMBASSY_LEVEL, RESOURCES, Amounts
from ops.games.strategy.world import (
    Alliance,
    Movement,
    Offer,
    Player,
    Village,
    place_villages,
)

Event = tuple[float, int, str, int, int]  # time, tie-break, kind, subject id, argument


class GameState:
    def __init__(self, *, players: int, seed: int, speed: float) -> None:
        if players < 1:
            raise ValueError("a game needs at least one player")
        self.seed, self.speed = seed, speed
        self.size, spots = place_villages(players, seed)
        self.now = 0.0  # game seconds since the start
        self.players: dict[int, Player] = {}
        self.villages: dict[int, Village] = {}
        self.movements: dict[int, Movement] = {}
        self.alliances: dict[int, Alliance] = {}
        self.offers: dict[int, Offer] = {}
        self._events: list[Event] = []
        self._tie = itertools.count()
        self._ids: dict[str, Iterator[int]] = {}
        for i, (x, y) in enumerate(spots, start=1):
            self.players[i] = Player(i, f"player-{i}", villages=[i])
            village = Village(i, i, f"village-{i}", x, y)
            village.refresh_rates()
            self.villages[i] = village
        self.xy: npt.NDArray[np.float64] = np.array(spots, dtype=np.float64)
        self.village_ids: npt.NDArray[np.int64] = np.arange(1, players + 1, dtype=np.int64)

    def new_id(self, kind: str) -> int:
        return next(self._ids.setdefault(kind, itertools.count(1)))

    def schedule(self, at: float, kind: str, subject: int, arg: int = 0) -> None:
        heapq.heappush(self._events, (at, next(self._tie), kind, subject, arg))

    def player(self, player: int) -> Player:
        found = self.players.get(player)
        if found is None:
            raise Refused(Code.UNKNOWN_PLAYER, f"no player {player}")
        return found

    def village(self, village: int) -> Village:
        found = self.villages.get(village)
        if found is None:
            raise Refused(Code.UNKNOWN_VILLAGE, f"no village {village}")
        return found

    def village_of(self, player: int, village: int) -> Village:
        """The acting player's own village, or the refusal saying why not."""
        self.player(player)
        found = self.village(village)
        if found.owner != player:
            raise Refused(Code.NOT_OWNER, f"village {village} belongs to player {found.owner}")
        return found

    def allied(self, a: int, b: int) -> bool:
        if a == b:
            return True
        alliance = self.players[a].alliance
        return alliance is not None and alliance == self.players[b].alliance

    def embassy(self, player: Player) -> int:
        return max(self.villages[v].levels["embassy"] for v in player.villages)

    def capacity(self, alliance: Alliance) -> int:
        """Members an alliance may have, from its leader's embassy."""
        return MEMBERS_PER_EMBASSY_LEVEL * max(1, self.embassy(self.players[alliance.leader]))

    def refresh(self, village: Village, *, settled: bool = False) -> None:
        """Settle, recompute rates, and (re)schedule the moment crop runs out."""
        if not settled:
            village.settle(self.now)
        village.refresh_rates()
        village.starve_token += 1
        if village.rate[CROP] < 0:
            hours = village.stock[CROP] / -village.rate[CROP]
            self.schedule(self.now + hours * 3600.0, "starve", village.id, village.starve_token)

    def pay(self, village: Village, cost: Amounts) -> None:
        """Take `cost` from the village as of now, or refuse with what is missing."""
        village.settle(self.now)
        too_big = [RESOURCES[i] for i in range(4) if cost[i] > village.cap[i]]
        if too_big:
            raise Refused(
                Code.STORAGE_TOO_SMALL,
                f"the cost in {', '.join(too_big)} is over the village's storage",
            )
        short = {RESOURCES[i]: round(cost[i] - village.stock[i], 1) for i in range(4)}
        short = {name: gap for name, gap in short.items() if gap > 0}
        if short:
            raise Refused(Code.INSUFFICIENT_RESOURCES, f"missing {short}")
        for i in range(4):
            village.stock[i] -= cost[i]

    def report(self, player: int, body: dict[str, Any]) -> None:
        entry = {"id": self.new_id("report"), "time": self.now, **body}
        self.players[player].reports.append(entry)

    def end_movement(self, movement: Movement) -> None:
        self.movements.pop(movement.id, None)
        self.players[movement.owner].movements.discard(movement.id)
        self.villages[movement.target].incoming.discard(movement.id)

    def start_movement(self, movement: Movement) -> None:
        self.movements[movement.id] = movement
        self.players[movement.owner].movements.add(movement.id)
        self.villages[movement.target].incoming.add(movement.id)
        self.schedule(movement.arrives_at, "arrive", movement.id)


def named(amounts: list[float] | Amounts, digits: int = 2) -> dict[str, float]:
    return {RESOURCES[i]: round(amounts[i], digits) for i in range(4)}
