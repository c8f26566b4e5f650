"""Benchmark: the living world (tiers, ingest, interactions).

    python -m ops.bench.world [--players 1000] [--interactions 300]

1. tier recompute for 10k and 100k NPCs with 1k players: the pure computation
   (grid + hysteresis + caps) and the whole recompute through Redis, medians of 5;
2. ingest events/s (player positions and NPC state updates through the inbox);
3. interaction-to-decision latency p50/p95 on the rules path while a world runs
   (scheduler ticking 20k NPCs, players walking, a real worker).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from npcfarm.domain import NPC, Personality, Vec3
from npcfarm.redisconn import connect, keys_for
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import get_settings
from npcfarm.stats import percentile
from ops.bench.harness import RULES_ONLY, console, private_redis, seed, wait_until, write_report
from schedules.config import parse_ticks
from schedules.placement import place_npcs
from schedules.tiers import BRONZE, TierPolicy, TierState, assign, nearest_players

SIZE_M = 10_000.0  # square world side for the tier benchmark
ARCHETYPES = ("vampire", "werewolf", "zombie", "ghoul", "lich", "human")


def _npcs(n: int, world: str, size: float, seed_: int = 3) -> list[NPC]:
    rng = random.Random(seed_)
    return [
        NPC(
            id=f"{world}-{i}",
            name=f"N{i}",
            archetype=ARCHETYPES[i % 6],
            world=world,
            personality=Personality(extraversion=rng.random(), agreeableness=rng.random()),
            position=Vec3(x=rng.uniform(0, size), y=rng.uniform(0, size)),
        )
        for i in range(n)
    ]


def tiers(players: int) -> dict[str, Any]:
    from schedules.tier_manager import TierManager  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    config = parse_ticks(Path(settings.ticks_file).read_text())
    out: dict[str, Any] = {}
    rng = np.random.default_rng(5)
    for n in (10_000, 100_000):
        world = f"tiers{n}"
        xy = rng.uniform(0, SIZE_M, (n, 2))
        pxy = rng.uniform(0, SIZE_M, (players, 2))
        pure = []
        for _ in range(5):
            t = time.perf_counter()
            d, _ = nearest_players(xy, pxy, radius=75.0)
            fresh = np.full(n, -np.inf)
            state = TierState(np.full(n, BRONZE, np.int8), fresh, fresh.copy())
            assign(d, state, np.zeros(n, bool), time.time(), TierPolicy())
            pure.append(time.perf_counter() - t)
        crowd = _npcs(n, world, SIZE_M)
        seed(client, keys, crowd, n, f"seeding {n:,} NPCs")
        place_npcs(client, keys, crowd, config)
        now = time.time()
        client.hset(
            keys.players(world),
            mapping={f"p{i}": f"{x:.1f} {y:.1f} 0 {now}" for i, (x, y) in enumerate(pxy)},
        )
        manager = TierManager(client, keys)
        full = []
        for i in range(5):
            report = manager.recompute(world, config, config.activation.policy(), now=now + i)
            full.append(report.seconds)
        out[str(n)] = {
            "pure_ms": statistics.median(pure) * 1000,
            "with_redis_ms": statistics.median(full) * 1000,
            "tiers": report.counts,
        }
        figures = out[str(n)]
        console.print(
            f"tiers: {n:,} NPCs x {players:,} players: compute {figures['pure_ms']:.0f} ms, "
            f"whole recompute {figures['with_redis_ms']:.0f} ms (target: well under 1 s)"
        )
    return out


def ingest(events: int) -> dict[str, float]:
    from ops.bridge.ingest import Ingest  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    crowd = _npcs(2_000, "ing", 500)
    save_npcs(client, keys, crowd)
    service = Ingest(client, keys, publish_job=lambda job: None, consumer="bench")
    service.ensure_group()
    pipe = client.pipeline(transaction=False)
    for i in range(events):
        if i % 2:
            body = {
                "type": "npc_state",
                "event_id": f"e{i}",
                "npc_id": crowd[i % 2000].id,
                "position": {"x": i % 500, "y": 7.5},
                "health": 0.5,
            }
        else:
            body = {
                "type": "player_position",
                "event_id": f"e{i}",
                "world": "ing",
                "player_id": f"p{i % 300}",
                "position": {"x": 1.0, "y": 2.0},
            }
        pipe.xadd(keys.inbox, {"event": json.dumps(body)})
    pipe.execute()
    start, applied = time.perf_counter(), 0
    while applied < events:
        applied += service.run_once(block_ms=10).applied
    rate = events / (time.perf_counter() - start)
    console.print(f"ingest: {rate:,.0f} events/s (half player positions, half NPC state)")
    return {"events": events, "per_s": rate}


def interactions(count: int, tmp: Path) -> dict[str, Any]:
    from ops.bridge.ingest import Ingest  # noqa: PLC0415
    from ops.bridge.simulator import Simulator  # noqa: PLC0415
    from schedules.scheduler import Scheduler  # noqa: PLC0415
    from workers.app import app  # noqa: PLC0415
    from workers.dispatch import batch_publisher, publish_job  # noqa: PLC0415
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    config = parse_ticks(Path(settings.ticks_file).read_text())
    crowd = _npcs(20_000, "live", 1500)
    seed(client, keys, crowd, len(crowd), "seeding a live world")
    place_npcs(client, keys, crowd, config)
    argv = worker_argv(concurrency=2, loglevel="WARNING", logfile=tmp / "worker.log")
    worker = spawn_worker(argv, redis_url=settings.resolved_redis_url, env=RULES_ONLY)
    sched = Scheduler(client, keys, settings, publish=batch_publisher(app))
    service = Ingest(client, keys, publish_job=lambda job: publish_job(app, job), consumer="b")
    service.ensure_group()
    sim = Simulator.start(client, keys, world="live", size_m=1500, players=50)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            service.run_once(block_ms=50)
            sim.step(0.25)

    try:
        wait_until(lambda: len(app.control.ping(timeout=0.5) or []), 1, timeout=60, label="worker")
        sched.start()
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        time.sleep(5)  # let the world run: tiers settle, ticks flow
        sent: dict[str, float] = {}  # tick id of the answer -> when the player spoke
        rng = random.Random(9)
        for i in range(count):
            npc = crowd[rng.randrange(len(crowd))]
            sent[f"ix-bench-{i}"] = time.time()
            client.xadd(
                keys.inbox,
                {
                    "event": json.dumps(
                        {
                            "type": "interaction",
                            "event_id": f"bench-{i}",
                            "npc_id": npc.id,
                            "player_id": "p-bench",
                            "kind": "talk",
                            "text": "Hello there!",
                        }
                    )
                },
            )
            time.sleep(0.05)
        time.sleep(2)
        answers = {
            d.tick_id: d
            for _, d in read_results(client, keys, "live", count=10_000_000)
            if d.tick_id in sent
        }
        lat = [d.timings.published_at - sent[tick] * 1000 for tick, d in answers.items()]
    finally:
        stop.set()
        sched.stop()
        stop_worker(worker)
    result = {
        "answered": len(lat),
        "asked": len(sent),
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
    }
    console.print(
        f"interaction -> decision (inbox to published, rules, world running): "
        f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms "
        f"({result['answered']}/{result['asked']} answered)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    with private_redis(), tempfile.TemporaryDirectory() as tmp:
        report = {
            "tiers": tiers(args.players),
            "ingest": ingest(args.events),
            "interactions": interactions(args.interactions, Path(tmp)),
        }
    write_report(args.out / "world.json", report)
    console.print(f"wrote {args.out / 'world.json'}")


if __name__ == "__main__":
    main()
