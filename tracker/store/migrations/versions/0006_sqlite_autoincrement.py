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

import json

import sqlalchemy as sa
from alembic import op

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
#: Audit detail keys that hold ids of rows of a table.
_DETAIL_IDS = {
    "measurement_id": "measurement",
    "measurement_ids": "measurement",
    "photo_roi_id": "photo_roi",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # schema.upgrade runs migrations with foreign keys off: dropping the old
    # table would otherwise delete the rows that reference it
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    for table, highest in _highest_audited_ids(op.get_bind()).items():
        _continue_after(op.get_bind(), table, highest)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass


def _highest_audited_ids(conn: sa.Connection) -> dict[str, int]:
    """The highest id of each table that the audit log names, deleted rows included."""
    highest: dict[str, int] = {}

    def note(table: str, value: object) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            highest[table] = max(highest.get(table, 0), value)

    rows = conn.execute(sa.text("SELECT target, target_id, details FROM audit_log"))
    for target, target_id, details in rows:
        if target in TABLES:
            note(target, target_id)
        found = json.loads(details)  # the object the store wrote (a JSON column)
        for key, table in _DETAIL_IDS.items():
            values = found.get(key)
            for value in values if isinstance(values, list) else [values]:
                note(table, value)
    return highest


def _continue_after(conn: sa.Connection, table: str, highest: int) -> None:
    """Make SQLite's next id of ``table`` higher than ``highest``."""
    seq = conn.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}
    ).scalar()
    if seq is None:
        conn.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"), {"t": table, "n": highest}
        )
    elif seq < highest:
        conn.execute(sa.text("UPDATE sqlite_sequence SET seq = :n WHERE name = :t"), {"t": table, "n": highest})
