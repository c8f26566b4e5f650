"""Ingest: applies bridge events from the inbox stream, dead-letters what is invalid.

A consumer group (`ingest`) lets several ingest processes share the inbox. Entries are
acknowledged only after they were applied (or dead-lettered with their reason), and a
restarted ingest claims what a dead one left pending, so a valid event is never lost.
Player interactions become single-NPC Gold jobs at once, carrying the player's words
as bounded data; relationship scores move with them (once per event id).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from kombu.exceptions import OperationalError
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from npcfarm import archive, tracing
from npcfarm.domain import Job, Tier
from npcfarm.errors import EventRefused, first_problem
from npcfarm.events import (
    BridgeEvent,
    DeadCode,
    DeadLetter,
    DecideNowEvent,
    InteractionEvent,
    NpcRegisterEvent,
    NpcRemoveEvent,
    NpcStateEvent,
    OutcomeEvent,
    PlayerLeftEvent,
    PlayerPositionEvent,
    QuestFlagEvent,
    Receipt,
    WorldProfileEvent,
)
from npcfarm.keys import Keys
from npcfarm.memory.remember import remember_interaction, remember_quest
from npcfarm.memory.store import MemoryStore
from npcfarm.redisconn import binary, stream_gone
from npcfarm.registry import load_npcs, remove_npcs, save_npcs
from npcfarm.relations import BOND_THRESHOLD, RELATE
from npcfarm.settings import get_settings
from ops.bridge.entries import Entry, decode, parse
from ops.bridge.games import apply_world_profiles, check_game_states, record_outcomes
from schedules.config import TicksConfig, load_ticks, parse_ticks
from schedules.placement import register_npcs

log = logging.getLogger(__name__)

GROUP = "ingest"  # consumer group name on the inbox stream
READ_COUNT = 500  # inbox entries taken per round
DEAD_MAXLEN = 100_000  # dead letters kept (approximate)
RECEIPTS_MAXLEN = 10_000  # receipts kept per source (approximate)
CLAIM_IDLE_MS = 10_000  # entries pending this long in a dead consumer are taken over
APPLIED_TTL_S = 86_400  # how long an interaction's event id is remembered
TRIM_EVERY_S = 5.0  # how often processed inbox entries are trimmed away
RETRY_S = 2.0  # pause after a Redis connection error
RELATIONSHIP_DELTA = {"talk": 0.02, "trade": 0.05, "gift": 0.15, "help": 0.25, "attack": -0.3}

PublishJob = Callable[[Job], None]
TRANSIENT = (redis.RedisError, OperationalError)  # retried, never dead-lettered


@dataclass(slots=True)
class IngestResult:
    applied: int = 0
    dead: int = 0
    jobs: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Ingest:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        publish_job: PublishJob,
        consumer: str,
        bond_threshold: float = BOND_THRESHOLD,
        count: int = READ_COUNT,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        memory: MemoryStore | None = None,
    ) -> None:
        self._memory = memory or MemoryStore(client, keys)
        self._client = client
        self._keys = keys
        self._publish_job = publish_job
        self.consumer = consumer
        self._threshold = bond_threshold
        self._count = count
        self._claim_idle_ms = claim_idle_ms
        self._resumed = False  # own pending entries (of a crash under this name) read yet
        self._relate = client.register_script(RELATE)
        self._bytes = binary(client)

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self._keys.inbox, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run_once(self, *, block_ms: int = 1000) -> IngestResult:
        """Take over stale entries of dead consumers, then read new ones; apply; ack.

        Read as bytes (decoded entry by entry in `entries.decode`): a bridge's bytes that
        are not UTF-8 must become a dead letter, not an error inside the Redis client."""
        if not self._resumed:  # a restart under the same name: its own unacked reads first
            reply = self._bytes.xreadgroup(
                GROUP, self.consumer, {self._keys.inbox: "0"}, count=self._count
            )
            own = [row for _s, found in cast(list[tuple[Any, Any]], reply or []) for row in found]
            if own:
                return self.process(decode(own))
            self._resumed = True
        claimed = self._bytes.xautoclaim(
            self._keys.inbox, GROUP, self.consumer, self._claim_idle_ms, "0-0", count=self._count
        )
        rows = list(claimed[1] or [])
        if not rows:
            reply = self._bytes.xreadgroup(
                GROUP, self.consumer, {self._keys.inbox: ">"}, count=self._count, block=block_ms
            )
            rows = [
                row for _stream, found in cast(list[tuple[Any, Any]], reply or []) for row in found
            ]
        return self.process(decode(rows))

    def process(self, batch: list[Entry]) -> IngestResult:
        """Apply a read; Redis errors propagate (nothing is acknowledged, it comes again).
        Any other failure of one entry dead-letters that entry alone."""
        result = IngestResult()
        parsed: list[tuple[str, BridgeEvent, str]] = []
        dead: list[tuple[str, DeadCode, str, str]] = []
        for entry in batch:
            try:
                if entry.refused is not None:
                    raise entry.refused
                parsed.append((entry.entry_id, parse(entry.raw), entry.raw))
            except EventRefused as exc:
                dead.append((entry.entry_id, DeadCode(exc.code), str(exc), entry.raw))
        parsed, unknown = self._split_unknown(parsed)
        refused = self._apply(parsed, result)
        dead = sorted(dead + unknown + refused, key=lambda d: tuple(map(int, d[0].split("-"))))
        pipe = self._client.pipeline(transaction=False)
        for entry_id, code, reason, raw in dead:
            pipe.xadd(
                self._keys.dead_letters,
                DeadLetter.of(entry_id, code, reason, raw).model_dump(),  # type: ignore[arg-type]  # invariant dict
                maxlen=DEAD_MAXLEN,
                approximate=True,
            )
        self._receipts(pipe, batch, parsed, {d[0]: d[1] for d in dead})
        if batch:
            pipe.xack(self._keys.inbox, GROUP, *[entry.entry_id for entry in batch])
        result.dead = len(dead)
        result.applied = len(parsed) - len(refused)
        for name, amount in [
            ("applied", result.applied),
            ("dead", result.dead),
            ("jobs", result.jobs),
            *result.by_type.items(),
        ]:
            if amount:
                pipe.hincrby(self._keys.ingest_stats, name, amount)
        pipe.execute()
        if dead:
            log.warning("dead-lettered %d inbox entries (e.g. %s)", len(dead), dead[0][2])
        return result

    def _receipts(
        self,
        pipe: redis.client.Pipeline,
        batch: list[Entry],
        parsed: list[tuple[str, BridgeEvent, str]],
        dead: dict[str, DeadCode],
    ) -> None:
        """How each entry that named a `source` ended, on that source's receipt stream
        (written with the acknowledgement: a receipt is never lost nor sent early)."""
        events = {entry_id: event.event_id for entry_id, event, _ in parsed}
        for entry in batch:
            if entry.source is None:
                continue
            code = dead.get(entry.entry_id)
            receipt = Receipt(
                inbox_id=entry.entry_id,
                event_id=events.get(entry.entry_id, ""),
                status="dead" if code else "applied",
                code=code,
            )
            fields = receipt.model_dump(mode="json", exclude_none=True)
            pipe.xadd(
                self._keys.receipts(entry.source),
                fields,  # type: ignore[arg-type]  # invariant dict
                maxlen=RECEIPTS_MAXLEN,
                approximate=True,
            )

    def _split_unknown(
        self, parsed: list[tuple[str, BridgeEvent, str]]
    ) -> tuple[list[tuple[str, BridgeEvent, str]], list[tuple[str, DeadCode, str, str]]]:
        """Events naming an NPC the registry does not hold are dead-lettered, not applied."""
        named = [(i, e) for i, e, _ in parsed if isinstance(e, NPC_EVENTS)]
        if not named:
            return parsed, []
        known = self._client.smismember(self._keys.npcs, [e.npc_id for _, e in named])
        missing = {i: e for (i, e), ok in zip(named, known, strict=True) if not ok}
        keep = [(i, e, raw) for i, e, raw in parsed if i not in missing]
        dead = [
            (i, DeadCode.UNKNOWN_NPC, f"unknown NPC id {missing[i].npc_id!r}", raw)
            for i, _, raw in parsed
            if i in missing
        ]
        return keep, dead

    def _apply(
        self, parsed: list[tuple[str, BridgeEvent, str]], result: IngestResult
    ) -> list[tuple[str, DeadCode, str, str]]:
        """Apply valid events; returns those refused while applying (dead letters)."""
        refused = apply_world_profiles(
            self._client,
            self._keys,
            [(i, e, r) for i, e, r in parsed if isinstance(e, WorldProfileEvent)],
        )
        states, wrong = check_game_states(
            self._client,
            self._keys,
            [(i, e, r) for i, e, r in parsed if isinstance(e, NpcStateEvent)],
        )
        refused += wrong
        if states:
            self._apply_states(states)
        # Registrations and removals of a read in one call each (one config read, chunked
        # pipelines), not one round trip per event.
        registered = [e.npc for _, e, _ in parsed if isinstance(e, NpcRegisterEvent)]
        if registered:
            register_npcs(self._client, self._keys, registered, self._ticks())
        removed = [e.npc_id for _, e, _ in parsed if isinstance(e, NpcRemoveEvent)]
        if removed:
            remove_npcs(self._client, self._keys, removed)
        pipe = self._client.pipeline(transaction=False)
        record_outcomes(pipe, self._keys, [e for _, e, _ in parsed if isinstance(e, OutcomeEvent)])
        for _, event, _ in parsed:
            result.by_type[event.type] = result.by_type.get(event.type, 0) + 1
            if isinstance(event, PlayerPositionEvent):
                p = event.position
                pipe.hset(
                    self._keys.players(event.world),
                    event.player_id,
                    f"{p.x:.2f} {p.y:.2f} {p.z:.2f} {time.time():.3f}",
                )
                pipe.sadd(self._keys.live_worlds, event.world)
            elif isinstance(event, PlayerLeftEvent):
                pipe.hdel(self._keys.players(event.world), event.player_id)
            elif isinstance(event, QuestFlagEvent):
                remember_quest(
                    self._memory,
                    event.npc_id,
                    event_id=event.event_id,
                    flag=event.flag,
                    active=event.set,
                )
                flags = self._keys.quests(event.npc_id)
                if event.set:
                    pipe.sadd(flags, event.flag)
                    pipe.sadd(self._keys.questing, event.npc_id)
                else:
                    pipe.srem(flags, event.flag)
        pipe.execute()
        return refused + self._after(parsed, result)

    def _after(
        self, parsed: list[tuple[str, BridgeEvent, str]], result: IngestResult
    ) -> list[tuple[str, DeadCode, str, str]]:
        """Quest bookkeeping and interactions (jobs), one event at a time."""
        refused: list[tuple[str, DeadCode, str, str]] = []
        for entry_id, event, raw in parsed:
            if isinstance(event, QuestFlagEvent) and not event.set:
                if not self._client.scard(self._keys.quests(event.npc_id)):
                    self._client.srem(self._keys.questing, event.npc_id)
            elif isinstance(event, (InteractionEvent, DecideNowEvent)):
                try:
                    self._job(event, entry_id)
                except ValidationError as exc:  # cannot become a job: refuse, never jam
                    reason = f"interaction not applicable: {first_problem(exc, subject='job')}"
                    refused.append((entry_id, DeadCode.NOT_APPLICABLE, reason, raw))
                    continue
                except TRANSIENT:
                    raise  # nothing acknowledged: the entry comes again
                except Exception as exc:  # a bug must not jam the inbox: keep it, go on
                    log.exception("ingest: applying %s failed", entry_id)
                    reason = f"applying it failed: {type(exc).__name__}"
                    refused.append((entry_id, DeadCode.INTERNAL, reason, raw))
                    continue
                result.jobs += 1
        return refused

    def _apply_states(self, events: list[NpcStateEvent]) -> None:
        """Merge partial state updates into the records (later events win), one MGET/SET."""
        latest: dict[str, NpcStateEvent] = {}
        merged: dict[str, dict[str, object]] = {}
        games: dict[str, dict[str, object]] = {}
        for event in events:
            changes = merged.setdefault(event.npc_id, {})
            changes.update(
                event.model_dump(
                    exclude_none=True, exclude={"type", "event_id", "ts", "npc_id", "game"}
                )
            )
            if event.game:  # game fields merge: an event sends what changed
                games.setdefault(event.npc_id, {}).update(event.game)
            latest[event.npc_id] = event
        records = load_npcs(self._client, self._keys, list(merged))
        updated = []
        for npc in records:
            if npc is None:
                continue  # removed since the check: nothing to apply
            changes = merged[npc.id]
            if npc.id in games:
                changes["game"] = {**npc.state.game, **games[npc.id]}
            position = changes.pop("position", None)
            state = npc.state.model_copy(update=changes)
            new = npc.model_copy(update={"state": state})
            if position is not None:
                new = new.model_copy(
                    update={"position": type(npc.position).model_validate(position)}
                )
            updated.append(new)
        save_npcs(self._client, self._keys, updated)

    def _ticks(self) -> TicksConfig:
        """The farm's active tick configuration (what the scheduler runs on), else the
        configured file: a registered NPC is placed on the schedule as an import is."""
        toml = self._client.hget(self._keys.ticks_config, "toml")
        if toml:
            return parse_ticks(str(toml), origin="redis")
        return load_ticks(get_settings().ticks_file)[0]

    def _job(self, event: InteractionEvent | DecideNowEvent, entry_id: str) -> None:
        """Under a span that starts when the bridge added the entry (its stream id), in
        the bridge's trace when the event names one: the Celery message carries it on."""
        attributes: dict[str, str | int | float] = {}
        added_ms = 0
        if tracing.enabled():
            added_ms = int(entry_id.split("-", maxsplit=1)[0])
            attributes = {
                "npcfarm.event_id": event.event_id,
                "npcfarm.npc_id": event.npc_id,
                "npcfarm.inbox_id": entry_id,
                "npcfarm.inbox_wait_ms": round(time.time() * 1000 - added_ms, 1),
            }
        with tracing.span(
            f"inbox {event.type}",
            parent=tracing.parent_of(event.traceparent),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            start_ns=added_ms * 1_000_000 if added_ms else None,
        ):
            if isinstance(event, InteractionEvent):
                self._interact(event)
            else:
                self._decide_now(event)

    def _decide_now(self, event: DecideNowEvent) -> None:
        """A single-NPC Gold job on a bridge's request (no player, no words)."""
        job = Job(
            npc_id=event.npc_id,
            tick_id=f"now-{event.event_id}",
            tier=Tier.GOLD,
            enqueued_at=time.time(),
            origin="decide_now",
        )
        self._publish_job(job)

    def _interact(self, event: InteractionEvent) -> None:
        """Relationship update (once per event id) and an immediate Gold job."""
        job = Job(
            npc_id=event.npc_id,
            tick_id=f"ix-{event.event_id}",
            tier=Tier.GOLD,
            enqueued_at=time.time(),
            origin="interaction",
            player_id=event.player_id,
            kind=event.kind,
            text=event.text,
        )
        self._relate(
            keys=[
                self._keys.applied(event.event_id),
                self._keys.relationships(event.npc_id),
                self._keys.bonded,
                self._keys.relationships_touched(event.npc_id),
            ],
            args=[
                APPLIED_TTL_S,
                event.player_id,
                RELATIONSHIP_DELTA[event.kind],
                self._threshold,
                event.npc_id,
                time.time(),
                get_settings().relationship_half_life_h * 3600,
            ],
        )
        # Remembered before the job is published, so the answer already knows it.
        # The archive's copy of the interaction is written in the same transaction.
        record = archive.event(
            "interaction", event.event_id, event.npc_id, event.model_dump(mode="json")
        )
        remember_interaction(
            self._memory,
            event.npc_id,
            event_id=event.event_id,
            player_id=event.player_id,
            kind=event.kind,
            text=event.text,
            also=[record],
        )
        self._publish_job(job)

    def serve(self, stop: threading.Event, *, block_ms: int = 1000) -> None:
        """Run until `stop`: apply, trim now and then, and outlive Redis outages."""
        trimmed_at = 0.0
        while not stop.is_set():
            try:
                self.run_once(block_ms=block_ms)
                if time.monotonic() - trimmed_at > TRIM_EVERY_S:
                    self.trim()
                    trimmed_at = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError, OperationalError) as exc:
                # Redis (or the broker behind publish_job) is restarting: nothing was
                # acknowledged, so the same entries are read again once it is back.
                log.warning("ingest: Redis unavailable, retrying in %g s: %s", RETRY_S, exc)
                stop.wait(RETRY_S)
            except redis.ResponseError as exc:
                if stream_gone(exc):
                    self.ensure_group()
                    continue
                log.exception("ingest: Redis refused a command, retrying in %g s", RETRY_S)
                stop.wait(RETRY_S)

    def trim(self) -> int:
        """Drop inbox entries every consumer is done with (older than anything pending)."""
        groups = self._client.xinfo_groups(self._keys.inbox)
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None or group["last-delivered-id"] == "0-0":
            return 0
        floor = str(group["last-delivered-id"])
        pending = self._client.xpending(self._keys.inbox, GROUP)
        if pending["pending"] and pending["min"]:
            floor = min(floor, str(pending["min"]), key=lambda i: tuple(map(int, i.split("-"))))
        return int(self._client.xtrim(self._keys.inbox, minid=floor, approximate=False))


NPC_EVENTS = (
    NpcStateEvent,
    InteractionEvent,
    QuestFlagEvent,
    NpcRemoveEvent,
    DecideNowEvent,
    OutcomeEvent,
)
