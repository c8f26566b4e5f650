"""What the chaos run proved: answers, archive rows, tick gaps, in figures and a table.

Everything is computed from what a bridge saw (the results stream, read live and once
more after the drain) and what the archive database holds, never from the farm's own
counters: the point is to check the farm's promises from the outside.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from sqlalchemy import text

from npcfarm.stats import percentile
from ops.archive.db import make_engine
from ops.bench.chaos_load import Entry


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One fault as inflicted: when the farm lost the part, got it back, was watched until."""

    name: str  # what was done, e.g. "worker kill -9"
    target: str  # the process (or "redis")
    down_at: float  # epoch s of the kill or shutdown
    back_at: float  # epoch s the replacement was started (Redis: answered again)
    until: float  # end of its recovery window


@dataclass(frozen=True, slots=True)
class Observed:
    """The raw material of the report."""

    sent: dict[str, float]  # event id -> epoch s the inbox took it
    npc_of: dict[str, str]  # event id -> the NPC it was sent to
    seen: dict[str, Entry]  # stream id -> entry, as the bridge read them live
    final: dict[str, Entry]  # stream id -> entry, the stream after the drain
    archived_decisions: set[str]
    archived_interactions: set[str]
    faults: list[FaultRecord]
    crashes: dict[str, list[str]]  # process -> its unplanned exits
    archive_tiers: frozenset[str]
    gold_interval_s: float
    write_errors: int


