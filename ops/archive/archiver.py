"""The archiver: moves events from the Redis archive stream into the database.

A consumer group (`archiver`) lets several archivers share the stream. One batch
(up to `batch` entries, or what arrived within `wait_ms` of the first) is written in
one transaction, idempotently (`ON CONFLICT DO NOTHING` on the event id), and its
entries are acknowledged only after COMMIT. A crash before the commit leaves them
pending; this archiver re-reads its own pending entries first, and a live one claims
those of a dead one once they have been idle `claim_idle_ms`. So an event is archived
at least once, and the event id makes at least once exactly once.

When the database is down nothing is acknowledged and the archiver backs off; the
backlog waits in Redis (producers never touch the database), bounded by their
`archive_stream_max` cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import redis
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from npcfarm.archive import ArchiveEvent
from npcfarm.keys import Keys
from npcfarm.redisconn import StreamEntries, entries, stream_gone
from ops.archive.db import history_insert, npc_upsert
from ops.archive.rows import Row, to_row
from ops.archive.schema import HISTORY

log = logging.getLogger(__name__)

GROUP = "archiver"  # consumer group name on the archive stream
BATCH = 100  # entries per transaction (settings.archive_batch)
WAIT_MS = 100  # longest a partial batch waits for more entries (settings.archive_wait_ms)
CLAIM_IDLE_MS = 30_000  # entries pending this long in another archiver are taken over
DEAD_MAXLEN = 100_000  # dead letters kept (approximate)
TRIM_EVERY_S = 5.0  # how often archived entries are trimmed from the stream
REDIS_RETRY_S = 2.0  # pause after a Redis connection error
BACKOFF_S = (0.5, 5.0)  # pause after a database error: first, then doubling up to the last
DATABASE_ERRORS = (DBAPIError, PoolTimeout)  # nothing acknowledged: the batch comes again
REFUSED = (DataError, IntegrityError)  # the database rejects a row itself: dead-lettered


def dead_letters(keys: Keys) -> str:
    """STREAM: archive entries refused, fields `reason`, `raw` (the entry's fields as
    JSON), `archive_id`; capped at DEAD_MAXLEN. Malformed entries, bodies that break
    their kind's contract (`ops.archive.rows`) and rows the database rejects go here."""
    return f"{keys.archive}:dead"


@dataclass(slots=True)
class BatchResult:
    """What one batch did; the same names are counted in `keys.archive_stats`."""

    archived: int = 0  # rows written (an NPC record replaced counts too)
    duplicates: int = 0  # already archived (redelivery), or an NPC record not newer
    dead: int = 0  # dead-lettered
    lost: int = 0  # trimmed from the stream by the producers' cap before archiving


class Parsed(NamedTuple):
    entry_id: str
    event: ArchiveEvent
    row: Row


@dataclass(frozen=True, slots=True)
class Backlog:
    length: int  # entries in the stream (not yet trimmed)
    pending: int  # delivered to an archiver, not yet acknowledged


