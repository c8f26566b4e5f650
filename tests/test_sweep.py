"""The due-sweep against a real Redis: coalescing, lost ticks, shedding, batching, fencing."""

from __future__ import annotations

import time

import redis

from npcfarm.domain import TickBatch, Tier
from npcfarm.keys import Keys, queue_key
from npcfarm.registry import save_npcs
from npcfarm.results import release_ticks
from schedules.leader import LeaderLease
from schedules.placement import make_due_now, place_npcs
from schedules.sweep import DueSweep
from tests.helpers import fast_ticks, make_npc


def _setup(client: redis.Redis, keys: Keys, n: int, tier: Tier = Tier.BRONZE) -> list[str]:
    archetypes = ["human", "zombie", "vampire"]
    npcs = [make_npc(f"{tier}{i}", archetype=archetypes[i % 3], tier=tier) for i in range(n)]
    save_npcs(client, keys, npcs)
    place_npcs(client, keys, npcs, fast_ticks())
    make_due_now(client, keys, tier, [n.id for n in npcs])
    return [n.id for n in npcs]


def _leader(client: redis.Redis, keys: Keys) -> LeaderLease:
    lease = LeaderLease(client, keys.leader, ttl_s=5)
    assert lease.tick()
    return lease


def test_due_npcs_become_batches_grouped_by_archetype(client: redis.Redis, keys: Keys) -> None:
    ids = _setup(client, keys, 150)
    sent: list[TickBatch] = []
    sweep = DueSweep(client, keys, limit=10_000)
    result = sweep.sweep_tier(
        Tier.BRONZE,
        fast_ticks()[Tier.BRONZE],
        token=_leader(client, keys).token,
        publish=sent.append,
    )
    assert result.due == 150 and result.enqueued == 150
    assert sorted(npc for b in sent for npc, _ in b.ticks) == sorted(ids)
    assert all(len(b.ticks) <= 64 for b in sent)
    for batch in sent:
        archetypes = {client.hget(keys.archetype_of, npc) for npc, _ in batch.ticks}
        assert archetypes == {batch.archetype}
        assert batch.expires_at == batch.enqueued_at + 2.0
    # Every NPC now waits one interval (+/- jitter) for its next tick.
    assert client.zcount(keys.due(Tier.BRONZE), "-inf", time.time()) == 0
    assert client.zcount(keys.due(Tier.BRONZE), time.time() + 1.7, time.time() + 2.3) == 150


def test_pending_tick_coalesces_the_next(client: redis.Redis, keys: Keys) -> None:
    ids = _setup(client, keys, 10)
    sweep, token = DueSweep(client, keys, limit=100), _leader(client, keys).token
    first: list[TickBatch] = []
    sweep.sweep_tier(Tier.BRONZE, fast_ticks()[Tier.BRONZE], token=token, publish=first.append)
    make_due_now(client, keys, Tier.BRONZE, ids)
    second: list[TickBatch] = []
    res = sweep.sweep_tier(
        Tier.BRONZE, fast_ticks()[Tier.BRONZE], token=token, publish=second.append
    )
    assert res.due == 10 and res.enqueued == 0 and second == []
    assert client.hget(keys.stats(Tier.BRONZE), "coalesced") == "10"
    # Once the first ticks are done (released), the NPCs tick again.
    release_ticks(client, keys, [t for b in first for t in b.ticks])
    make_due_now(client, keys, Tier.BRONZE, ids)
    res = sweep.sweep_tier(
        Tier.BRONZE, fast_ticks()[Tier.BRONZE], token=token, publish=second.append
    )
    assert res.enqueued == 10


def test_lost_tick_is_replaced_after_pending_timeout(client: redis.Redis, keys: Keys) -> None:
    ids = _setup(client, keys, 5)
    sweep, token = DueSweep(client, keys, limit=100), _leader(client, keys).token
    ticks = fast_ticks()[Tier.BRONZE]
    sweep.sweep_tier(Tier.BRONZE, ticks, token=token, publish=lambda b: None)
    make_due_now(client, keys, Tier.BRONZE, ids)
    later = time.time() + ticks.pending_timeout_s + 1
    res = sweep.sweep_tier(Tier.BRONZE, ticks, token=token, publish=lambda b: None, now=later)
    assert res.enqueued == 5
    assert client.hget(keys.stats(Tier.BRONZE), "lost") == "5"


def test_backlog_holds_bronze_back_but_never_gold(client: redis.Redis, keys: Keys) -> None:
    config = fast_ticks()
    client.rpush(queue_key(Tier.BRONZE), *["x"] * 100)  # 100 messages x 64 > limit 1000
    client.rpush(queue_key(Tier.GOLD), *["x"] * 100)
    token = _leader(client, keys).token
    sweep = DueSweep(client, keys, limit=100)
    ids = _setup(client, keys, 20, Tier.BRONZE)
    held = sweep.sweep_tier(Tier.BRONZE, config[Tier.BRONZE], token=token, publish=lambda b: None)
    assert held.held_back and held.enqueued == 0
    assert client.zcount(keys.due(Tier.BRONZE), "-inf", time.time()) == 20  # still due
    _setup(client, keys, 20, Tier.GOLD)
    gold = sweep.sweep_tier(Tier.GOLD, config[Tier.GOLD], token=token, publish=lambda b: None)
    assert gold.enqueued == 20
    # The backlog drains: each held NPC gets one tick, the intervals it waited are missed.
    client.delete(queue_key(Tier.BRONZE))
    client.zadd(keys.due(Tier.BRONZE), dict.fromkeys(ids, time.time() - 3 * 2.0 - 0.5))
    res = sweep.sweep_tier(Tier.BRONZE, config[Tier.BRONZE], token=token, publish=lambda b: None)
    assert res.enqueued == 20
    assert client.hget(keys.stats(Tier.BRONZE), "missed") == str(20 * 3)


def test_sweep_works_through_more_than_one_chunk(client: redis.Redis, keys: Keys) -> None:
    _setup(client, keys, 250)
    sent: list[TickBatch] = []
    res = DueSweep(client, keys, limit=100).sweep_tier(
        Tier.BRONZE,
        fast_ticks()[Tier.BRONZE],
        token=_leader(client, keys).token,
        publish=sent.append,
    )
    assert res.due == 250 and res.enqueued == 250
    tick_ids = [t for b in sent for _, t in b.ticks]
    assert len(set(tick_ids)) == 250


def test_sweep_without_the_lease_enqueues_nothing(client: redis.Redis, keys: Keys) -> None:
    _setup(client, keys, 5)
    _leader(client, keys)
    sent: list[TickBatch] = []
    res = DueSweep(client, keys, limit=100).sweep_tier(
        Tier.BRONZE, fast_ticks()[Tier.BRONZE], token="stale-ex-leader", publish=sent.append
    )
    assert res.not_leader and sent == []
    assert client.hlen(keys.pending) == 0
