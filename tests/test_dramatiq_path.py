"""The second worker path: `npcfarm worker` on dramatiq (task_queue = "dramatiq"),
a real worker subprocess deciding a tick batch and a player's job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from npcfarm.domain import Job, TickBatch, Tier
from npcfarm.keys import Keys, dramatiq_queue_key
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import Settings
from schedules.sweep import DueSweep
from tests.conftest import wait_for
from tests.helpers import fast_ticks, make_npc

pytestmark = pytest.mark.slow


def test_a_dramatiq_worker_decides_ticks_and_jobs(
    client: redis.Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    from workers import dramatiq_app  # noqa: PLC0415 - on the session's Redis

    save_npcs(client, keys, [make_npc("d1"), make_npc("d2", player_at=2.0)])
    env = {
        **os.environ,
        "NPCFARM_TASK_QUEUE": "dramatiq",
        "NPCFARM_ENGINE_ENABLED": "false",
        "NPCFARM_REDIS_URL": settings.resolved_redis_url,
    }
    argv = [sys.executable, "-m", "ops.cli", "worker", "--queues", "gold,silver,bronze,memory"]
    log = (tmp_path / "dq.log").open("wb")
    worker = subprocess.Popen(
        [*argv, "--concurrency", "1", "--pool", "prefork"], env=env, stdout=log, stderr=log
    )
    try:
        now = time.time()
        dramatiq_app.publish_batch(
            TickBatch(tier=Tier.BRONZE, archetype="human", enqueued_at=now, ticks=[("d1", "t-1")])
        )
        dramatiq_app.publish_job(
            Job(
                npc_id="d2",
                tick_id="ix-dq-1",
                enqueued_at=now,
                origin="interaction",
                player_id="ann",
                kind="talk",
                text="Hello?",
            )
        )

        def decided() -> set[str]:
            return {d.tick_id for _, d in read_results(client, keys, "w1")}

        wait_for(lambda: decided() >= {"t-1", "ix-dq-1"}, timeout=60, what="both decided")
        assert client.llen(dramatiq_queue_key(Tier.GOLD)) == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()
    assert worker.returncode == 0, (tmp_path / "dq.log").read_text()[-2000:]


def test_the_sweep_holds_back_by_dramatiqs_queue(client: redis.Redis, keys: Keys) -> None:
    client.rpush(dramatiq_queue_key(Tier.BRONZE), *["m"] * 3)
    sweep = DueSweep(client, keys, limit=100, queue_of=dramatiq_queue_key)
    ticks = fast_ticks()[Tier.BRONZE]
    assert sweep.backlog(Tier.BRONZE, ticks) == 3 * ticks.batch_size
    client.delete(dramatiq_queue_key(Tier.BRONZE))
