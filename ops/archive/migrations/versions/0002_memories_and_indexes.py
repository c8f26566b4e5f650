"""Memories (what restore replays into Redis) and the per-NPC time indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("npc_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("player_id", sa.Text(), nullable=True),
        sa.Column("importance", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("body", JSON_DOC, nullable=False),
    )
    op.create_index("ix_memories_npc_kind_ts", "memories", ["npc_id", "kind", "ts"])
    op.create_index("ix_decisions_npc_ts", "decisions", ["npc_id", "ts"])
    op.create_index("ix_interactions_npc_ts", "interactions", ["npc_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_interactions_npc_ts", table_name="interactions")
    op.drop_index("ix_decisions_npc_ts", table_name="decisions")
    op.drop_index("ix_memories_npc_kind_ts", table_name="memories")
    op.drop_table("memories")
