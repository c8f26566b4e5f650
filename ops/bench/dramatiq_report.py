"""The table of `ops.bench.dramatiq_path`: Celery and dramatiq side by side, and ratios."""

from __future__ import annotations

import math
import statistics
from typing import Any

from rich.table import Table

CPU = "cpu_us_per_decision"
# as ops.bench.dramatiq_path counts: each lane's processes, redis-server, the benchmark
CPU_PARTS = ("total", "bulk", "gold", "redis", "publisher")


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds (Gold shed: the sum), and every round."""
    out = _median_of(runs)
    if "gold_shed" in out:
        out["gold_shed"] = sum(r["gold_shed"] for r in runs)
    return {**out, "runs": runs}


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numbers in a list of like dicts, nested dicts included (a counter
    that one round never bumped counts 0 there)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in runs for k in r):
        values = [r.get(key) for r in runs]
        if all(isinstance(v, dict) or v is None for v in values):
            out[key] = _median_of([v or {} for v in values])
        elif all(isinstance(v, int | float) or v is None for v in values):
            out[key] = statistics.median(v or 0 for v in values)
    return out


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def times(value: float, digits: int = 2) -> str:
    """A ratio as `1.23x`; a dash where it has no meaning (nothing to divide by)."""
    return "—" if math.isnan(value) else f"{value:.{digits}f}x"


def table(report: dict[str, Any]) -> Table:
    """Both queues' figures side by side, and dramatiq / Celery for each."""
    c, d = report["celery"], report["dramatiq"]
    version, rounds = report["dramatiq_version"], report["rounds"]
    out = Table(title=f"rules path: Celery vs dramatiq {version}, medians of {rounds} round(s)")
    for column in ("figure", "Celery", "dramatiq", "dramatiq / Celery"):
        out.add_column(column, justify="left" if column == "figure" else "right")

    def row(label: str, key: list[str], unit: str, fmt: str = ",.0f") -> None:
        a, b = _get(c, key), _get(d, key)
        out.add_row(label, f"{a:{fmt}}{unit}", f"{b:{fmt}}{unit}", times(ratio(b, a)))

    for part in ("gold", "bulk", "redis"):
        row(f"idle lanes: % of a core, {part}", ["idle_cpu", f"{part}_pct"], " %", ".1f")
    for phase, what in (("batched", "bulk lane"), ("naive", "1 message per NPC")):
        row(f"{phase} ({what}): decisions/s", [phase, "per_s"], "/s")
        for part in CPU_PARTS:
            row(f"  CPU per decision, {part}", [phase, CPU, part], " µs")
    out.add_row(
        "batched / naive",
        *(times(ratio(q["batched"]["per_s"], q["naive"]["per_s"]), 1) for q in (c, d)),
        "",
    )
    if "gold" in c:
        for phase in ("idle", "flood"):
            for p in ("p50", "p95"):
                row(f"Gold {p}, {phase}", ["gold", phase, f"{p}_ms"], " ms", ".1f")
            for p in ("p50", "p95"):
                row(f"  of which queued, {p}", ["gold", phase, f"queue_{p}_ms"], " ms", ".1f")
        growth = [ratio(q["gold"]["flood"]["p95_ms"], q["gold"]["idle"]["p95_ms"]) for q in (c, d)]
        out.add_row("Gold p95 flood / idle", *(times(g) for g in growth), "")
        row("Gold ticks shed in the flood", ["gold", "flood", "gold_shed"], "")
        row("Bronze decided in the flood", ["gold", "flood", "bronze_decided"], "")
    return out


def _get(node: dict[str, Any], key: list[str]) -> float:
    value: Any = node
    for part in key:
        value = value[part]
    return float(value)
