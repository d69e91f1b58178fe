"""client metadata kept as registered

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:10:00.000000

RFC 7591 §3.2.1: the registration response holds the metadata as registered. Informational
metadata (contacts, tos_uri, policy_uri, software_id, ...) used to be dropped; it is now kept
in one JSON column. Existing clients registered none of it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "registered_metadata", sa.JSON(), nullable=False, server_default=sa.text("'{}'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("registered_metadata")
