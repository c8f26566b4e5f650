"""What one message does, as plain functions that tests call directly.

A tick batch: drop what expired (counted, before any work), load the NPCs in one
MGET, run the rules brain over the whole batch, publish in one Lua call. A job (CLI
one-off, player interaction): the same for one NPC, published idempotently by tick id
because its message is acknowledged late and may be redelivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import ValidationError

from models.archetypes import archetype_names
from models.profiles import get_profile
from models.reactions import react
from models.rules import RuleChoice
from npcfarm import tracing
from npcfarm.domain import NPC, Decision, Job, Nearby, Source, Tick, TickBatch, Timings
from npcfarm.errors import InvalidInput, first_problem
from npcfarm.registry import load_npcs
from npcfarm.results import release_ticks
from npcfarm.stats import REASON, bump
from npcfarm.worlds import DEFAULT_PROFILE, profiles_of
from tasks.context import WorkerContext
from tasks.coordinate import decide_coordinated, with_surroundings
from tasks.games import decide_games
from tasks.llm import BRAIN, Answer, Asked, LlmBrain
from tasks.memory import recall_for_prompts, recall_lines, remember_decisions, standings
from tasks.speaking import Asking

log = logging.getLogger(__name__)

REJECTED_MAXLEN = 10_000  # malformed jobs kept for operators
DEFAULT_LEASE_S = 3.0  # claim lease of a job's decision (about one Gold interval)
VISITOR_DISTANCE_M = 1.5  # an interacting player stands right next to the NPC

M = TypeVar("M", TickBatch, Job)


def parse_message(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problem = first_problem(exc, subject="message")
        raise InvalidInput(f"malformed {model.__name__}: {problem}") from exc


def reject(ctx: WorkerContext, kind: str, payload: Any, reason: str) -> None:
    """Keep a malformed message where an operator can see it; never raise."""
    log.warning("rejected %s: %s", kind, reason)
    ctx.client.xadd(
        ctx.keys.rejected_jobs,
        {"kind": kind, "reason": reason[:500], "payload": repr(payload)[:2000]},
        maxlen=REJECTED_MAXLEN,
        approximate=True,
    )


def build_decisions(
    ticks: Sequence[Tick],
    npcs: Sequence[NPC],
    choices: Sequence[RuleChoice],
    *,
    started: float,
    decided: float,
    reasons: dict[int, str] | None = None,
    sources: dict[int, Source] | None = None,
    model: str | None = None,
) -> list[Decision]:
    published = time.time()
    reasons, sources = reasons or {}, sources or {}
    out = []
    for i, (tick, npc, choice) in enumerate(zip(ticks, npcs, choices, strict=True)):
        enq_ms = tick.enqueued_at * 1000
        out.append(
            Decision(
                npc_id=npc.id,
                world=npc.world,
                tick_id=tick.tick_id,
                tier=tick.tier,
                action=choice.action,
                target=choice.target,
                speech=choice.speech,
                emotion=choice.emotion,
                source=sources.get(i, Source.RULES),
                model=model if i in sources else None,
                reason=reasons.get(i),
                timings=Timings(
                    enqueued_at=enq_ms,
                    started_at=started * 1000,
                    decided_at=decided * 1000,
                    published_at=published * 1000,
                    queue_ms=max(0.0, started * 1000 - enq_ms),
                    decide_ms=(decided - started) * 1000,
                    latency_ms=max(0.0, published * 1000 - enq_ms),
                ),
            )
        )
    return out


def decide_ticks(
    ctx: WorkerContext,
    ticks: Sequence[Tick],
    *,
    idempotent: bool,
    lease_s: float = DEFAULT_LEASE_S,
    visitors: dict[str, Nearby] | None = None,
    brain: str = "rules",
    words: dict[str, str] | None = None,
    llm: LlmBrain = BRAIN,
    kinds: dict[str, str] | None = None,
) -> int:
    """Decide and publish; returns how many decisions were published. `visitors`,
    `words` and `kinds`: the player each NPC answers, what it said and what it did."""
    started = time.time()
    attributes: dict[str, str | int | float] = {}
    if tracing.enabled() and ticks:
        waited = max(0.0, started - min(t.enqueued_at for t in ticks)) * 1000
        attributes = {
            "npcfarm.tier": str(ticks[0].tier),
            "npcfarm.ticks": len(ticks),
            "npcfarm.brain": brain,
            "npcfarm.queue_ms": round(waited, 2),
            "npcfarm.tick_id": ticks[0].tick_id,
        }
    with tracing.span("decide", attributes=attributes):
        return _decide(
            ctx,
            ticks,
            started=started,
            idempotent=idempotent,
            lease_s=lease_s,
            visitors=visitors,
            brain=brain,
            words=words,
            llm=llm,
            kinds=kinds or {},
        )


def _decide(
    ctx: WorkerContext,
    ticks: Sequence[Tick],
    *,
    started: float,
    idempotent: bool,
    lease_s: float,
    visitors: dict[str, Nearby] | None,
    brain: str,
    words: dict[str, str] | None,
    llm: LlmBrain,
    kinds: dict[str, str],
) -> int:
    known = _admit(ctx, ticks, started)
    if not known:
        return 0
    profiles = profiles_of(ctx.client, ctx.keys, {n.world for _, n in known})
    games = [(t, n, profiles[n.world]) for t, n in known if profiles[n.world] != DEFAULT_PROFILE]
    game_published = 0
    if games:  # a strategy game's AI players: the profile's brain, schema v2
        game_published = decide_games(
            ctx, games, started=started, idempotent=idempotent, lease_s=lease_s
        )
        known = [(t, n) for t, n in known if profiles[n.world] == DEFAULT_PROFILE]
        if not known:
            return game_published
    kept_ticks = [t for t, _ in known]
    kept_npcs = with_surroundings(ctx, [n for _, n in known], visitors or {})
    tick_ids = [t.tick_id for t in kept_ticks]
    visitors, words = visitors or {}, words or {}
    preset: list[Answer] = []
    asking: tuple[Asking, list[int]] | None = None
    if brain == "llm":
        preset, asking = _model_answers(
            ctx,
            llm,
            ticks=kept_ticks,
            npcs=kept_npcs,
            visitors=visitors,
            words=words,
            started=started,
        )
    if visitors:  # the rules brain answers a player by what it knows of them
        preset = _with_reactions(ctx, kept_npcs, preset, visitors, kinds)
    choices, reasons, sources = decide_coordinated(
        ctx, kept_npcs, tick_ids, lease_s=lease_s, preset=preset
    )
    if visitors:  # the rules brain, too, greets a player it remembers
        lines = recall_lines(ctx, kept_npcs, visitors)
        for i, npc in enumerate(kept_npcs):
            if i not in sources and choices[i].speech and npc.id in lines:
                choices[i] = replace(choices[i], speech=lines[npc.id])
    for reason in set(reasons.values()):
        bump(
            ctx.client,
            ctx.keys,
            ticks[0].tier,
            REASON + reason.split(":")[0],
            sum(1 for r in reasons.values() if r == reason),
        )
    decisions = build_decisions(
        kept_ticks,
        kept_npcs,
        choices,
        started=started,
        decided=time.time(),
        reasons=reasons,
        sources=sources,
        model=llm.model or None,
    )
    speaking = [
        i
        for i, answer in enumerate(preset)
        if answer.speaking and i in sources and reasons.get(i) not in REDECIDED
    ]
    parts = ["action" if i in speaking else "" for i in range(len(decisions))]
    with tracing.span("publish", attributes={"npcfarm.decisions": len(decisions)}):
        published = ctx.publisher.publish(decisions, idempotent=idempotent, parts=parts)
    if asking is not None and speaking:
        decisions = _speech_entries(ctx, asking, decisions, speaking, idempotent=idempotent)
    remember_decisions(ctx, decisions, visitors)
    if asking is not None:  # after publishing: costs, cache and breaker once all ended
        asking[0].finals()
    return published + game_published


def _with_reactions(
    ctx: WorkerContext,
    npcs: Sequence[NPC],
    preset: list[Answer],
    visitors: dict[str, Nearby],
    kinds: dict[str, str],
) -> list[Answer]:
    """Where the rules brain decides for an NPC a player deals with, its reaction to that
    player (models/reactions.py) goes first; the model's answers are left as they are.
    Given as preset answers, so their claims (attack, trade) are settled like any other."""
    held = standings(ctx, npcs, visitors, kinds)
    out = list(preset) or [Answer(None, Source.RULES, None)] * len(npcs)
    for i, npc in enumerate(npcs):
        if out[i].choice is None and npc.id in held:
            reaction = react(npc, held[npc.id])
            if reaction is not None:
                out[i] = Answer(reaction, Source.RULES, out[i].reason)
    return out


REDECIDED = ("redecided", "claim_lost")  # the model's action lost its claim: no speech follows


def _speech_entries(
    ctx: WorkerContext,
    asking: tuple[Asking, list[int]],
    decisions: list[Decision],
    speaking: list[int],
    *,
    idempotent: bool,
) -> list[Decision]:
    """Publish the second entry of each decision published action first: the same tick
    with its speech (null when the model's line was refused); returns the whole set."""
    finals, fresh = asking[0].finals(), asking[1]
    asked_at = {i: k for k, i in enumerate(fresh)}  # batch index -> the model's request
    now = time.time() * 1000
    out = list(decisions)
    for i in speaking:
        final = finals[asked_at[i]].choice
        speech = final.speech if final is not None and final.action == out[i].action else None
        timings = out[i].timings.model_copy(
            update={"published_at": now, "latency_ms": max(0.0, now - out[i].timings.enqueued_at)}
        )
        out[i] = out[i].model_copy(update={"speech": speech, "timings": timings})
    entries = [out[i] for i in speaking]
    with tracing.span("publish.speech", attributes={"npcfarm.decisions": len(entries)}):
        ctx.publisher.publish(entries, idempotent=idempotent, parts=["speech"] * len(entries))
    return out


def _model_answers(
    ctx: WorkerContext,
    llm: LlmBrain,
    *,
    ticks: Sequence[Tick],
    npcs: Sequence[NPC],
    visitors: dict[str, Nearby],
    words: dict[str, str],
    started: float,
) -> tuple[list[Answer], tuple[Asking, list[int]] | None]:
    """The model's answers as soon as their actions are known, aligned with `npcs`, and
    the requests still speaking; ticks that waited past the queue budget go to the rules
    brain (`llm_backlog`), so a backlog drains at rules speed."""
    budget = ctx.settings.engine_queue_budget_s
    fresh = [i for i, t in enumerate(ticks) if not budget or started - t.enqueued_at <= budget]
    out = [Answer(None, Source.RULES, "llm_backlog")] * len(npcs)
    if not fresh:
        return out, None
    asked_npcs = [npcs[i] for i in fresh]
    memories = recall_for_prompts(ctx, asked_npcs, ticks[0].tier, visitors, words)
    asking = llm.ask(
        ctx,
        [
            Asked(
                npc,
                ticks[i].tick_id,
                player_id=visitors[npc.id].id if npc.id in visitors else None,
                words=words.get(npc.id),
                memory=memories.get(npc.id),
            )
            for i, npc in zip(fresh, asked_npcs, strict=True)
        ],
        tier=ticks[0].tier,
    )
    for i, answer in zip(fresh, asking.heads(), strict=True):
        out[i] = answer
    return out, (asking, fresh)


def _admit(ctx: WorkerContext, ticks: Sequence[Tick], started: float) -> list[tuple[Tick, NPC]]:
    """Ticks worth deciding, with their NPCs; drops (and counts) expired and unknown ones."""
    live: list[Tick] = []
    dropped: list[tuple[str, str]] = []
    for t in ticks:
        if t.expires_at is None or t.expires_at >= started:
            live.append(t)
        else:
            dropped.append((t.npc_id, t.tick_id))
    if dropped:
        bump(ctx.client, ctx.keys, ticks[0].tier, "shed_expired", len(dropped))
    npcs = load_npcs(ctx.client, ctx.keys, [t.npc_id for t in live])
    profiles = profiles_of(ctx.client, ctx.keys, {n.world for n in npcs if n is not None})

    def knows(npc: NPC) -> bool:
        profile = profiles[npc.world]
        if profile == DEFAULT_PROFILE:
            return npc.archetype in archetype_names()
        return npc.archetype in get_profile(profile).archetypes

    known = [(t, n) for t, n in zip(live, npcs, strict=True) if n and knows(n)]
    unknown = [(t.npc_id, t.tick_id) for t, n in zip(live, npcs, strict=True) if n is None]
    odd = [
        (t.npc_id, t.tick_id)
        for t, n in zip(live, npcs, strict=True)
        if n is not None and not knows(n)
    ]
    for counter, refused in (("unknown_npc", unknown), ("unknown_archetype", odd)):
        if refused:
            bump(ctx.client, ctx.keys, ticks[0].tier, counter, len(refused))
            log.warning("%d ticks refused, %s (e.g. %s)", len(refused), counter, refused[0][0])
    release_ticks(ctx.client, ctx.keys, dropped + unknown + odd)
    return known


def run_tick_batch(ctx: WorkerContext, payload: Any) -> int:
    try:
        batch = parse_message(TickBatch, payload)
    except InvalidInput as exc:
        reject(ctx, "ticks", payload, str(exc))
        return 0
    return decide_ticks(
        ctx, batch.as_ticks(), idempotent=False, lease_s=batch.lease_s, brain=batch.brain
    )


def run_job(ctx: WorkerContext, payload: Any) -> int:
    try:
        job = parse_message(Job, payload)
    except InvalidInput as exc:
        reject(ctx, "job", payload, str(exc))
        return 0
    tick = Tick(npc_id=job.npc_id, tick_id=job.tick_id, tier=job.tier, enqueued_at=job.enqueued_at)
    visitors = {}
    if job.player_id is not None:
        visitors[job.npc_id] = Nearby(
            id=job.player_id, distance=VISITOR_DISTANCE_M, hostile=job.kind == "attack"
        )
    words = {job.npc_id: job.text} if job.text else {}
    kinds = {job.npc_id: str(job.kind)} if job.kind else {}
    return decide_ticks(
        ctx,
        [tick],
        idempotent=True,
        visitors=visitors,
        brain=job.brain,
        words=words,
        kinds=kinds,
    )
