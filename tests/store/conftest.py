"""Fixtures: every storage test runs on SQLite and, when
``TRACKER_TEST_POSTGRES_URL`` names a server, on PostgreSQL too.

The PostgreSQL database named there is wiped (schema ``public`` dropped and
re-created) before each test: give a database used for nothing else.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa

from tracker.store import Store
from tracker.store.schema import normalize_url

PG_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL")
if os.environ.get("TRACKER_REQUIRE_POSTGRES") and not PG_URL:
    # scripts/test.sh starts a server: there, a skipped PostgreSQL run is a failure.
    raise pytest.UsageError(
        "TRACKER_REQUIRE_POSTGRES is set but TRACKER_TEST_POSTGRES_URL is not; "
        'run eval "$(bash tests/store/start_postgres.sh)" first'
    )

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="TRACKER_TEST_POSTGRES_URL is not set"),
        ],
    ),
]


def reset_postgres() -> str:
    url = normalize_url(PG_URL)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, tmp_path) -> str:
    """A URL of an empty database of the test's backend."""
    if backend == "postgresql":
        return reset_postgres()
    return f"sqlite:///{tmp_path / 'store' / 'tracker.sqlite'}"


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def store(store_dir, database_url):
    with Store.open(store_dir, database_url=database_url, user="tester") as s:
        yield s


@pytest.fixture
def visit(store):
    patient = store.add_patient("P-001", name="Ann Example", birth_date=dt.date(1980, 5, 17))
    return store.add_visit(patient.id, dt.date(2025, 1, 6), events=["treatment started"])


@pytest.fixture(autouse=True)
def _no_ambient_store_settings(monkeypatch):
    """Tests name their database explicitly; ignore the caller's environment."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRACKER_STORE", raising=False)
