"""The scorecard: run the scripted scenarios through an engine and measure the answers.

Turn k of every archetype is decided in one batch (the same shape a worker sees), and
each NPC's earlier lines come back as its recent turns, so repetition across a
conversation shows up in distinct-2. Scores are per archetype and overall:

- schema-valid rate: results that form a valid `Decision` (error-free and in bounds);
- allowed-action rate: of all turns, actions inside the archetype's vocabulary;
- distinct-2: distinct word bigrams over all bigrams in the archetype's speech;
- persona rate: valid decisions with no persona problem (models/scenarios.py);
- latency percentiles of single decisions, and decisions per second overall.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError
from rich.table import Table

from models.archetypes import Archetype, default_catalogue
from models.llm.types import DecisionRequest, DecisionResult
from models.prompts import system_prompt, user_prompt
from models.scenarios import PLAYER_ID, persona_problems, script

RECENT_TURNS = 4  # earlier lines of the same NPC quoted back into its prompt


class Decider(Protocol):
    def decide(self, requests: Sequence[DecisionRequest]) -> list[DecisionResult]: ...


@dataclass(frozen=True, slots=True)
class Score:
    name: str  # archetype, or "all"
    decisions: int
    schema_valid_rate: float
    allowed_action_rate: float
    distinct_2: float
    persona_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> count
    problems: list[str] = field(default_factory=list)  # first few persona problems


@dataclass(frozen=True, slots=True)
class Scorecard:
    model: str
    turns: int
    seconds: float
    decisions_per_s: float
    overall: Score
    archetypes: list[Score]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def below_thresholds(self) -> list[str]:
        """The rpg profile's thresholds missed (none: `eval` exits 0). Every valid
        decision must use an action of its archetype (the grammar's promise), and no
        request may fail inside the engine."""
        failed = []
        for s in (self.overall, *self.archetypes):
            if s.allowed_action_rate + 1e-9 < s.schema_valid_rate:
                failed.append(f"{s.name}: a valid decision used an action its archetype lacks")
        if self.overall.errors.get("internal"):
            failed.append(f"{self.overall.errors['internal']} requests failed inside the engine")
        return failed

    def table(self) -> Table:
        table = Table(
            title=f"eval: {self.model}, {self.turns} turns, {self.decisions_per_s:.2f} decisions/s"
        )
        columns = (
            "archetype",
            "n",
            "valid",
            "allowed",
            "distinct-2",
            "persona",
            "p50 ms",
            "p95 ms",
        )
        for column in columns:
            table.add_column(column, justify="left" if column == "archetype" else "right")
        for s in [*self.archetypes, self.overall]:
            table.add_row(
                s.name,
                str(s.decisions),
                f"{s.schema_valid_rate:.0%}",
                f"{s.allowed_action_rate:.0%}",
                f"{s.distinct_2:.2f}",
                f"{s.persona_rate:.0%}",
                f"{s.latency_p50_ms:.0f}",
                f"{s.latency_p95_ms:.0f}",
            )
        return table


def distinct_2(lines: Sequence[str]) -> float:
    """Distinct word bigrams / all word bigrams (1.0: no repetition; 0.0: no bigrams)."""
    bigrams = [
        pair
        for line in lines
        for pair in zip(line.lower().split(), line.lower().split()[1:], strict=False)
    ]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def _valid(result: DecisionResult, archetype: Archetype) -> bool:
    if result.action is None or result.emotion is None:
        return False
    try:
        result.as_decision(npc_id="eval", world="eval")
    except ValidationError:
        return False
    return result.action in archetype.allowed_actions


def _score(
    name: str, archetypes: Mapping[str, Archetype], results: Sequence[tuple[str, DecisionResult]]
) -> Score:
    kinds = tuple(archetypes)
    valid = [(a, r) for a, r in results if _valid(r, archetypes[a])]
    problems = [
        f"{a}/{r.request_id}: {p}"
        for a, r in valid
        for p in persona_problems(archetypes[a], kinds, r.action, r.speech)
    ]
    in_character = sum(
        1 for a, r in valid if not persona_problems(archetypes[a], kinds, r.action, r.speech)
    )
    latencies = np.array([r.seconds for _, r in results]) * 1000.0
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (0.0, 0.0, 0.0)
    errors: dict[str, int] = {}
    for _, r in results:
        if r.error:
            kind = r.error.split(":", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1
    by_archetype: dict[str, list[str]] = {}
    for a, r in valid:
        if r.speech:
            by_archetype.setdefault(a, []).append(r.speech)
    d2 = [distinct_2(lines) for lines in by_archetype.values()]
    n = max(len(results), 1)
    return Score(
        name=name,
        decisions=len(results),
        schema_valid_rate=len(valid) / n,
        allowed_action_rate=sum(1 for a, r in results if r.action in archetypes[a].allowed_actions)
        / n,
        distinct_2=float(np.mean(d2)) if d2 else 0.0,
        persona_rate=in_character / n,
        latency_p50_ms=float(p50),
        latency_p95_ms=float(p95),
        latency_p99_ms=float(p99),
        errors=errors,
        problems=problems[:5],
    )


def run_eval(
    engine: Decider,
    *,
    model: str,
    archetypes: Sequence[str] | None = None,
    turns: int = 20,
    time_limit_s: float = 60.0,
) -> Scorecard:
    """Play the script for `archetypes` (default: all) through `engine` and score it."""
    catalogue = default_catalogue()
    chosen = {name: catalogue[name] for name in (archetypes or tuple(catalogue))}
    scripts = {name: script(a, turns) for name, a in chosen.items()}
    history: dict[str, list[str]] = {name: [] for name in chosen}
    collected: list[tuple[str, DecisionResult]] = []
    started = time.perf_counter()
    for k in range(turns):
        requests = []
        for name, archetype in chosen.items():
            turn = scripts[name][k]
            prompt = user_prompt(
                turn.npc,
                player_id=PLAYER_ID if turn.player_words else None,
                player_words=turn.player_words,
                recent_turns=history[name][-RECENT_TURNS:],
            )
            requests.append(
                DecisionRequest(
                    request_id=f"{name}-{k}",
                    archetype=name,
                    system_prompt=system_prompt(archetype),
                    prompt=prompt,
                    allowed_actions=tuple(sorted(archetype.allowed_actions)),
                    time_limit_s=time_limit_s,
                )
            )
        for name, result in zip(chosen, engine.decide(requests), strict=True):
            collected.append((name, result))
            if result.speech:
                history[name].append(result.speech)
    seconds = time.perf_counter() - started
    per = [_score(n, chosen, [(a, r) for a, r in collected if a == n]) for n in chosen]
    return Scorecard(
        model=model,
        turns=turns,
        seconds=seconds,
        decisions_per_s=len(collected) / seconds if seconds > 0 else 0.0,
        overall=_score("all", chosen, collected),
        archetypes=per,
    )
