"""public clients registered before 0004 authenticate with none

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:40:00.000000

0004 gave every existing client `client_secret_basic`, public ones included. Clients are now
authenticated by their registered method (RFC 7591 §2), and a public client's is `none`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    client = sa.table(
        "client", sa.column("is_public", sa.Boolean()), sa.column("token_endpoint_auth_method")
    )
    op.execute(
        client.update()
        .where(client.c.is_public == sa.true())
        .values(token_endpoint_auth_method="none")
    )


def downgrade() -> None:
    # Nothing to undo: `none` is what 0004 should have given public clients.
    pass
