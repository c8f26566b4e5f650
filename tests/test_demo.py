"""The demo game server speaks the real protocol: nothing it sends is dead-lettered."""

from __future__ import annotations

import redis
from rich.console import Console

from npcfarm.domain import Tier
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from ops.bridge.demo import DEMO_WORLD_M, demo_npcs
from ops.bridge.ingest import Ingest
from ops.bridge.simulator import Simulator
from ops.cli.top import frame
from schedules.config import parse_ticks
from schedules.placement import place_npcs
from schedules.tier_manager import TierManager
from tests.helpers import FAST_TICKS


def test_simulated_bridge_events_all_apply_and_tiers_follow(
    client: redis.Redis, keys: Keys
) -> None:
    npcs = list(demo_npcs(300, seed=1))
    save_npcs(client, keys, npcs)
    config = parse_ticks(FAST_TICKS)
    place_npcs(client, keys, npcs, config)
    ingest = Ingest(client, keys, publish_job=lambda job: None, consumer="t")
    ingest.ensure_group()
    sim = Simulator.start(client, keys, world="demo-0", size_m=DEMO_WORLD_M, players=12)
    manager = TierManager(client, keys)
    for _ in range(6):
        sim.step(0.5)
        ingest.run_once(block_ms=10)
        manager.recompute("demo-0", config, config.activation.policy())
    assert client.xlen(keys.dead_letters) == 0
    assert client.hlen(keys.players("demo-0")) == 12
    assert client.zcard(keys.due(Tier.GOLD)) > 0  # players walk among NPCs: some are Gold
    console = Console(record=True, width=160)
    console.print(frame(client, keys, None, "demo-0", "test"))
    text = console.export_text()
    assert "latest decisions in demo-0" in text and "players in demo-0 12" in text
