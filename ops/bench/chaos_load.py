"""The chaos benchmark's load and its witness: players writing the inbox, a bridge reading.

Both talk to Redis exactly as a game server does (XADD to the inbox, XREAD of the
world's results stream from the last id seen) and both ride out Redis restarts: a
write is retried until Redis takes it, a read resumes from the last id. What the
bridge saw is kept, so a decision Redis lost in a crash after a bridge read it still
counts as an answer and shows up as vanished.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis

from npcfarm.keys import Keys
from npcfarm.redisconn import StreamEntries, entries

RETRY_S = 0.1  # pause before writing again while Redis is down
READ_BLOCK_MS = 200  # how long one XREAD waits for new decisions
READ_COUNT = 5_000  # entries per XREAD
KINDS = ("talk", "talk", "talk", "trade", "gift", "help")  # what players do, weighted
LINES = ("Hello there!", "Got anything to trade?", "I will be back, I promise.", None)

Connect = Callable[[], redis.Redis]


class Players(threading.Thread):
    """`rate` interactions a second with NPCs drawn at random, each a fresh event id.

    An interaction counts as sent once Redis acknowledged its XADD; one whose write
    failed is written again (same event id, as a bridge retries) until Redis is back.
    """

    def __init__(
        self, connect: Connect, keys: Keys, npc_ids: list[str], *, rate: float, run_id: str
    ) -> None:
        super().__init__(name="players", daemon=True)
        self._connect = connect
        self._keys = keys
        self._npcs = npc_ids
        self._period = 1.0 / rate
        self._run = run_id
        self._halt = threading.Event()
        self.sent: dict[str, float] = {}  # event id -> epoch s its XADD was acknowledged
        self.npc_of: dict[str, str] = {}
        self.write_errors = 0  # failed XADDs, retried

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        rng = random.Random(self._run)
        client = self._connect()
        due, i = time.monotonic(), 0
        while not self._halt.is_set():
            event_id = f"{self._run}-{i}"
            npc = rng.choice(self._npcs)
            body: dict[str, Any] = {
                "type": "interaction",
                "event_id": event_id,
                "npc_id": npc,
                "player_id": f"player-{rng.randrange(40)}",
                "kind": rng.choice(KINDS),
                "ts": time.time(),
            }
            if text := rng.choice(LINES):
                body["text"] = text
            if self._send(client, json.dumps(body)):
                self.sent[event_id] = time.time()
                self.npc_of[event_id] = npc
            i += 1
            due += self._period
            self._halt.wait(max(0.0, due - time.monotonic()))
        client.close()

    def _send(self, client: redis.Redis, event: str) -> bool:
        while not self._halt.is_set():
            try:
                client.xadd(self._keys.inbox, {"event": event})
                return True
            except redis.RedisError:
                self.write_errors += 1
                self._halt.wait(RETRY_S)
        return False


@dataclass(frozen=True, slots=True)
class Entry:
    """One published decision as a bridge reads it (the fields the report needs)."""

    at: float  # epoch s Redis appended it (from the stream id)
    npc: str
    tick_id: str
    tier: str
    part: str  # "" a whole decision, "action" (its speech follows), "speech"
    enqueued_at: float  # epoch s its tick was swept or its job published


def parse_entry(entry_id: str, fields: dict[str, str]) -> Entry:
    doc = json.loads(fields["d"])
    return Entry(
        at=int(entry_id.partition("-")[0]) / 1000,
        npc=fields["npc"],
        tick_id=doc["tick_id"],
        tier=doc["tier"],
        part=fields.get("part", ""),
        enqueued_at=doc["timings"]["enqueued_at"] / 1000,
    )


class Bridge(threading.Thread):
    """Reads the world's results stream from the last id seen, through Redis restarts."""

    def __init__(self, connect: Connect, keys: Keys, world: str) -> None:
        super().__init__(name="bridge", daemon=True)
        self._connect = connect
        self._stream = keys.results(world)
        self._halt = threading.Event()
        self.seen: dict[str, Entry] = {}  # stream id -> entry
        self.answers: dict[str, float] = {}  # answer tick id -> epoch s first seen
        self.read_errors = 0
        self._last = "0-0"

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        client = self._connect()
        while not self._halt.is_set():
            try:
                self.read_once(client, block_ms=READ_BLOCK_MS)
            except redis.RedisError:
                self.read_errors += 1
                self._halt.wait(RETRY_S)
        client.close()

    def read_once(self, client: redis.Redis, *, block_ms: int | None = None) -> int:
        reply = client.xread({self._stream: self._last}, count=READ_COUNT, block=block_ms)
        streams = cast(list[tuple[str, StreamEntries]], reply or [])
        rows = [row for _, found in streams for row in found]
        for entry_id, fields in rows:
            entry = parse_entry(entry_id, fields)
            self.seen[entry_id] = entry
            if entry.tick_id.startswith("ix-") and entry.part != "speech":
                self.answers.setdefault(entry.tick_id, time.time())
            self._last = entry_id
        return len(rows)


def read_stream(client: redis.Redis, stream: str) -> dict[str, Entry]:
    """The whole stream as it is now (after the last restart), in chunks."""
    out: dict[str, Entry] = {}
    start = "-"
    while True:
        rows = entries(client.xrange(stream, min=start, count=READ_COUNT))
        for entry_id, fields in rows:
            out[entry_id] = parse_entry(entry_id, fields)
        if len(rows) < READ_COUNT:
            return out
        start = "(" + rows[-1][0]
