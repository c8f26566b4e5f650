"""Battles, raids, scouting and reinforcements in the strategy game, end to end: an
order, the trip, the fight at arrival, losses, loot, the trip home, both reports."""

from __future__ import annotations

from typing import Any

import pytest

from ops.games.strategy import Code, Game, Refused, combat, rules
from ops.games.strategy.models import ReportPage
from ops.games.strategy.world import Troops, upkeep_of
from tests.test_strategy_game import grant, refused

HOUR = 3600.0


def army(game: Game, village: int, troops: Troops) -> None:
    """Put trained troops at home (scenario set-up); their upkeep counts from now."""
    v = game.villages[village]
    v.settle(game.now)
    for unit, n in troops.items():
        v.home[unit] = v.home.get(unit, 0) + n
    v.upkeep += upkeep_of(troops)
    game.refresh(v)


def arrive(game: Game, order: dict[str, Any]) -> None:
    game.advance(order["arrives_at"] - game.now)


def last_report(game: Game, player: int) -> dict[str, Any]:
    page = game.reports_of(player)
    ReportPage.model_validate(page)  # every report has the documented shape
    reports = page["reports"]
    assert reports, f"player {player} has no report"
    found: dict[str, Any] = reports[-1]
    return found


def test_a_stronger_attacker_wins_and_both_sides_get_a_report() -> None:
    game = Game(players=2, seed=1)
    army(game, 1, {"axeman": 100})
    army(game, 2, {"spearman": 10})
    order = game.send(1, 1, 2, "attack", {"axeman": 100})
    assert game.state_of(2)["movements"]["incoming"][0]["kind"] == "hostile"
    assert game.state_of(2)["movements"]["incoming"][0]["troops"] is None
    arrive(game, order)
    report = last_report(game, 1)
    defence = rules.BASE_DEFENCE + 10 * 35
    assert report["winner"] == "attacker" and report["defence"] == pytest.approx(defence)
    assert report["attacker_losses"] == {"axeman": round(100 * (defence / 6000) ** 1.5)}
    assert report["defender_losses"] == {"spearman": 10}
    theirs = last_report(game, 2)
    assert theirs["role"] == "defender" and theirs["attacker_troops"] == {"axeman": 100}
    assert game.state_of(2)["villages"][0]["troops_home"] == {}
    assert game.state_of(2)["villages"][0]["crop_upkeep"] == 0  # the dead stop eating
    outgoing = game.state_of(1)["movements"]["outgoing"]
    assert [(m["id"], m["kind"], m["mission"]) for m in outgoing] == [
        (order["movement"], "return", "attack")
    ]


def test_a_weaker_attacker_is_wiped_out_and_learns_nothing() -> None:
    game = Game(players=2, seed=1)
    army(game, 1, {"swordsman": 5})
    army(game, 2, {"spearman": 30})
    arrive(game, game.send(1, 1, 2, "attack", {"swordsman": 5}))
    report = last_report(game, 1)
    assert report["winner"] == "defender" and report["attacker_losses"] == {"swordsman": 5}
    assert report["defender_troops"] is None and report["wall"] is None
    loss = (200 / (10 + 30 * 35)) ** 1.5
    assert last_report(game, 2)["defender_losses"] == {"spearman": round(30 * loss)}
    assert game.state_of(1)["movements"]["outgoing"] == []


def test_the_wall_turns_a_won_attack_into_a_lost_one() -> None:
    outcomes = {}
    for wall in (0, 10):
        game = Game(players=2, seed=1)
        army(game, 1, {"axeman": 20})
        army(game, 2, {"spearman": 20})
        grant(game, 2, wall=wall)
        arrive(game, game.send(1, 1, 2, "attack", {"axeman": 20}))
        outcomes[wall] = last_report(game, 2)
    assert outcomes[0]["winner"] == "attacker"
    assert outcomes[10]["winner"] == "defender"
    assert outcomes[10]["defence"] == pytest.approx((10 + 100 + 700) * 1.05**10, abs=0.01)


def test_cavalry_meets_the_spearmans_cavalry_defence() -> None:
    infantry, cavalry = combat.attack_power({"cavalry": 10})
    assert (infantry, cavalry) == (0, 1100)
    against_cav = combat.defence_power([{"spearman": 10}], 0, infantry, cavalry)
    against_inf = combat.defence_power([{"spearman": 10}], 0, 600, 0)
    assert against_cav == pytest.approx(10 + 600) and against_inf == pytest.approx(10 + 350)


def test_a_raid_loots_up_to_what_survivors_carry_and_brings_it_home() -> None:
    game = Game(players=2, seed=1)
    army(game, 1, {"axeman": 5})
    home = game.villages[1]
    home.settle(game.now)
    home.stock = [0.0] * 4
    order = game.send(1, 1, 2, "raid", {"axeman": 5})
    arrive(game, order)
    report = last_report(game, 1)
    assert report["attacker_losses"] == {}  # 300 attack against a militia of 10
    assert 5 * 50 - 4 <= sum(report["loot"].values()) <= 5 * 50  # whole units, in proportion
    assert set(report["loot"].values()) != {0}
    assert last_report(game, 2)["loot"] == report["loot"]
    returning = game.state_of(1)["movements"]["outgoing"][0]
    assert returning["cargo"] == report["loot"]
    before = game.state_of(1)["villages"][0]["resources"]
    hours = (returning["arrives_at"] - game.now) / HOUR
    game.advance(returning["arrives_at"] - game.now)
    after = game.state_of(1)["villages"][0]
    assert after["troops_home"] == {"axeman": 5}
    for name, amount in report["loot"].items():
        grown = before[name] + after["production"][name] * hours
        assert after["resources"][name] == pytest.approx(grown + amount, abs=0.01)


