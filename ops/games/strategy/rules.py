"""Every number of the game and the formulas that use them, in one place.

Times are game seconds, rates are per game hour, distances are tiles. The server
serves `rules_document()` at `GET /api/rules`, so a connector reads these values from
the code that applies them instead of from a page that could drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RESOURCES = ("wood", "clay", "iron", "crop")
WOOD, CLAY, IRON, CROP = range(4)
Amounts = tuple[float, float, float, float]

MAX_LEVEL = 20  # every building and field
COST_GROWTH = 1.28  # cost to go from level L to L+1: base cost * COST_GROWTH**L
TIME_GROWTH = 1.16  # time to go from level L to L+1: base time * TIME_GROWTH**L ...
MAIN_BUILDING_SPEEDUP = 0.05  # ... / (1 + MAIN_BUILDING_SPEEDUP * main_building level)
PRODUCTION_BASE = 30.0  # per game hour of one field type at level 0
PRODUCTION_GROWTH = 1.25  # production(L) = PRODUCTION_BASE * PRODUCTION_GROWTH**L
CAPACITY_BASE = 800.0  # warehouse (wood, clay, iron) and granary (crop) at level 0
CAPACITY_GROWTH = 1.25  # capacity(L) = CAPACITY_BASE * CAPACITY_GROWTH**L
START_STOCK = 750.0  # of each resource in a new village
START_LEVELS = {"main_building": 1}  # everything else starts at level 0
BARRACKS_SPEEDUP = 0.9  # training time = base * BARRACKS_SPEEDUP**(barracks level - 1)
TRAINING_QUEUE_MAX = 5  # batches waiting or in training per village
BASE_DEFENCE = 10.0  # a village's own militia, before the wall
WALL_FLAT = 10.0  # defence each wall level adds before the multiplier
WALL_FACTOR = 1.05  # defence multiplier per wall level
LOSS_EXPONENT = 1.5  # Travian's power law: losses = (weaker / stronger) ** LOSS_EXPONENT
SCOUT_ATTACK = 35.0  # scouting power of one attacking scout
SCOUT_DEFENCE = 20.0  # counter-scouting power of one defending scout (times the wall)
MERCHANT_CARRY = 500  # resources one merchant carries
MERCHANT_SPEED = 16.0  # tiles per game hour
MERCHANTS_PER_LEVEL = 1  # merchants = marketplace level
TRADE_RATIO_MAX = 2.0  # an offer's want/give (and give/want) is at most this
OFFERS_PER_PLAYER_MAX = 10  # open trade offers per player
MEMBERS_PER_EMBASSY_LEVEL = 3  # alliance capacity = this * the leader's embassy level
VILLAGE_AREA = 16  # map tiles per player: size = ceil(sqrt(players * VILLAGE_AREA))
MIN_SPACING = 2.0  # no two villages closer than this


@dataclass(frozen=True, slots=True)
class Building:
    name: str
    cost: Amounts  # to reach level 1; then times COST_GROWTH per level
    time_s: float  # to reach level 1 at main building 0; then times TIME_GROWTH per level
    produces: int | None = None  # the resource index of a field
    why: str = ""


BUILDINGS: dict[str, Building] = {
    b.name: b
    for b in (
        Building("woodcutter", (40, 100, 50, 60), 260, WOOD, "produces wood"),
        Building("clay_pit", (80, 40, 80, 50), 220, CLAY, "produces clay"),
        Building("iron_mine", (100, 80, 30, 60), 450, IRON, "produces iron"),
        Building("cropland", (70, 90, 70, 20), 150, CROP, "produces crop"),
        Building("main_building", (70, 40, 60, 20), 300, None, "speeds construction"),
        Building("warehouse", (130, 160, 90, 40), 400, None, "caps wood, clay, iron"),
        Building("granary", (80, 100, 70, 20), 350, None, "caps crop"),
        Building("barracks", (210, 140, 260, 120), 600, None, "unlocks and speeds training"),
        Building("wall", (70, 90, 170, 70), 500, None, "defence bonus"),
        Building("marketplace", (80, 70, 120, 70), 500, None, "one merchant per level"),
        Building("embassy", (180, 130, 150, 80), 600, None, "alliances; 3 members a level"),
    )
}


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    attack: float
    def_inf: float  # defence against infantry attack
    def_cav: float  # defence against cavalry attack
    speed: float  # tiles per game hour
    carry: int  # loot one unit carries home
    cost: Amounts
    upkeep: int  # crop per game hour, from the moment it is ordered
    time_s: float  # training time of one unit at barracks level 1
    barracks: int  # barracks level needed to train it
    cavalry: bool = False


UNITS: dict[str, Unit] = {
    u.name: u
    for u in (
        Unit("spearman", 10, 35, 60, 7, 40, (95, 75, 40, 40), 1, 600, 1),
        Unit("swordsman", 40, 35, 50, 6, 50, (120, 100, 150, 30), 1, 900, 2),
        Unit("axeman", 60, 30, 30, 6, 50, (130, 120, 170, 70), 1, 1000, 3),
        Unit("scout", 0, 10, 5, 9, 0, (160, 100, 50, 50), 1, 700, 1),
        Unit("cavalry", 110, 50, 70, 14, 100, (370, 270, 290, 75), 3, 1800, 5, cavalry=True),
    )
}


FIELDS = tuple((b.name, b.produces) for b in BUILDINGS.values() if b.produces is not None)
PRODUCTION = tuple(PRODUCTION_BASE * PRODUCTION_GROWTH**level for level in range(MAX_LEVEL + 1))
CAPACITY = tuple(CAPACITY_BASE * CAPACITY_GROWTH**level for level in range(MAX_LEVEL + 1))


def upgrade_cost(building: str, level: int) -> Amounts:
    """What going from `level` to `level + 1` costs."""
    base, factor = BUILDINGS[building].cost, COST_GROWTH**level
    return (base[0] * factor, base[1] * factor, base[2] * factor, base[3] * factor)


def upgrade_time(building: str, level: int, main_building: int) -> float:
    speedup = 1 + MAIN_BUILDING_SPEEDUP * main_building
    return BUILDINGS[building].time_s * TIME_GROWTH**level / speedup


def production(level: int) -> float:
    return PRODUCTION[level]


def capacity(level: int) -> float:
    return CAPACITY[level]


def train_time(unit: str, barracks: int) -> float:
    """One unit's training time (barracks >= the unit's requirement)."""
    return UNITS[unit].time_s * BARRACKS_SPEEDUP ** (barracks - 1)


def travel_time(distance: float, speed: float) -> float:
    return distance / speed * 3600.0


def merchants_for(amount: float) -> int:
    return math.ceil(amount / MERCHANT_CARRY)


def rules_document() -> dict[str, Any]:
    """The whole rule set as JSON: what `GET /api/rules` answers."""
    constants = {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, int | float) and not isinstance(value, bool)
    }
    return {
        "resources": list(RESOURCES),
        "constants": constants,
        "start_levels": START_LEVELS,
        "buildings": {
            b.name: {
                "cost": dict(zip(RESOURCES, b.cost, strict=True)),
                "time_s": b.time_s,
                "produces": None if b.produces is None else RESOURCES[b.produces],
                "purpose": b.why,
            }
            for b in BUILDINGS.values()
        },
        "units": {
            u.name: {
                "attack": u.attack,
                "def_inf": u.def_inf,
                "def_cav": u.def_cav,
                "speed": u.speed,
                "carry": u.carry,
                "cost": dict(zip(RESOURCES, u.cost, strict=True)),
                "upkeep": u.upkeep,
                "time_s": u.time_s,
                "barracks": u.barracks,
                "cavalry": u.cavalry,
            }
            for u in UNITS.values()
        },
        "formulas": FORMULAS,
    }


FORMULAS = {
    "upgrade_cost": "building.cost * COST_GROWTH ** level (level = current level)",
    "upgrade_time": "building.time_s * TIME_GROWTH ** level"
    " / (1 + MAIN_BUILDING_SPEEDUP * main_building)",
    "production": "per field type: PRODUCTION_BASE * PRODUCTION_GROWTH ** level per hour;"
    " crop minus the upkeep of every unit the village owns (home, training, away)",
    "capacity": "CAPACITY_BASE * CAPACITY_GROWTH ** level (warehouse: wood, clay, iron;"
    " granary: crop)",
    "train_time": "unit.time_s * BARRACKS_SPEEDUP ** (barracks - 1), one unit after another",
    "travel_time": "distance / slowest unit speed hours; distance is Euclidean in tiles",
    "attack": "A_inf, A_cav = sums of unit attack by kind; A = A_inf + A_cav",
    "defence": "D = (BASE_DEFENCE + WALL_FLAT * wall + sum(n * (def_inf * A_inf / A"
    " + def_cav * A_cav / A))) * WALL_FACTOR ** wall, over home troops and reinforcements",
    "attack_losses": "A > D: attacker loses (D/A)**LOSS_EXPONENT, defender everything;"
    " else attacker loses everything, defender (A/D)**LOSS_EXPONENT",
    "raid_losses": "x = (A/D)**LOSS_EXPONENT; attacker loses 1/(1+x), defender x/(1+x)",
    "loot": "survivors carry sum(n * carry); taken in proportion to what the target holds",
    "scouting": "P = scouts * SCOUT_ATTACK vs S = defending scouts * SCOUT_DEFENCE"
    " * WALL_FACTOR ** wall; S == 0: unseen; P > S: report, losses (S/P)**LOSS_EXPONENT;"
    " else every scout dies",
    "starvation": "crop at 0 with negative production: units die (home first, highest"
    " upkeep first, then in training, then abroad) until production is >= 0",
    "casualties": "per unit type: floor(n * loss + 0.5)",
}
