"""dramatiq actors for the broker comparison in `ops/bench/dramatiq_path.py`.

A measurement only, so it lives in ops/bench: the same thin bodies as `tasks/ticks.py`
and `ops/bench/naive.py` (unpack, call the farm's plain function) on dramatiq's Redis
broker, so that the only thing that differs from the Celery path is the task queue.
Loaded by name by the dramatiq CLI (`python -m dramatiq ops.bench.dramatiq_actors`),
which imports it in every worker process after the fork.
"""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from npcfarm.domain import TIER_ORDER, Tick, Tier
from npcfarm.redisconn import keys_for
from npcfarm.settings import get_settings
from tasks import context
from tasks.decide import decide_ticks, run_tick_batch

NAMESPACE = "dramatiq"  # dramatiq's default key prefix; its queues are LISTs `dramatiq:<queue>`
# Lower runs first inside one worker process: Gold before Silver before Bronze, as
# Celery's queue order does (dramatiq has no strict priority across processes).
PRIORITY = {Tier.GOLD: 0, Tier.SILVER: 10, Tier.BRONZE: 20}
NAIVE_ACTOR = "npcfarm_bench_naive_decide"  # one NPC decision per message


def ready_key() -> str:
    """SET: pids of the dramatiq worker processes that booted (the benchmark waits on it)."""
    return f"{keys_for().prefix}:bench:dramatiq:ready"


def queue_key(tier: Tier) -> str:
    """LIST: dramatiq's queue of a tier's messages, not yet fetched by any worker."""
    return f"{NAMESPACE}:{tier}"


class Ready(dramatiq.Middleware):
    """Marks this worker process as booted; dramatiq has no ping like Celery's."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        context.get().client.sadd(ready_key(), os.getpid())


def _broker() -> RedisBroker:
    """dramatiq's Redis broker, default middleware, on the farm's Redis."""
    broker = RedisBroker(url=get_settings().resolved_redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    broker.add_middleware(Ready())
    return broker


broker = _broker()
dramatiq.set_broker(broker)


# The bodies return nothing: dramatiq logs a warning for every message whose actor
# returns a value without its Results middleware, which would bill dramatiq for logging.
def _ticks(payload: Any) -> None:
    run_tick_batch(context.get(), payload)


# One actor per tier, each on its tier's queue (a dramatiq actor has one queue); ticks
# are not retried, as in Celery (a lost tick is replaced by the next one).
TICKS = {
    tier: dramatiq.actor(
        actor_name=f"npcfarm_ticks_{tier}",
        queue_name=str(tier),
        priority=PRIORITY[tier],
        max_retries=0,
    )(_ticks)
    for tier in TIER_ORDER
}


@dramatiq.actor(actor_name=NAIVE_ACTOR, queue_name=str(Tier.BRONZE), max_retries=0)
def naive_decide(npc_id: str, tick_id: str, enqueued_at: float) -> None:
    tick = Tick(npc_id=npc_id, tick_id=tick_id, tier=Tier.BRONZE, enqueued_at=enqueued_at)
    decide_ticks(context.get(), [tick], idempotent=False)
