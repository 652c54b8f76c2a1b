"""Server time to render the Timeline page for a patient with 100 visits.

The store holds one patient with 100 visits, each with generated close-ups of
two views (real photos added through the store, so every row, original and
measurement is real). The page is run with Streamlit's AppTest, in this
process, signed in as a clinician: the time is the server's script run, the
part the target (under 1 s) is about; the browser's drawing is not included.

The first run fills the caches (thumbnails of the photo strip, the two
overlays of the comparison); later runs are what a clinician sees when coming
back to the page or changing a widget. Medians of the later runs are quoted,
as wall-clock time and as this process's CPU time (which other load on the
machine disturbs less).

    python benchmarks/timeline_render.py [--visits 100] [--runs 7] [--store DIR]

With ``--store DIR`` the filled store is kept in DIR (and reused when run again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
from streamlit.testing.v1 import AppTest

from tracker.store import NewPhoto, Store
from tracker.synth import render_closeup

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the pages import app_pages.common, as under `streamlit run`
VIEWS = ("closeup:vertex", "closeup:crown")


def png(seed: int) -> bytes:
    rgb = render_closeup(seed=seed, shape=(240, 320)).image
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def fill(location: Path, visits: int) -> None:
    with Store.open(location, user="bench") as store:
        store.add_patient("BENCH-100")
        store.add_account("bench.clinician", "bench-password", "clinician")
        for v in range(visits):
            visit = store.add_visit("BENCH-100", dt.date(2018, 1, 1) + dt.timedelta(days=30 * v))
            store.add_photos(
                visit.id,
                [NewPhoto(view, png(2 * v + k), f"v{v}-{k}.png", 150.0, "magnification") for k, view in enumerate(VIEWS)],
            )


def run_page() -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process) of one run of the page."""
    at = AppTest.from_file(str(REPO / "app_pages" / "timeline.py"), default_timeout=600)
    at.session_state["username"] = "bench.clinician"
    at.query_params["patient"] = "BENCH-100"
    start, cpu = time.perf_counter(), time.process_time()
    at.run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if at.exception or len(at.get("vega_lite_chart")) == 0:
        raise SystemExit(f"the page did not render: {[e.value for e in at.exception]}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visits", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--store", type=Path, help="keep the filled store here (reused if present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        location = args.store or Path(tmp) / "store"
        if not (location / "store.json").exists():
            t0 = time.perf_counter()
            fill(location, args.visits)
            print(f"store: {args.visits} visits x {len(VIEWS)} views, filled in {time.perf_counter() - t0:.0f} s")
        os.environ["TRACKER_STORE"] = str(location)
        first, first_cpu = run_page()
        later = [run_page() for _ in range(args.runs)]
        wall = [w for w, _ in later]
        cpu = [c for _, c in later]
        print(f"timeline page, first run (caches empty): {first:.2f} s ({first_cpu:.2f} s CPU)")
        print(
            f"timeline page, later runs: median {statistics.median(wall):.2f} s "
            f"(min {min(wall):.2f}, max {max(wall):.2f}, {args.runs} runs); target < 1 s"
        )
        print(
            f"  CPU time of those runs: median {statistics.median(cpu):.2f} s "
            "(less sensitive to other load on the machine than the wall clock)"
        )


if __name__ == "__main__":
    main()
