"""The second worker path: the same task bodies on dramatiq's Redis broker.

`task_queue = "dramatiq"` runs the farm on dramatiq instead of Celery: measured on
the farm's own workload it moved more batched decisions per second and kept Gold's
tail lower under a Bronze flood on 2 cores (docs/PERFORMANCE.md, dramatiq). The
actors are as thin as Celery's tasks (tasks/ticks.py) over the same plain
functions. One actor per tier and kind, each on its tier's queue (a dramatiq actor
has one queue), Gold first inside a worker process by priority. Ticks are not
retried (the next tick replaces a lost one); jobs and summaries ride out Redis
outages inside the body (tasks.ticks.ride_out) and are acknowledged after it, so a
worker killed mid-job leaves the message for dramatiq to hand out again.
What Celery gives and this path does not: Flower, `celery inspect`, `status`'s list
of live workers (dramatiq has no ping).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from npcfarm.domain import TIER_ORDER, Job, TickBatch, Tier
from npcfarm.keys import DRAMATIQ_NAMESPACE, MEMORY_QUEUE
from npcfarm.settings import get_settings
from tasks import context
from tasks.decide import run_job, run_tick_batch
from tasks.memory import run_summary
from tasks.ticks import ride_out

PRIORITY = {Tier.GOLD: 0, Tier.SILVER: 10, Tier.BRONZE: 20}  # lower runs first
QUEUES = (*(str(t) for t in TIER_ORDER), MEMORY_QUEUE)

broker = RedisBroker(url=get_settings().resolved_redis_url, namespace=DRAMATIQ_NAMESPACE)  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)


# Bodies return nothing: without a results backend dramatiq logs every returned value.
def _ticks(payload: Any) -> None:
    run_tick_batch(context.get(), payload)


def _job(payload: Any) -> None:
    ride_out(lambda: run_job(context.get(), payload))


TICKS = {
    tier: dramatiq.actor(
        actor_name=f"npcfarm_ticks_{tier}",
        queue_name=str(tier),
        priority=PRIORITY[tier],
        max_retries=0,
    )(_ticks)
    for tier in TIER_ORDER
}
JOBS = {
    tier: dramatiq.actor(
        actor_name=f"npcfarm_job_{tier}",
        queue_name=str(tier),
        priority=PRIORITY[tier] - 1,
        max_retries=0,
    )(_job)
    for tier in TIER_ORDER
}


@dramatiq.actor(actor_name="npcfarm_summary", queue_name=MEMORY_QUEUE, priority=100, max_retries=0)
def summary(payload: Any) -> None:
    ride_out(lambda: run_summary(context.get(), payload))


def publish_batch(batch: TickBatch) -> None:
    TICKS[batch.tier].send(batch.model_dump(mode="json"))


def publish_job(job: Job) -> None:
    JOBS[job.tier].send(job.model_dump(mode="json"))


def publish_summary(npc_id: str) -> None:
    summary.send({"npc_id": npc_id})
