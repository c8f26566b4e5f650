"""Prometheus metrics of the whole farm, read from Redis at scrape time.

Workers and schedulers already count into Redis (one place for every host), so a
single exporter reads those counters on each scrape instead of each process running
its own metrics server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from npcfarm import budget, engines
from npcfarm.keys import Keys
from npcfarm.settings import get_settings
from npcfarm.stats import reason_counts, summarize

COUNTERS = {  # Redis counter name -> help text
    "enqueued": "Ticks the scheduler enqueued.",
    "decided": "Decisions published.",
    "coalesced": "Ticks not enqueued because one was still pending for the NPC.",
    "missed": "Tick intervals NPCs waited while their tier was held back or unswept.",
    "lost": "Pending ticks presumed lost (not finished within pending_timeout_s).",
    "shed_expired": "Ticks dropped by a worker because they expired in the queue.",
    "unknown_npc": "Ticks naming an NPC the registry does not hold.",
    "unknown_archetype": "Ticks of NPCs whose archetype this build does not know.",
    "duplicates": "Redelivered jobs whose decision was already published.",
    "backlog_skips": "Sweeps skipped because the tier's queue was over its backlog limit.",
    "cache_hits": "Model decisions answered from the response cache.",
    "cache_misses": "Response-cache lookups that went on to the model.",
}
ENGINE_GAUGES = {  # Engine.metrics() field -> (npcfarm_engine_<name>, help text)
    "queued": ("queued", "Requests waiting for a sequence slot."),
    "live": ("live_sequences", "Sequences decoding now."),
    "occupancy": ("batch_occupancy", "Mean share of sequence slots in use per decode step."),
    "tokens_per_s": ("tokens_per_second", "Generated tokens per second of busy loop time."),
    "host_ms_per_step": ("host_ms_per_step", "Loop time per step outside llama_decode (ms)."),
    "action_p50_ms": ("action_p50_ms", "Submission to action, target and emotion (median)."),
    "action_p95_ms": ("action_p95_ms", "Submission to action, target and emotion (p95)."),
    "decision_p50_ms": ("decision_p50_ms", "Submission to the whole decision (median)."),
    "decision_p95_ms": ("decision_p95_ms", "Submission to the whole decision (p95)."),
}
TIER_GAUGES = {  # Engine.metrics()["tiers"][tier] field -> npcfarm_engine_tier_<name>
    "action_p50_ms": "Submission to action, target and emotion, per tier (median).",
    "action_p95_ms": "Submission to action, target and emotion, per tier (p95).",
    "decision_p50_ms": "Submission to the speech, the whole decision, per tier (median).",
    "decision_p95_ms": "Submission to the speech, the whole decision, per tier (p95).",
}


class FarmCollector(Collector):
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    def collect(self) -> Iterator[Metric]:
        tiers = summarize(self._client, self._keys)
        counters = {
            name: CounterMetricFamily(f"npcfarm_{name}", text, labels=["tier"])
            for name, text in COUNTERS.items()
        }
        gauges = {
            "npcs": GaugeMetricFamily(
                "npcfarm_npcs", "NPCs scheduled in the tier.", labels=["tier"]
            ),
            "queue": GaugeMetricFamily("npcfarm_queue_depth", "Messages waiting.", labels=["tier"]),
            "rate": GaugeMetricFamily(
                "npcfarm_decisions_per_second", "Decisions/s over the last 10 s.", labels=["tier"]
            ),
            "p50": GaugeMetricFamily(
                "npcfarm_latency_p50_ms", "Enqueue-to-publish latency, median.", labels=["tier"]
            ),
            "p95": GaugeMetricFamily(
                "npcfarm_latency_p95_ms", "Enqueue-to-publish latency, 95th pct.", labels=["tier"]
            ),
        }
        reasons = CounterMetricFamily(
            "npcfarm_decision_reasons",
            "Decisions with a reason: model fallbacks to the rules "
            "brain (llm_backlog, timeout, ...) and claim re-decisions.",
            labels=["tier", "reason"],
        )
        for t in tiers:
            label = [str(t.tier)]
            for reason, count in reason_counts(t.counters).items():
                reasons.add_metric([*label, reason], count)
            for name, family in counters.items():
                family.add_metric(label, t.counters.get(name, 0))
            gauges["npcs"].add_metric(label, t.npcs)
            gauges["queue"].add_metric(label, t.queue_depth)
            gauges["rate"].add_metric(label, t.rate)
            gauges["p50"].add_metric(label, t.p50_ms)
            gauges["p95"].add_metric(label, t.p95_ms)
        yield from counters.values()
        yield reasons
        yield from gauges.values()
        yield from self._engines()
        yield from self._world()
        yield from self._costs()

    def _costs(self) -> Iterator[Metric]:
        """Today's (UTC) model use and cost per world and tier, against the budgets."""
        rows = budget.today(self._client, self._keys, get_settings(), now=time.time())
        labels = ["world", "tier", "archetype"]
        use = {
            metric: GaugeMetricFamily(
                f"npcfarm_model_{metric}_today", f"Model {metric} today (UTC).", labels=labels
            )
            for metric in budget.METRICS
        }
        spent = GaugeMetricFamily(
            "npcfarm_model_cost_today",
            "Model cost today (UTC): GPU-seconds times gpu_cost_per_hour / 3600.",
            labels=["world", "tier"],
        )
        limit = GaugeMetricFamily(
            "npcfarm_model_budget", "The day's budget of a world's tier.", labels=["world", "tier"]
        )
        over = GaugeMetricFamily(
            "npcfarm_model_over_budget",
            "1 while a world's tier is over its budget (decided by rules, reason=budget).",
            labels=["world", "tier"],
        )
        for r in rows:
            for archetype, figures in r.by_archetype.items():
                for metric, family in use.items():
                    family.add_metric([r.world, r.tier, archetype], figures[metric])
            spent.add_metric([r.world, r.tier], r.spent)
            if r.budget is not None:
                limit.add_metric([r.world, r.tier], r.budget)
                over.add_metric([r.world, r.tier], 1.0 if r.over else 0.0)
        yield from use.values()
        yield from (spent, limit, over)

    def _engines(self) -> Iterator[Metric]:
        families = {
            field: GaugeMetricFamily(f"npcfarm_engine_{name}", text, labels=["process", "base"])
            for field, (name, text) in ENGINE_GAUGES.items()
        }
        tiered = {
            field: GaugeMetricFamily(
                f"npcfarm_engine_tier_{field}", text, labels=["process", "base", "tier"]
            )
            for field, text in TIER_GAUGES.items()
        }
        for process, info in engines.live(self._client, self._keys).items():
            figures, base = info.get("metrics") or {}, str(info.get("base", ""))
            for field, family in families.items():
                if field in figures:
                    family.add_metric([process, base], figures[field])
            for tier, latencies in (figures.get("tiers") or {}).items():
                for field, family in tiered.items():
                    if field in latencies:
                        family.add_metric([process, base, tier], latencies[field])
        yield from families.values()
        yield from tiered.values()

    def _world(self) -> Iterator[Metric]:
        """Inbox and tier-manager counters (farm-wide, no tier label)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(self._keys.ingest_stats)
        pipe.hgetall(self._keys.tier_stats)
        pipe.xlen(self._keys.dead_letters)
        pipe.xlen(self._keys.rejected_jobs)
        ingest, tiers, dead, rejected = pipe.execute()
        for name, text in (
            ("applied", "Inbox events applied."),
            ("dead", "Inbox events dead-lettered."),
            ("jobs", "Player interactions turned into jobs."),
        ):
            yield CounterMetricFamily(f"npcfarm_inbox_{name}", text, value=int(ingest.get(name, 0)))
        for name in ("promotions", "demotions"):
            yield CounterMetricFamily(
                f"npcfarm_tier_{name}", f"Tier {name}.", value=int(tiers.get(name, 0))
            )
        yield GaugeMetricFamily("npcfarm_dead_letters", "Dead letters kept.", value=int(dead))
        yield GaugeMetricFamily("npcfarm_rejected_jobs", "Rejected jobs kept.", value=int(rejected))