def archived_ids(url: str) -> tuple[set[str], set[str]]:
    """Event ids in the archive's `decisions` and `interactions` tables."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            decisions = {str(r[0]) for r in conn.execute(text("SELECT event_id FROM decisions"))}
            ixs = {str(r[0]) for r in conn.execute(text("SELECT event_id FROM interactions"))}
    finally:
        engine.dispose()
    return decisions, ixs


def _gaps(times: list[float], start: float, end: float) -> float | None:
    """Longest pause between consecutive times from the last one before `start` until
    `end`; a pause still going on at `end` counts up to `end` (so a pause that begins in
    the next fault's window is not counted here)."""
    if not times:
        return None
    first = max(bisect.bisect_left(times, start) - 1, 0)
    inside = times[first : bisect.bisect_left(times, end)]
    return max((b - a for a, b in itertools.pairwise([*inside, end])), default=None)


def _fault_row(
    fault: FaultRecord,
    gold: list[Entry],
    by_npc: dict[str, list[float]],
    latency: dict[str, float],
    sent: dict[str, float],
) -> dict[str, Any]:
    times = [e.at for e in gold]
    recovered = [e.at for e in gold if e.enqueued_at >= fault.back_at]
    npc_gaps = [_gaps(t, fault.down_at, fault.until) for t in by_npc.values()]
    asked = [e for e, t in sent.items() if fault.down_at <= t < fault.until]
    waits = [latency[e] for e in asked if e in latency]
    return {
        "fault": fault.name,
        "target": fault.target,
        "down_at": fault.down_at,
        "back_at": fault.back_at,
        "outage_s": fault.back_at - fault.down_at,
        "gold_gap_s": _gaps(times, fault.down_at, fault.until),
        "worst_npc_gap_s": max((g for g in npc_gaps if g is not None), default=None),
        "recover_s": min(recovered) - fault.back_at if recovered else None,
        "interactions": len(asked),
        "unanswered": len(asked) - len(waits),
        "answer_max_s": max(waits, default=None),
    }


def analyse(obs: Observed) -> dict[str, Any]:
    entries = {**obs.final, **obs.seen}  # what any reader ever got
    answers: dict[str, list[Entry]] = defaultdict(list)
    published: dict[str, int] = defaultdict(int)  # npc:tick -> entries the game acts on
    speech: set[str] = set()
    for entry in entries.values():
        key = f"{entry.npc}:{entry.tick_id}"
        if entry.part == "speech":
            speech.add(key)
            continue
        published[key] += 1
        if entry.tick_id.startswith("ix-"):
            answers[entry.tick_id[3:]].append(entry)
    latency = {e: min(x.at for x in answers[e]) - t for e, t in obs.sent.items() if answers.get(e)}
    twice = sorted(e for e in obs.sent if len(answers.get(e, [])) > 1)
    lost = sorted(e for e in obs.sent if e not in latency)
    expected = {
        f"{e.npc}:{e.tick_id}"
        for e in entries.values()
        if e.tier in obs.archive_tiers and e.part != "action"
    }
    silent = {
        f"{e.npc}:{e.tick_id}" for e in entries.values() if e.part == "action"
    } - speech  # published action first, its speech entry never came
    gold = sorted(
        (e for e in entries.values() if e.tier == "gold" and not e.tick_id.startswith("ix-")),
        key=lambda e: e.at,
    )
    by_npc: dict[str, list[float]] = defaultdict(list)
    for entry in gold:
        by_npc[entry.npc].append(entry.at)
    waits = sorted(latency.values())
    return {
        "interactions": {
            "sent": len(obs.sent),
            "answered": len(latency),
            "lost": len(lost),
            "answered_twice": len(twice),
            "lost_ids": lost[:50],
            "twice_ids": twice[:50],
            "p50_s": percentile(waits, 50) if waits else None,
            "p95_s": percentile(waits, 95) if waits else None,
            "max_s": waits[-1] if waits else None,
            "slowest": [
                {"event_id": e, "npc": obs.npc_of.get(e), "sent": obs.sent[e], "latency_s": w}
                for e, w in sorted(latency.items(), key=lambda kv: -kv[1])[:10]
            ],
            "inbox_write_retries": obs.write_errors,
        },
        "archive": {
            "tiers": sorted(obs.archive_tiers),
            "published": len(expected),
            "rows": len(obs.archived_decisions),
            "missing": len(expected - obs.archived_decisions),
            "unexpected": len(obs.archived_decisions - expected),
            "missing_ids": sorted(expected - obs.archived_decisions)[:50],
            "actions_without_speech": len(silent),
            "interactions_missing": len(set(obs.sent) - obs.archived_interactions),
        },
        "decisions": {
            "published": sum(published.values()),
            "published_twice": sum(1 for n in published.values() if n > 1),
            "vanished_after_read": len(obs.seen.keys() - obs.final.keys()),
            "mean_gold_per_s": _rate(e.at for e in gold),
        },
        "faults": [_fault_row(f, gold, by_npc, latency, obs.sent) for f in obs.faults],
        "crashes": obs.crashes,
        "gold_interval_s": obs.gold_interval_s,
    }


def _rate(times: Iterable[float]) -> float:
    seen = list(times)
    span = (max(seen) - min(seen)) if len(seen) > 1 else 0.0
    return len(seen) / span if span else 0.0


def targets(report: dict[str, Any]) -> list[tuple[str, Any, str, bool]]:
    """(what, measured, target, met) for each promise the run checks."""
    ix, arc, dec = report["interactions"], report["archive"], report["decisions"]
    interval = report["gold_interval_s"]
    crashes = sum(len(v) for v in report["crashes"].values())
    rows: list[tuple[str, Any, str, bool]] = [
        ("interactions lost", ix["lost"], "0", ix["lost"] == 0),
        ("interactions answered twice", ix["answered_twice"], "0", ix["answered_twice"] == 0),
        ("archive rows missing", arc["missing"], "0", arc["missing"] == 0),
        ("archive rows unexpected", arc["unexpected"], "0", arc["unexpected"] == 0),
        (
            "interactions not archived",
            arc["interactions_missing"],
            "0",
            not arc["interactions_missing"],
        ),
        ("decisions published twice", dec["published_twice"], "0", dec["published_twice"] == 0),
        (
            "decisions lost by Redis",
            dec["vanished_after_read"],
            "0",
            not dec["vanished_after_read"],
        ),
        ("unplanned process exits", crashes, "0", crashes == 0),
    ]
    for row in report["faults"]:
        back = row["recover_s"]
        met = back is not None and round(back, 2) <= interval  # the table's precision
        rows.append((f"ticks back, {row['fault']} (s)", back, f"<= {interval:g}", met))
    return rows


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def fault_table(report: dict[str, Any]) -> Table:
    """One row per fault: how long the part was down, the longest pause of Gold ticks
    (all Gold NPCs, and the worst single one), when ticks swept after the restart were
    back, and the interactions sent meanwhile."""
    table = Table(title="faults (seconds; sent = interactions meanwhile)")
    table.add_column("fault")
    for name in ("down", "Gold gap", "NPC gap", "back", "sent", "open", "max wait"):
        table.add_column(name, justify="right")
    for row in report["faults"]:
        table.add_row(
            row["fault"],
            _s(row["outage_s"]),
            _s(row["gold_gap_s"]),
            _s(row["worst_npc_gap_s"]),
            _s(row["recover_s"]),
            str(row["interactions"]),
            str(row["unanswered"]),
            _s(row["answer_max_s"]),
        )
    return table


def totals_table(report: dict[str, Any]) -> Table:
    ix, arc, dec = report["interactions"], report["archive"], report["decisions"]
    table = Table(title="chaos: totals and targets")
    table.add_column("what")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_row("interactions sent / answered", f"{ix['sent']:,} / {ix['answered']:,}", "", "")
    table.add_row(
        "answer p50 / p95 / max (s)",
        " / ".join(_s(ix[k]) for k in ("p50_s", "p95_s", "max_s")),
        "",
        "",
    )
    table.add_row(
        f"{'+'.join(arc['tiers'])} published / archived",
        f"{arc['published']:,} / {arc['rows']:,}",
        "equal",
        "✓" if arc["published"] == arc["rows"] else "✗",
    )
    table.add_row("decisions published (all tiers)", f"{dec['published']:,}", "", "")
    for what, value, target, met in targets(report):
        shown = _s(value) if isinstance(value, float) or value is None else f"{value:,}"
        table.add_row(what, shown, target, "✓" if met else "✗")
    return table


def summary_line(report: dict[str, Any]) -> str:
    met = [ok for *_, ok in targets(report)]
    gaps = [r["gold_gap_s"] for r in report["faults"] if r["gold_gap_s"] is not None]
    gap = f"; longest Gold tick gap {max(gaps):.2f} s" if gaps else ""
    return f"{sum(met)}/{len(met)} targets met{gap}"
