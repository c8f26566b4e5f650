"""A season of the strategy game played by N AI players, in one process.

The game runs in process (`ops.games.strategy.Game`, no HTTP), and the AI players
decide with the same brain the farm's workers run (models/strategy.py over the
`strategy` profile), through the same translation and orders as the connector, so
what a season shows is how the farm's AI players play. Two baselines play the same
map: `nothing` (no orders) and `random` (a random allowed action with random
parameters inside the profile's bounds, aimed at a random neighbour). Used by
`npcfarm eval --profile strategy` and `python -m ops.bench.strategy`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.profiles import get_profile
from models.profiles.schema import Param, Profile
from models.profiles.values import check_params, check_state, styles_of
from models.strategy import GameChoice, decide
from npcfarm.domain import NPC, GameDecision, Personality, Source, Tier, Timings
from npcfarm.errors import InvalidInput
from ops.bridge.strategy.orders import Order
from ops.bridge.strategy.play import Call, Missions, Refusal, carry_out
from ops.bridge.strategy.translate import Knowledge, learn, profile_state
from ops.games.strategy import Game, Refused
from ops.games.strategy.batch import dispatch
from ops.games.strategy.rules import rules_document

ARCHETYPES = ("builder", "raider", "turtle", "diplomat")
PEACEFUL = ("peace", "well met")
THREATENING = ("keep your troops away", "regret")


def plain_call(game: Game) -> Call:
    """The connector's API calls, made on the in-process game (same routes and codes)."""

    def call(player: int, order: Order) -> dict[str, Any]:
        try:
            return dispatch(game, player, order.path, order.body)
        except Refused as exc:
            raise Refusal(str(exc.code), exc.reason) from exc

    return call


@dataclass(slots=True)
class SeasonReport:
    brain: str
    players: int
    hours: float
    population_start: float = 0.0
    population_end: float = 0.0
    production_start: float = 0.0  # resources per game hour, mean per player
    production_end: float = 0.0
    decisions: int = 0
    seconds: float = 0.0  # wall time of the whole season
    decide_seconds: float = 0.0  # of which the brain
    actions: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    invalid: int = 0  # states or parameters outside the profile's bounds
    unreachable_raids: int = 0  # raids or attacks on a village not in sight
    battles: int = 0
    messages: int = 0
    messages_in_character: int = 0
    alliances: int = 0

    @property
    def growth(self) -> float:
        """Economy growth: production per hour at the end over the start."""
        return self.production_end / max(self.production_start, 1.0)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return out | {"growth": self.growth, "actions": dict(self.actions)}


def ai_players(n: int, seed: int) -> list[NPC]:
    rng = random.Random(seed)
    return [
        NPC(
            id=f"ai-{i:03d}",
            name=f"AI {i}",
            archetype=ARCHETYPES[i % len(ARCHETYPES)],
            world="season",
            tier=Tier.SILVER,
            personality=Personality(**{t: round(rng.random(), 2) for t in _TRAITS}),
        )
        for i in range(1, n + 1)
    ]


_TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def play(
    *,
    players: int,
    hours: float,
    brain: str = "rules",
    seed: int = 7,
    turn_s: float = 900.0,
    progress: Callable[[float], None] | None = None,
) -> SeasonReport:
    """Play `hours` game hours, every AI player deciding once per `turn_s` game seconds."""
    profile, game, rules = (
        get_profile("strategy"),
        Game(players=players, seed=seed),
        rules_document(),
    )
    npcs, call, rng = ai_players(players, seed), plain_call(game), random.Random(seed)
    know = {p: Knowledge() for p in range(1, players + 1)}
    missions = {p: Missions() for p in range(1, players + 1)}
    goals: dict[str, tuple[str, float]] = {}
    report = SeasonReport(brain=brain, players=players, hours=hours)
    report.population_start = _population(game, players)
    report.production_start = _production(game, players)
    started, turns = time.perf_counter(), max(1, int(hours * 3600 / turn_s))
    for turn in range(turns):
        seen = {
            p: game.state_of(
                p, reports_after=know[p].reports_after, messages_after=know[p].messages_after
            )
            for p in know
        }
        attacked = {
            p: any(m["kind"] == "hostile" for m in s["movements"]["incoming"])
            for p, s in seen.items()
        }
        states = []
        for p, s in seen.items():
            for r in learn(know[p], s, rules, p):
                report.battles += r.get("kind") == "battle" and r.get("role") == "attacker"
                missions[p].reported(r)
            try:
                states.append(
                    check_state(profile, profile_state(s, rules, know[p], under_attack=attacked))
                )
            except InvalidInput:
                report.invalid += 1
                states.append({})
        if brain != "nothing":
            t0 = time.perf_counter()
            choices = _choose(
                profile,
                npcs=npcs,
                states=states,
                brain=brain,
                turn=turn,
                rng=rng,
                goals=goals,
                now=game.now,
                turn_s=turn_s,
            )
            report.decide_seconds += time.perf_counter() - t0
            _execute(
                call,
                profile,
                npcs=npcs,
                seen=seen,
                choices=choices,
                rules=rules,
                know=know,
                missions=missions,
                report=report,
            )
        game.advance(turn_s)
        if progress:
            progress((turn + 1) / turns)
    report.seconds = time.perf_counter() - started
    report.population_end = _population(game, players)
    report.production_end = _production(game, players)
    report.alliances = int(game.world()["alliances"])
    return report


def _population(game: Game, players: int) -> float:
    rows = game.players_list(0, players)
    return sum(float(r["population"]) for r in rows) / max(players, 1)


