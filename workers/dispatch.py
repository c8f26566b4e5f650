"""Publishing tick batches and jobs to the Celery queues (the scheduler's and CLI's side)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery

from npcfarm.domain import Job, TickBatch
from npcfarm.keys import MEMORY_QUEUE
from npcfarm.settings import Settings
from schedules.sweep import PublishBatch
from tasks.ticks import JOB_TASK, SUMMARY_TASK, TICKS_TASK


def batch_publisher(app: Celery) -> PublishBatch:
    """A callable the scheduler hands each batch to; one message per batch."""

    def publish(batch: TickBatch) -> None:
        app.send_task(
            TICKS_TASK,
            args=[batch.model_dump(mode="json")],
            queue=str(batch.tier),
            routing_key=str(batch.tier),
        )

    return publish


def summary_publisher(app: Celery) -> Callable[[str], None]:
    """Summary jobs for the scheduler: the memory queue, behind every decision."""

    def publish(npc_id: str) -> None:
        app.send_task(
            SUMMARY_TASK, args=[{"npc_id": npc_id}], queue=MEMORY_QUEUE, routing_key=MEMORY_QUEUE
        )

    return publish


def publish_job(app: Celery, job: Job) -> None:
    """One-NPC job on its tier's queue; the task id is the tick id (traceable in Flower)."""
    app.send_task(
        JOB_TASK,
        args=[job.model_dump(mode="json")],
        queue=str(job.tier),
        routing_key=str(job.tier),
        task_id=job.tick_id,
    )


@dataclass(frozen=True, slots=True)
class Publishers:
    """Where the scheduler, the ingest and the CLI send work, for the configured task
    queue (`task_queue`): Celery's tasks, or the same bodies as dramatiq actors."""

    batch: PublishBatch
    job: Callable[[Job], None]
    summary: Callable[[str], None]


def publishers(settings: Settings, app: Celery) -> Publishers:
    if settings.task_queue == "dramatiq":
        from workers import dramatiq_app  # noqa: PLC0415 - dramatiq only where chosen

        return Publishers(
            dramatiq_app.publish_batch, dramatiq_app.publish_job, dramatiq_app.publish_summary
        )
    return Publishers(
        batch_publisher(app), lambda job: publish_job(app, job), summary_publisher(app)
    )
