"""`python -m ops.archive`: the archiver process exactly as `npcfarm archiver` runs it.

Tests start it this way (and kill it) without depending on the console script.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from npcfarm.errors import NpcFarmError
from ops.cli.archive import archiver


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(archiver)
    try:
        app()
    except NpcFarmError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
