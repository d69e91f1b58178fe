"""notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:08:50.980870
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.models.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=False),
        sa.Column("created_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.create_index("ix_note_owner_id_id", ["owner_id", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("note", schema=None) as batch_op:
        batch_op.drop_index("ix_note_owner_id_id")

    op.drop_table("note")
