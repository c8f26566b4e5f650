"""The naive design the farm is measured against: one Celery task per NPC decision.

Same decision code (`decide_ticks`), one NPC per message: what differs is only the
per-message overhead of Celery, which is what batching removes.
"""

from __future__ import annotations

from celery import shared_task

from npcfarm.domain import Tick, Tier
from tasks import context
from tasks.decide import decide_ticks

NAIVE_TASK = "npcfarm.bench.naive_decide"


@shared_task(name=NAIVE_TASK, ignore_result=True)
def naive_decide(npc_id: str, tick_id: str, enqueued_at: float) -> int:
    tick = Tick(npc_id=npc_id, tick_id=tick_id, tier=Tier.BRONZE, enqueued_at=enqueued_at)
    return decide_ticks(context.get(), [tick], idempotent=False)
