"""Helpers of the app tests: a small clinic in a real SQLite store, AppTest runs of pages.

Photos are generated close-ups (exact, small, fast).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
from streamlit.testing.v1 import AppTest

from tracker.store import NewPhoto, Store
from tracker.synth import render_closeup
from tracker.wording import BANNED_WORDS

REPO = Path(__file__).resolve().parents[2]
# ``streamlit run app.py`` puts the app's folder on sys.path, so pages import
# ``app_pages.common``; AppTest runs the pages in this process, which needs the same
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
APP = REPO / "app.py"
PAGES = REPO / "app_pages"
BANNED = re.compile(r"\b(" + "|".join(BANNED_WORDS) + r")\b", re.IGNORECASE)

#: username -> (password, role)
ACCOUNTS = {
    "dr.test": ("clinician-pass", "clinician"),
    "res.test": ("researcher-pass", "researcher"),
    "pat.a": ("patient-a-pass", "patient"),
    "pat.b": ("patient-b-pass", "patient"),
}
PATIENT_OF = {"pat.a": "P-A", "pat.b": "P-B"}
NAMES = {"P-A": ("Alice Example", dt.date(1980, 2, 3)), "P-B": ("Bob Other", dt.date(1975, 6, 7))}
DATES = (dt.date(2025, 1, 10), dt.date(2025, 4, 10), dt.date(2025, 7, 10))
PX_PER_MM = 200.0


@functools.cache
def closeup_png(seed: int, shape: tuple[int, int] = (288, 384)) -> bytes:
    """A generated close-up as PNG bytes (different bytes for each seed)."""
    rgb = render_closeup(seed=seed, shape=shape).image
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


@dataclass(frozen=True)
class Clinic:
    location: Path

    def open(self) -> Store:
        return Store.open(self.location, user="test")


def make_clinic(location: Path) -> Clinic:
    """P-A: three visits of closeup:vertex (a repeat photo at the second); P-B: one visit."""
    with Store.open(location, user="setup") as store:
        for code, (name, born) in NAMES.items():
            store.add_patient(code, name=name, birth_date=born)
        seed = 100
        for i, date in enumerate(DATES):
            visit = store.add_visit("P-A", date, events=["baseline"] if i == 0 else [])
            photos = []
            for _ in range(2 if i == 1 else 1):
                seed += 1
                photos.append(
                    NewPhoto("closeup:vertex", closeup_png(seed), f"a{seed}.png", PX_PER_MM, "magnification")
                )
            store.add_photos(visit.id, photos)
        visit = store.add_visit("P-B", DATES[0])
        store.add_photos(visit.id, [NewPhoto("closeup:vertex", closeup_png(900), "b900.png")])
        for username, (password, role) in ACCOUNTS.items():
            store.add_account(username, password, role, patient=PATIENT_OF.get(username))
    return Clinic(location)


def run_page(page: str, username: str | None, *, query: dict | None = None, run: bool = True) -> AppTest:
    """AppTest of ``app_pages/<page>.py`` (or ``app.py`` for ``"app"``) signed in as ``username``."""
    path = APP if page == "app" else PAGES / f"{page}.py"
    at = AppTest.from_file(str(path), default_timeout=120)
    if username is not None:
        at.session_state["username"] = username
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if run:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def all_text(at: AppTest) -> str:
    """Every string the page rendered (element protos include labels, options and values)."""

    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return "\n".join(str(node.proto) for node in walk(at._tree) if hasattr(node, "proto"))


def charts(at: AppTest) -> list:
    """The Altair (Vega-Lite) charts on the page."""
    return list(at.get("vega_lite_chart"))
