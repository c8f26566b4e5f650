"""The engine registry behind `status`: live processes listed, dead ones dropped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis

from npcfarm import engines
from npcfarm.keys import Keys
from ops.cli.status import gather


@pytest.fixture(autouse=True)
def _no_heartbeat(client: redis.Redis, keys: Keys) -> Iterator[None]:
    engines.forget(client, keys)  # an engine an earlier test loaded stops beating
    yield
    engines.forget(client, keys)


def test_a_registered_engine_is_listed_until_it_leaves(client: redis.Redis, keys: Keys) -> None:
    engines.register(client, keys, {"base": "tiny", "offloaded_layers": 0, "n_layers": 2})
    listed = gather(client, keys, None).engines
    assert list(listed) == [engines.this_process()] and listed[engines.this_process()]["base"]
    engines.forget(client, keys)
    assert gather(client, keys, None).engines == {}


def test_a_killed_process_is_not_listed_and_the_next_registration_drops_it(
    client: redis.Redis, keys: Keys
) -> None:
    gone = time.time() - engines.STALE_S - 1
    client.hset(keys.engines, "old-host:1", json.dumps({"base": "tiny", "seen": gone}))
    client.hset(keys.engines, "older-host:2", json.dumps({"base": "tiny", "at": gone}))
    assert engines.live(client, keys) == {}
    engines.register(client, keys, {"base": "tiny"})
    assert client.hkeys(keys.engines) == [engines.this_process()]
    fresh = engines.live(client, keys, now=time.time() + engines.STALE_S - 1)
    assert list(fresh) == [engines.this_process()]


def test_a_live_engine_keeps_its_entry_fresh(
    client: redis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "HEARTBEAT_S", 0.05)
    engines.register(client, keys, {"base": "tiny"})
    first = json.loads(client.hget(keys.engines, engines.this_process()) or "{}")["seen"]
    deadline = time.time() + 5
    while time.time() < deadline:
        seen = json.loads(client.hget(keys.engines, engines.this_process()) or "{}")["seen"]
        if seen > first:
            break
        time.sleep(0.02)
    assert seen > first
