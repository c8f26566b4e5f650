"""Publishing for bridges: sequence numbers, latest hash, stream reads, idempotency, retention."""

from __future__ import annotations

import json

import redis

from npcfarm.keys import Keys
from npcfarm.results import ResultPublisher, latest_decision, read_results
from tests.helpers import make_decision


def _publisher(client: redis.Redis, keys: Keys, maxlen: int = 100_000) -> ResultPublisher:
    return ResultPublisher(
        client, keys, stream_maxlen=maxlen, latency_samples=100, published_ttl_s=600
    )


def test_latest_and_stream_carry_a_monotonic_seq(client: redis.Redis, keys: Keys) -> None:
    pub = _publisher(client, keys)
    assert pub.publish([make_decision("a", "t1"), make_decision("b", "t2")]) == 2
    assert pub.publish([make_decision("a", "t3")]) == 1
    latest = latest_decision(client, keys, "w1", "a")
    assert latest is not None and latest.tick_id == "t3" and latest.seq == 3
    entries = read_results(client, keys, "w1")
    assert [d.seq for _, d in entries] == [1, 2, 3]
    # A bridge resumes from its last id and sees only what is new.
    assert read_results(client, keys, "w1", last_id=entries[1][0])[0][1].tick_id == "t3"
    raw = client.hget(keys.latest("w1"), "a")
    assert raw is not None and json.loads(raw)["schema"] == "npcfarm.decision"


def test_idempotent_publish_ignores_a_redelivered_tick(client: redis.Redis, keys: Keys) -> None:
    pub = _publisher(client, keys)
    assert pub.publish([make_decision("a", "job-1")], idempotent=True) == 1
    assert pub.publish([make_decision("a", "job-1")], idempotent=True) == 0
    assert len(read_results(client, keys, "w1")) == 1
    assert client.hget(keys.stats(make_decision("a", "x").tier), "duplicates") == "1"


def test_worlds_are_separate_streams(client: redis.Redis, keys: Keys) -> None:
    _publisher(client, keys).publish(
        [make_decision("a", "t1", world="north"), make_decision("b", "t2", world="south")]
    )
    assert [d.npc_id for _, d in read_results(client, keys, "north")] == ["a"]
    assert [d.npc_id for _, d in read_results(client, keys, "south")] == ["b"]


def test_stream_retention_is_capped(client: redis.Redis, keys: Keys) -> None:
    pub = _publisher(client, keys, maxlen=1000)
    for start in range(0, 5000, 500):
        pub.publish([make_decision(f"n{i}", f"t{i}") for i in range(start, start + 500)])
    assert 1000 <= client.xlen(keys.results("w1")) < 1500  # MAXLEN ~ trims by whole nodes
    assert client.hlen(keys.latest("w1")) == 5000
