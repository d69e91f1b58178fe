"""revocation events, scheduled jobs, grant access expiry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:52:18.884623
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.models.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "revocation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("revocation_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revocation_event_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_revocation_event_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_revocation_event_value"), ["value"], unique=False)

    op.create_table(
        "scheduled_job",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("last_run_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "access_expires_at", shared.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:

    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("access_expires_at")

    op.drop_table("scheduled_job")
    with op.batch_alter_table("revocation_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revocation_event_value"))
        batch_op.drop_index(batch_op.f("ix_revocation_event_expires_at"))
        batch_op.drop_index(batch_op.f("ix_revocation_event_created_at"))

    op.drop_table("revocation_event")
