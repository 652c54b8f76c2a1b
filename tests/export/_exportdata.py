"""The store the export tests share: a real SQLite store with generated photos.

Two patients:

- ``KLM-0042`` with a name and birth date in the identity table; a first visit
  without photos (the baseline), then two visits with close-ups (ROI set after
  the first one, one photo analysed twice) and a JPEG carrying GPS, camera and
  capture-time EXIF; event markers with a date, the code, the name and contact
  details written in them.
- ``QRS-0007`` with no identity and close-ups without a scale.

The store is built once per session and only read by the tests; a test that
changes a store makes its own.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tracker.store import NewPhoto, Store
from tracker.synth import render_closeup

CODE_A = "KLM-0042"
CODE_B = "QRS-0007"
NAME = "Ann Example"
#: A close-up site as a clinic might type it, with what a de-identified export must not carry.
SITE = "crown left of scar, Ann Example 15 July"
BIRTH = dt.date(1980, 5, 17)
CAMERA_MAKE = "SecretCam"
CAMERA_SERIAL = "SN-7788-XYZ"
EXIF_TIME = "2024:05:01 09:30:00"
GPS_LAT = (48.0, 51.0, 29.5179)
GPS_LON = (2.0, 17.0, 40.2)
VISIT_NOTES = "Seen by Dr Secretary at Hillside clinic"
PHOTO_NAME = "ann_example_1980-05-17.jpg"
PHONE = "+44 20 7946 0958"
EMAIL = "ann.example@mail.example"
#: An event marker holding the name (in two forms) and contact details.
NAME_EVENT = f"follow-up call with Ann Example ({PHONE}, {EMAIL}); Example, A. agreed"
SHAPE = (256, 320)
PX_PER_MM = 250.0

A_VISITS = (dt.date(2024, 12, 2), dt.date(2025, 1, 6), dt.date(2025, 3, 3))
B_VISITS = (dt.date(2025, 2, 10), dt.date(2025, 2, 24))


@dataclass(frozen=True)
class Built:
    """The shared store and what was put into it."""

    store: Store
    reanalysed_photo_id: int
    older_measurement_id: int
    gps_sha256: str


def synth_rgb(seed: int, density: float = 220.0) -> np.ndarray:
    return render_closeup(seed=seed, shape=SHAPE, density_per_cm2=density).image


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def jpeg_with_gps(rgb: np.ndarray) -> bytes:
    """A JPEG with camera make/model, capture time and a GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKE
    exif[0x0110] = CAMERA_SERIAL
    exif[0x0132] = EXIF_TIME
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: GPS_LAT, 3: "E", 4: GPS_LON})
    exif.get_ifd(0x8769)[0x9003] = EXIF_TIME
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", exif=exif.tobytes(), quality=92)
    return buf.getvalue()


def build_store(folder: Path) -> Built:
    store = Store.open(folder, database_url=f"sqlite:///{folder / 'tracker.sqlite'}", user="tester")
    a = store.add_patient(CODE_A, name=NAME, birth_date=BIRTH)
    store.add_visit(a.id, A_VISITS[0], notes=VISIT_NOTES, events=["consultation"])
    v1 = store.add_visit(
        a.id, A_VISITS[1], notes=VISIT_NOTES, events=["treatment started 2025-01-06", f"{CODE_A} seen"]
    )
    gps_bytes = jpeg_with_gps(synth_rgb(3))
    added = store.add_photos(
        v1.id,
        [
            NewPhoto("closeup:vertex", png(synth_rgb(1)), PHOTO_NAME, PX_PER_MM, "magnification"),
            # a close-up site typed with the name and a date in it
            NewPhoto(f"closeup:{SITE}", gps_bytes, PHOTO_NAME, PX_PER_MM, "magnification"),
        ],
    )
    first = added[0]
    store.set_roi(a.id, "closeup:vertex", (20, 16, 240, 200), baseline_photo_id=first.photo.id)
    v2 = store.add_visit(a.id, A_VISITS[2], notes=VISIT_NOTES, events=[NAME_EVENT])
    store.add_photos(
        v2.id,
        [
            NewPhoto("closeup:vertex", png(synth_rgb(2, 180.0)), PHOTO_NAME, PX_PER_MM, "magnification"),
            NewPhoto("closeup:vertex", png(synth_rgb(4, 180.0)), PHOTO_NAME, PX_PER_MM, "magnification"),
        ],
    )
    # analyse the baseline photo again, now with the ROI: the table shows this newest row
    (newer,) = store.reanalyse(photo_ids=[first.photo.id])
    assert newer != first.measurement_id

    b = store.add_patient(CODE_B)
    for i, date in enumerate(B_VISITS):
        visit = store.add_visit(b.id, date, events=["baseline"] if i == 0 else ())
        store.add_photos(visit.id, [NewPhoto("closeup:vertex", png(synth_rgb(10 + i)), "b.png")])
    return Built(store, first.photo.id, first.measurement_id, added[1].photo.sha256)


