"""schema for high-security clients: PAR, DPoP binding, client keys, ID token algorithm

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:05:00.000000

Issue 14 (FAPI 2.0). Client metadata: require_pushed_authorization_requests (RFC 9126 §6),
dpop_bound_access_tokens (RFC 9449 §5.2), jwks / jwks_uri (RFC 7591 §2),
id_token_signed_response_alg (OIDC Registration §2). Codes and grants remember the DPoP key
they are bound to (RFC 9449 §10, §5.2). Two tables: pushed authorization requests (RFC 9126)
and JWT ids already used (RFC 7523 §3, RFC 9449 §11.1). Existing rows get the old behaviour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_pushed_authorization_requests",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.add_column(
            sa.Column(
                "dpop_bound_access_tokens", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("jwks_uri", sa.String(length=2000), nullable=True))
        batch_op.add_column(
            sa.Column("id_token_signed_response_alg", sa.String(length=10), nullable=True)
        )
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    op.create_table(
        "pushed_authorization_request",
        sa.Column("request_uri_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_uri_hash"),
    )
    with op.batch_alter_table("pushed_authorization_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pushed_authorization_request_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pushed_authorization_request_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "used_jti",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("used_jti", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_jti_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("used_jti", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_jti_expires_at"))
    op.drop_table("used_jti")
    with op.batch_alter_table("pushed_authorization_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pushed_authorization_request_expires_at"))
        batch_op.drop_index(batch_op.f("ix_pushed_authorization_request_client_id"))
    op.drop_table("pushed_authorization_request")
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("authorization_code", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("id_token_signed_response_alg")
        batch_op.drop_column("jwks_uri")
        batch_op.drop_column("jwks")
        batch_op.drop_column("dpop_bound_access_tokens")
        batch_op.drop_column("require_pushed_authorization_requests")
