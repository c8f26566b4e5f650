"""Benchmark: the HTTP gateway's capacity, its added latency, and a hostile run.

    python -m ops.bench.gateway [--seconds 8] [--clients 32] [--out docs/bench/gateway.json]

On a private redis-server, with one gateway process (`npcfarm gateway`: uvicorn, one
worker), an ingest thread, keys and rate limiting on, and the HTTP client (httpx) in
the benchmark's process on the same 2 cores, so the client's share of the CPU is not
the gateway's:

1. accepted interactions/s: `POST /ai/player/interaction?wait_ms=0` (202: in the
   inbox) from `--clients` concurrent connections;
2. `GET /ai/npc/{id}/action` requests/s the same way;
3. added latency: at half of (2)'s capacity, each `GET action` against the same read
   straight from Redis (`HGET latest`), p50/p95 of each and their difference;
4. hostile: the inbox's hostile bodies, oversized bodies, bad and revoked keys, other
   worlds, and a flood past a small key's rate limit; counts by status, and checks
   that nothing answers 5xx and every refusal carries a `code`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from npcfarm.domain import NPC
from npcfarm.keys import Keys
from npcfarm.redisconn import connect, keys_for
from npcfarm.registry import save_npcs
from npcfarm.settings import get_settings
from ops.bench.harness import console, free_port, private_redis, write_report
from ops.bridge.ingest import Ingest
from ops.gateway import apikeys

OUT = Path("docs/bench/gateway.json")
NPCS = 100


async def _load(
    call: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    clients: int,
    seconds: float,
) -> tuple[float, Counter[int]]:
    """Requests/s of `clients` connections calling as fast as answers come."""
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + seconds

    async def one(client: httpx.AsyncClient, lane: int) -> None:
        i = lane
        while time.perf_counter() < deadline:
            statuses[(await call(client, i)).status_code] += 1
            i += clients

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client, lane) for lane in range(clients)))
        return sum(statuses.values()) / (time.perf_counter() - started), statuses


async def _paced(url: str, headers: dict[str, str], rate: float, seconds: float) -> list[float]:
    """Latencies (ms) of GET action sent at `rate` per second."""
    out: list[float] = []
    async with httpx.AsyncClient() as client:
        tasks = []

        async def one(i: int) -> None:
            started = time.perf_counter()
            await client.get(f"{url}/ai/npc/n{i % NPCS}/action", headers=headers)
            out.append(1000 * (time.perf_counter() - started))

        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return out


def _direct(client: redis.Redis, keys: Keys, rate: float, seconds: float) -> list[float]:
    out = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, begin + i / rate - time.perf_counter()))
        started = time.perf_counter()
        client.hget(keys.latest("bench"), f"n{i % NPCS}")
        out.append(1000 * (time.perf_counter() - started))
    return out


def _serve(port: int) -> subprocess.Popen[bytes]:
    """`npcfarm gateway` in a subprocess on `port`, once it answers /readyz."""
    argv = [sys.executable, "-m", "ops.cli", "gateway", "--port", str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError("the gateway did not start")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _hostile(url: str, good: str, small: str, revoked: str) -> dict[str, Any]:
    nested = b'{"type": "npc_state", "event_id": "d", "npc_id": "n1", "flags": '
    nested += b"[" * 1000 + b"]" * 1000 + b"}"
    latin1 = b'{"type": "interaction", "event_id": "l", "npc_id": "n1", "player_id": "p", '
    latin1 += b'"kind": "talk", "text": "caf\xe9"}'
    bodies = [
        b"{not json",
        nested,
        latin1,
        b'{"type": "npc_state", "event_id": "x", "npc_id": "n1", "health": NaN}',
        b'{"type": "teleport"}',
        b"\xff\xfe",
        b"x" * 70_000,
        json.dumps({"type": "npc_state", "event_id": "o", "npc_id": "nobody"}).encode(),
    ]
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    uncoded = 0
    async with httpx.AsyncClient() as client:
        calls: list[tuple[str, bytes | None, str]] = [
            (f"{url}/ai/npc/event", body, good) for body in bodies
        ]
        calls += [(f"{url}/ai/npc/event", bodies[0], token) for token in ("", "nfk_x", revoked)]
        calls += [(f"{url}/ai/world/elsewhere/state", None, good)]
        calls += [(f"{url}/ai/world/bench/state", None, small)] * 60  # past 5/s, burst 10
        for target, body, token in calls:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if body is None:
                response = await client.get(target, headers=headers)
            else:
                response = await client.post(target, content=body, headers=headers)
            statuses[response.status_code] += 1
            if response.status_code >= 400:
                code = response.json().get("code") if response.content else None
                codes[str(code)] += 1
                uncoded += code is None
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "codes": dict(codes),
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "refusals_without_code": uncoded,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with private_redis():
        settings = get_settings()
        client, keys = connect(settings), keys_for(settings)
        npcs = [
            NPC(id=f"n{i}", name=f"N{i}", archetype="human", world="bench") for i in range(NPCS)
        ]
        save_npcs(client, keys, npcs)
        for i in range(NPCS):
            client.hset(keys.latest("bench"), f"n{i}", json.dumps({"npc_id": f"n{i}", "seq": i}))
        good = apikeys.create(client, keys, worlds=("bench",), rate=1e6, burst=10**6)[1]
        small = apikeys.create(client, keys, worlds=("bench",), rate=5, burst=10)[1]
        revoked_key, revoked = apikeys.create(client, keys, worlds=("bench",), rate=5, burst=5)
        apikeys.revoke(client, keys, revoked_key.key_id)
        stop = threading.Event()
        ingest = Ingest(client, keys, publish_job=lambda job: None, consumer="bench")
        ingest.ensure_group()
        threading.Thread(target=ingest.serve, args=(stop,), daemon=True).start()
        port = free_port()
        server = _serve(port)  # its own process, as deployed: no GIL shared with the client
        url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {good}"}

        async def interact(c: httpx.AsyncClient, i: int) -> httpx.Response:
            body = {"npc_id": f"n{i % NPCS}", "player_id": "p", "kind": "talk"}
            return await c.post(
                f"{url}/ai/player/interaction?wait_ms=0", json=body, headers=headers
            )

        async def action(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.get(f"{url}/ai/npc/n{i % NPCS}/action", headers=headers)

        console.print(f"interactions for {args.seconds:g} s from {args.clients} connections")
        accepted, ix_status = asyncio.run(_load(interact, args.clients, args.seconds))
        console.print(f"accepted interactions: {accepted:,.0f}/s {dict(ix_status)}")
        reads, rd_status = asyncio.run(_load(action, args.clients, args.seconds))
        console.print(f"GET action: {reads:,.0f}/s {dict(rd_status)}")
        rate = reads / 2
        via = asyncio.run(_paced(url, headers, rate, args.seconds))
        direct = _direct(client, keys, rate, args.seconds)
        latency = {
            "rate_per_s": rate,
            "gateway_p50_ms": statistics.median(via),
            "gateway_p95_ms": _p(via, 0.95),
            "redis_p50_ms": statistics.median(direct),
            "redis_p95_ms": _p(direct, 0.95),
        }
        latency["added_p50_ms"] = latency["gateway_p50_ms"] - latency["redis_p50_ms"]
        latency["added_p95_ms"] = latency["gateway_p95_ms"] - latency["redis_p95_ms"]
        console.print(
            f"at {rate:,.0f}/s: gateway p50/p95 {latency['gateway_p50_ms']:.2f}/"
            f"{latency['gateway_p95_ms']:.2f} ms, Redis {latency['redis_p50_ms']:.2f}/"
            f"{latency['redis_p95_ms']:.2f} ms: added p95 {latency['added_p95_ms']:.2f} ms "
            "(target <= 5 ms)"
        )
        hostile = asyncio.run(_hostile(url, good, small, revoked))
        console.print(f"hostile: {hostile}")
        server.terminate()
        server.wait(10)
        stop.set()
    write_report(
        args.out,
        {
            "clients": args.clients,
            "seconds": args.seconds,
            "accepted_interactions_per_s": accepted,
            "interaction_statuses": {str(k): v for k, v in ix_status.items()},
            "get_action_per_s": reads,
            "get_action_statuses": {str(k): v for k, v in rd_status.items()},
            "latency": latency,
            "hostile": hostile,
            "command": "python -m ops.bench.gateway "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
    )


if __name__ == "__main__":
    main()
