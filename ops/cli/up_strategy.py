"""`npcfarm up --game strategy`: the reference strategy game played by AI players
through the real farm, with a live view of the season.

Starts the embedded Redis (unless configured), the farm's workers (supervised), a
scheduler, an ingest and an archiver, the game server as its own process (its HTTP
API on a free port, game time at `--speed` game seconds per real second), and the
connector, which registers one AI player per village and plays the bridge role. The
live view shows the villages growing, raids and their reports, alliances forming,
and the letters between AI players.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from npcfarm.memory.store import MemoryStore
from npcfarm.redisconn import connect, keys_for, require
from npcfarm.settings import Settings
from ops.bridge.strategy.connector import Connector
from ops.cli.up import _loop, _raise_interrupt, _wait_for_worker, redis_for, start_archiver
from workers.launch import spawn_worker, stop_worker, worker_argv
from workers.supervise import Supervised

WORLD = "strategy-0"
STRATEGY_TICKS = Path(__file__).parent.parent / "bridge" / "strategy_ticks.toml"
TOP = 12  # villages shown
FEED = 14  # recent events shown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_game(players: int, speed: float, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    argv = [sys.executable, "-m", "ops.games.strategy", "--port", str(port)]
    argv += ["--players", str(players), "--speed", str(speed), "--token", token, "--rate", "200"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the game server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the game server did not answer within 30 s")


def run_strategy(
    settings: Settings, *, players: int, duration: float | None, concurrency: int, speed: float
) -> None:
    from ops.bridge.ingest import Ingest  # noqa: PLC0415
    from schedules.scheduler import Scheduler  # noqa: PLC0415
    from workers.app import app  # noqa: PLC0415
    from workers.dispatch import batch_publisher, publish_job, summary_publisher  # noqa: PLC0415

    console = Console()
    if settings.task_queue != "celery":
        raise RuntimeError("npcfarm up runs Celery workers: unset NPCFARM_TASK_QUEUE")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The rules play, at the strategy demo's pace (unless a ticks file is configured).
    update: dict[str, Any] = {"engine_enabled": False}
    if "NPCFARM_TICKS_FILE" not in os.environ:
        update["ticks_file"] = STRATEGY_TICKS
    settings = settings.model_copy(update=update)
    token = secrets.token_urlsafe(16)
    with redis_for(settings, console):
        client, keys = connect(settings), keys_for(settings)
        require(client)
        url = settings.resolved_redis_url
        argv = worker_argv(
            concurrency=concurrency, loglevel="WARNING", logfile=settings.data_dir / "worker.log"
        )
        env = {"NPCFARM_ENGINE_ENABLED": "false"}
        workers = [Supervised("all", lambda: spawn_worker(argv, redis_url=url, env=env))]
        game, game_url = start_game(players, speed, token)
        console.print(f"[dim]strategy game on {game_url} ({players} villages, speed {speed:g})[/]")
        for worker in workers:
            _wait_for_worker(app, worker.proc)
        ingest = Ingest(
            client,
            keys,
            publish_job=lambda job: publish_job(app, job),
            consumer="up-strategy",
            memory=MemoryStore.from_settings(client, keys, settings),
        )
        ingest.ensure_group()
        connector = Connector(base_url=game_url, token=token, client=client, keys=keys, world=WORLD)
        names = {n.id: n for n in connector.register()}
        ingest.run_once(block_ms=100)
        scheduler = Scheduler(
            client,
            keys,
            settings,
            publish=batch_publisher(app),
            publish_summary=summary_publisher(app),
        )
        scheduler.start(handle_signals=True)
        archiver = start_archiver(settings, client, keys, console)
        stop = threading.Event()
        loops = [
            _loop("ingest", stop, lambda: ingest.serve(stop, block_ms=200)),
            _loop("connector", stop, lambda: connector.serve(stop)),
            _loop("archiver", stop, lambda: archiver.serve(stop)),
        ]
        try:
            _watch(console, connector, names=names, game=game, workers=workers, duration=duration)
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            stop.set()
            for thread in loops:
                thread.join(timeout=5)
            scheduler.stop()
            for worker in workers:
                worker.stop(stop_worker)
            game.terminate()
            game.wait(10)
            connector.close()
    calls = connector.calls
    console.print(
        f"{calls.decisions:,} decisions carried out, {sum(calls.made.values()):,} game API calls "
        f"({calls.per_decision:.2f} per decision); outcomes {dict(calls.outcomes)}"
    )


def _watch(
    console: Console,
    connector: Connector,
    *,
    names: dict[str, Any],
    game: subprocess.Popen[bytes],
    workers: list[Supervised],
    duration: float | None,
) -> None:
    """The live view until `duration` is over (or Ctrl-C); keeps the workers up."""
    feed: deque[str] = deque(maxlen=FEED)
    seen: set[str] = set()
    deadline = time.monotonic() + duration if duration else None
    with Live(console=console, refresh_per_second=2) as live:
        while deadline is None or time.monotonic() < deadline:
            for worker in workers:
                worker.check()
            if game.poll() is not None:
                raise RuntimeError(f"the game server exited with {game.returncode}")
            _gather(connector, feed, seen)
            live.update(_view(connector, names, feed))
            time.sleep(0.5)


def _gather(connector: Connector, feed: deque[str], seen: set[str]) -> None:
    """New battle reports and letters of the AI players, newest last."""
    for player, state in sorted(connector.states.items()):
        for r in state.get("reports") or []:
            key = f"r{player}:{r.get('id')}"
            if key in seen or r.get("role") != "attacker":
                continue
            seen.add(key)
            loot = sum(float(x) for x in (r.get("loot") or {}).values())
            won = "won" if r.get("winner") == "attacker" else "lost"
            feed.append(
                f"⚔ {player} {r.get('mission')} on village {r['defender']['village']}: "
                f"{won}, {loot:.0f} carried home"
            )
        for m in state.get("messages") or []:
            key = f"m{player}:{m.get('id')}"
            if key not in seen:
                seen.add(key)
                feed.append(f"✉ {m.get('from')} → {player}: {str(m.get('text'))[:70]}")


def _view(connector: Connector, names: dict[str, Any], feed: deque[str]) -> Group:
    table = Table(title=f"strategy world {WORLD} — villages by population", title_justify="left")
    for col in ("player", "archetype", "population", "production/h", "troops", "alliance", "doing"):
        table.add_column(
            col, justify="left" if col in ("player", "archetype", "doing", "alliance") else "right"
        )
    rows = []
    for player, state in connector.states.items():
        v = state["villages"][0]
        npc = names.get(f"ai-{player:03d}")
        doing = v["construction"]["building"] if v.get("construction") else "-"
        rows.append(
            (
                int(v["population"]),
                str(player),
                npc.archetype if npc else "?",
                f"{sum(float(x) for x in v['production'].values()):,.0f}",
                f"{sum(int(n) for n in v['troops_home'].values()):,}",
                str((state.get("alliance") or {}).get("name") or "-"),
                f"building {doing}" if doing != "-" else "-",
            )
        )
    for pop, *cells in sorted(rows, reverse=True)[:TOP]:
        table.add_row(cells[0], cells[1], f"{pop:,}", *cells[2:])
    calls = connector.calls
    footer = Text.assemble(
        ("decisions carried out ", "dim"),
        f"{calls.decisions:,}",
        ("   game API calls per decision ", "dim"),
        f"{calls.per_decision:.2f}",
        ("   outcomes ", "dim"),
        ", ".join(f"{k} {v:,}" for k, v in sorted(calls.outcomes.items())) or "-",
        ("\ndecided ", "dim"),
        ", ".join(f"{a} {n:,}" for a, n in calls.actions.most_common()) or "-",
    )
    events = Text("\n".join(feed) or "no raids or letters yet", style="white")
    return Group(table, footer, Text("\nrecent raids and letters", style="bold"), events)
