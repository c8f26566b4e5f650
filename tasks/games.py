"""Ticks of NPCs whose world plays a game profile other than `rpg` (a strategy game's AI
players): decided by the profile's brain, published as schema v2.

Per batch: the profile's rules choose (models/strategy.py), exclusive targets are
claimed (two AI players never raid the same village at once; allies of one faction
may share an attack), and the standing goals are kept: a player without a current
goal spends its tick on the strategic review (`plan`), whose goal then tilts its
choices for the hours it names (`{prefix}:plan:{npc}`). Kinds meant for the model
(diplomacy while talks are on, the review) are decided by these rules with
`reason = rules_for_model` until the profile's model path exists.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence

from models.profiles import get_profile
from models.profiles.schema import Profile
from models.strategy import RESOLVERS, GameChoice, decide
from npcfarm.claims import ClaimRequest, Claims
from npcfarm.domain import NPC, GameDecision, Source, Tick, Timings
from npcfarm.redisconn import text
from tasks.context import WorkerContext

PLAN_ACTION = "plan"
RULES_FOR_MODEL = "rules_for_model"  # a kind the model should decide, decided by rules


def decide_games(
    ctx: WorkerContext,
    known: Sequence[tuple[Tick, NPC, str]],
    *,
    started: float,
    idempotent: bool,
    lease_s: float,
) -> int:
    """Decide and publish ticks of game-profile NPCs; returns decisions published."""
    by_profile: dict[str, list[tuple[Tick, NPC]]] = defaultdict(list)
    for tick, npc, profile in known:
        by_profile[profile].append((tick, npc))
    decisions: list[GameDecision] = []
    for name, group in by_profile.items():
        decisions += _decide_profile(ctx, get_profile(name), group, started, lease_s)
    if not decisions:
        return 0
    published = ctx.publisher.publish(decisions, idempotent=idempotent)
    _keep_plans(ctx, decisions)
    return published


def _decide_profile(
    ctx: WorkerContext,
    profile: Profile,
    group: Sequence[tuple[Tick, NPC]],
    started: float,
    lease_s: float,
) -> list[GameDecision]:
    ticks, npcs = [t for t, _ in group], [n for _, n in group]
    held = ctx.client.mget([ctx.keys.plan(n.id) for n in npcs])
    goals = {n.id: goal for n, raw in zip(npcs, held, strict=True) if (goal := text(raw))}
    states = [n.state.game for n in npcs]
    choices = decide(
        profile,
        npcs,
        states,
        [t.tick_id for t in ticks],
        seed=ctx.settings.rules_seed,
        goals=goals,
        every_kind=True,
    )
    reasons: dict[int, str] = {}
    if PLAN_ACTION in profile.actions:
        for i, npc in enumerate(npcs):
            if npc.id not in goals:  # the review is due: this tick is spent on it
                choices[i] = _review(profile, states[i])
    for i, choice in enumerate(choices):
        if profile.kinds[choice.kind].brain != "rules":
            reasons[i] = RULES_FOR_MODEL
    _settle(ctx, profile, npcs, choices, reasons=reasons, lease_s=lease_s)
    decided = time.time()
    return [
        _decision(profile, t, n, c, reason=reasons.get(i), started=started, decided=decided)
        for i, (t, n, c) in enumerate(zip(ticks, npcs, choices, strict=True))
    ]


def _review(profile: Profile, state: Mapping[str, object]) -> GameChoice:
    """The strategic review by rules (the model's, once profiles have a model path)."""
    _target, params = RESOLVERS[PLAN_ACTION](state, {})
    return GameChoice(PLAN_ACTION, profile.actions[PLAN_ACTION].kind, None, params or {})


def _settle(
    ctx: WorkerContext,
    profile: Profile,
    npcs: Sequence[NPC],
    choices: list[GameChoice],
    *,
    reasons: dict[int, str],
    lease_s: float,
) -> None:
    """Exclusive targets, first come first served per world; a loser waits (idle)."""
    claims = Claims(ctx.client, ctx.keys, lease_ms=int(lease_s * 1000))
    by_world: dict[str, list[int]] = defaultdict(list)
    for i, npc in enumerate(npcs):
        by_world[npc.world].append(i)
    for world, indices in by_world.items():
        claiming = [
            i
            for i in indices
            if profile.actions[choices[i].action].exclusive and choices[i].target is not None
        ]
        free = [npcs[i].id for i in indices if i not in claiming]
        requests = [
            ClaimRequest(npcs[i].id, choices[i].action, choices[i].target or "", npcs[i].faction)
            for i in claiming
        ]
        granted = claims.settle(world, requests, free)
        for i, ok in zip(claiming, granted, strict=True):
            if not ok:
                choices[i] = GameChoice("idle", profile.actions["idle"].kind)
                reasons[i] = "claim_lost"


def _decision(
    profile: Profile,
    tick: Tick,
    npc: NPC,
    choice: GameChoice,
    *,
    reason: str | None,
    started: float,
    decided: float,
) -> GameDecision:
    enq, start, done = tick.enqueued_at * 1000, started * 1000, decided * 1000
    now = time.time() * 1000
    speech = choice.params.get("text") if choice.action == "message" else None
    return GameDecision(
        npc_id=npc.id,
        world=npc.world,
        profile=profile.name,
        tick_id=tick.tick_id,
        tier=tick.tier,
        kind=choice.kind,
        action=choice.action,
        target=choice.target,
        params=choice.params,
        speech=str(speech) if speech is not None else None,
        source=Source.RULES,
        reason=reason,
        timings=Timings(
            enqueued_at=enq,
            started_at=start,
            decided_at=done,
            published_at=now,
            queue_ms=max(0.0, start - enq),
            decide_ms=max(0.0, done - start),
            latency_ms=max(0.0, now - enq),
        ),
    )


def _keep_plans(ctx: WorkerContext, decisions: Sequence[GameDecision]) -> None:
    pipe = ctx.client.pipeline(transaction=False)
    for d in decisions:
        if d.action == PLAN_ACTION and isinstance(d.params.get("goal"), str):
            hours = int(d.params.get("hours", 6) or 6)
            pipe.set(ctx.keys.plan(d.npc_id), str(d.params["goal"]), ex=hours * 3600)
    pipe.execute()
