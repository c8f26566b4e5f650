"""The Celery application and the worker process lifecycle.

Expensive resources (Redis clients now; the llama.cpp engine later) are created once
per worker process, after the fork, never inside Celery's 4 s `worker_process_init`
limit: that hook only drops state inherited from the parent.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from npcfarm import tracing
from tasks import context
from tasks.llm import BRAIN

log = logging.getLogger(__name__)

app = Celery("npcfarm", include=["tasks.ticks"])
app.config_from_object("celeryconfig")


MODEL_QUEUES = {"gold", "silver"}  # tiers whose brain may be the language model
_POOL: dict[str, str] = {}  # "kind": the pool this worker runs, noted at worker_init


def _serves_model() -> bool:
    return bool(MODEL_QUEUES & set(app.amqp.queues.consume_from or ()))


def threaded() -> bool:
    """True in a threads-pool worker: one process, one engine, every slot feeding it."""
    return "thread" in _POOL.get("kind", "").lower()


@worker_init.connect
def _note_pool(sender: Any = None, **_: Any) -> None:
    _POOL["kind"] = str(getattr(sender, "pool_cls", "") or "")


@worker_process_init.connect
def _fresh_process(**_: Any) -> None:
    context.reset()  # sockets must not be shared with the parent after fork
    tracing.setup_process("npcfarm-worker")  # exporter threads do not survive a fork
    # Warm the model up in a background thread (the 4 s limit never applies) where Gold or
    # Silver is served; a Bronze-only worker loads one only if a job ever asks for it.
    if _serves_model():
        BRAIN.start_loading(context.get())


@worker_process_shutdown.connect
def _leaving(**_: Any) -> None:
    BRAIN.leave(context.get())  # `status` stops listing this process's engine at once
    tracing.shutdown()


@worker_shutdown.connect
def _leaving_threaded(**_: Any) -> None:
    if threaded():  # no process hooks in a threads pool: the worker itself leaves
        BRAIN.leave(context.get())
    tracing.shutdown()


@worker_ready.connect
def _ready(sender: Any = None, **_: Any) -> None:
    context.get()  # connect before the first message, not during it
    tracing.setup_process("npcfarm-worker")  # solo and threads pools fork no children
    if threaded() and _serves_model():  # threads pools send no worker_process_init
        BRAIN.start_loading(context.get())
    log.info("npcfarm worker ready: queues %s", app.conf.task_queues)
