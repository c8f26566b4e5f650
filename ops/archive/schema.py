"""The archive's tables, one per event kind plus the NPC registry.

The Alembic revisions under `migrations/` are written by hand and are what creates
these tables; the models here are what the code reads and writes through, and a test
checks the two agree. Every history table is keyed by the producer's event id, so a
redelivered stream entry is an `ON CONFLICT DO NOTHING`, never a second row.

What each event kind's body (`ArchiveEvent.data`) must hold; anything else in it is
kept in `body`:

- `npc`: an `NPC` record (`NPC.model_dump(mode="json")`); `ts` orders versions.
- `interaction`: `player_id`, `kind`, optional `text`.
- `decision`: a `Decision` as JSON (`world`, `tick_id`, `tier`, `action`, `source`,
  optional `target`, `speech`, `emotion`, `model`, `reason`, `timings.latency_ms`).
- `memory`: `kind` (turn, summary, fact, mood, card...), optional `player_id`,
  `importance` (0..1), `text`.
- `audit`: `who`, `action`, `args` (an object).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Index, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONDoc = JSON().with_variant(JSONB(), "postgresql")  # JSONB where it exists, JSON text else


class Base(DeclarativeBase):
    pass


class NpcRow(Base):
    """The NPC registry's source of truth; Redis holds a copy loaded by `npc sync`."""

    __tablename__ = "npcs"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    world: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    archetype: Mapped[str] = mapped_column(Text)
    faction: Mapped[str | None] = mapped_column(Text)
    record: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    updated_at: Mapped[float] = mapped_column(Float)  # epoch s; an older write never wins


class InteractionRow(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_npc_ts", "npc_id", "ts"),)

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    npc_id: Mapped[str] = mapped_column(Text)
    player_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Float)


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_npc_ts", "npc_id", "ts"),)

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    npc_id: Mapped[str] = mapped_column(Text)
    world: Mapped[str] = mapped_column(Text)
    tick_id: Mapped[str] = mapped_column(Text)
    tier: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    speech: Mapped[str | None] = mapped_column(Text)
    emotion: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ts: Mapped[float] = mapped_column(Float)
    body: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class MemoryRow(Base):
    """What restore replays into Redis after Redis is lost."""

    __tablename__ = "memories"
    __table_args__ = (Index("ix_memories_npc_kind_ts", "npc_id", "kind", "ts"),)

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    npc_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    player_id: Mapped[str | None] = mapped_column(Text)
    importance: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Float)
    body: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class AuditRow(Base):
    __tablename__ = "audit_log"

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    ts: Mapped[float] = mapped_column(Float)
    who: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    args: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


TABLES = ("npcs", "interactions", "decisions", "memories", "audit_log")  # for status
HISTORY: dict[str, Table] = {  # event kind -> its table (all keyed by `event_id`)
    "interaction": Base.metadata.tables["interactions"],
    "decision": Base.metadata.tables["decisions"],
    "memory": Base.metadata.tables["memories"],
    "audit": Base.metadata.tables["audit_log"],
}
NPCS: Table = Base.metadata.tables["npcs"]
MEMORIES: Table = Base.metadata.tables["memories"]
