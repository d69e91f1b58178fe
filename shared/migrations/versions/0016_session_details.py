"""user_session user_agent, ip, last_seen_at

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:00:00.000000

Issue 16 (sessions): /account/sessions lists each signed-in browser with its device, address,
start and last use. Existing rows: NULL (shown as "unknown"), until they end.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.models.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("ip")
        batch_op.drop_column("user_agent")
