"""Archive migrations on a real PostgreSQL, and the same code on SQLite (the embedded run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from npcfarm.errors import ConfigError
from npcfarm.keys import Keys
from ops.archive.archiver import Archiver
from ops.archive.db import (
    current_revision,
    head_revision,
    history_insert,
    make_engine,
    memories_for,
    migrate,
    npc_upsert,
)
from ops.archive.rows import npc_row
from ops.archive.schema import HISTORY, TABLES, Base
from tests.archive_events import column, drain, one_of_each, produce, stats
from tests.helpers import make_npc


@pytest.fixture
def pg(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_an_empty_database_upgrades_to_head_and_matches_the_models(
    empty_database_url: str, pg: Engine
) -> None:
    assert current_revision(empty_database_url) is None
    assert head_revision() == "0002"
    assert migrate(empty_database_url) == "0002"
    assert current_revision(pg) == "0002"
    assert sorted(inspect(pg).get_table_names()) == sorted([*TABLES, "alembic_version"])
    assert differences(pg) == []
    assert migrate(empty_database_url) == "0002"  # a second run changes nothing


def test_a_database_at_the_previous_revision_upgrades_and_keeps_its_rows(
    empty_database_url: str, pg: Engine
) -> None:
    assert migrate(empty_database_url, "0001") == "0001"
    assert "memories" not in inspect(pg).get_table_names()
    assert inspect(pg).get_indexes("decisions") == []
    assert sorted((d[0], d[1].name) for d in differences(pg)) == [
        ("add_index", "ix_decisions_npc_ts"),
        ("add_index", "ix_interactions_npc_ts"),
        ("add_index", "ix_memories_npc_kind_ts"),
        ("add_table", "memories"),
    ]
    with pg.begin() as conn:
        conn.execute(npc_upsert(pg), [npc_row(make_npc("old"), 5.0)])
        conn.execute(
            history_insert(pg, HISTORY["interaction"]),
            [
                {
                    "event_id": "ix-old",
                    "npc_id": "old",
                    "player_id": "ann",
                    "kind": "talk",
                    "text": "hello",
                    "ts": 5.0,
                }
            ],
        )
        conn.execute(
            history_insert(pg, HISTORY["audit"]),
            [{"event_id": "a-old", "ts": 5.0, "who": "op", "action": "x", "args": {"n": 1}}],
        )
    before = {t: snapshot(pg, t) for t in ("npcs", "interactions", "audit_log", "decisions")}

    assert migrate(empty_database_url) == "0002"
    assert {t: snapshot(pg, t) for t in before} == before
    assert snapshot(pg, "memories") == []
    indexes = {
        t: [i["name"] for i in inspect(pg).get_indexes(t)]
        for t in ("decisions", "interactions", "memories")
    }
    assert indexes == {
        "decisions": ["ix_decisions_npc_ts"],
        "interactions": ["ix_interactions_npc_ts"],
        "memories": ["ix_memories_npc_kind_ts"],
    }
    assert differences(pg) == []


def snapshot(engine: Engine, table: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {table}")).mappings()
        return sorted((dict(r) for r in rows), key=str)


def test_sqlite_runs_the_same_migrations_and_archiver(
    sqlite_url: str, client: redis.Redis, keys: Keys
) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert current_revision(engine) == head_revision()
        assert differences(engine) == []
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        archiver = Archiver(client, keys, engine, consumer="embedded", wait_ms=20)
        archiver.ensure_group()
        produce(client, keys, one_of_each("s") + one_of_each("t"))
        assert drain(archiver) == 10
        produce(client, keys, one_of_each("s"))
        assert drain(archiver) == 5
        for table in ("interactions", "decisions", "memories", "audit_log"):
            assert len(column(engine, table)) == 2
        assert column(engine, "npcs", "id") == ["npc-s", "npc-t"]
        assert stats(client, keys) == {"archived": 10, "duplicates": 5, "batches": 2}
        assert [m["event_id"] for m in memories_for(engine, ["npc-t"], 0.0)] == ["mem-t"]
    finally:
        engine.dispose()


def test_archive_urls_pick_psycopg_3_and_refuse_other_schemes() -> None:
    engine = make_engine("postgresql://npc:secret@db.example:5433/farm")
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.port == 5433
    engine.dispose()
    with pytest.raises(ConfigError, match="postgresql:// or sqlite:///"):
        make_engine("mysql://db.example/farm")
    with pytest.raises(ConfigError, match="not a database URL"):
        make_engine("no url at all")
