"""price bars, tick received time, feed cursors and token scope

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tick", schema=None) as batch_op:
        # Ticks from before this revision have no received time: NULL says "not known".
        batch_op.add_column(
            sa.Column("received_at", dashboard.models.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="all",
            )
        )
    op.create_table(
        "price_bar",
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("start", dashboard.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("open_ts", dashboard.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("close_ts", dashboard.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tick_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["instrument_id"], ["instrument.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instrument_id", "resolution", "start"),
    )
    op.create_table(
        "feed_cursor",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("position", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("updated_at", dashboard.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("feed_cursor")
    op.drop_table("price_bar")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("scope")
    with op.batch_alter_table("tick", schema=None) as batch_op:
        batch_op.drop_column("received_at")
