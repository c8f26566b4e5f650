"""Real Celery workers (subprocesses) over the real broker: priority, jobs, end to end."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis

from npcfarm.domain import Job, TickBatch, Tier
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.registry import save_npcs
from npcfarm.results import latest_decision, read_results
from npcfarm.settings import Settings
from schedules.placement import place_npcs
from schedules.scheduler import Scheduler
from tests.conftest import WorkerFactory, wait_for
from tests.helpers import fast_ticks, make_npc, write_fast_ticks
from workers.app import app
from workers.dispatch import batch_publisher, publish_job

pytestmark = pytest.mark.slow


def _bronze_backlog(client: redis.Redis, keys: Keys, messages: int, per: int) -> list[str]:
    npcs = [make_npc(f"b{i}") for i in range(messages * per)]
    save_npcs(client, keys, npcs)
    publish = batch_publisher(app)
    for m in range(messages):
        chunk = npcs[m * per : (m + 1) * per]
        publish(
            TickBatch(
                tier=Tier.BRONZE,
                archetype="human",
                enqueued_at=time.time(),
                ticks=[(n.id, f"tb{n.id}") for n in chunk],
            )
        )
    return [n.id for n in npcs]


def test_gold_published_after_a_bronze_backlog_runs_next(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    _bronze_backlog(client, keys, messages=300, per=20)
    save_npcs(client, keys, [make_npc("hero", tier=Tier.GOLD, player_at=3.0)])
    start_worker(pool="solo")
    wait_for(lambda: client.xlen(keys.results("w1")) >= 40, what="bronze work to start")
    seq_before_gold = int(client.get(keys.seq) or 0)
    publish_job(app, Job(npc_id="hero", tick_id="gold-1", enqueued_at=time.time()))
    backlog_at_publish = client.llen("bronze")
    wait_for(lambda: latest_decision(client, keys, "w1", "hero") is not None, what="gold")
    gold = latest_decision(client, keys, "w1", "hero")
    assert gold is not None
    # At most the bronze message already in hand runs before it (prefetch is off).
    assert gold.seq <= seq_before_gold + 2 * 20 + 1
    assert backlog_at_publish > 50, "a bronze backlog was waiting ahead of the gold job"


def test_queue_order_is_strict_with_everything_waiting(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    _bronze_backlog(client, keys, messages=10, per=5)
    save_npcs(client, keys, [make_npc(f"s{i}", tier=Tier.SILVER) for i in range(3)])
    save_npcs(client, keys, [make_npc(f"g{i}", tier=Tier.GOLD) for i in range(3)])
    for i in range(3):  # published last, each tier
        publish_job(
            app, Job(npc_id=f"s{i}", tick_id=f"s-{i}", tier=Tier.SILVER, enqueued_at=time.time())
        )
        publish_job(app, Job(npc_id=f"g{i}", tick_id=f"g-{i}", enqueued_at=time.time()))
    start_worker(pool="solo")
    wait_for(lambda: client.xlen(keys.results("w1")) == 56, what="all decisions")
    order = [d.tier for _, d in read_results(client, keys, "w1")]
    assert order == [Tier.GOLD] * 3 + [Tier.SILVER] * 3 + [Tier.BRONZE] * 50


def test_redelivered_job_publishes_once(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    save_npcs(client, keys, [make_npc("ann", tier=Tier.GOLD)])
    job = Job(npc_id="ann", tick_id=f"j-{uuid.uuid4().hex}", enqueued_at=time.time())
    # A redelivery is the same message again (same tick id) after a worker was lost.
    publish_job(app, job)
    publish_job(app, job)
    start_worker(pool="solo")
    wait_for(lambda: client.hget(keys.stats(Tier.GOLD), "duplicates") == "1", what="dup")
    assert len(read_results(client, keys, "w1")) == 1


def test_expired_ticks_are_dropped_before_work(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    save_npcs(client, keys, [make_npc("old"), make_npc("new")])
    client.hset(keys.pending, mapping={"old": "t-old"})
    publish = batch_publisher(app)
    publish(
        TickBatch(
            tier=Tier.BRONZE,
            archetype="human",
            enqueued_at=time.time() - 60,
            expires_at=time.time() - 30,
            ticks=[("old", "t-old")],
        )
    )
    publish(
        TickBatch(
            tier=Tier.BRONZE,
            archetype="human",
            enqueued_at=time.time(),
            expires_at=time.time() + 60,
            ticks=[("new", "t-new")],
        )
    )
    start_worker(pool="solo")
    wait_for(lambda: latest_decision(client, keys, "w1", "new") is not None, what="new")
    assert latest_decision(client, keys, "w1", "old") is None
    assert client.hget(keys.stats(Tier.BRONZE), "shed_expired") == "1"
    assert client.hget(keys.pending, "old") is None  # released, so it ticks again


def test_malformed_messages_are_rejected_and_the_worker_lives(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    save_npcs(client, keys, [make_npc("ok", tier=Tier.GOLD)])
    app.send_task("npcfarm.job", args=[{"npc_id": "bad id!", "tick_id": ""}], queue="gold")
    app.send_task("npcfarm.ticks", args=["not a batch"], queue="gold")
    app.send_task("npcfarm.job", args=[], queue="gold")  # wrong arity: Celery logs it
    publish_job(app, Job(npc_id="ghost", tick_id="j-ghost", enqueued_at=time.time()))
    publish_job(app, Job(npc_id="ok", tick_id="j-ok", enqueued_at=time.time()))
    proc = start_worker(pool="solo")
    wait_for(lambda: latest_decision(client, keys, "w1", "ok") is not None, what="good job")
    reasons = [f["reason"] for _, f in entries(client.xrange(keys.rejected_jobs))]
    assert len(reasons) == 2 and any("npc_id" in r for r in reasons)
    assert client.hget(keys.stats(Tier.GOLD), "unknown_npc") == "1"
    assert proc.poll() is None


def test_scheduler_to_worker_to_bridge(
    client: redis.Redis,
    keys: Keys,
    settings: Settings,
    start_worker: WorkerFactory,
    tmp_path: Path,
) -> None:
    npcs = [make_npc(f"e{i}", tier=list(Tier)[i % 3], archetype="zombie") for i in range(90)]
    save_npcs(client, keys, npcs)
    place_npcs(client, keys, npcs, fast_ticks())
    start_worker(pool="prefork", concurrency=2)
    fast = settings.model_copy(update={"sweep_interval_s": 0.05})
    sched = Scheduler(
        client, keys, fast, publish=batch_publisher(app), ticks_path=write_fast_ticks(tmp_path)
    )
    sched.start()
    try:
        wait_for(lambda: client.hlen(keys.latest("w1")) == 90, timeout=30, what="every NPC")
        time.sleep(1.5)
    finally:
        sched.stop()
    per_npc: dict[str, int] = {}
    for _, d in read_results(client, keys, "w1", count=100_000):
        per_npc[d.npc_id] = per_npc.get(d.npc_id, 0) + 1
        assert d.timings.latency_ms >= 0 and d.source == "rules"
    gold = [per_npc[n.id] for n in npcs if n.tier is Tier.GOLD]
    bronze = [per_npc[n.id] for n in npcs if n.tier is Tier.BRONZE]
    assert min(gold) > max(bronze), "gold ticks (0.5 s) outpace bronze ticks (2 s)"
