"""What `npcfarm status` and the live view of `npcfarm up` show, gathered and rendered."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from celery import Celery
from rich.console import Group
from rich.table import Table
from rich.text import Text

from npcfarm import budget, engines
from npcfarm.budget import CostRow
from npcfarm.keys import Keys
from npcfarm.redisconn import text
from npcfarm.settings import get_settings
from npcfarm.stats import CACHE_HITS, TierSummary, cache_hit_rate, reason_counts, summarize

PING_TIMEOUT_S = 1.0  # how long live workers get to answer


@dataclass(slots=True)
class FarmStatus:
    tiers: list[TierSummary]
    leader: str | None
    ticks_version: str | None
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    dead_letters: int = 0
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    archive: dict[str, int] = field(default_factory=dict)  # backlog and archiver counters
    conversations: int = 0  # NPCs with a conversation open or awaiting its summary
    costs: list[CostRow] = field(default_factory=list)  # the model's day, per world and tier

    def as_dict(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "ticks_version": self.ticks_version,
            "workers": self.workers,
            "rejected_jobs": self.rejected,
            "dead_letters": self.dead_letters,
            "engines": self.engines,
            "archive": self.archive,
            "conversations": self.conversations,
            "costs": [
                {**asdict(c), "over_budget": c.over, "by_archetype": dict(c.by_archetype)}
                for c in self.costs
            ],
            "tiers": [
                {
                    "tier": str(t.tier),
                    "npcs": t.npcs,
                    "queue_depth": t.queue_depth,
                    "due_now": t.due_now,
                    "decisions_per_s": t.rate,
                    "p50_ms": t.p50_ms,
                    "p95_ms": t.p95_ms,
                    **t.counters,
                }
                for t in self.tiers
            ],
        }


def live_workers(app: Celery) -> dict[str, dict[str, Any]]:
    replies = app.control.ping(timeout=PING_TIMEOUT_S) or []
    return {name: reply for item in replies for name, reply in item.items()}


def gather(
    client: redis.Redis, keys: Keys, app: Celery | None, *, with_workers: bool = True
) -> FarmStatus:
    status = FarmStatus(
        tiers=summarize(client, keys),
        leader=text(client.get(keys.leader)),
        ticks_version=text(client.hget(keys.ticks_config, "version")),
        rejected=int(client.xlen(keys.rejected_jobs)),
        dead_letters=int(client.xlen(keys.dead_letters)),
        engines=engines.live(client, keys),
        conversations=int(client.zcard(keys.conversations)),
    )
    status.archive = {str(k): int(v) for k, v in client.hgetall(keys.archive_stats).items()}
    status.archive["backlog"] = int(client.xlen(keys.archive))
    status.costs = budget.today(client, keys, get_settings(), now=time.time())
    if with_workers and app is not None:
        status.workers = live_workers(app)
    return status


def render(status: FarmStatus, *, title: str = "npcfarm") -> Group:
    table = Table(title=title, title_justify="left")
    for column in (
        "tier",
        "NPCs",
        "due",
        "queue",
        "dec/s",
        "p50 ms",
        "p95 ms",
        "decided",
        "coalesced",
        "shed expired",
        "missed",
        "lost",
    ):
        table.add_column(column, justify="left" if column == "tier" else "right")
    styles = {"gold": "bold yellow", "silver": "bold white", "bronze": "bold dark_orange3"}
    for t in status.tiers:
        c = t.counters
        table.add_row(
            Text(str(t.tier), style=styles[str(t.tier)]),
            f"{t.npcs:,}",
            f"{t.due_now:,}",
            f"{t.queue_depth:,}",
            f"{t.rate:,.0f}",
            f"{t.p50_ms:,.1f}",
            f"{t.p95_ms:,.1f}",
            f"{c.get('decided', 0):,}",
            f"{c.get('coalesced', 0):,}",
            f"{c.get('shed_expired', 0):,}",
            f"{c.get('missed', 0):,}",
            f"{c.get('lost', 0):,}",
        )
    workers = ", ".join(sorted(status.workers)) or "none answering"
    engines = "; ".join(
        f"{where} {e.get('base')} "
        f"(GPU layers {e.get('offloaded_layers', 0)}/{e.get('n_layers', '?')})"
        + _engine_figures(e.get("metrics") or {})
        for where, e in sorted(status.engines.items())
    )
    reasons = "; ".join(
        f"{t.tier} " + ", ".join(f"{name} {count:,}" for name, count in sorted(found.items()))
        for t in status.tiers
        if (found := reason_counts(t.counters))
    )
    cache = "; ".join(
        f"{t.tier} {t.counters.get(CACHE_HITS, 0):,} hits ({rate:.0%})"
        for t in status.tiers
        if (rate := cache_hit_rate(t.counters)) is not None
    )
    footer = Text.assemble(
        ("leader ", "dim"),
        status.leader or "none",
        ("   ticks.toml ", "dim"),
        status.ticks_version or "-",
        ("   rejected jobs ", "dim"),
        str(status.rejected),
        ("   dead letters ", "dim"),
        str(status.dead_letters),
        ("\nworkers ", "dim"),
        workers,
        ("\nengines ", "dim"),
        engines or "none loaded (rules brain only)",
        ("\nreasons ", "dim"),
        reasons or "none (every decision its brain's first choice)",
        ("\nmodel cache ", "dim"),
        cache or "no lookups yet",
        ("\nmodel cost today ", "dim"),
        _costs(status.costs),
        ("\nmemory ", "dim"),
        f"{status.conversations} conversations open",
        ("   archive ", "dim"),
        f"{status.archive.get('archived', 0):,} archived, "
        f"{status.archive.get('backlog', 0):,} in the stream, "
        f"{status.archive.get('failures', 0)} failed batches",
    )
    return Group(table, footer)


def _costs(rows: list[CostRow]) -> Text:
    """Each world and tier's model use today against its budget; over budget in red."""
    if not rows:
        return Text("no model requests today")
    out = Text()
    unit = "" if get_settings().gpu_cost_per_hour else " GPU-s"
    for n, r in enumerate(rows):
        budget = f" of {_money(r.budget)}" if r.budget is not None else ""
        out.append("; " if n else "")
        out.append(
            f"{r.world}/{r.tier} {r.requests:,} requests, "
            f"{r.prompt_tokens + r.generated_tokens:,} tokens, {r.decode_s:,.1f} GPU-s, "
            f"{_money(r.spent)}{unit}{budget}"
        )
        if r.over:
            out.append(" over budget: rules", style="bold red")
    return out


def _money(amount: float) -> str:
    return f"{amount:,.2f}" if amount == 0 or amount >= 0.01 else f"{amount:.2g}"


def _engine_figures(m: dict[str, Any]) -> str:
    """One engine's live figures, as its heartbeat last reported them."""
    if not m:
        return ""
    tiers = "".join(
        f"; {tier} action p50/p95 {_latency(t, 'action')}, speech {_latency(t, 'decision')}"
        for tier, t in sorted((m.get("tiers") or {}).items())
    )
    return (
        f" queue {m.get('queued', 0):.0f}, live {m.get('live', 0):.0f}/"
        f"{m.get('n_seq_max', 0):.0f}, occupancy {m.get('occupancy', 0):.0%}, "
        f"{m.get('tokens_per_s', 0):.0f} tok/s, host {m.get('host_ms_per_step', 0):.2f} ms/step, "
        f"action p50/p95 {_latency(m, 'action')}, decision p50/p95 {_latency(m, 'decision')}"
        f"{tiers}"
    )


def _latency(m: dict[str, float], what: str) -> str:
    return f"{m.get(f'{what}_p50_ms', 0):.0f}/{m.get(f'{what}_p95_ms', 0):.0f} ms"