class Archiver:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        engine: Engine,
        *,
        consumer: str,
        batch: int = BATCH,
        wait_ms: int = WAIT_MS,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        commit_delay_s: float = 0.0,
    ) -> None:
        """`commit_delay_s` is fault injection for tests and drills, 0 in production: it
        holds each transaction open that long before COMMIT, so that a crash can be
        aimed between the read and the commit."""
        self._client = client
        self._keys = keys
        self._engine = engine
        self.consumer = consumer
        self._batch = batch
        self._wait_ms = wait_ms
        self._claim_idle_ms = claim_idle_ms
        self._commit_delay_s = commit_delay_s
        self._npc_upsert = npc_upsert(engine)
        self._history_inserts = {k: history_insert(engine, t) for k, t in HISTORY.items()}
        self._recovering = True  # own pending entries first (a restart under the same name)

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self._keys.archive, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run_once(self) -> int:
        """Read one batch, write it, acknowledge it; returns the entries acknowledged.

        Database and Redis errors propagate with nothing acknowledged; the next round
        then starts from this archiver's own pending entries.
        """
        try:
            return self.process(self._read())
        except BaseException:
            self._recovering = True
            raise

    def _read(self) -> StreamEntries:
        stream = self._keys.archive
        if self._recovering:
            reply = self._client.xreadgroup(GROUP, self.consumer, {stream: "0"}, count=self._batch)
            own = _rows(reply)
            if own:
                return own
            self._recovering = False
        claimed = self._client.xautoclaim(
            stream, GROUP, self.consumer, self._claim_idle_ms, "0-0", count=self._batch
        )
        if len(claimed) > 2 and claimed[2]:  # Redis 7: trimmed before archiving, now dropped
            self._count("lost", len(claimed[2]))
        if taken := entries(claimed[1]):
            log.info(
                "archiver %s took over %d entries of a dead archiver", self.consumer, len(taken)
            )
            return taken
        return self._read_new()

    def _read_new(self) -> StreamEntries:
        """Up to `batch` new entries, waiting at most `wait_ms` after the first arrives."""
        got: StreamEntries = []
        block, deadline = self._wait_ms, 0.0
        while len(got) < self._batch and block >= 1:
            reply = self._client.xreadgroup(
                GROUP,
                self.consumer,
                {self._keys.archive: ">"},
                count=self._batch - len(got),
                block=block,
            )
            more = _rows(reply)
            if not more:
                break
            got += more
            deadline = deadline or time.monotonic() + self._wait_ms / 1000
            block = int((deadline - time.monotonic()) * 1000)
        return got

    def process(self, batch: StreamEntries) -> int:
        """Write a read batch in one transaction, then dead-letter and acknowledge it."""
        if not batch:
            return 0
        result = BatchResult()
        good: list[Parsed] = []
        dead: list[tuple[str, str, dict[str, str]]] = []
        for entry_id, fields in batch:
            if not fields:  # trimmed by the producers' cap before it was archived
                result.lost += 1
                continue
            try:
                ev = ArchiveEvent.from_fields(fields)
                good.append(Parsed(entry_id, ev, to_row(ev)))
            except ValueError as exc:
                dead.append((entry_id, str(exc), fields))
        if good:
            try:
                self._write(good, result)
            except REFUSED as exc:
                log.warning("archive batch refused (%s); writing its events one by one", exc.orig)
                dead += self._write_each(good, result)
        self._acknowledge(batch, dead, result)
        return len(batch)

    def _write(self, events: Sequence[Parsed], result: BatchResult) -> None:
        tables: dict[str, dict[str, Row]] = {}
        for _, ev, row in events:
            rows = tables.setdefault(ev.kind, {})
            if ev.kind == "npc":  # one row per NPC id and statement: the newest version
                if row["id"] not in rows or rows[row["id"]]["updated_at"] < row["updated_at"]:
                    rows[row["id"]] = row
            else:
                rows.setdefault(ev.id, row)  # the same event twice in one batch
        written = 0
        with self._engine.begin() as conn:
            for kind, rows in tables.items():
                written += self._insert_rows(conn, kind, list(rows.values()))
            if self._commit_delay_s:
                time.sleep(self._commit_delay_s)
        result.archived += written
        result.duplicates += len(events) - written

    def _insert_rows(self, conn: Connection, kind: str, rows: list[Row]) -> int:
        stmt = self._npc_upsert if kind == "npc" else self._history_inserts[kind]
        return len(conn.execute(stmt, rows).all())

    def _write_each(
        self, good: list[Parsed], result: BatchResult
    ) -> list[tuple[str, str, dict[str, str]]]:
        """One transaction per event, so only the rows the database rejects are refused."""
        refused = []
        for parsed in good:
            try:
                self._write([parsed], result)
            except REFUSED as exc:
                ev = parsed.event
                reason = f"database refused {ev.kind} {ev.id!r}: {str(exc.orig).strip()[:200]}"
                refused.append((parsed.entry_id, reason, ev.fields()))
        return refused

    def _acknowledge(
        self, batch: StreamEntries, dead: list[tuple[str, str, dict[str, str]]], result: BatchResult
    ) -> None:
        result.dead = len(dead)
        pipe = self._client.pipeline(transaction=False)
        for entry_id, reason, fields in dead:
            pipe.xadd(
                dead_letters(self._keys),
                {
                    "reason": reason[:300],
                    "raw": json.dumps(fields)[:10_000],
                    "archive_id": entry_id,
                },
                maxlen=DEAD_MAXLEN,
                approximate=True,
            )
        pipe.xack(self._keys.archive, GROUP, *[entry_id for entry_id, _ in batch])
        counts = {
            "archived": result.archived,
            "duplicates": result.duplicates,
            "dead": result.dead,
            "lost": result.lost,
            "batches": 1,
        }
        for name, amount in counts.items():
            if amount:
                pipe.hincrby(self._keys.archive_stats, name, amount)
        pipe.execute()
        if dead:
            log.warning("dead-lettered %d archive entries (e.g. %s)", len(dead), dead[0][1])

    def serve(self, stop: threading.Event) -> None:
        """Run until `stop`: archive, trim now and then, outlive Redis and database outages."""
        backoff, trimmed_at = BACKOFF_S[0], 0.0
        while not stop.is_set():
            try:
                self.run_once()
                backoff = BACKOFF_S[0]
                if time.monotonic() - trimmed_at > TRIM_EVERY_S:
                    self.trim()
                    trimmed_at = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("archiver: Redis unavailable, retrying in %g s: %s", REDIS_RETRY_S, exc)
                stop.wait(REDIS_RETRY_S)
            except redis.ResponseError as exc:
                if stream_gone(exc):
                    self.ensure_group()
                    continue
                log.exception("archiver: Redis refused a command, retrying in %g s", REDIS_RETRY_S)
                stop.wait(REDIS_RETRY_S)
            except DATABASE_ERRORS as exc:
                level = logging.WARNING if _disconnect(exc) else logging.ERROR
                log.log(
                    level,
                    "archiver: database error, nothing acknowledged, retrying in %g s: %s",
                    backoff,
                    exc,
                )
                self._count("failures")
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])

    def _count(self, name: str, amount: int = 1) -> None:
        with contextlib.suppress(redis.RedisError):  # best effort while something else fails
            self._client.hincrby(self._keys.archive_stats, name, amount)

    def trim(self) -> int:
        """Drop stream entries every archiver is done with (older than anything pending)."""
        groups = self._client.xinfo_groups(self._keys.archive)
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None or group["last-delivered-id"] == "0-0":
            return 0
        ms, seq = map(int, str(group["last-delivered-id"]).split("-"))
        floor = f"{ms}-{seq + 1}"  # everything delivered so far...
        pending = self._client.xpending(self._keys.archive, GROUP)
        if pending["pending"] and pending["min"]:  # ...unless still in flight
            floor = min(floor, str(pending["min"]), key=lambda i: tuple(map(int, i.split("-"))))
        return int(self._client.xtrim(self._keys.archive, minid=floor, approximate=False))


def lag(client: redis.Redis, keys: Keys) -> Backlog:
    """How far the archive is behind: what the stream holds and what is in flight."""
    length = int(client.xlen(keys.archive))
    try:
        groups = client.xinfo_groups(keys.archive)
    except redis.ResponseError:  # no stream yet
        return Backlog(length=length, pending=0)
    group = next((g for g in groups if g["name"] == GROUP), None)
    return Backlog(length=length, pending=int(group["pending"]) if group else 0)


def _rows(reply: Any) -> StreamEntries:
    streams = cast(list[tuple[str, Any]], reply or [])
    return [row for _stream, rows in streams for row in entries(rows)]


def _disconnect(exc: Exception) -> bool:
    """A lost or refused connection (expected during an outage) rather than a bug."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or bool(
        getattr(exc, "connection_invalidated", False)
    )
