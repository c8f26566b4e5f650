"""Context and coordination around the rules brain for one batch.

Before deciding: an NPC in a live world (its bridge reports players) sees only the
nearest player the tier manager found, never stale data from its record; for a player
interaction, that player stands right next to it. After deciding: exclusive claims
(attack, trade, use, guard) are settled in Redis; an NPC that lost its claim
re-decides without the contested target, and after two rounds falls back to idle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from models.rules import RuleChoice
from models.rules import decide_batch as rules_decide
from npcfarm.claims import EXCLUSIVE, ClaimRequest, Claims
from npcfarm.domain import MAX_NEARBY, NPC, Action, Nearby, Source
from tasks.context import WorkerContext
from tasks.llm import Answer

NEARBY = TypeAdapter(list[Nearby])
ROUNDS = 2  # re-decisions after a lost claim before falling back to idle


def with_surroundings(
    ctx: WorkerContext, npcs: Sequence[NPC], visitors: dict[str, Nearby]
) -> list[NPC]:
    """NPCs whose state includes the live nearest player and any interacting player."""
    near: dict[str, list[Nearby]] = {}
    by_world: dict[str, list[str]] = defaultdict(list)
    for npc in npcs:
        by_world[npc.world].append(npc.id)
    pipe = ctx.client.pipeline(transaction=False)
    pipe.smismember(ctx.keys.live_worlds, list(by_world))
    for world, ids in by_world.items():
        pipe.hmget(ctx.keys.near(world), ids)
    live, *replies = pipe.execute()
    for ids, raws, is_live in zip(by_world.values(), replies, live, strict=True):
        if is_live:  # players are tracked here: nobody near unless the tier manager says so
            for npc_id in ids:
                near[npc_id] = []
            for npc_id, raw in zip(ids, raws, strict=True):
                if raw:
                    try:
                        near[npc_id] = NEARBY.validate_json(raw)
                    except ValidationError:
                        continue  # a corrupt entry only costs this NPC its live view
    out = []
    for npc in npcs:
        visitor = visitors.get(npc.id)
        if npc.id not in near and visitor is None:
            out.append(npc)
            continue
        players = near.get(npc.id, npc.state.nearby_players)
        if visitor is not None:
            players = [visitor, *(p for p in players if p.id != visitor.id)]
        state = npc.state.model_copy(update={"nearby_players": players[:MAX_NEARBY]})
        out.append(npc.model_copy(update={"state": state}))
    return out


def _without(npc: NPC, target: str) -> NPC:
    state = npc.state.model_copy(
        update={
            "nearby_players": [p for p in npc.state.nearby_players if p.id != target],
            "nearby_npcs": [n for n in npc.state.nearby_npcs if n.id != target],
        }
    )
    return npc.model_copy(update={"state": state})


def decide_coordinated(
    ctx: WorkerContext,
    npcs: Sequence[NPC],
    tick_ids: Sequence[str],
    *,
    lease_s: float,
    preset: Sequence[Answer] = (),
) -> tuple[list[RuleChoice], dict[int, str], dict[int, Source]]:
    """Decisions whose exclusive claims all hold: the model's (`preset`) where it gave
    one, the rules brain's otherwise; returns choices, reasons and non-rules sources."""
    seed = ctx.settings.rules_seed
    choices = rules_decide(npcs, tick_ids, seed=seed)
    reasons: dict[int, str] = {}
    sources: dict[int, Source] = {}
    for i, answer in enumerate(preset):
        if answer.choice is not None:
            choices[i], sources[i] = answer.choice, answer.source
            if answer.reason:  # a model answer with a caveat (adapter_unavailable)
                reasons[i] = answer.reason
        elif answer.reason:
            reasons[i] = answer.reason  # decided by rules; the reason says why
    claims = Claims(ctx.client, ctx.keys, lease_ms=int(lease_s * 1000))
    pending = list(range(len(npcs)))
    current = list(npcs)
    for round_ in range(ROUNDS + 1):
        lost = _settle(claims, current, choices, pending)
        if not lost:
            break
        if round_ == ROUNDS:
            for i in lost:
                choices[i] = RuleChoice(Action.IDLE, None, None, choices[i].emotion)
                reasons[i] = "claim_lost"
                sources.pop(i, None)
            _settle(claims, current, choices, lost)  # releases what the losers held
            break
        for i in lost:
            target = choices[i].target or ""
            current[i] = _without(current[i], target)
            reasons[i] = "redecided"
            sources.pop(i, None)  # the re-decision is the rules brain's
        again = rules_decide([current[i] for i in lost], [tick_ids[i] for i in lost], seed=seed)
        for i, choice in zip(lost, again, strict=True):
            choices[i] = choice
        pending = lost
    return choices, reasons, sources


def _settle(
    claims: Claims, npcs: Sequence[NPC], choices: Sequence[RuleChoice], indices: Sequence[int]
) -> list[int]:
    """Settle the claims of `indices`, strongest (closest to its target) first."""
    by_world: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i in indices:
        claiming = choices[i].action in EXCLUSIVE and choices[i].target is not None
        by_world[npcs[i].world][0 if claiming else 1].append(i)
    lost: list[int] = []
    for world, (claimants, idle) in by_world.items():
        claimants.sort(key=lambda i: _distance(npcs[i], choices[i].target or ""))
        requests = [
            ClaimRequest(npcs[i].id, choices[i].action, choices[i].target or "", npcs[i].faction)
            for i in claimants
        ]
        granted = claims.settle(world, requests, [npcs[i].id for i in idle])
        lost += [i for i, ok in zip(claimants, granted, strict=True) if not ok]
    return lost


def _distance(npc: NPC, target: str) -> float:
    for seen in (*npc.state.nearby_players, *npc.state.nearby_npcs):
        if seen.id == target:
            return seen.distance
    return float("inf")
