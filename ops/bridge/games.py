"""The inbox's part of game profiles: which profile a world plays, a state checked
against it, and the game's outcomes of decisions kept as experience.

Called by the ingest for one read at a time; every refusal is a dead letter with its
reason (the rest of the read is applied), as for every other event.
"""

from __future__ import annotations

import time

import redis

from models.profiles import get_profile, profile_names
from models.profiles.values import check_state
from npcfarm import archive
from npcfarm.domain import TIER_ORDER, Tier
from npcfarm.errors import InvalidInput
from npcfarm.events import DeadCode, NpcStateEvent, OutcomeEvent, WorldProfileEvent
from npcfarm.keys import Keys
from npcfarm.registry import load_npcs
from npcfarm.worlds import DEFAULT_PROFILE, profiles_of, set_profile

Refusal = tuple[str, DeadCode, str, str]  # inbox id, code, reason, raw
OUTCOME_TTL_DAYS = 30  # outcomes kept in the NPC's recent experience


def apply_world_profiles(
    client: redis.Redis, keys: Keys, events: list[tuple[str, WorldProfileEvent, str]]
) -> list[Refusal]:
    refused = []
    for entry_id, event, raw in events:
        if event.profile not in profile_names():
            known = ", ".join(profile_names())
            reason = f"unknown game profile {event.profile!r} (known: {known})"
            refused.append((entry_id, DeadCode.NOT_APPLICABLE, reason, raw))
            continue
        set_profile(client, keys, event.world, event.profile)
    return refused


def check_game_states(
    client: redis.Redis, keys: Keys, events: list[tuple[str, NpcStateEvent, str]]
) -> tuple[list[NpcStateEvent], list[Refusal]]:
    """The state events whose `game` fields fit the NPC's world's profile (values are
    replaced by the checked ones: ints stay ints); the others, refused with why. Where
    the profile ties tiers to the state (threat, war, talks), the NPC moves tier."""
    gamed = [(i, e, raw) for i, e, raw in events if e.game]
    plain = [e for _, e, _ in events if not e.game]
    if not gamed:
        return plain, []
    npcs = load_npcs(client, keys, [e.npc_id for _, e, _ in gamed])
    worlds = profiles_of(client, keys, [n.world for n in npcs if n is not None])
    ok, refused = list(plain), []
    tiers: dict[str, Tier] = {}
    for (entry_id, event, raw), npc in zip(gamed, npcs, strict=True):
        if npc is None:
            continue  # removed meanwhile: nothing to apply
        name = worlds.get(npc.world, DEFAULT_PROFILE)
        if name == DEFAULT_PROFILE:
            reason = f"world {npc.world!r} plays rpg: its state goes in the event's own fields"
            refused.append((entry_id, DeadCode.INVALID_EVENT, reason, raw))
            continue
        try:
            checked = check_state(get_profile(name), event.game or {})
        except InvalidInput as exc:
            refused.append((entry_id, DeadCode.INVALID_EVENT, f"{name}: {exc}", raw))
            continue
        ok.append(event.model_copy(update={"game": checked}))
        tier = get_profile(name).tier_of({**npc.state.game, **checked})
        if tier is not None:
            tiers[npc.id] = Tier(tier)
    retier(client, keys, tiers)
    return ok, refused


def retier(client: redis.Redis, keys: Keys, tiers: dict[str, Tier]) -> int:
    """Move NPCs to the tier their game state calls for (a promotion ticks at once, a
    demotion keeps its next due time); returns how many moved."""
    if not tiers:
        return 0
    pipe = client.pipeline(transaction=False)
    for npc_id in tiers:
        for tier in TIER_ORDER:
            pipe.zscore(keys.due(tier), npc_id)
    scores = pipe.execute()
    now, moved = time.time(), 0
    for n, (npc_id, want) in enumerate(tiers.items()):
        held = dict(zip(TIER_ORDER, scores[n * 3 : n * 3 + 3], strict=True))
        current = next((t for t, score in held.items() if score is not None), None)
        if current is None or current is want:
            continue
        due = now if TIER_ORDER.index(want) < TIER_ORDER.index(current) else held[current]
        pipe.zrem(keys.due(current), npc_id)
        pipe.zadd(keys.due(want), {npc_id: due})
        pipe.hincrby(keys.tier_stats, "promotions" if due == now else "demotions", 1)
        moved += 1
    pipe.execute()
    return moved


def record_outcomes(pipe: redis.client.Pipeline, keys: Keys, events: list[OutcomeEvent]) -> None:
    """Each outcome becomes an archived memory of the NPC (`kind` outcome), idempotent by
    event id like every archive event."""
    for event in events:
        body = event.model_dump(mode="json", exclude={"type"})
        text = f"{event.status} {event.tick_id}" + (f" ({event.code})" if event.code else "")
        if event.detail:
            text += f": {event.detail}"
        data = {"kind": "outcome", "text": text, "importance": _importance(event), **body}
        record = archive.event(
            "memory", f"{event.npc_id}/outcome:{event.event_id}", event.npc_id, data, time.time()
        )
        archive.append(pipe, keys, [record])


def _importance(event: OutcomeEvent) -> float:
    """A battle matters more than a building finished; a refusal least."""
    if event.status == "refused":
        return 0.3
    return 0.8 if event.values else 0.5
