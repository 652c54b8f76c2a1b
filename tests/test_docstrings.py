"""Every docstring example in the library runs and prints what it shows (numpydoc 'Examples')."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tracker

MODULES = sorted(m.name for m in pkgutil.walk_packages(tracker.__path__, "tracker."))


def test_every_module_is_found():
    assert {"tracker.imaging.segment", "tracker.store.api", "tracker.timeline"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"
