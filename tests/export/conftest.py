"""Fixtures of the export tests: one shared store (see ``_exportdata``), no ambient settings."""

from __future__ import annotations

import pytest
from _exportdata import Built, build_store

from tracker.store import Store


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch):
    """Tests choose their store and key explicitly; ignore the caller's environment."""
    for name in ("DATABASE_URL", "TRACKER_STORE", "TRACKER_EXPORT_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    result = build_store(tmp_path_factory.mktemp("export") / "store")
    yield result
    result.store.close()


@pytest.fixture(scope="session")
def store(built) -> Store:
    return built.store
