"""The live terminal view shared by `npcfarm top` and `npcfarm up`.

One frame a second: the per-tier table of `status`, the inbox and tier-manager
counters, and the latest decisions of one world as a bridge reads them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import redis
from celery import Celery
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from npcfarm.domain import Decision
from npcfarm.keys import Keys
from npcfarm.memory.prefetch import MemoryCache, MemoryView
from npcfarm.memory.render import known_line
from npcfarm.redisconn import entries
from npcfarm.registry import load_npcs
from ops.cli.status import gather, render

RECENT = 8  # decisions shown under the table
RECENT_ANSWERS = 4  # answers to players, and memories formed, shown
ANSWER_SCAN = 2_000  # result-stream entries searched for answers to players
LOG_WIDTH = 160  # frames printed to a log (no terminal) are this wide, not 80
# columns a narrow terminal must still show (the rest shrink first, with an ellipsis)
MIN_WIDTH = {"NPC": 10, "what": 14, "action": 6, "says": 16, "text": 16}
_MEMORY = MemoryCache(size=64)


def _player(d: Decision, view: MemoryView) -> str | None:
    """Whom an answer was for: its target, else the conversation it answered, else the
    last player in the NPC's memory."""
    if d.target and d.target in view.hot.rel.players:
        return d.target
    if view.hot.session is not None:
        return view.hot.session.player_id
    return next((t.who for t in reversed(view.hot.turns) if t.who != "self"), None)


def recent_decisions(client: redis.Redis, keys: Keys, world: str, count: int = RECENT) -> Table:
    table = Table(title=f"latest decisions in {world}", title_justify="left")
    for column in ("NPC", "archetype", "tier", "action", "target", "emotion", "says", "why", "ms"):
        table.add_column(
            column,
            overflow="ellipsis",
            no_wrap=True,
            min_width=MIN_WIDTH.get(column),
            max_width=44 if column == "says" else None,
        )
    rows = entries(client.xrevrange(keys.results(world), count=count))
    found = load_npcs(client, keys, [fields["npc"] for _, fields in rows])
    for (_, fields), npc in zip(rows, found, strict=True):
        d = Decision.model_validate_json(fields["d"])
        table.add_row(
            npc.name if npc else d.npc_id,
            npc.archetype if npc else "?",
            str(d.tier),
            str(d.action),
            d.target or "",
            str(d.emotion),
            d.speech or "",
            d.reason or ("player" if d.tick_id.startswith("ix-") else ""),
            f"{d.timings.latency_ms:.0f}",
        )
    return table


def conversations(client: redis.Redis, keys: Keys, world: str) -> Table:
    """The latest answers to players, and the latest memories formed."""
    table = Table(title="players and memory", title_justify="left")
    for column, width in (("NPC", None), ("what", None), ("text", 60), ("knows of them", 60)):
        table.add_column(
            column,
            overflow="ellipsis",
            no_wrap=True,
            max_width=width,
            min_width=MIN_WIDTH.get(column),
        )
    rows = entries(client.xrevrange(keys.results(world), count=ANSWER_SCAN))
    answers = [
        Decision.model_validate_json(f["d"])
        for _, f in rows
        if f.get("d") and '"tick_id":"ix-' in f["d"] and f.get("part") != "action"
    ][:RECENT_ANSWERS]  # an action entry is shown once its speech entry has followed
    views = _MEMORY.fetch(client, keys, [d.npc_id for d in answers])
    for d in answers:
        player = _player(d, views[d.npc_id])
        known = known_line(views[d.npc_id], player) if player else ""
        table.add_row(
            d.npc_id,
            f"answers {player or 'a player'} ({d.source})",
            d.speech or f"({d.action})",
            known or "(a stranger)",
        )
    for raw in client.lrange(keys.memories_recent, 0, RECENT_ANSWERS - 1):
        memory = json.loads(raw)
        table.add_row(
            memory["npc"],
            f"remembers ({memory['kind']})",
            memory["text"] or "",
            memory.get("player") or "",
        )
    return table


def world_line(client: redis.Redis, keys: Keys, world: str) -> Text:
    ingest = client.hgetall(keys.ingest_stats)
    tiers = client.hgetall(keys.tier_stats)
    return Text.assemble(
        ("inbox ", "dim"),
        f"applied {int(ingest.get('applied', 0)):,}",
        f"  interactions {int(ingest.get('interaction', 0)):,}",
        ("  dead letters ", "dim"),
        (f"{client.xlen(keys.dead_letters):,}", "bold red"),
        ("   tiers ", "dim"),
        f"+{int(tiers.get('promotions', 0)):,} ",
        f"-{int(tiers.get('demotions', 0)):,}",
        ("   players in ", "dim"),
        f"{world} {client.hlen(keys.players(world))}",
    )


def frame(client: redis.Redis, keys: Keys, app: Celery | None, world: str, title: str) -> Group:
    return Group(
        render(gather(client, keys, app), title=title),
        world_line(client, keys, world),
        recent_decisions(client, keys, world),
        conversations(client, keys, world),
    )


def for_output(console: Console) -> Console:
    """The console itself on a terminal; on a log (no terminal) one LOG_WIDTH wide, since
    Rich would otherwise assume 80 columns and squeeze the tables' columns away."""
    if console.is_terminal:
        return console
    return Console(file=console.file, width=max(console.width, LOG_WIDTH))


def watch(
    console: Console,
    client: redis.Redis,
    keys: Keys,
    *,
    app: Celery | None,
    world: str,
    running: Callable[[], bool],
    title: str = "npcfarm — live (Ctrl-C to stop)",
) -> None:
    """Redraw every second on a terminal; print a frame every 5 s otherwise (logs, CI)."""
    if sys.stdout.isatty():
        with Live(
            frame(client, keys, app, world, title), console=console, refresh_per_second=2
        ) as live:
            while running():
                time.sleep(1.0)
                live.update(frame(client, keys, app, world, title))
    else:
        console = for_output(console)
        while running():
            time.sleep(5.0)
            console.print(frame(client, keys, app, world, title))
