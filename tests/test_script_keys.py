"""Every Lua script declares every key it touches (DragonflyDB and Redis Cluster
refuse the rest): each script runs here under MONITOR, and the keys of each command a
script ran (as the server itself names them, `COMMAND GETKEYS`) must be among the
keys its EVALSHA declared."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from npcfarm.claims import ClaimRequest, Claims
from npcfarm.domain import Action, Tier
from npcfarm.keys import Keys
from npcfarm.memory.prefetch import MemoryCache
from npcfarm.registry import save_npcs
from npcfarm.results import ResultPublisher, release_ticks
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from ops.gateway.app import _ADMIT as ADMIT
from schedules.conversations import ConversationCloser
from schedules.leader import LeaderLease
from schedules.placement import make_due_now, place_npcs
from schedules.sweep import DueSweep
from tests.conftest import wait_for
from tests.helpers import fast_ticks, make_decision, make_npc

_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}
STOP = "npcfarm-monitor-stop"


def _unrepr(text: str) -> bytes:
    """Undo the server's quoting of one MONITOR argument (sdscatrepr)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1] == "x":
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
            else:
                out += _ESCAPES[text[i + 1]]
                i += 2
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


@dataclass
class Call:
    sha: str
    declared: set[str]
    ran: list[list[bytes]] = field(default_factory=list)


@contextmanager
def monitored(client: redis.Redis) -> Iterator[list[Call]]:
    """The script calls made inside the block, each with the commands it ran."""
    calls: list[Call] = []
    lines: list[str] = []
    with client.monitor() as mon:  # type: ignore[no-untyped-call]

        def read() -> None:
            while True:
                line = str(mon.connection.read_response())
                if STOP in line:
                    return
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        yield calls
        client.echo(STOP)
        reader.join(timeout=10)
    raw = redis.Redis.from_url(_url(client))
    current: Call | None = None
    for line in lines:
        args = [_unrepr(a) for a in _ARG.findall(line)]
        if not args:
            continue
        name = args[0].upper()
        if "lua]" in line and current is not None:
            current.ran.append(args)
        elif name in (b"EVALSHA", b"EVAL"):
            declared = set(_getkeys(raw, args))
            current = Call(sha=args[1].decode(errors="replace")[:12], declared=declared)
            calls.append(current)
        else:
            current = None
    raw.close()


def _url(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def _getkeys(raw: redis.Redis, args: list[bytes]) -> list[str]:
    """The keys of a command, as the server itself parses them."""
    return [k.decode() if isinstance(k, bytes) else str(k) for k in raw.command_getkeys(*args)]


def _undeclared(client: redis.Redis, calls: list[Call]) -> list[tuple[str, str, str]]:
    raw = redis.Redis.from_url(_url(client))
    bad = []
    for call in calls:
        for args in call.ran:
            try:
                used = _getkeys(raw, args)
            except redis.ResponseError:  # the command takes no keys
                continue
            bad += [(call.sha, args[0].decode(), k) for k in used if k not in call.declared]
    raw.close()
    return bad


def test_every_script_declares_the_keys_it_touches(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    npcs = [make_npc(f"n{i}", archetype="vampire", world="w1", tier=Tier.BRONZE) for i in range(6)]
    save_npcs(client, keys, npcs)
    place_npcs(client, keys, npcs, fast_ticks())
    make_due_now(client, keys, Tier.BRONZE, [n.id for n in npcs])
    with monitored(client) as calls:
        lease = LeaderLease(client, keys.leader, ttl_s=5)
        assert lease.tick() and lease.tick()  # acquire, then the renew script
        DueSweep(client, keys, limit=100).sweep_tier(
            Tier.BRONZE, fast_ticks()[Tier.BRONZE], token=lease.token, publish=lambda _b: None
        )
        pub = ResultPublisher(
            client,
            keys,
            stream_maxlen=100,
            latency_samples=10,
            published_ttl_s=60,
            archive_tiers=["gold"],
            archive_maxlen=100,
        )
        pub.publish([make_decision("n0", "t1"), make_decision("n1", "t2")], idempotent=True)
        pub.publish([make_decision("n1", "t2")], idempotent=True, parts=["speech"])
        release_ticks(client, keys, [("n2", "t9")])
        claims = Claims(client, keys, lease_ms=5000)
        assert claims.settle("w1", [ClaimRequest("n0", Action.ATTACK, "ann")], [])
        claims.settle("w1", [ClaimRequest("n0", Action.TRADE, "bob")], [])  # moves n0's claim
        claims.settle("w1", [], ["n0"])  # and releases it
        MemoryCache().fetch(client, keys, ["n0", "n1"])
        ingest = Ingest(client, keys, publish_job=lambda _j: None, consumer="keys")
        ingest.ensure_group()
        gift = {"event_id": "e1", "npc_id": "n0", "player_id": "ann", "kind": "gift"}
        client.xadd(keys.inbox, {"event": json.dumps({"type": "interaction", **gift})})
        wait_for(lambda: ingest.run_once(block_ms=10).applied > 0, what="the gift applied")
        client.zadd(keys.conversations, {"n0": time.time() - 1})
        ConversationCloser(client, keys, lambda _n: None).run(time.time())
        admit = client.register_script(ADMIT)
        admit(keys=[keys.api_keys, keys.bucket("k1")], args=["k1", "digest", time.time()])
        lease.release()
    ran = {c.sha for c in calls if c.ran}
    assert len(ran) >= 8, f"expected every script to run, saw {len(ran)}"
    assert _undeclared(client, calls) == []
