"""idempotency keys on notifications and scheduled notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("notification", "scheduled_notification")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
                )
            )
            batch_op.create_unique_constraint(
                f"uq_{table}_created_by_idempotency_key", ["created_by", "idempotency_key"]
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_created_by_idempotency_key", type_="unique")
            batch_op.drop_column("idempotency_key")
