"""The game: every order, every view, and a clock that only moves through `advance`.

Deterministic: the seed fixes the map, combat has no dice, and events at the same
moment run in the order they were scheduled, so the same orders at the same game
times always give the same season. Not thread-safe; the HTTP server holds a lock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from ops.games.strategy.construction import ConstructionOrders
from ops.games.strategy.diplomacy import Diplomacy
from ops.games.strategy.military import MilitaryOrders
from ops.games.strategy.trade import TradeOrders
from ops.games.strategy.training import TrainingOrders
from ops.games.strategy.views import Views

DEFAULT_SPEED = 60.0  # game seconds per real second on a live server


class Game(ConstructionOrders, TrainingOrders, MilitaryOrders, Diplomacy, TradeOrders, Views):
    def __init__(self, *, players: int, seed: int = 7, speed: float = DEFAULT_SPEED) -> None:
        super().__init__(players=players, seed=seed, speed=speed)
        self._handlers: dict[str, Callable[[int, int], None]] = {
            "built": self._on_built,
            "trained": self._on_trained,
            "starve": self._on_starve,
            "arrive": self._on_arrive,
            "merchants": self._on_merchants,
        }

    def advance(self, seconds: float) -> int:
        """Move the clock `seconds` game seconds on, running every event due on the way;
        returns how many ran. Resources need no work: they are lines between events."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        until = self.now + seconds
        ran = 0
        events = self._events
        while events and events[0][0] <= until:
            at, _tie, kind, subject, arg = heapq.heappop(events)
            self.now = max(self.now, at)
            self._handlers[kind](subject, arg)
            ran += 1
        self.now = until
        return ran

    def next_event_at(self) -> float | None:
        return self._events[0][0] if self._events else None
