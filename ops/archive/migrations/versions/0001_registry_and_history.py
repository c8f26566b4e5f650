"""The NPC registry, interactions, decisions and the audit log.

Revision ID: 0001
Revises:
Create Date: 2025-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "npcs",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("world", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("archetype", sa.Text(), nullable=False),
        sa.Column("faction", sa.Text(), nullable=True),
        sa.Column("record", JSON_DOC, nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "interactions",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("npc_id", sa.Text(), nullable=False),
        sa.Column("player_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("ts", sa.Float(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("npc_id", sa.Text(), nullable=False),
        sa.Column("world", sa.Text(), nullable=False),
        sa.Column("tick_id", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("speech", sa.Text(), nullable=True),
        sa.Column("emotion", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("body", JSON_DOC, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("who", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("args", JSON_DOC, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "decisions", "interactions", "npcs"):
        op.drop_table(table)
