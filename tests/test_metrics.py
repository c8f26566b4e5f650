"""Prometheus exposition of the farm's counters, from a real Redis."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from npcfarm.domain import Tier
from npcfarm.keys import Keys
from ops.servers.metrics import FarmCollector


def test_counters_and_gauges_per_tier(client: redis.Redis, keys: Keys) -> None:
    client.hset(keys.stats(Tier.GOLD), mapping={"decided": 42, "coalesced": 3})
    client.rpush(keys.latencies(Tier.GOLD), *[1.0] * 10, *[9.0] * 10)
    client.zadd(keys.due(Tier.BRONZE), {"a": 1.0, "b": 2.0})
    registry = CollectorRegistry()
    registry.register(FarmCollector(client, keys))
    samples = {
        (s.name, s.labels.get("tier")): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples[("npcfarm_decided_total", "gold")] == 42
    assert samples[("npcfarm_coalesced_total", "gold")] == 3
    assert samples[("npcfarm_decided_total", "silver")] == 0
    assert samples[("npcfarm_npcs", "bronze")] == 2
    assert samples[("npcfarm_latency_p95_ms", "gold")] == 9.0


def test_inbox_and_tier_counters(client: redis.Redis, keys: Keys) -> None:
    client.hset(keys.ingest_stats, mapping={"applied": 7, "dead": 2})
    client.hset(keys.tier_stats, mapping={"promotions": 5})
    client.xadd(keys.dead_letters, {"reason": "r", "raw": "x", "inbox_id": "1-0"})
    registry = CollectorRegistry()
    registry.register(FarmCollector(client, keys))
    text = generate_latest(registry).decode()
    assert "npcfarm_inbox_applied_total 7.0" in text and "npcfarm_inbox_dead_total 2.0" in text
    assert "npcfarm_tier_promotions_total 5.0" in text and "npcfarm_dead_letters 1.0" in text


def test_engine_figures_from_the_heartbeat(client: redis.Redis, keys: Keys) -> None:
    from npcfarm import engines  # noqa: PLC0415
    from ops.cli.status import _engine_figures  # noqa: PLC0415

    figures = {"queued": 3.0, "live": 8.0, "n_seq_max": 16.0, "occupancy": 0.5}
    figures |= {"tokens_per_s": 140.0, "action_p95_ms": 210.0, "decision_p95_ms": 900.0}
    try:
        engines.register(client, keys, {"base": "tiny"}, metrics=lambda: figures)
        client.hset(keys.stats(Tier.GOLD), mapping={"cache_hits": 4, "cache_misses": 12})
        registry = CollectorRegistry()
        registry.register(FarmCollector(client, keys))
        every = [
            s
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples
        ]
    finally:
        engines.forget(client, keys)
    samples = {s.name: s for s in every if s.name.startswith("npcfarm_engine_")}
    assert samples["npcfarm_engine_live_sequences"].value == 8
    assert samples["npcfarm_engine_batch_occupancy"].value == 0.5
    assert samples["npcfarm_engine_action_p95_ms"].labels["base"] == "tiny"
    hits = {s.labels["tier"]: s.value for s in every if s.name == "npcfarm_cache_hits_total"}
    assert hits["gold"] == 4 and hits["silver"] == 0
    line = _engine_figures(figures)
    assert "live 8/16" in line and "occupancy 50%" in line and "action p50/p95 0/210" in line
