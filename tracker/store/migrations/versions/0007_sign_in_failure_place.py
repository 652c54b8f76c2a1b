"""Failed sign-ins also keep where they came from (a keyed hash of the network
address), so that a username is locked only where its failures come from:
someone who knows a username cannot lock its owner out from elsewhere. Rows
from before have none and count only toward the limit from anywhere.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


#: On SQLite a batch that rebuilds the table keeps its ids never given twice (0005).
_KEEP = {"table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    with op.batch_alter_table("sign_in_failure", **_KEEP) as batch:
        batch.add_column(sa.Column("place_key", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sign_in_failure", **_KEEP) as batch:
        batch.drop_column("place_key")
