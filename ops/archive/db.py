"""Engines, migrations and the few queries other commands make of the archive.

One URL scheme decides the backend: PostgreSQL through psycopg 3 in production, SQLite
(same code, same migrations) for the embedded run. Alembic is driven from Python with
a Config built here, so migrating needs no alembic.ini and works from an installed
package.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from npcfarm.domain import NPC
from npcfarm.errors import ConfigError
from ops.archive.rows import npc_row
from ops.archive.schema import MEMORIES, NPCS, TABLES, Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # Alembic's script_location
PG_CONNECT_TIMEOUT_S = 5  # a connection attempt to a dead server fails this fast
SQLITE_BUSY_MS = 5_000  # how long a SQLite writer waits for another's lock
IN_CHUNK = 500  # ids per IN (...) clause, under SQLite's parameter limit


def make_engine(url: str) -> Engine:
    """An engine that survives a database restart: pooled connections are pinged first."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"archive URL {url!r} is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        return create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "npcfarm"},
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    raise ConfigError(f"archive URL must be postgresql:// or sqlite:///, not {backend}://")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers (status, restore) run beside the archiver's writes."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _insert(engine: Engine, table: Table) -> Any:
    """The dialect's INSERT (PostgreSQL and SQLite spell ON CONFLICT alike in SQLAlchemy)."""
    return (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)


def history_insert(engine: Engine, table: Table) -> Any:
    """INSERT of events keyed by event id; a redelivered one is skipped. RETURNING tells
    how many rows were new."""
    stmt = _insert(engine, table).on_conflict_do_nothing(index_elements=["event_id"])
    return stmt.returning(table.c.event_id)


def npc_upsert(engine: Engine) -> Any:
    """INSERT of registry records that replaces a stored one only when newer."""
    stmt = _insert(engine, NPCS)
    return stmt.on_conflict_do_update(
        index_elements=[NPCS.c.id],
        set_={c.name: stmt.excluded[c.name] for c in NPCS.c if c.name != "id"},
        where=stmt.excluded.updated_at > NPCS.c.updated_at,
    ).returning(NPCS.c.id)


# -- migrations ----------------------------------------------------------------


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError(f"no migrations found under {MIGRATIONS} (a broken installation)")
    return head


def migrate(url: str, revision: str = "head") -> str | None:
    """Upgrade the archive to `revision` (idempotent); returns the revision it is at."""
    engine = make_engine(url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(target: str | Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if isinstance(target, str):
            engine.dispose()


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        count = func.count()
        return {
            name: int(conn.scalar(select(count).select_from(Base.metadata.tables[name])) or 0)
            for name in TABLES
        }


# -- the NPC registry -----------------------------------------------------------


def upsert_npcs(engine: Engine, npcs: Sequence[NPC], ts: float) -> int:
    """Write records versioned `ts`; a record already stored with a newer `ts` stays.

    Returns how many rows were written (inserted or replaced).
    """
    latest = {npc.id: npc for npc in npcs}  # one row per id: a statement may not touch twice
    if not latest:
        return 0
    with engine.begin() as conn:
        rows = [npc_row(npc, ts) for npc in latest.values()]
        written = conn.execute(npc_upsert(engine), rows).all()
    return len(written)


def load_registry(engine: Engine) -> list[NPC]:
    """Every NPC record, ordered by id; a record the current model refuses is an error."""
    with engine.connect() as conn:
        rows = conn.execute(select(NPCS.c.id, NPCS.c.record).order_by(NPCS.c.id)).all()
    npcs = []
    for npc_id, record in rows:
        try:
            npcs.append(NPC.model_validate(record))
        except ValidationError as exc:
            raise ConfigError(f"archived NPC {npc_id!r} no longer validates: {exc}") from exc
    return npcs


# -- reads for restore ----------------------------------------------------------


def memories_for(
    engine: Engine, npc_ids: list[str] | None, since_ts: float
) -> list[dict[str, Any]]:
    """Memory events since `since_ts` in the order they happened (all NPCs when None)."""
    t = MEMORIES
    query = select(t).where(t.c.ts >= since_ts).order_by(t.c.ts, t.c.event_id)
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        if npc_ids is None:
            return [dict(row._mapping) for row in conn.execute(query)]
        for chunk in _chunks(sorted(set(npc_ids)), IN_CHUNK):
            out += [dict(row._mapping) for row in conn.execute(query.where(t.c.npc_id.in_(chunk)))]
    out.sort(key=lambda row: (row["ts"], row["event_id"]))
    return out


def npc_ids_with_memories(engine: Engine) -> list[str]:
    t = MEMORIES
    with engine.connect() as conn:
        return [str(v) for v in conn.scalars(select(t.c.npc_id).distinct().order_by(t.c.npc_id))]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
