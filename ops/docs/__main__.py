"""`python -m ops.docs [--check]`: the same as `npcfarm docs`."""

import typer

from ops.cli.docs import docs

if __name__ == "__main__":
    typer.run(docs)
