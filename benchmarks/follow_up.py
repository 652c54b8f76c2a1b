"""Time to check and store a 12 MP follow-up photo of a view that has a baseline.

The New visit page measures each upload before it is saved (``preview_photo``)
and stores that measurement when the visit is saved (``add_visit_with_photos``).
Both register the photo to the view's baseline photo. The store keeps the
baseline's registration features (:func:`tracker.imaging.register.photo_features`)
and decoded pixels, so only the first follow-up of a baseline finds them, and
the measurements of the newest uploads, so a save stores what its preview made.

Each run uses a fresh store (the baseline added; two new photos of the same
scalp) and times, in one process:

- ``cold``: previewing the first follow-up with nothing kept (the first upload
  after the server started; the libraries and file cache already warmed up by
  an untimed preview),
- ``warm``: previewing the second follow-up (the next upload of the visit),
- ``save``: saving the visit with both (after their previews),
- ``unseen``: saving a visit with the two photos again in a second store where
  they were not previewed (what the save would cost without the previews'
  measurements),

and prints their medians and the ratios warm / cold and save / unseen.

    python benchmarks/follow_up.py [--runs 5]

Exits 0 whatever the figures (a benchmark, not a test); 2 only for bad options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.store import NewPhoto, Store
from tracker.synth import CameraMove, render_moved_series

SIZE = (4000, 3000)  # width, height: 12 MP


def photos(seed: int) -> tuple[bytes, ...]:
    """A baseline and three moved recaptures of one generated close-up, as 12 MP JPEGs."""
    moves = [
        CameraMove(),
        CameraMove(dx=20.0, dy=-12.0, rotation_deg=6.0, scale=1.05, brightness=1.1),
        CameraMove(dx=-15.0, dy=10.0, rotation_deg=-4.0, scale=0.96, brightness=0.9),
        CameraMove(dx=8.0, dy=6.0, rotation_deg=2.0, scale=1.02),
    ]
    series = render_moved_series(seed=seed, moves=moves, kind="closeup", shape=(1000, 1333), density_per_cm2=220.0)
    out = []
    for s in series:
        rgb = cv2.resize(s.image.image, SIZE, interpolation=cv2.INTER_CUBIC)
        rgb = np.clip(rgb + np.random.default_rng(seed).normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        out.append(data.tobytes())
    return tuple(out)


def _store_with_baseline(folder: str, base: bytes) -> Store:
    store = Store.open(folder, user="benchmark")
    store.add_patient("P")
    store.add_visit_with_photos("P", dt.date(2025, 1, 6), [NewPhoto("closeup:vertex", base, "b.jpg")])
    return store


def one_run(seed: int) -> dict[str, float]:
    base, one, two, other = photos(seed)
    items = [NewPhoto("closeup:vertex", data, f"f{i}.jpg") for i, data in enumerate((one, two))]
    warm_up = NewPhoto("closeup:vertex", other, "warm-up.jpg")  # previewed untimed
    times = {}
    with tempfile.TemporaryDirectory() as folder, _store_with_baseline(folder, base) as store:
        store.preview_photo("P", warm_up)
        store.forget_kept()  # as after a restart
        for name, item in zip(("cold", "warm"), items, strict=True):
            t = time.perf_counter()
            preview = store.preview_photo("P", item)
            times[name] = time.perf_counter() - t
            assert preview.registration is not None and preview.registration.ok
        t = time.perf_counter()
        store.add_visit_with_photos("P", dt.date(2025, 4, 6), items)
        times["save"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as folder, _store_with_baseline(folder, base) as store:
        store.preview_photo("P", warm_up)  # the baseline's features kept, as for the save above
        t = time.perf_counter()
        store.add_visit_with_photos("P", dt.date(2025, 4, 6), items)
        times["unseen"] = time.perf_counter() - t
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    rows = []
    print(" run   cold s   warm s   save s unseen s  warm/cold  save/unseen")
    for i in range(args.runs):
        r = one_run(100 + i)
        rows.append(r)
        print(f"{i + 1:4d} {r['cold']:8.3f} {r['warm']:8.3f} {r['save']:8.3f} {r['unseen']:8.3f} "
              f"{r['warm'] / r['cold']:10.2f} {r['save'] / r['unseen']:12.2f}")
    med = {k: statistics.median(r[k] for r in rows) for k in ("cold", "warm", "save", "unseen")}
    warm = statistics.median(r["warm"] / r["cold"] for r in rows)
    save = statistics.median(r["save"] / r["unseen"] for r in rows)
    print(f" med {med['cold']:8.3f} {med['warm']:8.3f} {med['save']:8.3f} {med['unseen']:8.3f} {warm:10.2f} {save:12.2f}")
    print(f"median: a follow-up's preview takes {warm:.2f} of its first time once its baseline's features are kept;")
    print(f"saving two previewed follow-ups takes {save:.2f} of saving them unseen")
    return 0


if __name__ == "__main__":
    sys.exit(main())
