"""passkeys and their ceremony challenges

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 18:00:00.000000

Issue 16 (passkeys): `passkey` holds each registered WebAuthn credential's public key and
signature counter; `passkey_challenge` the single-use challenges of ceremonies under way.
Both new.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "passkey",
        sa.Column("credential_id", sa.String(length=1364), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index(op.f("ix_passkey_user_id"), "passkey", ["user_id"], unique=False)
    op.create_table(
        "passkey_challenge",
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("binding", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("challenge_hash"),
    )
    op.create_index(
        op.f("ix_passkey_challenge_expires_at"), "passkey_challenge", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_passkey_challenge_expires_at"), table_name="passkey_challenge")
    op.drop_table("passkey_challenge")
    op.drop_index(op.f("ix_passkey_user_id"), table_name="passkey")
    op.drop_table("passkey")
