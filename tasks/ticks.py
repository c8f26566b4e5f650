"""Celery task bodies: unpack, call the plain function, return a count.

Ticks are acknowledged early (a lost tick is replaced by the next one); jobs late,
with redelivery on worker loss, because a player's interaction must not be lost; the
publish is idempotent by tick id, so a redelivered job never publishes twice.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import shared_task

from npcfarm.errors import RedisUnavailable
from tasks import context
from tasks.decide import run_job, run_tick_batch
from tasks.memory import run_summary

TICKS_TASK = "npcfarm.ticks"  # name the scheduler publishes to
JOB_TASK = "npcfarm.job"  # name the CLI and ingest publish to
SUMMARY_TASK = "npcfarm.summary"  # ended conversations, on the memory queue (lowest priority)


@shared_task(name=TICKS_TASK, ignore_result=True)
def ticks(payload: Any) -> int:
    return run_tick_batch(context.get(), payload)


@shared_task(
    name=JOB_TASK,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RedisUnavailable, redis.ConnectionError, redis.TimeoutError),
    retry_backoff=True,
    max_retries=8,
)
def job(payload: Any) -> int:
    return run_job(context.get(), payload)


@shared_task(
    name=SUMMARY_TASK,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RedisUnavailable, redis.ConnectionError, redis.TimeoutError),
    retry_backoff=True,
    max_retries=8,
)
def summary(payload: Any) -> int:
    return run_summary(context.get(), payload)
