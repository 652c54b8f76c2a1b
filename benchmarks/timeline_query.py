"""Time of ``Store.timeline`` for a patient with 100 visits x 6 views.

Each photo has two measurements (an older algorithm's and the current one),
and 20 other patients fill the tables around it. Rows are inserted directly:
this measures the query, not the analysis. Target: under 100 ms on SQLite.

    python benchmarks/timeline_query.py [--runs 21] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The checkout this script is in, not whichever tracker is installed.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.store import VIEWS, Store
from tracker.store import models as m

VISITS, OTHER_PATIENTS, OTHER_VISITS = 100, 20, 10


def _fill(store: Store) -> str:
    views = VIEWS[:6]
    with store._write() as s, s.begin():  # bulk rows for the benchmark only
        n = 0
        for p in range(OTHER_PATIENTS + 1):
            patient = m.Patient(code=f"B-{p:03d}")
            s.add(patient)
            s.flush()
            for v in range(VISITS if p == 0 else OTHER_VISITS):
                visit = m.Visit(
                    patient_id=patient.id,
                    date=dt.date(2020, 1, 1) + dt.timedelta(days=30 * v),
                    notes="",
                    events=[],
                )
                s.add(visit)
                s.flush()
                for view in views:
                    n += 1
                    photo = m.Photo(
                        visit_id=visit.id,
                        view=view,
                        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
                        size_bytes=1,
                        name="b.jpg",
                        width=4000,
                        height=3000,
                        capture_metadata={},
                    )
                    s.add(photo)
                    s.flush()
                    for version in ("0.9", "1.0"):
                        s.add(
                            m.Measurement(
                                photo_id=photo.id,
                                roi_x=0,
                                roi_y=0,
                                roi_w=4000,
                                roi_h=3000,
                                mode="overview",
                                coverage_pct=40.0 + v * 0.01,
                                hair_count=None,
                                mean_width_px=None,
                                mean_width_um=None,
                                density_per_cm2=None,
                                thin_hair_pct=None,
                                quality_status="pass",
                                quality={"status": "pass", "checks": {"sharpness": "pass"}},
                                px_per_mm=None,
                                scale_source="none",
                                algorithm_version=version,
                                parameters={"threshold": "otsu", "min_area_px": 20},
                            )
                        )
    return "B-000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty database (default: a new SQLite store in a temp folder)",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Store.open(tmp, database_url=args.database_url) as store,
    ):
        code = _fill(store)
        rows = store.timeline(code)
        assert len(rows) == VISITS * 6 and {r.algorithm_version for r in rows} == {"1.0"}
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            store.timeline(code)
            times.append(time.perf_counter() - t0)
        print(
            f"timeline query, {VISITS} visits x 6 views ({len(rows)} rows, 2 measurements per "
            f"photo, {OTHER_PATIENTS} other patients) on {store.engine.dialect.name}: "
            f"median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms "
            f"over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
