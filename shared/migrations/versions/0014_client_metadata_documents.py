"""clients from Client ID Metadata Documents; client_id columns of 255 characters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 16:00:00.000000

Issue 15 (draft-ietf-oauth-client-id-metadata-document-00): a client_id may be an https URL,
so every column holding one grows from 64 to 255 characters, and `client.from_metadata_document`
marks the rows copied from such a document. Existing rows: false.

SQLite cannot change a column's type in place, and rebuilding `client` (batch mode) would drop
the table first, which with foreign keys on cascades to every consent, grant and token. The
length of a VARCHAR means nothing to SQLite (the column stays TEXT affinity, nothing on disk
changes), so there only the declared type in the schema text is rewritten, the way SQLite's
own ALTER TABLE documentation describes ("Making Other Kinds Of Table Schema Changes"). That
reads the schema version, so this migration runs online only (nothing here uses `--sql`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, nullable) of every client_id column.
CLIENT_ID_COLUMNS = (
    ("client", False),
    ("consent", False),
    ("grant", False),
    ("authorization_code", False),
    ("refresh_token", False),
    ("pending_authorization", False),
    ("pushed_authorization_request", False),
    ("device_authorization", False),
    ("audit_event", True),
)
# Rows that belong to a client, children before parents: migrations run with SQLite's foreign
# keys off (env.py), so the downgrade deletes them itself.
CLIENT_CHILD_TABLES = (
    "refresh_token",
    "authorization_code",
    "grant",
    "consent",
    "pending_authorization",
    "pushed_authorization_request",
    "device_authorization",
)


def _resize(old: int, new: int) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
        bind.exec_driver_sql("PRAGMA writable_schema=ON")
        tables = ", ".join(f"'{table}'" for table, _ in CLIENT_ID_COLUMNS)
        statement = (
            "UPDATE sqlite_master SET sql = replace(sql, "  # noqa: S608 - our own constants
            f"'client_id VARCHAR({old})', 'client_id VARCHAR({new})') "
            f"WHERE type = 'table' AND name IN ({tables})"
        )
        bind.exec_driver_sql(statement)
        # A new schema version makes every connection read the rewritten schema again.
        bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")
        return
    for table, nullable in CLIENT_ID_COLUMNS:
        op.alter_column(
            table,
            "client_id",
            existing_type=sa.String(length=old),
            type_=sa.String(length=new),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _resize(64, 255)
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "from_metadata_document",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    # Clients copied from metadata documents, with everything of theirs, go: their ids do not
    # fit 64 characters. Audit rows stay, without a client_id that no longer fits.
    documents = "SELECT client_id FROM client WHERE from_metadata_document"
    for child in CLIENT_CHILD_TABLES:
        op.execute(sa.text(f'DELETE FROM "{child}" WHERE client_id IN ({documents})'))  # noqa: S608
    op.execute(sa.text("UPDATE audit_event SET client_id = NULL WHERE length(client_id) > 64"))
    op.execute(sa.text("DELETE FROM client WHERE from_metadata_document"))
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("from_metadata_document")
    _resize(255, 64)