def _production(game: Game, players: int) -> float:
    """Mean resources the fields produce per game hour, over the players (the economy:
    crop before the troops' upkeep, so an army is not counted against it)."""
    total = 0.0
    for p in range(1, players + 1):
        v = game.state_of(p, radius=0)["villages"][0]
        total += sum(float(x) for x in v["production"].values()) + float(v["crop_upkeep"])
    return total / max(players, 1)


def _choose(
    profile: Profile,
    *,
    npcs: list[NPC],
    states: list[dict[str, Any]],
    brain: str,
    turn: int,
    rng: random.Random,
    goals: dict[str, tuple[str, float]],
    now: float,
    turn_s: float,
) -> list[GameChoice]:
    if brain == "random":
        return [_random_choice(profile, n, s, rng) for n, s in zip(npcs, states, strict=True)]
    held = {n: g for n, (g, until) in goals.items() if until > now}
    choices = decide(
        profile, npcs, states, [f"t{turn}"] * len(npcs), seed=turn, goals=held, every_kind=True
    )
    for i, npc in enumerate(npcs):
        if npc.id not in held and states[i]:  # the review is due
            from models.strategy import RESOLVERS  # noqa: PLC0415

            _t, params = RESOLVERS["plan"](
                states[i], styles_of(profile, npc.personality, npc.archetype)
            )
            choices[i] = GameChoice("plan", "review", None, params or {})
            # A goal holds its hours, and at least a few turns: a review every turn is no plan.
            hold = max(float(params["hours"]) * 3600 if params else 0.0, 4 * turn_s)
            goals[npc.id] = (str(params["goal"]) if params else "grow", now + hold)
    return choices


def _random_choice(
    profile: Profile, npc: NPC, state: dict[str, Any], rng: random.Random
) -> GameChoice:
    names = [a for a in profile.allowed(npc.archetype) if a not in ("idle", "plan")]
    name = rng.choice(names)
    spec = profile.actions[name]
    params = {p: _random_param(s, rng) for p, s in spec.params.items() if not s.optional}
    target = None
    rows = state.get("neighbours") or []
    if spec.target != "none" and rows:
        row = rng.choice(rows)
        target = row["village"] if spec.target == "village" else row["player"]
    return GameChoice(name, spec.kind, target, params)


def _random_param(spec: Param, rng: random.Random) -> Any:
    if spec.type == "enum":
        return rng.choice(spec.values)
    if spec.type == "int":
        return rng.randint(int(spec.min or 0), min(int(spec.max or 1), 50))
    if spec.type == "float":
        return rng.uniform(spec.min or 0.0, spec.max or 1.0)
    if spec.type == "bool":
        return rng.random() < 0.5
    return "Greetings."


def _execute(
    call: Call,
    profile: Profile,
    *,
    npcs: list[NPC],
    seen: dict[int, dict[str, Any]],
    choices: list[GameChoice],
    rules: dict[str, Any],
    know: dict[int, Knowledge],
    missions: dict[int, Missions],
    report: SeasonReport,
) -> None:
    claimed: set[tuple[str, str]] = set()
    for i, (npc, choice) in enumerate(zip(npcs, choices, strict=True)):
        player, state = i + 1, seen[i + 1]
        report.decisions += 1
        report.actions[choice.action] += 1
        try:
            check_params(profile, choice.action, choice.params)
        except InvalidInput:
            report.invalid += 1
            continue
        if profile.actions[choice.action].exclusive and choice.target is not None:
            if (choice.action, choice.target) in claimed:
                continue  # the claim: one raider per village at a time
            claimed.add((choice.action, choice.target))
            in_sight = {str(n["village"]) for n in state.get("nearby") or []}
            report.unreachable_raids += choice.target not in in_sight
        decision = _as_decision(npc, choice, player)
        outcome = carry_out(
            call,
            decision,
            player=player,
            village=state["villages"][0],
            rules=rules,
            alliance=(state.get("alliance") or {}).get("id"),
            missions=missions[player],
        )
        if outcome is not None and outcome.status == "refused":
            report.refused[outcome.code or "?"] += 1
        wrote = choice.action in ("message", "propose_alliance") and choice.target is not None
        if wrote and outcome is not None and outcome.status == "accepted":
            know[player].answered(int(str(choice.target)), float(state["game_time"]))
        if choice.action == "message" and outcome is not None and outcome.status == "accepted":
            report.messages += 1
            report.messages_in_character += _in_character(
                profile, npc, str(choice.params.get("text"))
            )


def _in_character(profile: Profile, npc: NPC, text: str) -> bool:
    """A diplomatic player's letter threatens no one; an aggressive one offers no peace."""
    styles = styles_of(profile, npc.personality, npc.archetype)
    lower = text.lower()
    if styles["diplomacy"] >= 0.5:
        return not any(w in lower for w in THREATENING)
    if styles["aggression"] >= 0.6:
        return not any(w in lower for w in PEACEFUL)
    return True


def _as_decision(npc: NPC, choice: GameChoice, player: int) -> GameDecision:
    now = time.time() * 1000
    return GameDecision(
        npc_id=npc.id,
        world=npc.world,
        profile="strategy",
        tick_id=f"{npc.id}-{now:.0f}",
        tier=Tier.SILVER,
        kind=choice.kind,
        action=choice.action,
        target=choice.target,
        params=choice.params,
        source=Source.RULES,
        timings=Timings(
            enqueued_at=now,
            started_at=now,
            decided_at=now,
            published_at=now,
            queue_ms=0,
            decide_ms=0,
            latency_ms=0,
        ),
    )
