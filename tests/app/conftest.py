"""Fixtures of the app tests: a clinic store shared by tests that only read
(``clinic``), a fresh one for tests that change it (``fresh_clinic``), and
``use_clinic`` to point the app at one."""

from __future__ import annotations

import sys

import pytest
from _app_util import Clinic, make_clinic


@pytest.fixture(autouse=True)
def keep_main_module():
    """Put ``sys.modules['__main__']`` back after each page run.

    Streamlit's script runner makes the page the ``__main__`` module and leaves
    it there; a process pool started later (spawn) would run that page in each
    of its workers, which then die (tests/test_batch.py).
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def clinic(tmp_path_factory) -> Clinic:
    return make_clinic(tmp_path_factory.mktemp("clinic"))


@pytest.fixture
def fresh_clinic(tmp_path) -> Clinic:
    return make_clinic(tmp_path / "clinic")


@pytest.fixture
def use_clinic(monkeypatch):
    """Point the app at a clinic's store (``TRACKER_STORE``) for this test."""

    def use(clinic: Clinic) -> Clinic:
        monkeypatch.setenv("TRACKER_STORE", str(clinic.location))
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("TRACKER_ADMIN_PASSWORD", "admin-password")
        return clinic

    return use


