"""The `strategy` profile's scorecard: one season per brain on the same map, and the
thresholds `npcfarm eval --profile strategy` exits non-zero below.

The farm's brain must grow the economy (production per hour) clearly more than
doing nothing and more than random orders, never send a decision outside the
profile's bounds, raid only villages in sight, and write letters that fit the
writer's style.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from ops.bridge.strategy.season import SeasonReport, play

MIN_OVER_NOTHING = 1.3  # production growth, rules over doing nothing
MIN_OVER_RANDOM = 1.05  # production growth, rules over random orders


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    measured: float
    target: str
    ok: bool


def run(
    *, players: int, hours: float, seed: int = 7, progress: Callable[[str, float], None] | None
) -> tuple[dict[str, SeasonReport], list[Check]]:
    seasons = {}
    for brain in ("nothing", "random", "rules"):
        step = (lambda f, b=brain: progress(b, f)) if progress else None
        seasons[brain] = play(players=players, hours=hours, brain=brain, seed=seed, progress=step)
    rules, nothing, rand = seasons["rules"], seasons["nothing"], seasons["random"]
    letters = rules.messages_in_character / rules.messages if rules.messages else 1.0
    checks = [
        Check(
            "growth vs doing nothing",
            rules.growth / nothing.growth,
            f">= {MIN_OVER_NOTHING}",
            rules.growth / nothing.growth >= MIN_OVER_NOTHING,
        ),
        Check(
            "growth vs random orders",
            rules.growth / rand.growth,
            f">= {MIN_OVER_RANDOM}",
            rules.growth / rand.growth >= MIN_OVER_RANDOM,
        ),
        Check("invalid or out-of-bound decisions", rules.invalid, "0", rules.invalid == 0),
        Check(
            "raids on villages out of sight",
            rules.unreachable_raids,
            "0",
            rules.unreachable_raids == 0,
        ),
        Check("letters in character", letters, "1.0", letters == 1.0),
    ]
    return seasons, checks


def table(seasons: dict[str, SeasonReport], checks: list[Check]) -> tuple[Table, Table]:
    t = Table(title="strategy season, per brain", title_justify="left")
    for col in (
        "brain",
        "production x",
        "population",
        "decisions",
        "refused",
        "battles",
        "letters",
        "alliances",
    ):
        t.add_column(col, justify="left" if col == "brain" else "right")
    for name, s in seasons.items():
        t.add_row(
            name,
            f"{s.growth:.2f}",
            f"{s.population_end:.1f}",
            f"{s.decisions:,}",
            f"{sum(s.refused.values()):,}",
            f"{s.battles:,}",
            f"{s.messages:,}",
            f"{s.alliances:,}",
        )
    c = Table(title="thresholds", title_justify="left")
    for col in ("check", "measured", "target", ""):
        c.add_column(col)
    for check in checks:
        c.add_row(check.name, f"{check.measured:.3g}", check.target, "✓" if check.ok else "✗")
    return t, c


def as_json(seasons: dict[str, SeasonReport], checks: list[Check]) -> dict[str, Any]:
    return {
        "seasons": {k: v.as_dict() for k, v in seasons.items()},
        "checks": [
            {"name": c.name, "measured": c.measured, "target": c.target, "ok": c.ok} for c in checks
        ],
    }
