"""Two schedulers: the standby takes over when the leader dies, and nothing is enqueued twice."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path

import redis

from npcfarm.domain import TickBatch, Tier
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import release_ticks
from npcfarm.settings import Settings
from schedules.placement import place_npcs
from schedules.scheduler import Scheduler
from tests.conftest import wait_for
from tests.helpers import fast_ticks, make_npc, write_fast_ticks


def test_standby_takes_over_without_double_enqueueing(
    client: redis.Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    npcs = [make_npc(f"n{i}", tier=Tier.GOLD) for i in range(40)]  # gold: every 0.5 s
    save_npcs(client, keys, npcs)
    place_npcs(client, keys, npcs, fast_ticks())
    sent: dict[str, list[float]] = defaultdict(list)

    def instant_worker(batch: TickBatch) -> None:  # publishing == done, releasing the mark
        for npc_id, _ in batch.ticks:
            sent[npc_id].append(time.time())
        release_ticks(client, keys, batch.ticks)

    fast = settings.model_copy(update={"sweep_interval_s": 0.05, "lease_ttl_s": 1.0})
    path = write_fast_ticks(tmp_path)
    leader = Scheduler(client, keys, fast, publish=instant_worker, ticks_path=path)
    standby = Scheduler(client, keys, fast, publish=instant_worker, ticks_path=path)
    leader.start()
    standby.start()
    try:
        assert leader.lease.is_leader and not standby.lease.is_leader
        time.sleep(1.5)
        assert standby.sweeps == 0
        leader.stop(release=False)  # dies holding the lease
        died = time.monotonic()
        wait_for(lambda: standby.lease.is_leader, timeout=5, what="standby to lead")
        takeover = time.monotonic() - died
        wait_for(lambda: standby.sweeps > 20, timeout=5, what="standby sweeping")
        time.sleep(1.0)
    finally:
        standby.stop()
    assert takeover < fast.lease_ttl_s + 1.0
    for npc_id, times in sent.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) > 0.5 - 0.05 - 0.06, f"{npc_id} ticked twice in one interval: {gaps}"
        assert max(gaps) < 0.55 + takeover + 0.2, f"{npc_id} waited too long: {gaps}"
    assert all(len(times) >= 5 for times in sent.values())
