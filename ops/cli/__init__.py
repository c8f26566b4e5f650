"""The `npcfarm` command and what only it shows: status, the live view, `up`.

`main` holds the Typer app and the process commands (worker, scheduler, ingest, ...);
each other module is one group of sub-commands. Nothing here runs inside a worker.
"""
