"""resource servers (RFC 8707) and the resources of clients and grants

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:00:00.000000

Issue 15. `resource_server`: the registry of resource servers, by identifier URI (RFC 8707 §2),
with the scopes each serves and, for the developer portal, its owner. `client.resources`: the
URIs a client may target; NULL (every existing client) = every registered one.
`grant.resources`: what an authorization was asked for; existing grants: none (`[]`), i.e. the
default audience, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.models.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_server",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("uri", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("created_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("resource_server", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_server_uri"), ["uri"], unique=True)
        batch_op.create_index(batch_op.f("ix_resource_server_owner_id"), ["owner_id"], unique=False)
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resources", sa.JSON(), nullable=True))
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resources", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("resources")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("resources")
    with op.batch_alter_table("resource_server", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_server_owner_id"))
        batch_op.drop_index(batch_op.f("ix_resource_server_uri"))
    op.drop_table("resource_server")
