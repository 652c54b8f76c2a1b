"""Time from uploading a 12 MP photo in the app to its measurements on screen.

The issue's figure for the app. The real app is started as the browser tests
start it (``streamlit run app.py`` on a free loopback port, against a fresh
store holding the demo patient; see ``tests/e2e/_e2eapp.py``) and driven in
Debian's Chromium with Playwright: sign in as the demo clinician, open *New
visit* (patient DEMO-001, so the baseline photo is laid over the upload as in
a real follow-up visit), give the file input one 4000x3000 close-up JPEG and
time until the photo's measurement table is visible. Each run uses a fresh
browser session and a new photo (another seed), so no cache of the app can
answer.

The photo is made as ``benchmarks/analysis_speed.py`` makes it: a synthetic
close-up rendered at a third of the linear size, enlarged to 4000x3000, given
fresh sensor noise and encoded as JPEG quality 92. Decoding the same bytes
with :func:`tracker.photo.load_photo` is timed in this process right after
each upload (median of three), and the ratio upload-to-screen / decode is
reported per run and as the median. For where the time goes, decoding plus
:func:`tracker.analysis.analyze` in this process (once) is shown as well; the
rest is the app: upload, thumbnails, the baseline overlay, sending and
drawing the page.

    python benchmarks/app_upload.py [--runs 5] [--seed 100]

Exits 0 whatever the figures (a benchmark, not a test); 2 only for bad options.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e"), str(Path(__file__).resolve().parent)]

from _e2eapp import ROLE_LOGIN, AppServer, build_store, launch_chromium, sign_in
from analysis_speed import JPEG_QUALITY, SIZE, make_photo

from tracker.analysis import analyze
from tracker.photo import load_photo

TIMEOUT_MS = 300_000


def decode_seconds(data: bytes, repeats: int = 3) -> float:
    """Median wall time of :func:`load_photo` on ``data``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_photo(data, name="upload.jpg")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def analysis_seconds(data: bytes) -> float:
    """Wall time of decoding plus :func:`analyze` on ``data`` (what the page runs, without the UI)."""
    start = time.perf_counter()
    analyze(load_photo(data, name="upload.jpg").pixels)
    return time.perf_counter() - start


def time_upload(browser, url: str, data: bytes, name: str) -> tuple[float, str]:
    """Seconds from giving the file input ``data`` to its measurement table being visible.

    Also returns the hair count the table shows (a check that it measured).
    """
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        sign_in(page, url, *ROLE_LOGIN["clinician"])
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="New visit", exact=True).click()
        main = page.get_by_test_id("stMain")
        file_input = main.locator("input[type=file]")
        expect(file_input).to_be_attached(timeout=TIMEOUT_MS)
        expect(main.get_by_test_id("stTable")).to_have_count(0)
        start = time.perf_counter()
        file_input.set_input_files({"name": name, "mimeType": "image/jpeg", "buffer": data})
        table = main.get_by_test_id("stTable")
        expect(table).to_be_visible(timeout=TIMEOUT_MS)
        seconds = time.perf_counter() - start
        expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)
        count = table.locator("tbody tr").filter(has_text="Hair count").locator("td").nth(1).inner_text()
        return seconds, count.strip()
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="uploads, each of a new photo (default 5)")
    parser.add_argument("--seed", type=int, default=100, help="seed of the first photo; run i uses seed + i")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    from playwright.sync_api import sync_playwright

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="app-upload-") as tmp:
        t0 = time.perf_counter()
        store = Path(tmp) / "store"
        build_store(store)
        print(f"store with the demo patient made in {time.perf_counter() - t0:.1f} s")
        photos = []
        t0 = time.perf_counter()
        for i in range(args.runs):
            photos.append(make_photo("closeup", seed=args.seed + i))
        print(f"{args.runs} photos {SIZE[0]}x{SIZE[1]} JPEG q{JPEG_QUALITY} made in {time.perf_counter() - t0:.1f} s")
        with AppServer(store) as server, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                print(
                    f"\n{'run':>3} {'seed':>5} {'MB':>6} {'upload->table s':>16} {'decode s':>9} {'ratio':>7}"
                    f" {'decode+analyze s':>17}  hairs"
                )
                rows = []
                for i, data in enumerate(photos):
                    seconds, hairs = time_upload(browser, server.url, data, f"bench-{args.seed + i}.jpg")
                    decode = decode_seconds(data)
                    analysed = analysis_seconds(data)
                    rows.append((seconds, decode, analysed))
                    print(
                        f"{i + 1:>3} {args.seed + i:>5} {len(data) / 1e6:6.2f} {seconds:16.2f} {decode:9.3f}"
                        f" {seconds / decode:7.1f} {analysed:17.2f}  {hairs}"
                    )
            finally:
                browser.close()
    median_s = statistics.median(r[0] for r in rows)
    median_decode = statistics.median(r[1] for r in rows)
    median_ratio = statistics.median(r[0] / r[1] for r in rows)
    median_analysis = statistics.median(r[2] for r in rows)
    print(
        f"\nmedian of {len(rows)}: {median_s:.2f} s from upload to measurements on screen; "
        f"decode alone {median_decode:.3f} s; ratio {median_ratio:.1f}x "
        f"(decode + analyze alone {median_analysis:.2f} s, {median_analysis / median_decode:.1f}x decode)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:  # --help and argument errors
        sys.exit(stop.code)
    except Exception as error:  # noqa: BLE001 - a benchmark reports, it does not fail the build
        print(f"benchmark error: {type(error).__name__}: {error}")
    sys.exit(0)
