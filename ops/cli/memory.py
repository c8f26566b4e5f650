"""`npcfarm memory`: what an NPC remembers (and why), and rebuilding memory after Redis loss."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from npcfarm import audit
from npcfarm.memory.retrieval import rank
from npcfarm.memory.store import MemoryStore
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.settings import get_settings

memory_app = typer.Typer(help="NPC memory (hot, nearline) and its recovery.", no_args_is_help=True)
console = Console()
SPARK = " ▁▂▃▄▅▆▇█"


def _ago(ts: float, now: float) -> str:
    seconds = max(0.0, now - ts)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


@memory_app.command("show")
def show(
    npc_id: Annotated[str, typer.Argument(help="NPC id.")],
    player: Annotated[str | None, typer.Option(help="Rank memories for this player.")] = None,
    about: Annotated[str, typer.Option(help="Rank memories for these words.")] = "",
) -> None:
    """Print what an NPC remembers: turns, cards, memories with their scores, mood."""
    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    store = MemoryStore.from_settings(client, keys, settings)
    now = time.time()
    hot, recall = store.load(npc_id, now=now)
    if not hot.turns and not recall.facts and not recall.summaries and not hot.rel.players:
        console.print(f"{npc_id} remembers nothing (yet).")
        return
    console.rule(f"[bold]{npc_id}[/] remembers")
    for turn in hot.turns:
        who = "[cyan]me[/]" if turn.who == "self" else f"[yellow]{turn.who}[/]"
        console.print(f"[dim]{_ago(turn.ts, now):>8}[/] {who}: {turn.text}", highlight=False)
    if hot.rel.players:
        table = Table(
            "player",
            "trust",
            "affinity",
            "met",
            "promises",
            "betrayals",
            "last seen",
            title="relationship card",
        )
        for pid, bond in sorted(hot.rel.players.items(), key=lambda b: -b[1].last_seen):
            table.add_row(
                pid,
                f"{bond.trust:+.2f}",
                f"{bond.affinity:+.2f}",
                str(bond.met),
                "; ".join(bond.promises),
                "; ".join(bond.betrayals),
                _ago(bond.last_seen, now),
            )
        console.print(table)
    if hot.quest.quests:
        console.print(
            "quests: " + ", ".join(f"{q} ({e.status})" for q, e in hot.quest.quests.items())
        )
    ranked = rank(
        recall,
        query=about or (player or ""),
        player_id=player,
        now=now,
        window_s=store.caps.window_s,
        limit=50,
    )
    if ranked:
        title = f"nearline memories, ranked{f' for {player}' if player else ''}"
        table = Table(
            "score", "recency", "importance", "relevance", "kind", "when", "memory", title=title
        )
        for s in ranked:
            table.add_row(
                f"{s.score:.2f}",
                f"{s.recency:.2f}",
                f"{s.importance:.2f}",
                f"{s.relevance:.2f}",
                s.memory.kind,
                _ago(s.memory.ts, now),
                s.memory.text,
            )
        console.print(table)
    if recall.mood:
        line = "".join(SPARK[round((p.valence + 1) / 2 * (len(SPARK) - 1))] for p in recall.mood)
        console.print(f"mood (valence, oldest first): {line}  now {recall.mood[-1].emotion}")
    session = hot.session
    if session:
        console.print(f"[dim]talking with {session.player_id} ({session.turns} turns)[/]")


@memory_app.command("restore")
def restore_memory(
    npc: Annotated[list[str] | None, typer.Option(help="Only these NPCs (repeatable).")] = None,
) -> None:
    """Rebuild hot and nearline memory in Redis from the archive (after Redis was lost)."""
    from rich.progress import Progress  # noqa: PLC0415

    from ops.archive.db import make_engine, npc_ids_with_memories  # noqa: PLC0415
    from ops.archive.restore import restore  # noqa: PLC0415
    from ops.cli.archive import reach  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    url = settings.resolved_archive_url
    engine = make_engine(url)
    store = MemoryStore.from_settings(client, keys, settings)
    ids = npc or reach(url, lambda: npc_ids_with_memories(engine))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("restoring memory", total=len(ids))
        report = reach(
            url,
            lambda: restore(store, engine, npc_ids=ids, progress=lambda n: bar.advance(task, n)),
        )
    audit.record(client, keys, "memory.restore", npcs=report.npcs, events=report.events)
    skipped = f" ({report.skipped} unreadable, skipped)" if report.skipped else ""
    console.print(
        f"restored the memory of {report.npcs} NPC(s) from {report.events} archived events{skipped}"
    )
