"""Publishing tick batches and jobs to the Celery queues (the scheduler's and CLI's side)."""

from __future__ import annotations

from celery import Celery

from npcfarm.domain import Job, TickBatch
from schedules.sweep import PublishBatch
from tasks.ticks import JOB_TASK, TICKS_TASK


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


def publish_job(app: Celery, job: Job) -> None:
    """One-NPC job on its tier's queue; the task id is the tick id (traceable in Flower)."""
    app.send_task(
        JOB_TASK,
        args=[job.model_dump(mode="json")],
        queue=str(job.tier),
        routing_key=str(job.tier),
        task_id=job.tick_id,
    )