def test_a_raid_is_lighter_on_both_sides_than_an_attack() -> None:
    attack = combat.battle("attack", {"axeman": 10}, [{"spearman": 10}], 0)
    raid = combat.battle("raid", {"axeman": 10}, [{"spearman": 10}], 0)
    assert attack.attacker_won and raid.attacker_won
    assert attack.defender_loss == 1.0 and raid.defender_loss < 1.0
    assert raid.attacker_loss < attack.attacker_loss
    x = (600 / 360) ** rules.LOSS_EXPONENT
    assert raid.attacker_loss == pytest.approx(1 / (1 + x))
    assert raid.defender_loss == pytest.approx(x / (1 + x))


def test_allied_reinforcements_hold_a_village_and_hear_of_the_battle() -> None:
    game = Game(players=3, seed=1)
    for v in (2, 3):
        grant(game, v, embassy=1)
    alliance = game.create_alliance(2, "Shield")["alliance"]
    army(game, 3, {"spearman": 30})
    with refused(Code.NOT_ALLIED):
        game.send(3, 3, 2, "reinforce", {"spearman": 30})
    game.invite(2, alliance, 3)
    game.accept_invite(3, alliance)
    arrive(game, game.send(3, 3, 2, "reinforce", {"spearman": 30}))
    state = game.state_of(2)["villages"][0]
    assert state["reinforcements_here"] == [{"village": 3, "player": 3, "troops": {"spearman": 30}}]
    assert game.state_of(3)["villages"][0]["troops_away"] == {"spearman": 30}
    army(game, 1, {"axeman": 20})
    army(game, 2, {"spearman": 5})
    with refused(Code.ALLIED_TARGET):
        game.send(2, 2, 3, "raid", {"spearman": 1})
    arrive(game, game.send(1, 1, 2, "attack", {"axeman": 20}))
    assert last_report(game, 1)["winner"] == "defender"
    helper = last_report(game, 3)
    assert helper["role"] == "reinforcement" and helper["own_losses"]["spearman"] > 0
    order = game.recall(3, 3, 2)
    arrive(game, order)
    survivors = 30 - helper["own_losses"]["spearman"]
    assert game.state_of(3)["villages"][0]["troops_home"] == {"spearman": survivors}
    assert game.state_of(2)["villages"][0]["reinforcements_here"] == []


def test_scouts_bring_back_what_the_target_holds_unseen() -> None:
    game = Game(players=2, seed=1)
    army(game, 1, {"scout": 3})
    army(game, 2, {"spearman": 7})
    grant(game, 2, wall=2, barracks=1)
    with refused(Code.SCOUTS_ONLY):
        game.send(1, 1, 2, "scout", {"scout": 1, "spearman": 1})
    arrive(game, game.send(1, 1, 2, "scout", {"scout": 3}))
    report = last_report(game, 1)
    assert report["kind"] == "scouting" and report["attacker_losses"] == {}
    scouted = report["scouted"]
    assert scouted["troops"] == {"spearman": 7}
    assert scouted["buildings"]["wall"] == 2 and scouted["population"] == 4
    assert scouted["resources"]["wood"] > 0
    assert game.reports_of(2)["reports"] == []  # no scouts of its own: it never knew


def test_scouts_outnumbered_die_and_the_target_hears_of_it() -> None:
    game = Game(players=2, seed=1)
    army(game, 1, {"scout": 3})
    army(game, 2, {"scout": 10})
    arrive(game, game.send(1, 1, 2, "scout", {"scout": 3}))
    report = last_report(game, 1)
    assert report["winner"] == "defender" and report["scouted"] is None
    assert report["attacker_losses"] == {"scout": 3}
    assert last_report(game, 2)["role"] == "defender"
    assert game.state_of(2)["villages"][0]["troops_home"] == {"scout": 10}


def test_sending_refuses_what_the_village_does_not_have() -> None:
    game = Game(players=3, seed=1)
    army(game, 1, {"spearman": 2})
    cases: list[tuple[Code, dict[str, Any]]] = [
        (Code.NO_TROOPS, {"to": 2, "kind": "attack", "troops": {"spearman": 3}}),
        (Code.NO_TROOPS, {"to": 2, "kind": "attack", "troops": {"spearman": 0}}),
        (Code.UNKNOWN_UNIT, {"to": 2, "kind": "attack", "troops": {"tank": 1}}),
        (Code.BAD_REQUEST, {"to": 2, "kind": "attack", "troops": {"spearman": -1}}),
        (Code.BAD_REQUEST, {"to": 2, "kind": "siege", "troops": {"spearman": 1}}),
        (Code.UNKNOWN_VILLAGE, {"to": 77, "kind": "attack", "troops": {"spearman": 1}}),
        (Code.OWN_VILLAGE, {"to": 1, "kind": "reinforce", "troops": {"spearman": 1}}),
    ]
    for code, order in cases:
        with pytest.raises(Refused) as caught:
            game.send(1, 1, order["to"], order["kind"], order["troops"])
        assert caught.value.code is code, order
    assert game.villages[1].home == {"spearman": 2}
    with refused(Code.NO_TROOPS):
        game.recall(1, 1, 2)
