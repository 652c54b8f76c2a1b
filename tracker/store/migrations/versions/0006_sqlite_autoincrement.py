"""Ids are never used twice on SQLite: tables with their own ids get AUTOINCREMENT.

Without it SQLite gives a new row the highest id in use plus one, so after the
row with the highest id is deleted its id goes to the next row, and the audit
log, exports and research tables would name two rows by one id. Each table is
rebuilt with every row, id, index and foreign key. Ids that the audit log shows
were given before the upgrade (to rows deleted since) are not given again.
PostgreSQL's sequences never hand out an id twice: there this revision changes
nothing.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from tracker.store.ids import continue_after, highest_audited_ids

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The tables whose ``id`` the database assigns.
TABLES = (
    "patient",
    "visit",
    "photo",
    "roi",
    "measurement",
    "photo_registration",
    "photo_roi",
    "account",
    "audit_log",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # schema.upgrade runs migrations with foreign keys off: dropping the old
    # table would otherwise delete the rows that reference it
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    continue_after(op.get_bind(), highest_audited_ids(op.get_bind(), TABLES))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
