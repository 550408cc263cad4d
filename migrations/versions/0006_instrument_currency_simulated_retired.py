"""instrument currency, simulated flag and retirement

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instrument", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True)
        )
        # Every instrument so far came from `dashboard demo`: simulated. From now on an
        # instrument is real unless it says otherwise (rows written by other programs too).
        batch_op.add_column(
            sa.Column("simulated", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("retired_at", dashboard.models.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("instrument", schema=None) as batch_op:
        batch_op.alter_column("simulated", server_default=sa.false())


def downgrade() -> None:
    with op.batch_alter_table("instrument", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("simulated")
        batch_op.drop_column("currency")
