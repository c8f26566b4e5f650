"""What the model costs, per world, tier and archetype, and the daily budgets on it.

Every model request reports its prompt and generated tokens and its share of decode
time; workers add them to one Redis hash per UTC day (so every host's workers count
into the same figures) and convert decode seconds into money at
`gpu_cost_per_hour`. A world's tier that has spent its day's budget is decided by the
rules brain (`reason = budget`) until the day turns at 00:00 UTC: the game keeps
getting decisions, only cheaper ones.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from npcfarm.keys import Keys
from npcfarm.settings import Settings

KEEP_DAYS = 8  # days of figures kept (today, and a week back for `status`)
METRICS = ("requests", "prompt_tokens", "generated_tokens", "decode_s")


def day_of(ts: float) -> str:
    """The UTC day a cost falls in: budgets reset when it turns."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


@dataclass(frozen=True, slots=True)
class Usage:
    """One model request's cost."""

    world: str
    tier: str
    archetype: str
    prompt_tokens: int
    generated_tokens: int
    decode_s: float


def record(
    pipe: redis.client.Pipeline,
    keys: Keys,
    usages: Iterable[Usage],
    *,
    settings: Settings,
    now: float,
) -> None:
    """Queue requests' costs onto the day's counters (the caller sends the pipeline)."""
    summed: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for u in usages:
        row = summed[(u.world, u.tier, u.archetype)]
        row[0] += 1
        row[1] += u.prompt_tokens
        row[2] += u.generated_tokens
        row[3] += u.decode_s
    if not summed:
        return
    day = day_of(now)
    usage, spent = keys.usage(day), keys.spent(day)
    rate = settings.gpu_cost_per_hour / 3600
    money: dict[str, float] = defaultdict(float)
    for (world, tier, archetype), (requests, prompt, generated, decode_s) in summed.items():
        field = f"{world}|{tier}|{archetype}"
        pipe.hincrby(usage, f"{field}|requests", int(requests))
        pipe.hincrby(usage, f"{field}|prompt_tokens", int(prompt))
        pipe.hincrby(usage, f"{field}|generated_tokens", int(generated))
        pipe.hincrbyfloat(usage, f"{field}|decode_s", round(decode_s, 6))
        money[f"{world}|{tier}"] += decode_s * rate if rate else decode_s
    for field, amount in money.items():
        pipe.hincrbyfloat(spent, field, round(amount, 9))
    pipe.expire(usage, KEEP_DAYS * 86_400)
    pipe.expire(spent, KEEP_DAYS * 86_400)


def limit_of(settings: Settings, world: str, tier: str) -> float | None:
    """The day's budget of a world's tier (its own, else the `*` one); None: unlimited."""
    budgets = settings.budgets
    return budgets.get(f"{world}/{tier}", budgets.get(f"*/{tier}"))


def over_budget(
    client: redis.Redis,
    keys: Keys,
    settings: Settings,
    pairs: Iterable[tuple[str, str]],
    *,
    now: float,
) -> set[tuple[str, str]]:
    """The (world, tier) pairs that spent their day's budget (no read without budgets)."""
    limited = {p: limit for p in set(pairs) if (limit := limit_of(settings, *p)) is not None}
    if not limited:
        return set()
    names = list(limited)
    spent = client.hmget(keys.spent(day_of(now)), [f"{w}|{t}" for w, t in names])
    return {p for p, s in zip(names, spent, strict=True) if float(s or 0) >= limited[p]}


@dataclass(frozen=True, slots=True)
class CostRow:
    """One world and tier's day so far, for `status`, `top` and Prometheus."""

    world: str
    tier: str
    requests: int
    prompt_tokens: int
    generated_tokens: int
    decode_s: float
    spent: float
    budget: float | None
    by_archetype: Mapping[str, Mapping[str, float]]

    @property
    def over(self) -> bool:
        return self.budget is not None and self.spent >= self.budget


def today(client: redis.Redis, keys: Keys, settings: Settings, *, now: float) -> list[CostRow]:
    """The day's figures per world and tier (archetypes inside), sorted by cost."""
    day = day_of(now)
    usage = client.hgetall(keys.usage(day))
    spent = client.hgetall(keys.spent(day))
    table: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: dict.fromkeys(METRICS, 0.0))
    )
    for field, value in usage.items():
        world, tier, archetype, metric = str(field).rsplit("|", 3)
        if metric in METRICS:
            table[(world, tier)][archetype][metric] = float(value)
    rows = []
    for (world, tier), archetypes in table.items():
        total = {m: sum(a[m] for a in archetypes.values()) for m in METRICS}
        rows.append(
            CostRow(
                world=world,
                tier=tier,
                requests=int(total["requests"]),
                prompt_tokens=int(total["prompt_tokens"]),
                generated_tokens=int(total["generated_tokens"]),
                decode_s=total["decode_s"],
                spent=float(spent.get(f"{world}|{tier}", 0)),
                budget=limit_of(settings, world, tier),
                by_archetype={a: dict(m) for a, m in archetypes.items()},
            )
        )
    return sorted(rows, key=lambda r: (-r.spent, r.world, r.tier))
