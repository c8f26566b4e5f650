"""Leader lease: one leader, standby takeover after the leader dies, fencing of the old one."""

from __future__ import annotations

import time

import redis

from npcfarm.keys import Keys
from schedules.leader import LeaderLease
from tests.conftest import wait_for


def test_one_leader_and_takeover_after_death(client: redis.Redis, keys: Keys) -> None:
    first = LeaderLease(client, keys.leader, ttl_s=1.0)
    second = LeaderLease(client, keys.leader, ttl_s=1.0)
    assert first.tick() and not second.tick()
    assert first.tick()  # renewal keeps it
    died_at = time.monotonic()  # the first stops renewing: it has died
    wait_for(second.tick, timeout=3.0, what="standby to take the lease")
    assert time.monotonic() - died_at < 1.5
    assert not first.tick()  # the old leader cannot renew the new one's lease
    assert client.get(keys.leader) == second.token


def test_release_hands_over_at_once(client: redis.Redis, keys: Keys) -> None:
    first = LeaderLease(client, keys.leader, ttl_s=30)
    second = LeaderLease(client, keys.leader, ttl_s=30)
    assert first.tick()
    second.release()  # a non-holder's release must not delete the lease
    assert client.get(keys.leader) == first.token
    first.release()
    assert second.tick()
