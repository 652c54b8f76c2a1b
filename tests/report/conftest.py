"""Fixtures of the report tests: one real SQLite store shared by the tests that only read it."""

from __future__ import annotations

import pytest
from _reportdata import World, build


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch):
    for name in ("DATABASE_URL", "TRACKER_STORE", "TRACKER_EXPORT_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    w = build(tmp_path_factory.mktemp("report") / "store")
    yield w
    w.store.close()
