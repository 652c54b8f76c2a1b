"""Failed sign-ins kept in the database (by a keyed hash of the username), so that a
username's lockout holds across restarts of the app and among its processes.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failure")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sign_in_failure_username_key_at", "sign_in_failure", ["username_key", "at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_failure_username_key_at", table_name="sign_in_failure")
    op.drop_table("sign_in_failure")
