"""Admin sub-commands: the NPC registry, demo worlds and the tick configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.progress import track

from npcfarm import audit
from npcfarm.domain import NPC, Tier
from npcfarm.errors import InvalidInput
from npcfarm.keys import Keys
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.registry import get_npc
from npcfarm.relations import current
from npcfarm.results import latest_decision
from npcfarm.settings import get_settings
from schedules.config import load_ticks
from schedules.placement import register_npcs

npc_app = typer.Typer(help="The NPC registry.", no_args_is_help=True)
world_app = typer.Typer(help="Demo worlds.", no_args_is_help=True)
ticks_app = typer.Typer(help="The tick configuration (ticks.toml).", no_args_is_help=True)
console = Console()


@npc_app.command("import")
def npc_import(
    file: Annotated[Path, typer.Argument(help="YAML or CSV file of NPC records.")],
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid records anyway.")] = False,
) -> None:
    """Import NPCs (all records are validated first; nothing is saved if any is bad)."""
    from ops.cli.importer import read_npc_file  # noqa: PLC0415

    npcs, errors = read_npc_file(file)
    for error in errors[:50]:
        console.print(f"[red]invalid:[/] {error}")
    if errors and not skip_invalid:
        raise InvalidInput(f"{len(errors)} invalid record(s) in {file}; nothing imported")
    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    config, _ = load_ticks(settings.ticks_file)
    register_npcs(client, keys, npcs, config)
    audit.record(
        client, keys, "npc.import", file=str(file), imported=len(npcs), skipped=len(errors)
    )
    console.print(
        f"imported {len(npcs)} NPC(s) from {file}"
        + (f", skipped {len(errors)} invalid" if errors else "")
    )


@npc_app.command("show")
def npc_show(npc_id: Annotated[str, typer.Argument(help="NPC id.")]) -> None:
    """Print an NPC's record and its latest decision as JSON."""
    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    npc = get_npc(client, keys, npc_id)
    console.print_json(npc.model_dump_json())
    live = live_state(client, keys, npc)
    console.print("live state:")
    console.print_json(json.dumps(live))
    decision = latest_decision(client, keys, npc.world, npc_id)
    console.print("latest decision:" if decision else "no decision yet")
    if decision:
        console.print_json(decision.model_dump_json(by_alias=True))


def live_state(client: redis.Redis, keys: Keys, npc: NPC) -> dict[str, object]:
    """What the farm knows about an NPC beyond its record: tier now, players, bonds."""
    pipe = client.pipeline(transaction=False)
    for each in Tier:
        pipe.zscore(keys.due(each), npc.id)
    pipe.hget(keys.near(npc.world), npc.id)
    pipe.smembers(keys.quests(npc.id))
    pipe.hgetall(keys.relationships(npc.id))
    pipe.hgetall(keys.relationships_touched(npc.id))
    pipe.hget(keys.held_claim(npc.world), npc.id)
    *dues, near, quests, relationships, touched, claim = pipe.execute()
    half_life = get_settings().relationship_half_life_h * 3600
    now_in = next((t for t, due in zip(Tier, dues, strict=True) if due is not None), None)
    due = next((d for d in dues if d is not None), None)
    return {
        "tier": str(now_in) if now_in else None,
        "next_tick_in_s": round(float(due) - time.time(), 2) if due is not None else None,
        "nearest_player": json.loads(near)[0] if near else None,
        "quest_flags": sorted(quests),
        "relationships": {  # as they stand now, faded since their last change
            p: round(s, 4)
            for p, s in current(relationships, touched, time.time(), half_life).items()
        },
        "claim": claim,
    }


@world_app.command("demo")
def world_demo(
    npcs: Annotated[int, typer.Option(help="How many NPCs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
    worlds: Annotated[int, typer.Option(help="Spread over this many worlds.")] = 1,
) -> None:
    """Generate a varied demo world and put it on the tick schedule."""
    from ops.bridge.demo import demo_npcs  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    config, _ = load_ticks(settings.ticks_file)
    register_npcs(
        client,
        keys,
        track(
            demo_npcs(npcs, seed=seed, worlds=worlds),
            total=npcs,
            description="seeding",
            console=console,
        ),
        config,
    )
    audit.record(client, keys, "world.demo", npcs=npcs, seed=seed, worlds=worlds)
    console.print(f"demo world: {npcs:,} NPCs in {worlds} world(s)")


@npc_app.command("sync")
def npc_sync() -> None:
    """Load the NPC registry from the archive (its source of truth) into Redis."""
    from ops.archive.db import load_registry, make_engine  # noqa: PLC0415
    from ops.cli.archive import reach  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    url = settings.resolved_archive_url
    npcs = reach(url, lambda: load_registry(make_engine(url)))
    config, _ = load_ticks(settings.ticks_file)
    register_npcs(
        client, keys, track(npcs, description="syncing", console=console), config, archived=False
    )
    audit.record(client, keys, "npc.sync", npcs=len(npcs))
    console.print(f"loaded {len(npcs):,} NPC(s) from the archive into Redis")


@ticks_app.command("show")
def ticks_show() -> None:
    """Print the farm's active tick configuration (from Redis, else the file)."""
    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    require(client)
    active = {str(k): str(v) for k, v in client.hgetall(keys.ticks_config).items()}
    if active:
        console.print(f"# active version {active['version']} from {active['source']}")
        console.print(active["toml"], markup=False, highlight=False)
    else:
        _, text = load_ticks(settings.ticks_file)
        console.print(f"# no scheduler has published one yet; file {settings.ticks_file}")
        console.print(text, markup=False, highlight=False)


@ticks_app.command("reload")
def ticks_reload(
    file: Annotated[Path | None, typer.Option(help="File to load (default: ticks_file).")] = None,
) -> None:
    """Validate a ticks.toml and make it active on every scheduler within a second."""
    from schedules.scheduler import publish_ticks_config  # noqa: PLC0415

    settings = get_settings()
    path = file or settings.ticks_file
    _, text = load_ticks(path)
    client, keys = connect(settings), keys_for(settings)
    require(client)
    version = publish_ticks_config(client, keys, text, source=str(path))
    audit.record(client, keys, "ticks.reload", file=str(path), version=version)
    console.print(f"tick configuration {version} from {path} is now active")
