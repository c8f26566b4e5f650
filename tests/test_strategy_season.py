"""The strategy profile played on the reference game: translation, orders, a season,
and the `eval --profile strategy` scorecard with its thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from models.profiles import get_profile
from models.profiles.values import check_state
from models.strategy import GameChoice
from ops.bridge.strategy.play import Missions, carry_out
from ops.bridge.strategy.season import _as_decision, ai_players, plain_call, play
from ops.bridge.strategy.translate import Knowledge, profile_state
from ops.games.strategy import Game
from ops.games.strategy.rules import rules_document


def test_a_game_state_is_a_valid_profile_state_and_fits_an_inbox_entry() -> None:
    game, rules = Game(players=30, seed=3), rules_document()
    state = profile_state(game.state_of(1), rules, Knowledge(), under_attack={})
    checked = check_state(get_profile("strategy"), state)
    event = {"type": "npc_state", "event_id": "s-1", "npc_id": "ai-001", "game": checked}
    assert len(json.dumps(event, separators=(",", ":"))) < 4096  # the inbox's cap
    assert checked["village"] == "1" and checked["storage"] > 0
    assert {b["building"] for b in checked["buildings"]} >= {"woodcutter", "barracks"}


def test_orders_reach_the_game_and_refusals_come_back_as_outcomes() -> None:
    game, rules = Game(players=4, seed=3), rules_document()
    npc = ai_players(4, 3)[0]
    call, missions = plain_call(game), Missions()
    village = game.state_of(1)["villages"][0]
    build = _as_decision(npc, GameChoice("build", "economy", None, {"building": "woodcutter"}), 1)
    done = carry_out(
        call, build, player=1, village=village, rules=rules, alliance=None, missions=missions
    )
    assert done is not None and done.status == "accepted"
    again = carry_out(
        call, build, player=1, village=village, rules=rules, alliance=None, missions=missions
    )
    assert again is not None and again.status == "refused" and again.code == "queue_busy"
    raid = _as_decision(npc, GameChoice("raid", "military", "2", {"troops": 5}), 1)
    nothing = carry_out(
        call, raid, player=1, village=village, rules=rules, alliance=None, missions=missions
    )
    assert nothing is not None and nothing.code == "not_possible"  # no troops at home


def test_a_season_grows_the_economy_more_than_the_baselines() -> None:
    rules, nothing = (
        play(players=12, hours=24, brain="rules"),
        play(players=12, hours=24, brain="nothing"),
    )
    assert rules.growth > 1.3 * nothing.growth
    assert rules.invalid == 0 and rules.unreachable_raids == 0
    assert rules.actions["build"] > 0 and rules.actions["plan"] >= 12  # every player reviewed


def test_eval_strategy_prints_the_scorecard_and_passes(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "eval",
            "--profile",
            "strategy",
            "--players",
            "16",
            "--hours",
            "36",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    card = json.loads(out.read_text())
    assert all(c["ok"] for c in card["checks"])
    assert set(card["seasons"]) == {"nothing", "random", "rules"}
