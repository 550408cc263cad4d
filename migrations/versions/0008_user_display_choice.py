"""user's number and time display choice

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        # NULL: the browser's own language (dashboard.display).
        batch_op.add_column(
            sa.Column("display_locale", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "display_times",
                sqlmodel.sql.sqltypes.AutoString(length=5),
                nullable=False,
                server_default="utc",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("display_times")
        batch_op.drop_column("display_locale")
