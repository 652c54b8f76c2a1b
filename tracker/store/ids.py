"""Ids the database assigns: how far each table's have gone, and going on from there.

A new row's id is never one given before in its table, deleted rows included:
the audit log, exports and research tables name rows by id. SQLite keeps the
highest id each table gave in ``sqlite_sequence`` (tables with AUTOINCREMENT),
PostgreSQL in each table's sequence. A backup records these
(:func:`highest_given_ids`) and a restore sets them again
(:func:`continue_after`); where no record exists (a backup made before they
were recorded, a SQLite table made before AUTOINCREMENT) the audit log tells
which ids were given (:func:`highest_audited_ids`). It names patients, visits,
photos, ROIs, accounts and measurements, not registrations (whose ids no export
or log shows): there an id deleted before such an upgrade may be given again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa

#: Audit detail keys that hold ids of rows of a table.
DETAIL_IDS = {
    "measurement_id": "measurement",
    "measurement_ids": "measurement",
    "photo_roi_id": "photo_roi",
}


def id_tables(conn: sa.Connection) -> list[str]:
    """The tables of the database whose rows have an ``id`` the database assigns.

    These are the tables whose primary key is one integer column ``id``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to the database.

    Returns
    -------
    list of str
        Table names, sorted.
    """
    meta = sa.MetaData()
    meta.reflect(conn)
    return sorted(
        name
        for name, table in meta.tables.items()
        if [c.name for c in table.primary_key.columns] == ["id"]
        and isinstance(table.c.id.type, sa.Integer)
    )


def highest_ids(conn: sa.Connection, tables: Iterable[str]) -> dict[str, int]:
    """The highest id in use in each of ``tables`` (0 for an empty table)."""
    return {
        table: conn.execute(sa.text(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')).scalar_one()
        for table in tables
    }


def highest_given_ids(conn: sa.Connection, tables: Iterable[str]) -> dict[str, int]:
    """The highest id each of ``tables`` has given, deleted rows included.

    What the database keeps (SQLite: ``sqlite_sequence``; PostgreSQL: the
    table's sequence), and at least the highest id in use (a SQLite table
    without AUTOINCREMENT keeps nothing).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to the database, in the transaction whose rows are read.
    tables : iterable of str
        Tables from :func:`id_tables`.

    Returns
    -------
    dict
        ``{table: id}``; 0 for a table that never gave an id.
    """
    highest = highest_ids(conn, tables)
    for table in highest:
        highest[table] = max(highest[table], _kept_id(conn, table))
    return highest


def _kept_id(conn: sa.Connection, table: str) -> int:
    """The highest id of ``table`` the database keeps, 0 if it keeps none."""
    if conn.dialect.name == "sqlite":
        if not _has_sqlite_sequence(conn):
            return 0
        seq = conn.execute(
            sa.text("SELECT MAX(seq) FROM sqlite_sequence WHERE name = :t"), {"t": table}
        ).scalar()
        return int(seq or 0)
    if conn.dialect.name == "postgresql":
        sequence = _pg_sequence(conn, table)
        if sequence is None:
            return 0
        # last_value is the id given last, or the first one to give while is_called is false
        last, called = conn.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}")).one()
        return int(last) if called else int(last) - 1
    return 0


def highest_audited_ids(conn: sa.Connection, tables: Iterable[str]) -> dict[str, int]:
    """The highest id of each of ``tables`` that the audit log names, deleted rows included.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to a database with an ``audit_log`` table.
    tables : iterable of str
        The tables whose ids are wanted; the audit log's targets and
        :data:`DETAIL_IDS` name rows of them.

    Returns
    -------
    dict
        ``{table: id}`` for the tables the audit log names a row of.
    """
    wanted = set(tables)
    highest: dict[str, int] = {}

    def note(table: str, value: object) -> None:
        if table in wanted and isinstance(value, int) and not isinstance(value, bool):
            highest[table] = max(highest.get(table, 0), value)

    rows = conn.execute(sa.text("SELECT target, target_id, details FROM audit_log"))
    for target, target_id, details in rows:
        note(target, target_id)
        # the object the store wrote (a JSON column; PostgreSQL's driver decodes it)
        found = json.loads(details) if isinstance(details, str) else details
        for key, table in DETAIL_IDS.items():
            values = found.get(key) if isinstance(found, dict) else None
            for value in values if isinstance(values, list) else [values]:
                note(table, value)
    return highest


def continue_after(conn: sa.Connection, highest: dict[str, int]) -> None:
    """Make each table's next id higher than ``highest[table]`` and than every id in use.

    Never lowers how far a table's ids have gone. SQLite: ``sqlite_sequence``
    (the tables need AUTOINCREMENT to heed it); PostgreSQL: the table's
    sequence.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection in a writing transaction.
    highest : dict
        ``{table: id}``: the highest id each table has given.
    """
    in_use = highest_ids(conn, highest)
    for table, given in highest.items():
        top = max(given, in_use[table], _kept_id(conn, table))
        if conn.dialect.name == "sqlite":
            _continue_sqlite(conn, table, top)
        elif conn.dialect.name == "postgresql" and (sequence := _pg_sequence(conn, table)):
            # setval(seq, n) gives n + 1 next; setval(seq, 1, false) gives 1 (no id given yet)
            conn.execute(
                sa.text("SELECT setval(CAST(:s AS regclass), :n, :called)"),
                {"s": sequence, "n": max(top, 1), "called": top > 0},
            )


def _continue_sqlite(conn: sa.Connection, table: str, top: int) -> None:
    """Raise ``table``'s entry in ``sqlite_sequence`` to ``top``.

    Only a table with AUTOINCREMENT has one: of another (made before migration
    0006) SQLite would keep an entry under its name through a rebuild.
    """
    if top == 0 or not _autoincrement(conn, table):
        return
    if conn.execute(
        sa.text("SELECT COUNT(*) FROM sqlite_sequence WHERE name = :t"), {"t": table}
    ).scalar_one():
        conn.execute(sa.text("UPDATE sqlite_sequence SET seq = :n WHERE name = :t"), {"t": table, "n": top})
    else:
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"), {"t": table, "n": top})


def _autoincrement(conn: sa.Connection, table: str) -> bool:
    """Whether SQLite ``table`` was made with AUTOINCREMENT."""
    sql = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).scalar()
    return "AUTOINCREMENT" in (sql or "").upper()


def _has_sqlite_sequence(conn: sa.Connection) -> bool:
    """SQLite makes ``sqlite_sequence`` with its first AUTOINCREMENT table."""
    return bool(
        conn.execute(
            sa.text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
        ).scalar_one()
    )


def _pg_sequence(conn: sa.Connection, table: str) -> str | None:
    """The name of the sequence that gives ``table`` its ids, as PostgreSQL quotes it."""
    return conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
