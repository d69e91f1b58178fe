"""client may_exchange_for (token exchange, RFC 8693)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02 16:00:00.000000

Issue 15 (token exchange). `may_exchange_for`: the client ids whose access tokens this client
may exchange besides its own (RFC 8693 §5: which parties may receive delegations is the
authorization server's policy). Existing rows: an empty list, so nobody exchanges another
client's tokens until an operator says so.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("may_exchange_for", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("may_exchange_for")
