"""Least privilege on a real Redis with ACLs: a bridge of world A is refused world B,
the Celery queues and every other key; the farm's user runs the ingest and a worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from npcfarm import acl
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from tests.conftest import wait_for
from tests.helpers import make_npc


@pytest.fixture
def users(client: redis.Redis, keys: Keys) -> Iterator[dict[str, acl.AclUser]]:
    found = acl.users(keys, ["castle", "swamp"], redis_major=acl.server_major(client))
    acl.apply(client, found)
    yield {u.name: u for u in found}
    client.execute_command("ACL", "DELUSER", *[u.name for u in found])  # type: ignore[no-untyped-call]


def _as(settings: Settings, user: acl.AclUser) -> redis.Redis:
    return redis.Redis.from_url(
        settings.resolved_redis_url,
        username=user.name,
        password=user.password,
        decode_responses=True,
    )


def _url(settings: Settings, user: acl.AclUser) -> str:
    parts = urlsplit(settings.resolved_redis_url)
    netloc = f"{user.name}:{user.password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def test_a_bridge_reaches_only_its_inbox_and_its_world(
    client: redis.Redis, keys: Keys, settings: Settings, users: dict[str, acl.AclUser]
) -> None:
    castle = _as(settings, users["bridge-castle"])
    castle.xadd(keys.inbox, {"event": "{}", "source": "bridge-castle"})
    client.xadd(keys.results("castle"), {"npc": "vlad", "seq": 1, "d": "{}"})
    client.xadd(keys.results("swamp"), {"npc": "bog", "seq": 2, "d": "{}"})
    assert len(castle.xrange(keys.results("castle")) or []) == 1
    assert castle.hgetall(keys.latest("castle")) == {}
    castle.xrange(keys.receipts("bridge-castle"))
    refused: list[Callable[[], object]] = [
        lambda: castle.xrange(keys.results("swamp")),  # another world
        lambda: castle.hgetall(keys.latest("swamp")),
        lambda: castle.xrange(keys.receipts("bridge-swamp")),
        lambda: castle.lpush("gold", "x"),  # the Celery queues
        lambda: castle.get(keys.npc("vlad")),
        lambda: castle.delete(keys.inbox),
        castle.flushall,
    ]
    if acl.server_major(client) >= 7:
        refused.append(lambda: castle.xrange(keys.inbox))  # write-only: no other world's events
    for call in refused:
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    operator = _as(settings, users["npcfarm-operator"])
    assert operator.xlen(keys.inbox) == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        operator.xadd(keys.inbox, {"event": "{}"})


@pytest.mark.slow
def test_the_farm_user_runs_the_ingest_and_a_worker(
    client: redis.Redis,
    keys: Keys,
    settings: Settings,
    users: dict[str, acl.AclUser],
    tmp_path: Path,
) -> None:
    from workers.app import app  # noqa: PLC0415
    from workers.dispatch import publish_job  # noqa: PLC0415
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    farm = _as(settings, users["npcfarm-farm"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        farm.flushall()
    save_npcs(farm, keys, [make_npc("vlad", archetype="vampire", world="castle")])
    url = _url(settings, users["npcfarm-farm"])
    argv = worker_argv(queues="gold", pool="solo", concurrency=1, logfile=tmp_path / "w.log")
    worker = spawn_worker(argv, redis_url=url)
    try:  # the worker and the ingest run as the farm user (the test publishes as default)
        ingest = Ingest(farm, keys, publish_job=lambda job: publish_job(app, job), consumer="acl")
        ingest.ensure_group()
        event = {
            "type": "interaction",
            "event_id": "acl-1",
            "npc_id": "vlad",
            "player_id": "ann",
            "kind": "talk",
        }
        _as(settings, users["bridge-castle"]).xadd(keys.inbox, {"event": json.dumps(event)})
        wait_for(lambda: ingest.run_once(block_ms=10).jobs == 1, timeout=10, what="the job")
        wait_for(
            lambda: "ix-acl-1" in str(client.hget(keys.latest("castle"), "vlad") or ""),
            timeout=60,
            what="the farm user's worker to answer",
        )
    finally:
        stop_worker(worker, timeout_s=10)
