"""Small builders shared by tests (real objects, no stand-ins)."""

from __future__ import annotations

import time
from pathlib import Path

from npcfarm.domain import NPC, Decision, Nearby, NPCState, Personality, Source, Tier, Timings
from schedules.config import TicksConfig, parse_ticks

FAST_TICKS = """
[tiers.gold]
interval_s = 0.5
jitter_s = 0.05
expiry_s = 0
pending_timeout_s = 5.0
batch_size = 16
backlog_limit = 0
brain = "rules"

[tiers.silver]
interval_s = 1.0
jitter_s = 0.1
expiry_s = 1.0
pending_timeout_s = 5.0
batch_size = 32
backlog_limit = 1000
brain = "rules"

[tiers.bronze]
interval_s = 2.0
jitter_s = 0.2
expiry_s = 2.0
pending_timeout_s = 5.0
batch_size = 64
backlog_limit = 1000
brain = "rules"
"""


def fast_ticks() -> TicksConfig:
    return parse_ticks(FAST_TICKS)


def write_fast_ticks(directory: Path) -> Path:
    path = directory / "ticks.toml"
    path.write_text(FAST_TICKS)
    return path


def make_npc(
    npc_id: str,
    *,
    archetype: str = "human",
    tier: Tier = Tier.BRONZE,
    world: str = "w1",
    player_at: float | None = None,
) -> NPC:
    players = [Nearby(id="player-1", distance=player_at)] if player_at is not None else []
    return NPC(
        id=npc_id,
        name=npc_id.title(),
        archetype=archetype,
        world=world,
        tier=tier,
        personality=Personality(extraversion=0.8, agreeableness=0.7),
        state=NPCState(nearby_players=players),
    )


def make_decision(
    npc_id: str, tick_id: str, *, world: str = "w1", tier: Tier = Tier.GOLD
) -> Decision:
    now = time.time() * 1000
    return Decision(
        npc_id=npc_id,
        world=world,
        tick_id=tick_id,
        tier=tier,
        action="idle",
        source=Source.RULES,
        timings=Timings(
            enqueued_at=now - 5,
            started_at=now - 3,
            decided_at=now - 1,
            published_at=now,
            queue_ms=2,
            decide_ms=2,
            latency_ms=5,
        ),
    )
