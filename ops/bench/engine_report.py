"""The engine benchmark's outputs: the summary table and the plot (throughput and p95
latency against parallelism)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from rich.table import Table


def plot(report: dict[str, Any], path: Path) -> None:
    rows = report["parallelism"]
    levels = [r["parallel"] for r in rows]
    base = report["baselines"]["llama_unconstrained"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(levels, [r["decisions_per_s"] for r in rows], "o-", label="engine")
    left.axhline(base["decisions_per_s"], color="grey", ls="--", label="Llama, one at a time")
    left.set(xlabel="parallel sequences", ylabel="valid decisions / s", title="throughput")
    left.set_xticks(levels)
    left.legend()
    right.plot(
        levels, [r["latency_p95_s"] for r in rows], "o-", color="tab:red", label="engine p95"
    )
    if base.get("latency_p95_s"):
        right.axhline(base["latency_p95_s"], color="grey", ls="--", label="Llama, one at a time")
    right.set(
        xlabel="parallel sequences", ylabel="seconds", title="p95 latency (all arrive at once)"
    )
    right.set_xticks(levels)
    right.legend()
    fig.suptitle(
        f"{report['model']}, {report['threads']} threads, GPU offload {report['gpu_offload']}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(report: dict[str, Any]) -> Table:
    table = Table(title="engine benchmark (each figure with its baseline)")
    for column in ("figure", "engine", "baseline", "ratio", "target"):
        table.add_column(column)
    base = report["baselines"]["llama_unconstrained"]["decisions_per_s"]
    for row in report["parallelism"]:
        table.add_row(
            f"decisions/s at P={row['parallel']}",
            f"{row['decisions_per_s']:.2f}",
            f"{base:.2f} (Llama, one at a time)",
            f"{row['decisions_per_s'] / base:.2f}x",
            ">= 1.5x at P=8" if row["parallel"] == 8 else "",
        )
        table.add_row(
            f"tokens/s at P={row['parallel']}",
            f"{row['tokens_per_s']:.0f}",
            f"{row['raw_tokens_per_s']:.0f} (raw llama_decode)",
            f"{row['vs_raw']:.2f}x",
            ">= 0.9x at P=8" if row["parallel"] == 8 else "",
        )
    cu = report["constrained_vs_unconstrained"]
    table.add_row(
        "ms per token, constrained",
        f"{cu['constrained']['seconds_per_token_ms']:.2f}",
        f"{cu['unconstrained']['seconds_per_token_ms']:.2f} (unconstrained)",
        f"{cu['time_ratio_per_token']:.2f}x",
        "<= 1.2x",
    )
    ps = report["prefix_sharing"]
    table.add_row(
        "prompt tokens evaluated / decision",
        f"{ps['shared']['evaluated_per_decision']:.0f}",
        f"{ps['unshared']['evaluated_per_decision']:.0f} (no sharing)",
        f"{ps['shared']['evaluated_per_decision'] / ps['unshared']['evaluated_per_decision']:.2f}x",
        "unique suffix (+5%), prefix once",
    )
    lo = report["lora"]
    table.add_row(
        "LoRA set switch (call + next decode)", f"{lo['switch_cost_ms']:.1f} ms", "", "", "< 5 ms"
    )
    return table
