"""Game profiles as data: loading and checking them, a bridge's state checked against
one, and a strategy game's AI players decided through the real inbox and job path."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from models.profiles import FOLDER, get_profile, load_file
from models.profiles.values import check_params, check_state
from models.strategy import decide
from npcfarm.archive import ArchiveEvent
from npcfarm.claims import EXCLUSIVE
from npcfarm.domain import NPC, Action, GameDecision, Personality, Tick, Tier
from npcfarm.errors import ConfigError, InvalidInput
from npcfarm.events import DeadCode
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.registry import get_npc
from npcfarm.results import read_results
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from tasks.context import WorkerContext
from tasks.decide import decide_ticks

STRATEGY = get_profile("strategy")


def village(**overrides: Any) -> dict[str, Any]:
    """A strategy state as a connector sends it: a small village with one weak neighbour."""
    state: dict[str, Any] = {
        "village": "v1",
        "wood": 500.0,
        "clay": 450.0,
        "iron": 400.0,
        "crop": 600.0,
        "storage": 1000.0,
        "granary": 1000.0,
        "storage_fill": 0.6,
        "production": 240.0,
        "crop_net": 40.0,
        "population": 40,
        "attack_power": 600.0,
        "defense_power": 200.0,
        "troops_home": 20,
        "threat": 0.0,
        "raid_ratio": 6.0,
        "raid_distance": 4.0,
        "build_queue_busy": False,
        "train_queue_busy": False,
        "under_attack": False,
        "at_war": False,
        "in_talks": False,
        "message_received": False,
        "has_alliance": False,
        "ally_needs_help": False,
        "imbalance": 0.2,
        "neighbours": [
            {
                "village": "v9",
                "player": "p9",
                "distance": 4.0,
                "population": 12,
                "defense": 50.0,
                "relation": "neutral",
                "under_attack": False,
            }
        ],
        "buildings": [
            {"building": b, "level": 1, "affordable": True, "maxed": False}
            for b in ("woodcutter", "clay_pit", "iron_mine", "cropland", "warehouse", "barracks")
        ],
        "trainable": [
            {"unit": "spearman", "affordable": 10, "attack": 10.0, "defense": 35.0},
            {"unit": "axeman", "affordable": 8, "attack": 40.0, "defense": 10.0},
        ],
    }
    return state | overrides


def ai(npc_id: str, archetype: str, world: str = "travian", **traits: float) -> NPC:
    return NPC(
        id=npc_id,
        name=npc_id,
        archetype=archetype,
        world=world,
        tier=Tier.SILVER,
        personality=Personality(**traits),
    )


def test_the_rpg_profile_is_the_farm_vocabulary() -> None:
    rpg = get_profile("rpg")
    assert set(rpg.actions) == {str(a) for a in Action}
    assert {a for a, spec in rpg.actions.items() if spec.exclusive} == {str(a) for a in EXCLUSIVE}


def test_a_profile_that_is_wrong_says_where(tmp_path: Path) -> None:
    text = (FOLDER / "strategy.toml").read_text()
    for broken, why in (
        (text.replace('kind = "economy"\nbase = 0.15', 'kind = "leisure"\nbase = 0.15'), "kind"),
        (text.replace('input = "style.economic_focus"', 'input = "style.greed"'), "greed"),
        (text.replace("[actions.idle]", "[actions.loiter]"), "idle"),
    ):
        path = tmp_path / "strategy.toml"
        path.write_text(broken)
        with pytest.raises(ConfigError, match=why):
            load_file(path)


def test_a_designer_adds_an_action_in_toml_and_the_rules_take_it(tmp_path: Path) -> None:
    extra = """
