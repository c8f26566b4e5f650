"""Celery task bodies: unpack, call the plain function, return a count.

Ticks are acknowledged early (a lost tick is replaced by the next one); jobs late,
with redelivery on worker loss, because a player's interaction must not be lost; the
publish is idempotent by tick id, so a redelivered job never publishes twice.

A job rides out a Redis outage in the task itself (retrying with back-off for about
a minute), not with Celery's `retry`: that publishes a new message, and when it
cannot (Redis is down) Celery drops the job (`Reject(requeue=False)`). If Redis is
still away, the job is rejected back to its queue, or, when even that cannot reach
Redis, left unacknowledged and redelivered after `visibility_timeout_s`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import shared_task
from celery.exceptions import Reject

from npcfarm.errors import RedisUnavailable
from tasks import context
from tasks.decide import run_job, run_tick_batch
from tasks.memory import run_summary

TICKS_TASK = "npcfarm.ticks"  # name the scheduler publishes to
JOB_TASK = "npcfarm.job"  # name the CLI and ingest publish to
SUMMARY_TASK = "npcfarm.summary"  # ended conversations, on the memory queue (lowest priority)
log = logging.getLogger(__name__)


@shared_task(name=TICKS_TASK, ignore_result=True)
def ticks(payload: Any) -> int:
    return run_tick_batch(context.get(), payload)


TRANSIENT = (RedisUnavailable, redis.ConnectionError, redis.TimeoutError)
RIDE_OUT_S = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)  # about a minute in all


def ride_out(body: Callable[[], int], *, waits: Sequence[float] = RIDE_OUT_S) -> int:
    """Run `body`, retrying while Redis is away; then hand the message back to its queue."""
    for wait in waits:
        try:
            return body()
        except TRANSIENT as exc:
            log.warning("Redis unavailable during a job, retrying in %g s: %s", wait, exc)
            time.sleep(wait)
    try:
        return body()
    except TRANSIENT as exc:
        raise Reject(exc, requeue=True) from exc


@shared_task(name=JOB_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def job(payload: Any) -> int:
    return ride_out(lambda: run_job(context.get(), payload))


@shared_task(name=SUMMARY_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def summary(payload: Any) -> int:
    return ride_out(lambda: run_summary(context.get(), payload))
