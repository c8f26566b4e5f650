"""The strategy game's economy, diplomacy and trade, through its plain-Python API.

Set-up shortcuts (granting building levels or troops) change the records directly, as
a scenario would; everything under test goes through `Game`'s own orders and clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ops.games.strategy import Code, Game, Refused, rules
from ops.games.strategy.models import PlayerState
from ops.games.strategy.world import Village, upkeep_of

HOUR = 3600.0


def grant(game: Game, village: int, **levels: int) -> Village:
    """Set building levels at once (scenario set-up)."""
    v = game.villages[village]
    v.settle(game.now)
    v.levels.update(levels)
    game.refresh(v)
    return v


def stock(game: Game, village: int, amount: float) -> None:
    v = game.villages[village]
    v.settle(game.now)
    v.stock = [min(amount, cap) for cap in v.cap]


@contextmanager
def refused(code: Code) -> Iterator[None]:
    """The block is refused with exactly `code`."""
    with pytest.raises(Refused) as caught:
        yield
    assert caught.value.code is code, caught.value


def resources(game: Game, player: int) -> dict[str, float]:
    found: dict[str, float] = game.state_of(player)["villages"][0]["resources"]
    return found


def test_production_accrues_per_game_hour_up_to_the_caps() -> None:
    game = Game(players=4, seed=1)
    assert resources(game, 1) == dict.fromkeys(rules.RESOURCES, rules.START_STOCK)
    game.advance(HOUR)
    assert resources(game, 1) == dict.fromkeys(rules.RESOURCES, 780.0)  # 750 + 30/h
    game.advance(10 * HOUR)
    assert resources(game, 1) == dict.fromkeys(rules.RESOURCES, rules.CAPACITY_BASE)
    grant(game, 1, warehouse=3)  # a bigger warehouse: wood, clay, iron grow again, crop not
    game.advance(HOUR)
    after = resources(game, 1)
    assert after["wood"] == after["clay"] == after["iron"] == 830.0
    assert after["crop"] == 800.0
    assert game.state_of(1)["villages"][0]["capacity"]["wood"] == pytest.approx(800 * 1.25**3)


def test_a_finished_field_raises_production_and_population() -> None:
    game = Game(players=2, seed=1)
    order = game.build(1, 1, "woodcutter")
    assert order["cost"] == {"wood": 40.0, "clay": 100.0, "iron": 50.0, "crop": 60.0}
    assert resources(game, 1)["clay"] == 650.0  # paid up front
    game.advance(order["finishes_at"] - 1)
    village = game.state_of(1)["villages"][0]
    assert village["production"]["wood"] == 30.0 and village["construction"] is not None
    game.advance(1)
    village = game.state_of(1)["villages"][0]
    assert village["production"]["wood"] == pytest.approx(30 * 1.25)
    assert village["buildings"]["woodcutter"] == 1 and village["construction"] is None
    assert game.state_of(1)["player"]["population"] == 2


def test_cost_and_time_grow_geometrically_and_the_main_building_speeds_work() -> None:
    assert rules.upgrade_cost("warehouse", 5) == pytest.approx(
        tuple(c * 1.28**5 for c in rules.BUILDINGS["warehouse"].cost)
    )
    assert rules.upgrade_time("warehouse", 5, 0) == pytest.approx(400 * 1.16**5)
    assert rules.upgrade_time("warehouse", 5, 10) == pytest.approx(400 * 1.16**5 / 1.5)
    game = Game(players=2, seed=1)
    grant(game, 1, granary=10, warehouse=10, main_building=10, barracks=4)
    stock(game, 1, 10_000)
    order = game.build(1, 1, "barracks")
    assert order["level"] == 5
    assert order["finishes_at"] == pytest.approx(600 * 1.16**4 / 1.5)
    upgrade = game.state_of(1)["villages"][0]["upgrades"]["wall"]
    assert upgrade["cost"]["iron"] == pytest.approx(170.0)


def test_one_construction_at_a_time_and_the_refusals_say_why() -> None:
    game = Game(players=2, seed=1)
    done = game.build(1, 1, "cropland")["finishes_at"]
    with refused(Code.QUEUE_BUSY):
        game.build(1, 1, "clay_pit")
    game.advance(done)
    game.build(1, 1, "clay_pit")
    with refused(Code.UNKNOWN_BUILDING):
        game.build(1, 1, "castle")
    with refused(Code.NOT_OWNER):
        game.build(1, 2, "clay_pit")
    with refused(Code.UNKNOWN_VILLAGE):
        game.build(1, 99, "clay_pit")
    with refused(Code.UNKNOWN_PLAYER):
        game.build(99, 1, "clay_pit")
    grant(game, 2, wall=20)
    with refused(Code.BUILDING_MAX_LEVEL):
        game.build(2, 2, "wall")
    grant(game, 2, main_building=19)
    with refused(Code.STORAGE_TOO_SMALL):  # 70 * 1.28**19 wood; a level-0 warehouse holds 800
        game.build(2, 2, "main_building")
    stock(game, 2, 10)
    with refused(Code.INSUFFICIENT_RESOURCES):
        game.build(2, 2, "clay_pit")


def test_training_needs_barracks_pays_up_front_and_eats_from_the_order() -> None:
    game = Game(players=2, seed=1)
    with refused(Code.BARRACKS_REQUIRED):
        game.train(1, 1, "spearman", 1)
    grant(game, 1, barracks=1, warehouse=10, granary=10)
    with refused(Code.BARRACKS_REQUIRED):
        game.train(1, 1, "cavalry", 1)  # needs barracks 5
    with refused(Code.UNKNOWN_UNIT):
        game.train(1, 1, "dragon", 1)
    with refused(Code.BAD_REQUEST):
        game.train(1, 1, "spearman", -3)
    stock(game, 1, 5000)
    order = game.train(1, 1, "spearman", 4)
    assert order["per_unit_s"] == 600 and order["finishes_at"] == 2400
    village = game.state_of(1)["villages"][0]
    assert village["resources"]["wood"] == 5000 - 4 * 95
    assert village["crop_upkeep"] == 4 and village["production"]["crop"] == 30 - 4
    game.advance(1300)  # two finished, two to go
    village = game.state_of(1)["villages"][0]
    assert village["troops_home"] == {"spearman": 2}
    assert village["training"][0]["count"] == 4 and village["training"][0]["done"] == 2
    game.advance(1100)
    village = game.state_of(1)["villages"][0]
    assert village["troops_home"] == {"spearman": 4} and village["training"] == []
    grant(game, 1, barracks=3)
    assert game.train(1, 1, "axeman", 1)["per_unit_s"] == pytest.approx(1000 * 0.9**2)
    for _ in range(rules.TRAINING_QUEUE_MAX - 1):
        game.train(1, 1, "scout", 1)
    with refused(Code.TRAINING_QUEUE_FULL):
        game.train(1, 1, "scout", 1)


def test_starving_troops_die_until_crop_balances() -> None:
    game = Game(players=2, seed=1)
    v = game.villages[1]
    v.home = {"spearman": 40, "cavalry": 2}  # upkeep 46 against 30 crop an hour
    v.upkeep = upkeep_of(v.home)
    game.refresh(v)
    assert game.state_of(1)["villages"][0]["production"]["crop"] == -16
    hours_left = 750 / 16
    game.advance(hours_left * HOUR - 60)
    assert game.state_of(1)["villages"][0]["troops_home"] == {"spearman": 40, "cavalry": 2}
    game.advance(120)
    village = game.state_of(1)["villages"][0]
    assert village["troops_home"] == {"spearman": 30}  # cavalry (3 crop each) went first
    assert village["production"]["crop"] == 0
    state = game.state_of(1)
    PlayerState.model_validate(state)
    (report,) = state["reports"]
    assert report["kind"] == "starvation" and report["losses"] == {"cavalry": 2, "spearman": 10}


def test_the_seed_fixes_the_map_and_villages_keep_their_distance() -> None:
    a, b, c = Game(players=500, seed=3), Game(players=500, seed=3), Game(players=500, seed=4)
    spots = [(v.x, v.y) for v in a.villages.values()]
    assert spots == [(v.x, v.y) for v in b.villages.values()]
    assert spots != [(v.x, v.y) for v in c.villages.values()]
    assert a.size == math.ceil(math.sqrt(500 * rules.VILLAGE_AREA))
    assert all(0 <= x < a.size and 0 <= y < a.size for x, y in spots)
    spaced = set(spots)
    assert len(spaced) == 500
    assert all(
        (x + dx, y + dy) not in spaced
        for x, y in spots
        for dx, dy in ((0, 1), (1, 0), (1, 1), (1, -1))
    )


def test_looking_at_the_game_never_changes_how_it_plays_out() -> None:
    def season(look: bool) -> dict[str, object]:
        game = Game(players=3, seed=5)
        grant(game, 1, barracks=3, warehouse=8, granary=8)
        stock(game, 1, 5000)
        game.train(1, 1, "axeman", 3)
        for _ in range(30):
            game.advance(300)
            if look:
                game.state_of(1)
                game.state_of(2)
        game.send(1, 1, 2, "raid", {"axeman": 3})
        game.advance(20 * HOUR)
        state = game.state_of(1)
        return {k: state[k] for k in ("villages", "reports", "version")}

    assert season(look=True) == season(look=False)


def test_state_matches_the_documented_model() -> None:
    game = Game(players=5, seed=2)
    grant(game, 1, barracks=5, embassy=1, marketplace=2, warehouse=8, granary=8)
    stock(game, 1, 9000)
    game.train(1, 1, "scout", 2)
    game.build(1, 1, "wall")
    game.create_alliance(1, "Ravens")
    game.create_offer(1, 1, give="iron", give_amount=300, want="crop", want_amount=300)
    game.send_message(2, 1, "hi")
    game.advance(HOUR)
    game.send(1, 1, 2, "scout", {"scout": 2})
    game.advance(10 * HOUR)
    state = game.state_of(1)
    assert state["reports"] and state["messages"]
    PlayerState.model_validate(state)
    PlayerState.model_validate(game.state_of(2))


def test_an_hour_of_500_villages_costs_well_under_10_ms() -> None:
    """Every village finishes a construction in the hour: 500 events, no per-village
    production work (resources are lines between events)."""
    best = math.inf
    for _ in range(5):
        game = Game(players=500, seed=7)
        for p in game.players:
            game.build(p, p, "cropland")
        started = time.perf_counter()
        ran = game.advance(HOUR)
        best = min(best, time.perf_counter() - started)
        assert ran == 500
    assert best < 0.010, f"{best * 1000:.2f} ms"
