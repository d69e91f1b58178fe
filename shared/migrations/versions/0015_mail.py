"""mail outbox and mailed-link tokens

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:00:00.000000

Issue 16 (mail, forgot password, verified email): `mail_message` is the queue the background
sender drains; `mailed_token` holds the digests of the single-use tokens mailed links carry.
Both are new, so nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_mail_message_next_attempt_at"), "mail_message", ["next_attempt_at"], unique=False
    )
    op.create_table(
        "mailed_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_mailed_token_expires_at"), "mailed_token", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_mailed_token_user_id"), "mailed_token", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mailed_token_user_id"), table_name="mailed_token")
    op.drop_index(op.f("ix_mailed_token_expires_at"), table_name="mailed_token")
    op.drop_table("mailed_token")
    op.drop_index(op.f("ix_mail_message_next_attempt_at"), table_name="mail_message")
    op.drop_table("mail_message")
