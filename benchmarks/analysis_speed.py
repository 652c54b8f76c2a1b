"""Speed and peak memory of analysing one 12 MP (4000x3000) JPEG photo.

Targets (the issue): decoding plus :func:`tracker.analysis.analyze` takes at
most 3x as long as decoding alone, and the analysis peaks under 1 GB.

The photos are made here: a synthetic close-up (and an overview) rendered
with :mod:`tracker.synth` at a third (close-up) or a quarter (overview) of
the linear size (rendering a 12 MP overview takes minutes), enlarged to
4000x3000, given fresh sensor noise at full size (so the JPEG holds as much
detail as a camera's) and encoded as JPEG quality 92 in memory.

Decoding alone (``load_photo``) and end to end (``load_photo`` + ``analyze``)
are timed in one process, interleaved run by run (their order alternates);
the ratio end-to-end / decode is taken per run and its median reported, for
wall time (``perf_counter``) and CPU time (``process_time``, all threads).
Peak memory is measured in a fresh interpreter per photo: its peak RSS
(``VmHWM``) and that minus the RSS after imports and reading the bytes, and
the peak of traced (numpy and OpenCV output) allocations with ``tracemalloc``
in a second pass. ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used: on Linux a
child started by fork + exec inherits the parent's peak RSS at the fork (here
the ~500 MB of photo rendering), so it would report the parent, not the child.

    python benchmarks/analysis_speed.py [--runs 7] [--kinds closeup,overview]
                                        [--mode auto] [--no-memory] [--profile 25]

Exits 0 whatever the figures (a benchmark, not a test); 2 only for bad options.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.analysis import analyze
from tracker.photo import load_photo
from tracker.synth import render_closeup, render_overview

SIZE = (4000, 3000)  # width, height: 12 MP
JPEG_QUALITY = 92
RATIO_TARGET = 3.0
MEMORY_TARGET_MB = 1024.0

# Run in a fresh interpreter: JPEG bytes on stdin, one JSON line on stdout.
_CHILD = r"""
import json, sys, tracemalloc
from tracker.analysis import analyze
from tracker.photo import load_photo

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

data = sys.stdin.buffer.read()
base_rss = status_kib("VmRSS")
analysis = analyze(load_photo(data).pixels, mode=sys.argv[1])
peak = status_kib("VmHWM")
del analysis
tracemalloc.start()
analysis = analyze(load_photo(data).pixels, mode=sys.argv[1])
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"base_rss_kib": base_rss, "peak_kib": peak, "traced_peak_bytes": traced_peak,
                  "mode": analysis.mode}))
