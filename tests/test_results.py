"""Publishing for bridges: sequence numbers, latest hash, stream reads, idempotency, retention."""

from __future__ import annotations

import json

import redis

from npcfarm.archive import ArchiveEvent
from npcfarm.domain import Decision, Tier
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
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


def test_archived_tiers_are_archived_by_the_publish_call_itself(
    client: redis.Redis, keys: Keys
) -> None:
    """The archive event rides in the script that publishes: no crash can fall between."""
    pub = ResultPublisher(
        client,
        keys,
        stream_maxlen=1000,
        latency_samples=100,
        published_ttl_s=600,
        archive_tiers=["gold"],
        archive_maxlen=1000,
    )
    whole, spoken = make_decision("a", "t1"), make_decision("b", "t2")
    pub.publish([whole, spoken], idempotent=True, parts=["", "action"])
    events = [ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive))]
    assert [(e.id, e.kind, e.data["seq"]) for e in events] == [("a:t1", "decision", 1)]
    # The decision spoken after its action is archived once, whole, with its speech entry.
    pub.publish([spoken.model_copy(update={"speech": "Halt."})], idempotent=True, parts=["speech"])
    pub.publish([whole], idempotent=True)  # a redelivery publishes and archives nothing
    events = [ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive))]
    assert [(e.id, e.data["speech"]) for e in events] == [("a:t1", None), ("b:t2", "Halt.")]
    assert Decision.model_validate(events[1].data).tick_id == "t2"
    # Tiers not archived publish without archive events.
    pub.publish([make_decision("c", "t3", tier=Tier.BRONZE)])
    assert client.xlen(keys.archive) == 2
