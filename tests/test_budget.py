"""Model cost per world, tier and archetype, and daily budgets that degrade to rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from rich.console import Console

from npcfarm import budget
from npcfarm.domain import Source
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import Settings
from ops.cli.status import FarmStatus, render
from ops.servers.metrics import FarmCollector
from tasks.context import WorkerContext
from tasks.decide import decide_ticks
from tasks.llm import LlmBrain
from tests.helpers import make_npc
from tests.test_llm_path import _ticks, llm_settings  # noqa: F401 (the fixture)

DAY_S = 86_400


@pytest.mark.slow
def test_a_tier_over_its_budget_is_decided_by_rules_until_the_day_turns(
    client: redis.Redis,
    keys: Keys,
    llm_settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = llm_settings.model_copy(
        update={
            "gpu_cost_per_hour": 3600.0,  # 1 per GPU-second: money equals decode seconds
            "budgets": {"w1/gold": 1e-9, "*/gold": 1e6},
            "response_cache_ttl_s": 0,
        }
    )
    monkeypatch.setattr("ops.cli.status.get_settings", lambda: s)
    monkeypatch.setattr("ops.servers.metrics.get_settings", lambda: s)
    ctx, brain = WorkerContext.build(s), LlmBrain()
    save_npcs(
        client,
        keys,
        [
            make_npc("a1", archetype="vampire", player_at=3.0),
            make_npc("b1", archetype="human", world="w2", player_at=3.0),
        ],
    )
    decide_ticks(ctx, _ticks(["a1", "b1"]), idempotent=False, brain="llm", llm=brain)
    first = budget.today(client, keys, s, now=time.time())
    assert {(r.world, r.tier) for r in first} == {("w1", "gold"), ("w2", "gold")}
    for row in first:
        assert row.requests == 1 and row.prompt_tokens > 0 and row.generated_tokens > 0
        assert row.decode_s > 0 and row.spent == pytest.approx(row.decode_s, rel=1e-3)
    w1 = next(r for r in first if r.world == "w1")
    assert w1.over and set(w1.by_archetype) == {"vampire"}

    decide_ticks(ctx, _ticks(["a1", "b1"]), idempotent=False, brain="llm", llm=brain)
    latest = {d.npc_id: d for _, d in read_results(client, keys, "w1")}
    latest |= {d.npc_id: d for _, d in read_results(client, keys, "w2")}
    assert latest["a1"].source is Source.RULES and latest["a1"].reason == "budget"
    assert latest["b1"].reason != "budget"  # w2 has its `*` budget left
    rows = {r.world: r for r in budget.today(client, keys, s, now=time.time())}
    assert rows["w1"].requests == 1 and rows["w2"].requests == 2  # w1 asked no model

    # The day turns: the budget is whole again.
    tomorrow = time.time() + DAY_S
    assert budget.over_budget(client, keys, s, [("w1", "gold")], now=tomorrow) == set()
    assert budget.over_budget(client, keys, s, [("w1", "gold")], now=time.time()) == {
        ("w1", "gold")
    }

    # Operators see it in `status`/`top` and in Prometheus.
    console = Console(width=300, record=True)
    console.print(
        render(FarmStatus(tiers=[], leader=None, ticks_version=None, costs=list(rows.values())))
    )
    shown = console.export_text()
    assert "w1/gold 1 requests" in shown and "over budget: rules" in shown
    registry = CollectorRegistry()
    registry.register(FarmCollector(client, keys))
    scraped = generate_latest(registry).decode()
    assert 'npcfarm_model_over_budget{tier="gold",world="w1"} 1.0' in scraped
    assert 'npcfarm_model_requests_today{archetype="human",tier="gold",world="w2"} 2.0' in scraped


def test_budgets_are_checked_when_the_settings_are_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gpu_cost_per_hour"):
        Settings(budgets={"*/gold": 5.0})
    with pytest.raises(ValueError, match="world/tier"):
        Settings(budgets={"gold": 5.0}, gpu_cost_per_hour=2.0)
    ok = Settings(budgets={"*/gold": 5.0, "north/silver": 1.0}, gpu_cost_per_hour=2.0)
    assert budget.limit_of(ok, "south", "gold") == 5.0
    assert budget.limit_of(ok, "north", "silver") == 1.0
    assert budget.limit_of(ok, "north", "gold") == 5.0
    assert budget.limit_of(ok, "south", "silver") is None