"""


def make_photo(kind: str, *, seed: int = 7) -> bytes:
    """A 4000x3000 JPEG (quality 92) of a synthetic close-up or overview."""
    width, height = SIZE
    if kind == "closeup":
        # 250 px/mm at 1333x1000: at 12 MP a 5.3x4 mm field (a 20x trichoscope),
        # 750 px/mm, a 70 µm shaft about 52 px wide.
        scene = render_closeup(seed=seed, shape=(height // 3, width // 3), noise_sigma=1.0)
    else:
        scene = render_overview(seed=seed, shape=(height // 4, width // 4), noise_sigma=1.0)
    rgb = cv2.resize(scene.image, SIZE, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, rgb.shape).astype(np.float32)
    rgb = np.clip(rgb + noise, 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode the JPEG")
    return buffer.tobytes()


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def time_runs(data: bytes, runs: int, mode: str = "auto") -> tuple[list[dict[str, float]], set[tuple]]:
    """Per run: decode and end-to-end seconds (wall and CPU), order alternating.

    Also returns the distinct results (mode, hair count, coverage) over the
    runs: more than one means the analysis is not repeatable.
    """
    results: set[tuple] = set()

    def decode() -> tuple[float, float]:
        w0, c0 = _clock()
        load_photo(data)
        w1, c1 = _clock()
        return w1 - w0, c1 - c0

    def end_to_end() -> tuple[float, float]:
        w0, c0 = _clock()
        a = analyze(load_photo(data).pixels, mode=mode)
        w1, c1 = _clock()
        results.add((a.mode, a.hair_count, round(a.coverage_pct, 3)))
        return w1 - w0, c1 - c0

    decode(), end_to_end()  # warm-up: lazy imports, OpenCV thread pool, caches
    rows = []
    for i in range(runs):
        if i % 2:
            e2e, dec = end_to_end(), decode()
        else:
            dec, e2e = decode(), end_to_end()
        rows.append({"decode_wall": dec[0], "decode_cpu": dec[1], "e2e_wall": e2e[0], "e2e_cpu": e2e[1]})
    return rows, results


def peak_memory(data: bytes, mode: str = "auto") -> dict | None:
    """Peak memory of ``analyze(load_photo(data).pixels)`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], input=data, capture_output=True, env=env, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        print(f"  memory child failed (exit {done.returncode}):\n{done.stderr.decode()[-2000:]}")
        return None
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def profile(data: bytes, top: int, mode: str = "auto") -> None:
    """cProfile of one end-to-end run, by cumulative and by own time."""
    import cProfile
    import pstats

    pixels = load_photo(data).pixels
    profiler = cProfile.Profile()
    profiler.enable()
    analyze(pixels, mode=mode)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _median(rows: list[dict[str, float]], key) -> float:
    return statistics.median(key(r) for r in rows)


def report(kind: str, data: bytes, rows: list[dict[str, float]], results: set[tuple], memory: dict | None) -> None:
    print(f"\n== {kind}: {SIZE[0]}x{SIZE[1]} JPEG q{JPEG_QUALITY}, {len(data) / 1e6:.2f} MB ==")
    print(f"{'run':>4} {'decode s':>9} {'e2e s':>8} {'ratio':>6} {'decode cpu':>11} {'e2e cpu':>8} {'cpu ratio':>9}")
    for i, r in enumerate(rows, 1):
        print(
            f"{i:>4} {r['decode_wall']:9.3f} {r['e2e_wall']:8.3f} {r['e2e_wall'] / r['decode_wall']:6.2f}"
            f" {r['decode_cpu']:11.3f} {r['e2e_cpu']:8.3f} {r['e2e_cpu'] / r['decode_cpu']:9.2f}"
        )
    ratio = _median(rows, lambda r: r["e2e_wall"] / r["decode_wall"])
    cpu_ratio = _median(rows, lambda r: r["e2e_cpu"] / r["decode_cpu"])
    print(
        f"{'med':>4} {_median(rows, lambda r: r['decode_wall']):9.3f} {_median(rows, lambda r: r['e2e_wall']):8.3f}"
        f" {ratio:6.2f} {_median(rows, lambda r: r['decode_cpu']):11.3f} {_median(rows, lambda r: r['e2e_cpu']):8.3f}"
        f" {cpu_ratio:9.2f}"
    )
    verdict = "meets" if ratio <= RATIO_TARGET else "misses"
    print(f"median ratio end-to-end / decode: wall {ratio:.2f}x, cpu {cpu_ratio:.2f}x ({verdict} the {RATIO_TARGET:g}x target on wall time)")
    print("results (mode, hairs, coverage %):", "; ".join(map(str, sorted(results, key=str))),
          "" if len(results) == 1 else "  <- NOT REPEATABLE")
    if memory is not None:
        peak_mb = memory["peak_kib"] / 1024
        delta_mb = (memory["peak_kib"] - memory["base_rss_kib"]) / 1024
        verdict = "meets" if peak_mb <= MEMORY_TARGET_MB else "misses"
        print(
            f"peak RSS {peak_mb:.0f} MB absolute, {delta_mb:.0f} MB above the {memory['base_rss_kib'] / 1024:.0f} MB after imports"
            f" ({verdict} the {MEMORY_TARGET_MB:g} MB target); tracemalloc peak {memory['traced_peak_bytes'] / 2**20:.0f} MB"
            f" (mode detected: {memory['mode']})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per photo (default 7; one warm-up run is extra)")
    parser.add_argument("--kinds", default="closeup,overview", help="comma-separated photos: closeup, overview (default both)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic photos (default 7)")
    parser.add_argument("--mode", choices=("auto", "closeup", "overview"), default="auto",
                        help="mode passed to analyze (default auto: detected from the photo)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    parser.add_argument("--profile", type=int, metavar="N", default=0, help="also print the top N cProfile entries of one analysis")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ("closeup", "overview")]
    if bad or args.runs < 1:
        parser.error(f"--kinds takes closeup and/or overview (got {bad}); --runs must be at least 1")

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, opencv {cv2.__version__}, "
          f"{os.cpu_count()} cpus, cv2 threads {cv2.getNumThreads()}, load average {os.getloadavg()[0]:.2f}")
    for kind in kinds:
        t0 = time.perf_counter()
        data = make_photo(kind, seed=args.seed)
        print(f"\n{kind}: photo made in {time.perf_counter() - t0:.1f} s")
        rows, results = time_runs(data, args.runs, args.mode)
        memory = None if args.no_memory else peak_memory(data, args.mode)
        report(kind, data, rows, results, memory)
        if args.profile:
            profile(data, args.profile, args.mode)
    return 0


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:  # --help and argument errors
        sys.exit(stop.code)
    except Exception as error:  # noqa: BLE001 - a benchmark reports, it does not fail the build
        print(f"benchmark error: {type(error).__name__}: {error}")
    sys.exit(0)
