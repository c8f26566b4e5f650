"""Benchmark: strategy AI players through the farm, beside the RPG rules path.

    python -m ops.bench.strategy [--npcs 20000] [--season-players 500] [--season-hours 24]

Three figures from one run:
1. decisions/s end to end on the rules path (scheduler -> Redis -> Celery -> results)
   for strategy NPCs (profile state from the reference game, schema v2) and for as
   many RPG NPCs, on the same workers (target: strategy within 2x of RPG);
2. the connector's game-API calls per decision, the game served over HTTP and the
   decisions made by the farm's code (target <= 0.5);
3. a season of `--season-players` AI players simulated in process: game hours per
   wall-clock hour (the speed-up over real time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from models.profiles import get_profile
from models.profiles.values import check_state
from npcfarm.domain import NPC, NPCState, Personality, Tier
from npcfarm.worlds import set_profile
from ops.bench.harness import RULES_ONLY, console, private_redis, seed, wait_until, write_report
from ops.bench.rules_path import Bench, npcs, ticks_toml
from ops.bridge.strategy.season import ARCHETYPES, play
from ops.bridge.strategy.translate import Knowledge, profile_state
from ops.games.strategy import Game
from ops.games.strategy.rules import rules_document
from schedules.config import parse_ticks
from schedules.placement import make_due_now, place_npcs


def strategy_npcs(count: int) -> list[NPC]:
    """AI players whose state is a real village of the reference game (100 cycled)."""
    game, rules = Game(players=100, seed=5), rules_document()
    game.advance(6 * 3600)
    profile = get_profile("strategy")
    states = [
        check_state(profile, profile_state(game.state_of(p), rules, Knowledge(), under_attack={}))
        for p in range(1, 101)
    ]
    return [
        NPC(
            id=f"s{i}",
            name=f"S{i}",
            archetype=ARCHETYPES[i % len(ARCHETYPES)],
            world="travian",
            tier=Tier.BRONZE,
            personality=Personality(agreeableness=(i % 10) / 10, neuroticism=(i % 7) / 7),
            state=NPCState(game=states[i % 100]),
        )
        for i in range(count)
    ]


def rules_phase(bench: Bench, crowd: list[NPC], label: str) -> dict[str, float]:
    toml = ticks_toml(bronze_interval=3600.0, bronze_limit=0)
    seed(bench.client, bench.keys, crowd, len(crowd), f"seeding {label}")
    place_npcs(bench.client, bench.keys, crowd, parse_ticks(toml), now=time.time() + 3600)
    sched = bench.scheduler(toml)
    before = bench.decided()
    sched.start()
    make_due_now(bench.client, bench.keys, Tier.BRONZE, [n.id for n in crowd])
    start = time.perf_counter()
    wait_until(lambda: bench.decided() - before, len(crowd), timeout=900, label=label)
    elapsed = time.perf_counter() - start
    sched.stop()
    for key in bench.client.scan_iter(f"{bench.keys.prefix}:due:*"):
        bench.client.delete(key)
    return {"decisions": len(crowd), "seconds": elapsed, "per_s": len(crowd) / elapsed}


def connector_calls(rounds: int = 6, players: int = 60) -> dict[str, float]:
    """The connector against the game over HTTP, decisions by the farm's own decide path."""
    import redis  # noqa: PLC0415

    from npcfarm.domain import Tick  # noqa: PLC0415
    from npcfarm.redisconn import connect, keys_for  # noqa: PLC0415
    from npcfarm.settings import get_settings  # noqa: PLC0415
    from ops.bridge.ingest import Ingest  # noqa: PLC0415
    from ops.bridge.strategy.connector import Connector  # noqa: PLC0415
    from ops.games.strategy.local import serving  # noqa: PLC0415
    from tasks.context import WorkerContext  # noqa: PLC0415
    from tasks.decide import decide_ticks  # noqa: PLC0415

    settings = get_settings()
    client: redis.Redis = connect(settings)
    keys = keys_for(settings)
    game = Game(players=players, seed=9)
    ingest = Ingest(client, keys, publish_job=lambda _j: None, consumer="bench")
    ingest.ensure_group()
    ctx = WorkerContext.build(settings)
    with serving(game, token="bench") as url:
        c = Connector(
            base_url=url, token="bench", client=client, keys=keys, world="calls", poll_s=0
        )
        ai = c.register()
        ingest.run_once(block_ms=10)
        for r in range(rounds):
            c.poll(force=True)
            ingest.run_once(block_ms=10)
            ticks = [
                Tick(npc_id=n.id, tick_id=f"c{r}-{n.id}", tier=Tier.BRONZE, enqueued_at=time.time())
                for n in ai
            ]
            decide_ticks(ctx, ticks, idempotent=False)
            c.act(block_ms=10)
            game.advance(3600)
        c.close()
    return {
        "calls": float(sum(c.calls.made.values())),
        "decisions": float(c.calls.decisions),
        "per_decision": c.calls.per_decision,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npcs", type=int, default=20_000)
    parser.add_argument("--season-players", type=int, default=500)
    parser.add_argument("--season-hours", type=float, default=24.0)
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    report: dict[str, Any] = {}
    with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        set_profile(bench.client, bench.keys, "travian", "strategy")
        worker = spawn_worker(
            worker_argv(
                queues="silver,bronze",
                concurrency=2,
                loglevel="WARNING",
                logfile=Path(tmp) / "w.log",
            ),
            redis_url=url,
            env=RULES_ONLY,
        )
        try:
            wait_until(
                lambda: len(bench.app.control.ping(timeout=0.5) or []),
                1,
                timeout=60,
                label="worker starting",
            )
            report["rpg"] = rules_phase(
                bench, npcs(args.npcs, tier=Tier.BRONZE, world="bulk", prefix="b"), "rpg NPCs"
            )
            report["strategy"] = rules_phase(bench, strategy_npcs(args.npcs), "strategy NPCs")
            console.print(
                f"rules path: rpg {report['rpg']['per_s']:,.0f}/s, strategy "
                f"{report['strategy']['per_s']:,.0f}/s"
            )
            report["connector"] = connector_calls()
        finally:
            stop_worker(worker)
    started = time.perf_counter()
    season = play(players=args.season_players, hours=args.season_hours)
    wall = time.perf_counter() - started
    report["season"] = {
        "players": args.season_players,
        "game_hours": args.season_hours,
        "wall_s": wall,
        "speedup": args.season_hours * 3600 / wall,
        "growth": season.growth,
        "decisions": season.decisions,
    }
    ratio = report["rpg"]["per_s"] / report["strategy"]["per_s"]
    console.print(f"[bold]strategy vs rpg rules path[/]: {ratio:.2f}x slower (target <= 2x)")
    console.print(
        f"[bold]connector[/]: {report['connector']['per_decision']:.2f} game API "
        "calls per decision (target <= 0.5)"
    )
    console.print(
        f"[bold]season[/]: {args.season_players} AI players, {args.season_hours:g} "
        f"game hours in {wall:.1f} s = {report['season']['speedup']:,.0f}x real time"
    )
    report["ratio_rpg_over_strategy"] = ratio
    write_report(args.out / "strategy.json", report)
    console.print(f"wrote {args.out / 'strategy.json'}")


if __name__ == "__main__":
    main()
