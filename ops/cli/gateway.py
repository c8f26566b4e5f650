"""`npcfarm gateway` (the HTTP door) and `npcfarm keys` (its API keys)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from npcfarm.redisconn import connect, keys_for, require
from npcfarm.settings import get_settings
from ops.gateway import apikeys

keys_app = typer.Typer(help="API keys of the HTTP gateway.", no_args_is_help=True)
console = Console()


def gateway(
    address: Annotated[str | None, typer.Option(help="Listen address (gateway_address).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (gateway_port).")] = None,
) -> None:
    """Serve the bridge protocol over HTTP (docs/GATEWAY.md); needs a running ingest."""
    import uvicorn  # noqa: PLC0415

    from ops.gateway.app import create_app  # noqa: PLC0415

    settings = get_settings()
    require(connect(settings))
    uvicorn.run(
        create_app(settings),
        host=address or settings.gateway_address,
        port=port or settings.gateway_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


@keys_app.command("create")
def create(
    world: Annotated[list[str], typer.Option(help="World the key may use (repeat; '*': all).")],
    rate: Annotated[float, typer.Option(help="Requests per second.")] = 20.0,
    burst: Annotated[int, typer.Option(help="Requests at once.")] = 40,
    note: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create a key and print it once (only its digest is stored)."""
    settings = get_settings()
    client = connect(settings)
    require(client)
    key, token = apikeys.create(
        client, keys_for(settings), worlds=tuple(world), rate=rate, burst=burst, note=note
    )
    console.print(f"key {key.key_id} for {', '.join(key.worlds)} ({rate:g}/s, burst {burst}):")
    print(token)  # alone on its line, for scripts: `KEY=$(npcfarm keys create ... | tail -1)`


@keys_app.command("list")
def list_keys() -> None:
    """Keys, their worlds, limits and whether they are revoked (never the secret)."""
    settings = get_settings()
    client = connect(settings)
    require(client)
    table = Table("key", "worlds", "rate/s", "burst", "created", "revoked", "note")
    for key in apikeys.all_keys(client, keys_for(settings)):
        table.add_row(
            key.key_id,
            ", ".join(key.worlds),
            f"{key.rate:g}",
            str(key.burst),
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(key.created)),
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(key.revoked)) if key.revoked else "",
            key.note,
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (`keys list`).")]) -> None:
    """Refuse a key from now on (401 on its next request)."""
    settings = get_settings()
    client = connect(settings)
    require(client)
    if not apikeys.revoke(client, keys_for(settings), key_id):
        console.print(f"no active key {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
