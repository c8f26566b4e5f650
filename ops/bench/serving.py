"""Serving benchmark: concurrent model jobs through Redis and Celery into one model worker.

`python -m ops.bench.serving [--concurrency 1,4,8,16] [--rounds 2]` writes
docs/bench/serving.json and a plot. For each C it sends C single-NPC interaction jobs at
once and times until all C decisions are published, three ways in the same run:

- `engine`: the same prompts submitted straight to one Engine (no Redis, no Celery),
- `farm`: a threads-pool model worker (one process, one engine, n_seq_max slots), the
  topology `npcfarm worker --gpu N` and `up` start,
- `per_message`: the design before the served loop, one message decided at a time
  (a solo pool: each message's `decide` call runs alone).

The response cache is off and the queue budget is 0, so every job asks the model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.archetypes import get_archetype
from models.catalogue import engine_config
from models.llm import DecisionRequest, Engine
from models.prompts import system_prompt, user_prompt
from npcfarm.domain import NPC, Job, Nearby, NPCState, Tier
from npcfarm.redisconn import connect, keys_for
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import get_settings
from ops.bench.harness import console, private_redis, wait_until, write_report

OUT = Path("docs/bench/serving.json")
WORDS = "Good evening. Have you seen anything strange on the road tonight?"
ARCHETYPES = ("vampire", "werewolf", "human", "ghoul")
FARM_ENV = {  # every job asks the model, none waits for a loading engine
    "NPCFARM_RESPONSE_CACHE_TTL_S": "0",
    "NPCFARM_ENGINE_QUEUE_BUDGET_S": "0",
    "NPCFARM_ENGINE_LOAD_WAIT_S": "0",
}


def _npc(i: int) -> NPC:
    player = Nearby(id=f"p{i}", distance=1.5)
    state = NPCState(nearby_players=[player], time_of_day=21.0)
    archetype = ARCHETYPES[i % len(ARCHETYPES)]
    return NPC(id=f"s{i}", name=f"Npc {i}", archetype=archetype, world="bench", state=state)


def _requests(npcs: Sequence[NPC], tag: str) -> list[DecisionRequest]:
    s = get_settings()
    return [
        DecisionRequest(
            request_id=f"{tag}-{n.id}",
            archetype=n.archetype,
            system_prompt=system_prompt(get_archetype(n.archetype)),
            prompt=user_prompt(n, player_id=f"p{i}", player_words=WORDS),
            allowed_actions=tuple(sorted(get_archetype(n.archetype).allowed_actions)),
            max_tokens=s.engine_max_tokens,
            time_limit_s=600.0,
        )
        for i, n in enumerate(npcs)
    ]


def time_to_action(engine: Engine, c: int = 8) -> dict[str, float]:
    """Medians of submission to action head and to the whole decision, C at once."""
    tickets = [engine.submit(r) for r in _requests([_npc(i) for i in range(c)], "tta")]
    results = [t.future.result() for t in tickets]
    heads = [t.action.result() for t in tickets]
    acted = [h.seconds for h in heads if h is not None]
    whole = [r.seconds for r in results if r.error is None]
    out = {
        "concurrency": c,
        "action_p50_s": statistics.median(acted) if acted else 0.0,
        "decision_p50_s": statistics.median(whole) if whole else 0.0,
    }
    out["ratio"] = out["action_p50_s"] / out["decision_p50_s"] if out["decision_p50_s"] else 0.0
    console.print(
        f"time to action {out['action_p50_s']:.2f} s vs whole decision "
        f"{out['decision_p50_s']:.2f} s (C={c}, medians): {out['ratio']:.2f}x"
    )
    return out


def engine_alone(
    data_dir: Path, levels: Sequence[int], rounds: int
) -> tuple[dict[int, float], dict[str, float]]:
    config = engine_config(data_dir, get_settings().engine_base, console=console)
    out: dict[int, float] = {}
    with Engine(**config.engine_kwargs()) as engine:
        prefixes = {a: system_prompt(get_archetype(a)) for a in config.archetypes}
        engine.warm_up(prefixes=prefixes)
        for c in levels:
            runs = []
            for r in range(rounds):
                requests = _requests([_npc(i) for i in range(c)], f"e{c}-{r}")
                started = time.perf_counter()
                engine.decide(requests)
                runs.append(c / (time.perf_counter() - started))
            out[c] = statistics.median(runs)
            console.print(f"engine alone  C={c:>3}: {out[c]:.2f} decisions/s")
        tta = time_to_action(engine)
    return out, tta


def _farm(pool: str, slots: int, data_dir: Path, levels: Sequence[int], rounds: int) -> Any:
    from workers.app import app  # noqa: PLC0415
    from workers.dispatch import publish_job  # noqa: PLC0415
    from workers.launch import spawn_worker, stop_worker, worker_argv  # noqa: PLC0415

    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    log = data_dir / f"worker-{pool}.log"
    argv = worker_argv(queues="gold", pool=pool, concurrency=slots, loglevel="WARNING", logfile=log)
    env = {**FARM_ENV, "NPCFARM_DATA_DIR": str(data_dir), "NPCFARM_ENGINE_ENABLED": "true"}
    worker = spawn_worker(argv, redis_url=settings.resolved_redis_url, env=env)
    out: dict[int, float] = {}
    try:
        wait_until(lambda: client.hlen(keys.engines), 1, timeout=300, label=f"{pool}: engine")
        for c in levels:
            runs = []
            for r in range(rounds):
                npcs = [_npc(i).model_copy(update={"id": f"{pool}{c}-{r}-{i}"}) for i in range(c)]
                save_npcs(client, keys, npcs)
                ticks = {f"ix-{n.id}" for n in npcs}
                started = time.time()
                for i, n in enumerate(npcs):
                    job = Job(
                        npc_id=n.id,
                        tick_id=f"ix-{n.id}",
                        tier=Tier.GOLD,
                        enqueued_at=started,
                        origin="interaction",
                        player_id=f"p{i}",
                        kind="talk",
                        text=WORDS,
                    )
                    publish_job(app, job)

                def answered(want: set[str] = ticks) -> int:
                    got = read_results(client, keys, "bench", count=1_000_000)
                    return sum(1 for _, d in got if d.tick_id in want)

                wait_until(answered, c, timeout=600, label=f"{pool} C={c}")
                done = [d for _, d in read_results(client, keys, "bench") if d.tick_id in ticks]
                last = max(d.timings.published_at for d in done) / 1000
                runs.append(c / (last - started))
                sources = {str(d.source) for d in done}
                if sources != {"llm"}:
                    console.print(f"[yellow]{pool} C={c}: sources {sources}[/]")
            out[c] = statistics.median(runs)
            console.print(f"{pool:<13} C={c:>3}: {out[c]:.2f} decisions/s")
    finally:
        stop_worker(worker)
        client.delete(keys.engines)
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    levels = report["concurrency"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name in ("engine", "farm", "per_message"):
        ax.plot(levels, [report[name][str(c)] for c in levels], marker="o", label=name)
    ax.set_xlabel("concurrent interaction jobs (C)")
    ax.set_ylabel("decisions/s")
    ax.set_xscale("log", base=2)
    ax.set_title(f"serving {report['base']} ({os.cpu_count()} CPUs)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    with private_redis(), tempfile.TemporaryDirectory(prefix="npcfarm-serving-") as tmp:
        data_dir = Path(tmp)
        config = engine_config(data_dir, get_settings().engine_base, console=console)
        alone, tta = engine_alone(data_dir, levels, args.rounds)
        farm = _farm("threads", config.n_seq_max, data_dir, levels, args.rounds)
        per_message = _farm("solo", 1, data_dir, levels, args.rounds)
    top = max(levels)
    report = {
        "base": config.base,
        "n_seq_max": config.n_seq_max,
        "concurrency": levels,
        "engine": {str(c): round(v, 3) for c, v in alone.items()},
        "farm": {str(c): round(v, 3) for c, v in farm.items()},
        "per_message": {str(c): round(v, 3) for c, v in per_message.items()},
        "farm_vs_engine_at_max": round(farm[top] / alone[top], 3),
        "farm_vs_per_message_at_max": round(farm[top] / per_message[top], 3),
        "time_to_action": {k: round(v, 3) for k, v in tta.items()},
        "command": "python -m ops.bench.serving "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    write_report(OUT, report)
    plot(report, OUT.with_suffix(".png"))
    console.print(
        f"C={top}: farm {report['farm_vs_engine_at_max']:.2f}x the engine alone, "
        f"{report['farm_vs_per_message_at_max']:.2f}x one message at a time"
    )


if __name__ == "__main__":
    main()
