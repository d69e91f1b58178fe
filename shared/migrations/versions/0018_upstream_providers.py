"""upstream providers and the links of their subjects to accounts

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 16:00:00.000000

Issue 16 (sign in with another provider): `upstream_provider` holds each OpenID Connect or
OAuth 2.0 provider an operator added, its client secret sealed; `upstream_link` ties an
(upstream, subject) pair to one account. Both new.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upstream_provider",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=True),
        sa.Column("authorization_endpoint", sa.String(length=512), nullable=True),
        sa.Column("token_endpoint", sa.String(length=512), nullable=True),
        sa.Column("userinfo_endpoint", sa.String(length=512), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_encrypted", sa.String(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("subject_claim", sa.String(length=64), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "upstream_link",
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["provider_id"], ["upstream_provider.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider_id", "subject"),
        sa.UniqueConstraint("user_id", "provider_id", name="uq_upstream_link_user"),
    )
    op.create_index(op.f("ix_upstream_link_user_id"), "upstream_link", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_upstream_link_user_id"), table_name="upstream_link")
    op.drop_table("upstream_link")
    op.drop_table("upstream_provider")
