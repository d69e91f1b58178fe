"""device authorization requests (RFC 8628)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 16:00:00.000000

Issue 15 (devices and command-line tools). One table: a device's authorization request, its
device code and user code kept only as digests (RFC 8628 §3.2; the user code's an HMAC), the
resources it asked for (RFC 8707), the user's decision, the token family an approval starts, and
the polling interval (§3.5). Nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_authorization",
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("auth_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("grant_id", sa.String(length=32), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grant_id"], ["grant.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_code_hash"),
    )
    with op.batch_alter_table("device_authorization", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_authorization_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_authorization_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_authorization_user_code_hash"), ["user_code_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("device_authorization", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_authorization_user_code_hash"))
        batch_op.drop_index(batch_op.f("ix_device_authorization_expires_at"))
        batch_op.drop_index(batch_op.f("ix_device_authorization_client_id"))
    op.drop_table("device_authorization")
