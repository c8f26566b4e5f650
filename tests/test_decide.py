"""The plain decision functions (what one message does), called directly on a real Redis."""

from __future__ import annotations

import time

import redis

from npcfarm.domain import Tick, Tier
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import latest_decision
from npcfarm.settings import Settings
from tasks.context import WorkerContext
from tasks.decide import decide_ticks, run_job
from tests.helpers import make_npc


def _tick(npc_id: str, *, expires_in: float | None = None) -> Tick:
    now = time.time()
    expires = now + expires_in if expires_in is not None else None
    return Tick(
        npc_id=npc_id, tick_id=f"t-{npc_id}", tier=Tier.SILVER, enqueued_at=now, expires_at=expires
    )


def test_a_bad_npc_never_costs_the_rest_of_the_batch(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    ctx = WorkerContext.build(settings)
    save_npcs(client, keys, [make_npc("good"), make_npc("stale")])
    # A record written under an older catalogue: a valid NPC whose archetype is gone.
    odd = make_npc("odd").model_copy(update={"archetype": "dragon"})
    client.set(keys.npc("odd"), odd.model_dump_json())
    client.set(keys.npc("garbled"), "{not json")
    ticks = [
        _tick("good"),
        _tick("odd"),
        _tick("garbled"),
        _tick("ghost"),
        _tick("stale", expires_in=-1),
    ]
    client.hset(keys.pending, mapping={t.npc_id: t.tick_id for t in ticks})
    assert decide_ticks(ctx, ticks, idempotent=False) == 1
    assert latest_decision(client, keys, "w1", "good") is not None
    counters = client.hgetall(keys.stats(Tier.SILVER))
    assert counters["unknown_archetype"] == "1"
    assert counters["unknown_npc"] == "2"  # garbled record and unknown id
    assert counters["shed_expired"] == "1"
    assert client.hlen(keys.pending) == 0  # every mark released, so every NPC ticks again


def test_jobs_are_idempotent_per_npc_and_tick(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    ctx = WorkerContext.build(settings)
    save_npcs(client, keys, [make_npc("a"), make_npc("b")])
    job = {"npc_id": "a", "tick_id": "same", "enqueued_at": time.time()}
    assert run_job(ctx, job) == 1
    assert run_job(ctx, job) == 0  # redelivered
    assert run_job(ctx, {**job, "npc_id": "b"}) == 1  # another NPC, same tick id
    assert run_job(ctx, {**job, "tier": "platinum"}) == 0  # malformed: rejected, kept
    assert client.xlen(keys.rejected_jobs) == 1


def test_moving_an_npc_to_another_world_cleans_the_old_indexes(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    ctx = WorkerContext.build(settings)
    save_npcs(client, keys, [make_npc("nomad", world="north")])
    decide_ticks(ctx, [_tick("nomad")], idempotent=False)
    assert client.hexists(keys.latest("north"), "nomad")
    save_npcs(client, keys, [make_npc("nomad", world="south")])
    assert not client.sismember(keys.world_npcs("north"), "nomad")
    assert not client.hexists(keys.latest("north"), "nomad")
    assert client.sismember(keys.world_npcs("south"), "nomad")
