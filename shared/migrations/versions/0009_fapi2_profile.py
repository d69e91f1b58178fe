"""client profile (FAPI 2.0) and token_endpoint_auth_signing_alg

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:00:00.000000

Issue 14 (FAPI 2.0). `profile`: NULL, or "fapi2" for a client held to the FAPI 2.0 Security
Profile as a whole. `token_endpoint_auth_signing_alg` (RFC 7591 §2): the one algorithm the
client signs its client assertions with; NULL accepts any the method allows. Existing rows: NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("token_endpoint_auth_signing_alg", sa.String(length=10), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("token_endpoint_auth_signing_alg")
        batch_op.drop_column("profile")
