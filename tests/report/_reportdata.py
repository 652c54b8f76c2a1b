"""A real SQLite store for the report tests, and the tools that read a PDF back.

The PDF is read with poppler's own tools: ``pdfinfo`` (page count),
``pdftoppm`` (each page as a PNG) and ``pdftotext`` (its text).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tracker.access import Access
from tracker.store import NewPhoto, Store
from tracker.synth import render_closeup
from tracker.wording import BANNED_WORDS

PASSWORD = "a long password"
NAME = "Ann Example"
BIRTH = dt.date(1980, 5, 17)
DATES = (dt.date(2025, 1, 6), dt.date(2025, 4, 1), dt.date(2025, 7, 1))
PX_PER_MM = 100.0
BANNED = re.compile(
    r"\b(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in BANNED_WORDS) + r")\b", re.IGNORECASE
)


def closeup_png(seed: int, density: float) -> bytes:
    scalp = render_closeup(seed=seed, shape=(160, 200), px_per_mm=PX_PER_MM, density_per_cm2=density)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(scalp.image, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def noise_png(seed: int, size: tuple[int, int] = (48, 64)) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


@dataclass
class World:
    store: Store
    clinician: Access
    patient: Access  # the account of P-1
    other_patient: Access  # the account of P-2
    researcher: Access


def build(folder: Path) -> World:
    """P-1: three visits, a close-up site (a repeat photo at visit 2) and the vertex; P-2: one visit.

    Photo file names carry the patient's name, as phone uploads often do: the
    report must not print them.
    """
    store = Store.open(folder, user="setup")
    p1 = store.add_patient("P-1", name=NAME, birth_date=BIRTH)
    p2 = store.add_patient("P-2", name="Bob Other")
    for i, date in enumerate(DATES):
        events = ["treatment started"] if i == 0 else [f"phoned {NAME}"] if i == 1 else []
        visit = store.add_visit(p1.id, date, events=events)
        photos = [
            NewPhoto("closeup:vertex", closeup_png(10 + i, 160 + 40 * i), name=f"ann_example_{i}.png",
                     px_per_mm=PX_PER_MM, scale_source="magnification"),
            NewPhoto("vertex", noise_png(20 + i), name=f"ann_example_vertex_{i}.png"),
        ]
        if i == 1:
            photos.append(NewPhoto("closeup:vertex", closeup_png(30, 200), name="ann_example_repeat.png",
                                   px_per_mm=PX_PER_MM, scale_source="magnification"))
        store.add_photos(visit.id, photos)
    w = store.add_visit(p2.id, dt.date(2025, 2, 1))
    store.add_photos(w.id, [NewPhoto("vertex", noise_png(40))])
    store.add_account("dr.a", PASSWORD, "clinician")
    store.add_account("pat.one", PASSWORD, "patient", patient="P-1")
    store.add_account("pat.two", PASSWORD, "patient", patient="P-2")
    store.add_account("res.a", PASSWORD, "researcher")

    def access(username: str) -> Access:
        return Access(store, store.account(username))

    return World(store, access("dr.a"), access("pat.one"), access("pat.two"), access("res.a"))


@dataclass
class ReadBack:
    """A PDF as poppler reads it."""

    pages: int
    images: list[np.ndarray]  # RGB, one per page
    text: str  # pdftotext, whitespace as extracted

    @property
    def flat_text(self) -> str:
        """The text with every run of whitespace as one space (lines wrap anywhere)."""
        return " ".join(self.text.split())


def read_back(pdf: bytes, folder: Path, *, dpi: int = 50) -> ReadBack:
    for tool in ("pdfinfo", "pdftoppm", "pdftotext"):
        assert shutil.which(tool), f"{tool} (poppler-utils) is needed: apt-get install poppler-utils"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(folder / "page")], check=True)
    files = sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
    images = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return ReadBack(pages, images, text)


def overlay_pixels(image: np.ndarray) -> int:
    """Pixels tinted by the hair overlay's magenta (255, 40, 200) at 45 % over skin or hair."""
    r, g, b = (image[..., k].astype(int) for k in range(3))
    return int(np.count_nonzero((r - g > 70) & (b - g > 50) & (g < 150)))


def chart_line_pixels(image: np.ndarray) -> int:
    """Pixels of the charts' blue line and points (Vega-Lite's #4c78a8)."""
    diff = np.abs(image.astype(int) - np.array([76, 120, 168])).sum(axis=2)
    return int(np.count_nonzero(diff < 40))
