"""client_secret_jwt: the client secret kept encrypted for clients that use it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:30:00.000000

Issue 14. RFC 7523 §2.2 client_secret_jwt verifies an HMAC keyed by the client secret, which
the SHA-256 digest cannot do. Clients registered with that method also keep the secret,
encrypted by the auth service (SecretBox, key in the key directory). Existing rows: NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_secret_encrypted", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("client_secret_encrypted")
