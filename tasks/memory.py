"""Memory on the decision path: recall before a model decides, remember after.

Recall is one prefetch for the whole batch (cached per process, see
npcfarm/memory/prefetch.py) and never touches the archive. Remembering writes the
NPC's reply into the conversation it answered (the decisions of the archived tiers
are archived by the publish script itself); nothing here waits on the database.
Summaries of ended conversations are written by a low-priority job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence

import redis

from models.reactions import Standing
from npcfarm import tracing
from npcfarm.domain import NPC, Decision, Nearby, Tier
from npcfarm.memory.prefetch import CACHE
from npcfarm.memory.remember import remember_reply, store_summary
from npcfarm.memory.render import CHARS_PER_TOKEN, PromptMemory, for_prompt, recall_line
from npcfarm.memory.store import MemoryStore
from npcfarm.memory.summary import deterministic_summary, due_sessions, summary_memory
from npcfarm.registry import load_npcs
from tasks.context import WorkerContext

log = logging.getLogger(__name__)

Reflect = Callable[[str, str, str], str | None]  # (npc id, player id, summary) -> a line


def recall_for_prompts(
    ctx: WorkerContext,
    npcs: Sequence[NPC],
    tier: Tier,
    visitors: Mapping[str, Nearby],
    words: Mapping[str, str],
) -> dict[str, PromptMemory]:
    """Each NPC's memory as prompt text within its tier's budget ({} when memory is off)."""
    s = ctx.settings
    budget = s.memory_prompt_tokens.get(str(tier), 0) * CHARS_PER_TOKEN
    if budget <= 0 or not npcs:
        return {}
    try:
        with tracing.span("memory.recall", attributes={"npcfarm.npcs": len(npcs)}):
            views = CACHE.fetch(ctx.client, ctx.keys, [n.id for n in npcs])
    except redis.RedisError as exc:  # memory is an aid: decide without it
        log.warning("memory prefetch failed, deciding without memory: %s", exc)
        return {}
    now, window = time.time(), s.memory_window_days * 86_400
    out = {}
    for npc in npcs:
        visitor = visitors.get(npc.id)
        player = visitor.id if visitor else None
        query = " ".join(filter(None, [words.get(npc.id), player, *npc.state.flags]))
        out[npc.id] = for_prompt(
            views[npc.id],
            player_id=player,
            query=query,
            now=now,
            window_s=window,
            budget_chars=budget,
        )
    return out


def recall_lines(
    ctx: WorkerContext, npcs: Sequence[NPC], visitors: Mapping[str, Nearby]
) -> dict[str, str]:
    """For NPCs a player is talking to: a line recalling that player, where there is one."""
    asked = [n.id for n in npcs if n.id in visitors]
    if not asked:
        return {}
    try:
        views = CACHE.fetch(ctx.client, ctx.keys, asked)
    except redis.RedisError:
        return {}
    lines = {n: recall_line(views[n], visitors[n].id) for n in asked}
    return {n: line for n, line in lines.items() if line}


def standings(
    ctx: WorkerContext,
    npcs: Sequence[NPC],
    visitors: Mapping[str, Nearby],
    kinds: Mapping[str, str],
) -> dict[str, Standing]:
    """What each NPC a player is dealing with holds about that player (its bond and
    the quests it gave), for the rules brain's reactions; {} when memory is unreachable."""
    asked = [n.id for n in npcs if n.id in visitors]
    if not asked:
        return {}
    try:
        views = CACHE.fetch(ctx.client, ctx.keys, asked)
    except redis.RedisError:
        return {}
    out = {}
    for npc_id in asked:
        player, hot = visitors[npc_id].id, views[npc_id].hot
        bond = hot.rel.players.get(player)
        out[npc_id] = Standing(
            player_id=player,
            kind=kinds.get(npc_id),
            trust=bond.trust if bond else 0.0,
            affinity=bond.affinity if bond else 0.0,
            betrayals=len(bond.betrayals) if bond else 0,
            quests=[(n, q.note) for n, q in hot.quest.quests.items() if q.status == "active"],
        )
    return out


def remember_decisions(
    ctx: WorkerContext, decisions: Sequence[Decision], visitors: Mapping[str, Nearby]
) -> None:
    """The NPC's answers to players become turns (the publish script archived the
    decisions themselves)."""
    store = MemoryStore.from_settings(ctx.client, ctx.keys, ctx.settings)
    for d in decisions:
        visitor = visitors.get(d.npc_id)
        if visitor is not None:
            remember_reply(
                store,
                d.npc_id,
                tick_id=d.tick_id,
                player_id=visitor.id,
                speech=d.speech,
                emotion=d.emotion,
                action=str(d.action),
            )


def summarize(ctx: WorkerContext, npc_id: str, *, reflect: Reflect | None = None) -> int:
    """Write the summaries of an NPC's ended conversations; returns how many.

    The summary itself is deterministic (facts from the record); where this process
    has a model loaded, the NPC adds one line of its own about the player (`source`
    says which). Idempotent: a summary is kept once per session id.
    """
    s = ctx.settings
    store = MemoryStore.from_settings(ctx.client, ctx.keys, s)
    now = time.time()
    hot, recall = store.load(npc_id, now=now)
    written = 0
    for session in due_sessions(hot, now, s.conversation_gap_s):
        text, source = deterministic_summary(session, hot, recall), "rules"
        if reflect is not None:
            line = reflect(npc_id, session.player_id, text)
            if line:
                text, source = f"{text} I think: {json.dumps(line, ensure_ascii=False)}", "llm"
        memory = summary_memory(session, text, source=source)
        written += store_summary(store, npc_id, session, memory)
    if not written:  # nothing ended after all (a new turn came): look again later
        hot, _ = store.load(npc_id, now=now)
        due = store.due_at(hot)
        if due is None:
            ctx.client.zrem(ctx.keys.conversations, npc_id)
        else:
            ctx.client.zadd(ctx.keys.conversations, {npc_id: due})
    return written


def run_summary(ctx: WorkerContext, payload: object) -> int:
    """The summary job's body: payload {"npc_id": ...}; malformed ones are dropped, logged."""
    from tasks.llm import BRAIN  # noqa: PLC0415 (tasks.llm imports this module's users)

    npc_id = payload.get("npc_id") if isinstance(payload, dict) else None
    if not isinstance(npc_id, str) or not npc_id:
        log.warning("summary job without an npc_id: %r", payload)
        return 0
    npc = load_npcs(ctx.client, ctx.keys, [npc_id])[0]

    def reflect(_npc_id: str, player_id: str, text: str) -> str | None:
        return BRAIN.reflect(ctx, npc, player_id, text) if npc is not None else None

    return summarize(ctx, npc_id, reflect=reflect)
