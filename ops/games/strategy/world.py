"""The game's records and the map they sit on.

Resources are kept lazily: a village stores its stock as of `stamp` and its net rates,
so its stock at any time is one clamped line (`amounts_at`), and advancing the clock
costs nothing per village; only events (a finished building, an arrival, crop running
out) touch a village. That is what keeps a season of hundreds of villages cheap.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ops.games.strategy import rules
from ops.games.strategy.rules import BUILDINGS, CROP, MAX_LEVEL, UNITS

Troops = dict[str, int]
REPORTS_KEPT = 200  # per player; older reports are dropped
MESSAGES_KEPT = 200  # per recipient


@dataclass(slots=True)
class Construction:
    building: str
    level: int  # the level it will reach
    finishes_at: float


@dataclass(slots=True)
class Batch:
    """Units of one type trained one after another from `started_at`."""

    unit: str
    count: int
    per_unit_s: float
    started_at: float
    collected: int = 0  # already moved to the village's home troops

    @property
    def finishes_at(self) -> float:
        return self.started_at + self.count * self.per_unit_s

    def done_at(self, t: float) -> int:
        if t >= self.finishes_at:
            return self.count
        done = math.floor((t - self.started_at) / self.per_unit_s + 1e-9)
        return max(0, min(self.count, done))


@dataclass(slots=True)
class Village:
    id: int
    owner: int
    name: str
    x: int
    y: int
    levels: dict[str, int] = field(
        default_factory=lambda: {b: rules.START_LEVELS.get(b, 0) for b in BUILDINGS}
    )
    stock: list[float] = field(default_factory=lambda: [rules.START_STOCK] * 4)
    stamp: float = 0.0  # game time `stock` is as of
    rate: list[float] = field(default_factory=lambda: [0.0] * 4)  # net, per game hour
    cap: list[float] = field(default_factory=lambda: [0.0] * 4)
    upkeep: int = 0  # crop per hour of every unit it owns: home, training, away
    construction: Construction | None = None
    training: deque[Batch] = field(default_factory=deque)
    home: Troops = field(default_factory=dict)  # its own units at home
    stationed: dict[int, Troops] = field(default_factory=dict)  # here, from village id
    abroad: set[int] = field(default_factory=set)  # villages holding its reinforcements
    incoming: set[int] = field(default_factory=set)  # movement ids arriving here
    merchants_busy: int = 0
    starve_token: int = 0  # invalidates a scheduled starvation when rates change

    @property
    def population(self) -> int:
        return sum(self.levels.values())

    def amounts_at(self, t: float) -> list[float]:
        hours = (t - self.stamp) / 3600.0
        return [min(self.cap[i], max(0.0, self.stock[i] + self.rate[i] * hours)) for i in range(4)]

    def settle(self, t: float) -> None:
        if t != self.stamp:  # several steps of one event often settle at the same moment
            self.stock = self.amounts_at(t)
            self.stamp = t

    def add(self, amounts: list[float]) -> None:
        """Deliver resources (settled first); what is over the caps is lost."""
        for i in range(4):
            self.stock[i] = min(self.cap[i], self.stock[i] + amounts[i])

    def refresh_rates(self) -> None:
        """Production, caps and crop after upkeep, from the levels (settle first)."""
        levels, rate = self.levels, self.rate
        for building, produces in rules.FIELDS:
            rate[produces] = rules.PRODUCTION[levels[building]]
        rate[CROP] -= self.upkeep
        store = rules.CAPACITY[levels["warehouse"]]
        self.cap = [store, store, store, rules.CAPACITY[levels["granary"]]]

    def trained_at(self, t: float) -> Troops:
        """Units of the queue finished by `t` and not yet collected."""
        out: Troops = {}
        for batch in self.training:
            done = batch.done_at(t) - batch.collected
            if done > 0:
                out[batch.unit] = out.get(batch.unit, 0) + done
        return out

    def collect(self, t: float) -> None:
        """Move finished units home and drop finished batches."""
        for batch in self.training:
            done = batch.done_at(t) - batch.collected
            if done > 0:
                self.home[batch.unit] = self.home.get(batch.unit, 0) + done
                batch.collected += done
        while self.training and self.training[0].collected >= self.training[0].count:
            self.training.popleft()

    def can_upgrade(self, building: str) -> bool:
        return self.levels[building] < MAX_LEVEL


@dataclass(slots=True)
class Movement:
    id: int
    kind: str  # attack, raid, reinforce, scout, return, trade
    mission: str  # what it set out to do (a return keeps its mission)
    owner: int  # player
    origin: int  # village it belongs to
    source: int  # village it left
    target: int  # village it arrives at
    troops: Troops
    departed_at: float
    arrives_at: float
    cargo: list[float] = field(default_factory=lambda: [0.0] * 4)  # loot or trade goods
    merchants: int = 0


@dataclass(slots=True)
class Player:
    id: int
    name: str
    villages: list[int] = field(default_factory=list)
    alliance: int | None = None
    invites: dict[int, int] = field(default_factory=dict)  # alliance id -> inviter
    movements: set[int] = field(default_factory=set)  # its own, under way
    offers: set[int] = field(default_factory=set)  # its open trade offers
    reports: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPORTS_KEPT))
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MESSAGES_KEPT))


@dataclass(slots=True)
class Alliance:
    id: int
    name: str
    leader: int
    members: list[int]
    invited: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Offer:
    id: int
    owner: int
    village: int
    give: tuple[int, int]  # resource index, amount (already taken from the village)
    want: tuple[int, int]
    merchants: int  # reserved until accepted or cancelled
    created_at: float


def map_size(players: int) -> int:
    return max(8, math.ceil(math.sqrt(players * rules.VILLAGE_AREA)))


def place_villages(players: int, seed: int) -> tuple[int, list[tuple[int, int]]]:
    """Spread `players` villages over a square map, no two closer than MIN_SPACING.

    Greedy over the shuffled tiles: at one village per VILLAGE_AREA tiles each village
    blocks fewer tiles than its share, so it always finds room; the seed fixes the map.
    """
    size = map_size(players)
    tiles = [(x, y) for x in range(size) for y in range(size)]
    random.Random(seed).shuffle(tiles)
    reach = math.ceil(rules.MIN_SPACING)
    taken: set[tuple[int, int]] = set()
    chosen: list[tuple[int, int]] = []
    for x, y in tiles:
        if len(chosen) == players:
            break
        near = (
            (x + dx, y + dy) in taken
            for dx in range(-reach, reach + 1)
            for dy in range(-reach, reach + 1)
            if math.hypot(dx, dy) < rules.MIN_SPACING
        )
        if not any(near):
            taken.add((x, y))
            chosen.append((x, y))
    if len(chosen) < players:  # unreachable at the configured density; kept as a guard
        raise ValueError(f"no room for {players} villages on a {size}x{size} map")
    return size, chosen


def distance(a: Village, b: Village) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def slowest(troops: Troops) -> float:
    return min(UNITS[u].speed for u, n in troops.items() if n > 0)


def upkeep_of(troops: Troops) -> int:
    return sum(UNITS[u].upkeep * n for u, n in troops.items())
