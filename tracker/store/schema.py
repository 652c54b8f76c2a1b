"""Database engines and schema migrations, run programmatically on open."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tracker.store.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
#: Seconds a SQLite writer waits for another writer's lock before giving up.
BUSY_TIMEOUT_S = 60.0
_PG_LOCK_KEY = 7_311_042_017  # arbitrary constant: serialises migrations across processes


def normalize_url(url: str) -> str:
    """Use the psycopg (3) driver for plain ``postgresql://`` and ``postgres://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    """Engine for ``url``; SQLite files get WAL, a busy timeout and foreign keys.

    SQLite transactions are opened with an explicit ``BEGIN``; connections from
    ``engine.execution_options(sqlite_begin="IMMEDIATE")`` take the write lock
    at the start, so concurrent writers queue instead of failing mid-way.
    """
    url = normalize_url(url)
    if sa.make_url(url).get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _file_lock(path: Path):
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(engine: sa.Engine, revision: str = "head", *, lock_path: Path | None = None) -> None:
    """Bring the schema to ``revision``; safe when several processes open at once.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`make_engine`.
    revision : str
        Alembic revision id, or ``"head"``.
    lock_path : pathlib.Path, optional
        File used to serialise concurrent upgrades of one SQLite database
        (PostgreSQL uses an advisory lock instead).
    """
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config(None)).walk_revisions()}
    if revision != "head" and revision not in known:
        raise StoreError(
            f"the data is of database schema revision {revision!r}, which this version of tracker "
            "does not know (a newer tracker made it); install a newer tracker to restore it"
        )
    with contextlib.ExitStack() as stack:
        if lock_path is not None:
            stack.enter_context(_file_lock(lock_path))
        conn = stack.enter_context(engine.execution_options(sqlite_begin="IMMEDIATE").connect())
        if conn.dialect.name == "sqlite":
            stack.enter_context(_foreign_keys_off(conn))
        stack.enter_context(conn.begin())
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known:
            raise StoreError(
                f"the database schema is at revision {current!r}, which this version of "
                "tracker does not know; install a newer tracker to open this store"
            )
        target = head_revision() if revision == "head" else revision
        if current != target:
            dangling = _dangling_references(conn)
            command.upgrade(alembic_config(conn), target)
            if new := sorted(_dangling_references(conn) - dangling, key=str):
                table, rowid, parent = new[0]
                raise StoreError(
                    f"upgrading the database schema from revision {current!r} to {target!r} would "
                    f"leave {len(new)} row(s) referencing missing rows (e.g. {table} row {rowid}, "
                    f"in {parent}); the database was left as it was: keep using the tracker "
                    "release that made it, and report this to the tracker developers"
                )


@contextlib.contextmanager
def _foreign_keys_off(conn: sa.Connection):
    """SQLite foreign keys off while ``conn`` migrates, on again afterwards.

    A migration that rebuilds a table drops the old one, and with foreign keys
    on that deletes (ON DELETE CASCADE) every row referencing it. SQLite only
    turns them off outside a transaction: call this before ``conn.begin()``.
    """
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys = ON")
        if raw.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
            # still inside a transaction (a failed commit): this connection must not
            # go back to the pool without them
            conn.invalidate()


def _dangling_references(conn: sa.Connection) -> set[tuple[str, int | None, str]]:
    """SQLite rows whose foreign key names a missing row: (table, rowid, referenced table)."""
    if conn.dialect.name != "sqlite":
        return set()  # PostgreSQL enforces foreign keys within the migration itself
    return {(row[0], row[1], row[2]) for row in conn.exec_driver_sql("PRAGMA foreign_key_check")}


def sqlite_lock_path(url: str) -> Path | None:
    """Lock file beside a SQLite database file, or None for other databases."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(os.fspath(parsed.database) + ".lock")
