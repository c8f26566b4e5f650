"""`npcfarm docs`: rewrite the generated parts of the protocol and operations pages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ops.docs.pages import DEFAULT_ROOT, stale, write


def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Only report stale files; exit 1 if any.")
    ] = False,
    root: Annotated[Path, typer.Option(help="Project root holding docs/.")] = DEFAULT_ROOT,
) -> None:
    """Write docs/schemas/*.json and the generated tables of BRIDGE.md and OPERATIONS.md."""
    console = Console()
    if check:
        old = stale(root)
        for path in old:
            console.print(f"stale: {path.relative_to(root)}")
        if old:
            console.print("run `npcfarm docs` to regenerate")
            raise typer.Exit(1)
        console.print("docs are current")
        return
    for path in write(root):
        console.print(f"wrote {path.relative_to(root)}")