[actions.festival]
kind = "economy"
description = "throw a festival: population grows"
base = 0.5
[actions.festival.params.days]
type = "int"
min = 1
max = 3
[[actions.festival.considerations]]
input = "state.storage_fill"
curve = "step"
threshold = 0.9
weight = 5.0
"""
    path = tmp_path / "strategy.toml"
    path.write_text((FOLDER / "strategy.toml").read_text() + extra)
    profile = load_file(path)
    npc = ai("a1", "builder")
    full = check_state(profile, village(storage_fill=0.95))
    # No resolver knows `festival`: the rules fill parameters only where they can, so
    # it is skipped for lack of `days`, and the next best action stands.
    (choice,) = decide(profile, [npc], [full], ["t1"], seed=1)
    assert choice.action != "festival"
    optional = path.read_text().replace("max = 3\n", "max = 3\noptional = true\n")
    path.write_text(optional)
    (choice,) = decide(load_file(path), [npc], [full], ["t1"], seed=1)
    assert choice.action == "festival" and choice.kind == "economy"
    (calm,) = decide(load_file(path), [npc], [check_state(profile, village())], ["t1"], seed=1)
    assert calm.action != "festival"  # the step curve: only when the stores are full


def test_state_and_parameters_are_checked_against_the_profile() -> None:
    ok = check_state(STRATEGY, village())
    assert ok["population"] == 40 and isinstance(ok["population"], int)
    for bad, why in (
        ({"gold": 5}, "not a field"),
        ({"wood": -1.0}, "outside"),
        ({"population": 1.5}, "whole number"),
        ({"at_war": "yes"}, "true or false"),
        ({"neighbours": [{"village": "v2", "owner": "x"}]}, "an object of"),
        ({"neighbours": [{"village": "v", "distance": 1e9}]}, "outside"),
        ({"wood": float("nan")}, "finite"),
    ):
        with pytest.raises(InvalidInput, match=why):
            check_state(STRATEGY, bad)
    assert check_params(STRATEGY, "train", {"unit": "axeman", "count": 5}) == {
        "unit": "axeman",
        "count": 5,
    }
    with pytest.raises(InvalidInput, match="outside"):
        check_params(STRATEGY, "train", {"unit": "axeman", "count": 0})
    with pytest.raises(InvalidInput, match="not one of"):
        check_params(STRATEGY, "build", {"building": "castle"})


def test_styles_play_differently_in_the_same_village() -> None:
    state = check_state(STRATEGY, village(raid_ratio=3.0))
    raider = ai("r", "raider", agreeableness=0.1, neuroticism=0.7, openness=0.8)
    builder = ai("b", "builder", agreeableness=0.8, conscientiousness=0.9)
    raid, build = decide(STRATEGY, [raider, builder], [state, state], ["t", "t"], seed=3)
    assert raid.action == "raid" and raid.target == "v9" and raid.params["troops"] == 14
    assert build.action == "build" and build.params["building"] in {
        "woodcutter",
        "clay_pit",
        "iron_mine",
        "cropland",
        "warehouse",
        "barracks",
    }
    threatened = check_state(STRATEGY, village(threat=1.5, raid_ratio=0.2))
    (defend,) = decide(STRATEGY, [builder], [threatened], ["t"], seed=3)
    assert defend.action == "train" and defend.params["unit"] == "spearman"


def _push(client: redis.Redis, keys: Keys, *events: dict[str, Any]) -> None:
    for event in events:
        client.xadd(keys.inbox, {"event": json.dumps(event)})


def test_a_strategy_world_through_the_inbox_and_the_job_path(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    ingest = Ingest(client, keys, publish_job=lambda _job: None, consumer="t", claim_idle_ms=50)
    ingest.ensure_group()
    raiders = [ai(f"ai{i}", "raider", agreeableness=0.1, neuroticism=0.8) for i in range(2)]
    _push(
        client,
        keys,
        {"type": "world_profile", "event_id": "w1", "world": "travian", "profile": "strategy"},
        {"type": "world_profile", "event_id": "w2", "world": "x", "profile": "chess"},
        *[
            {"type": "npc_register", "event_id": f"r{i}", "npc": n.model_dump(mode="json")}
            for i, n in enumerate(raiders)
        ],
    )
    ingest.run_once(block_ms=10)
    state = village()
    _push(
        client,
        keys,
        *[
            {"type": "npc_state", "event_id": f"s{i}", "npc_id": n.id, "game": state}
            for i, n in enumerate(raiders)
        ],
        {"type": "npc_state", "event_id": "bad", "npc_id": "ai0", "game": {"wood": -5.0}},
    )
    ingest.run_once(block_ms=10)
    dead = {f["reason"]: f["code"] for _, f in entries(client.xrange(keys.dead_letters))}
    assert dead == {
        "unknown game profile 'chess' (known: rpg, strategy)": DeadCode.NOT_APPLICABLE,
        "strategy: state.wood: -5.0 is outside [0, 1e+09]": DeadCode.INVALID_EVENT,
    }
    stored = get_npc(client, keys, "ai0")
    assert stored is not None and stored.state.game["population"] == 40

    ctx = WorkerContext.build(settings)
    ticks = [
        Tick(npc_id=n.id, tick_id=f"t-{n.id}", tier=Tier.SILVER, enqueued_at=time.time())
        for n in raiders
    ]
    assert decide_ticks(ctx, ticks, idempotent=False) == 2  # the strategic review first
    client.set(keys.plan("ai0"), "raid")
    client.set(keys.plan("ai1"), "raid")
    again = [t.model_copy(update={"tick_id": t.tick_id + "b"}) for t in ticks]
    assert decide_ticks(ctx, again, idempotent=False) == 2
    published = [d for _, d in read_results(client, keys, "travian")]
    assert all(isinstance(d, GameDecision) and d.version == 2 for d in published)
    reviews = [d for d in published if d.tick_id.endswith(("ai0", "ai1"))]
    assert {d.action for d in reviews} == {"plan"}
    second = {d.npc_id: d for d in published if d.tick_id.endswith("b")}
    # Both want the one weak village: the claim gives it to one, the other waits.
    assert sorted(d.action for d in second.values()) == ["idle", "raid"]
    loser = next(d for d in second.values() if d.action == "idle")
    assert isinstance(loser, GameDecision) and loser.reason == "claim_lost"

    raid = next(d for d in second.values() if d.action == "raid")
    _push(
        client,
        keys,
        {
            "type": "outcome",
            "event_id": "o1",
            "npc_id": raid.npc_id,
            "tick_id": raid.tick_id,
            "status": "done",
            "code": "victory",
            "detail": "raided v9: 380 resources carried home, 2 axemen lost",
            "values": {"loot": 380, "lost": 2},
        },
    )
    ingest.run_once(block_ms=10)
    kept = [ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive))]
    outcome = next(e for e in kept if e.id == f"{raid.npc_id}/outcome:o1")
    assert outcome.kind == "memory" and outcome.data["kind"] == "outcome"
    assert outcome.data["values"] == {"loot": 380, "lost": 2}


def test_strategy_tiers_follow_threat_and_talks_not_distance(
    client: redis.Redis, keys: Keys
) -> None:
    ingest = Ingest(client, keys, publish_job=lambda _job: None, consumer="t", claim_idle_ms=50)
    ingest.ensure_group()
    player = ai("ai7", "turtle")
    _push(
        client,
        keys,
        {"type": "world_profile", "event_id": "w", "world": "travian", "profile": "strategy"},
        {"type": "npc_register", "event_id": "r", "npc": player.model_dump(mode="json")},
    )
    ingest.run_once(block_ms=10)
    assert client.zscore(keys.due(Tier.SILVER), "ai7") is not None

    def report(n: int, **flags: bool) -> None:
        event = {"type": "npc_state", "event_id": f"s{n}", "npc_id": "ai7", "game": flags}
        _push(client, keys, event)
        ingest.run_once(block_ms=10)

    report(1, under_attack=True)  # attacked: Gold, ticked at once
    due = client.zscore(keys.due(Tier.GOLD), "ai7")
    assert due is not None and due <= time.time()
    assert client.zscore(keys.due(Tier.SILVER), "ai7") is None
    report(2, under_attack=False, message_received=True)  # a letter: Silver
    assert client.zscore(keys.due(Tier.SILVER), "ai7") is not None
    report(3, message_received=False)  # nothing going on: Bronze
    assert client.zscore(keys.due(Tier.BRONZE), "ai7") is not None
    assert client.hget(keys.tier_stats, "promotions") == "1"
    assert client.hget(keys.tier_stats, "demotions") == "2"
