"""Celery's settings, derived from the one settings object (`npcfarm.settings`).

Loaded by name with `app.config_from_object("celeryconfig")`; nothing here reads the
environment directly.
"""

from __future__ import annotations

import ssl

from kombu import Queue

from npcfarm.keys import QUEUE_ORDER
from npcfarm.settings import get_settings

_settings = get_settings()

broker_url = _settings.resolved_redis_url
broker_connection_retry_on_startup = True
broker_transport_options = {
    # kombu >= 5.7 polls the queues in the order the worker lists them, every time:
    # gold, then silver, then bronze (strict priority).
    "queue_order_strategy": "priority",
    # A late-acked job not acknowledged after this is redelivered to another worker.
    "visibility_timeout": _settings.visibility_timeout_s,
    # Look for such jobs every 10 s (kombu's default is about every 100 s), so a job cut
    # off by a Redis restart waits about the visibility timeout, not minutes more.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
if broker_url.startswith("rediss://"):
    broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}

task_queues = tuple(Queue(name, routing_key=name) for name in QUEUE_ORDER)
task_default_queue = "bronze"
task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None
task_acks_late = False  # ticks: a lost tick is replaced by the next; jobs opt in per task
task_reject_on_worker_lost = False

worker_prefetch_multiplier = 1
worker_disable_prefetch = True  # reserve only for a free slot: Gold is next for any slot
worker_concurrency = _settings.worker_concurrency
worker_send_task_events = True  # for Flower
worker_cancel_long_running_tasks_on_connection_loss = True
worker_hijack_root_logger = False
