"""The strategy connector against the real game over HTTP and the farm's real inbox,
ingest and decision path: AI players registered, states pushed, decisions carried
out as game orders, outcomes back in the farm's archive stream."""

from __future__ import annotations

import time

import redis

from npcfarm.archive import ArchiveEvent
from npcfarm.domain import GameDecision, Tick, Tier
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.registry import get_npc
from npcfarm.results import read_results
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from ops.bridge.strategy.connector import Connector, npc_id
from ops.games.strategy import Game
from tasks.context import WorkerContext
from tasks.decide import decide_ticks
from tests.test_strategy_http import TOKEN, serve


def test_the_connector_plays_the_game_through_the_farm(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    game = Game(players=6, seed=7)
    ingest = Ingest(client, keys, publish_job=lambda _job: None, consumer="t", claim_idle_ms=50)
    ingest.ensure_group()
    ctx = WorkerContext.build(settings)
    with serve(game) as http:
        base = str(http.base_url)
        connector = Connector(base_url=base, token=TOKEN, client=client, keys=keys, world="tv")
        npcs = connector.register(seed=3)
        ingest.run_once(block_ms=10)
        assert len(npcs) == 6 and get_npc(client, keys, npc_id(1)) is not None
        assert connector.poll(force=True) == 6  # every player's state pushed once
        ingest.run_once(block_ms=10)
        stored = get_npc(client, keys, npc_id(1))
        assert stored is not None and stored.state.game["village"] == "1"
        assert client.xlen(keys.dead_letters) == 0

        def decide_all(round_: int) -> int:
            ticks = [
                Tick(
                    npc_id=n.id,
                    tick_id=f"r{round_}-{n.id}",
                    tier=Tier.SILVER,
                    enqueued_at=time.time(),
                )
                for n in npcs
            ]
            return decide_ticks(ctx, ticks, idempotent=False)

        assert decide_all(1) == 6  # the strategic reviews
        assert connector.act(block_ms=10) == 6
        assert decide_all(2) == 6  # now their first moves: a build, given the stores
        assert connector.act(block_ms=10) == 6
        ingest.run_once(block_ms=10)
        connector.close()
    decisions = [d for _, d in read_results(client, keys, "tv")]
    assert all(isinstance(d, GameDecision) for d in decisions)
    moves = [d for d in decisions if d.tick_id.startswith("r2-")]
    assert any(d.action == "build" for d in moves)
    built = sum(v.construction is not None for v in game.villages.values())
    assert built == sum(d.action == "build" for d in moves)  # every build order landed
    outcomes = [
        e
        for e in (ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive)))
        if e.kind == "memory" and e.data.get("kind") == "outcome"
    ]
    assert {e.data["tick_id"] for e in outcomes} >= {
        d.tick_id for d in moves if d.action == "build"
    }
    assert connector.calls.per_decision <= 0.5  # two batched reads/writes for 12 decisions
