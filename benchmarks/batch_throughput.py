"""Batch throughput at 1 and 2 workers and on a 2-worker Dask LocalCluster; memory over 1,000 photos.

The photos are made here with :mod:`tracker.synth`: ``--scenes`` distinct
generated close-ups (modest size, ``--shape``), and each photo file is one of
them with one pixel changed and its own JPEG encoding, so every file has
other bytes (another sha256: none is skipped as already done) while the work
per photo stays alike.

Throughput: :func:`tracker.batch.run_batch` over the same ``--photos`` photos
into a fresh output, in this process (1 worker), with a pool of 2 processes,
and on a ``distributed.LocalCluster(n_workers=2, processes=True,
threads_per_worker=1)`` that is already running (as Dask starts it, and
again with ``MALLOC_TRIM_THRESHOLD_`` unset in its workers, see below). The
time is the call's wall time, including starting the pool (or connecting to
the cluster) and writing the output. Photos per second are printed as ratios
to the 1-worker run of the same invocation, with the CPU seconds per photo
of the whole process tree (this process, pool workers, cluster processes).

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting
it switches off glibc's adaptive mmap threshold, so each of the analysis's
large temporary arrays is mapped and page-faulted afresh, which costs this
workload about half as much CPU again (see :mod:`tracker.batch` for the
worker configuration that avoids it).

The ratios mean something only on an otherwise idle machine: with the
kernel's autogroup scheduling, a busy machine gives this whole process tree
one share of the CPUs however many workers it starts. The load average is
printed before and after.

Memory: ``--memory-photos`` photos (1,000) with a 2-process pool, while a
thread samples the RSS of the whole process tree (this process and every
descendant: pool workers) every 50 ms; the RSS and the peak so far are
printed after 100, 500 and 1,000 photos. Flat means the peak after 1,000 is
about the peak after 100.

    python benchmarks/batch_throughput.py [--photos 120] [--memory-photos 1000]
                                          [--shape 240x320] [--scenes 24] [--no-dask] [--no-memory]

Exits 0 whatever the figures (a benchmark, not a test); 2 only for bad options.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.batch import read_results, run_batch
from tracker.synth import render_closeup

PX_PER_MM = 120.0
MB = 1024 * 1024


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape is HEIGHTxWIDTH in pixels, e.g. 240x320 (got {text!r})") from None
    if h < 64 or w < 64:
        raise argparse.ArgumentTypeError("--shape needs at least 64x64 pixels")
    return h, w


def make_photos(folder: Path, n: int, *, shape: tuple[int, int], scenes: int, start: int = 0) -> None:
    """``n`` JPEG files, distinct bytes, from ``scenes`` generated close-ups."""
    bases = [
        render_closeup(
            seed=1000 + k,
            shape=shape,
            px_per_mm=PX_PER_MM,
            density_per_cm2=float(150 + (k * 37) % 150),
            skin=("light", "medium", "dark")[k % 3],
            jpeg_quality=None,
        ).image
        for k in range(min(scenes, n))
    ]
    rng = np.random.default_rng(0)
    for i in range(start, start + n):
        image = bases[i % len(bases)].copy()
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        image[y, x] = (i * 7919) % 256, (i * 104729) % 256, i % 256  # other bytes, same work
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        (folder / f"photo_{i:05d}.jpg").write_bytes(buf.tobytes())


def tree_rss() -> int:
    """RSS in bytes of this process and every process it started (pool workers, cluster)."""
    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class Sampler(threading.Thread):
    """Samples :func:`tree_rss` every ``interval`` seconds; keeps the peak."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self.stop = interval, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss())
            self.stop.wait(self.interval)


@contextlib.contextmanager
def local_cluster(*, trim: bool) -> Iterator[str]:
    """A 2-worker LocalCluster's address; ``trim``: Dask's default MALLOC_TRIM_THRESHOLD_ in its workers.

    Dask's nanny sets its pre-spawn environment in this process's ``os.environ``
    and leaves it there; it is put back afterwards, so that later worker
    processes (of any kind) start as they would have.
    """
    import dask
    from distributed import LocalCluster

    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    setting = {} if trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    try:
        with dask.config.set(setting), LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster:
            yield cluster.scheduler_address
    finally:
        if before is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = before


def cpu_seconds() -> float:
    """CPU time of this process, of its ended (waited-for) children and of its running descendants."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in psutil.Process().children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def throughput(folder: Path, out: Path, **where) -> tuple[float, int, float]:
    """Photos per second, photos, and CPU seconds per photo (this process and ended children)."""
    cpu = cpu_seconds()
    summary = run_batch(folder, out, px_per_mm=PX_PER_MM, **where)
    assert summary.skipped == 0 and summary.failed == 0, summary
    return summary.photos_per_second, summary.analysed, (cpu_seconds() - cpu) / summary.analysed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=120, help="photos per throughput run")
    ap.add_argument("--memory-photos", type=int, default=1000)
    ap.add_argument("--shape", type=_shape, default=(240, 320), metavar="HxW")
    ap.add_argument("--scenes", type=int, default=24, help="distinct generated scenes")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args(argv)
    if args.photos < 1 or args.memory_photos < 1000 and not args.no_memory or args.scenes < 1:
        ap.error("--photos and --scenes must be at least 1, --memory-photos at least 1000")

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        t0 = time.perf_counter()
        make_photos(photos, args.photos, shape=args.shape, scenes=args.scenes)
        size = sum(p.stat().st_size for p in photos.iterdir()) / len(list(photos.iterdir()))
        print(
            f"{args.photos} photos: generated close-ups {args.shape[0]}x{args.shape[1]} JPEG "
            f"(~{size / 1024:.0f} KB each, {min(args.scenes, args.photos)} scenes, every file other bytes), "
            f"made in {time.perf_counter() - t0:.0f} s"
        )
        print(f"CPUs: {os.cpu_count()}; load average (1, 5, 15 min) at start: "
              + ", ".join(f"{v:.1f}" for v in os.getloadavg()))

        one, n, cpu_one = throughput(photos, tmp / "w1.csv", workers=1)
        results = {"1 worker (in this process)": (one, cpu_one)}
        results["2 workers (process pool)"] = throughput(photos, tmp / "w2.csv", workers=2)[::2]
        if not args.no_dask:
            with local_cluster(trim=True) as address:
                results["2-worker Dask LocalCluster"] = throughput(photos, tmp / "dask.csv", scheduler=address)[::2]
            with local_cluster(trim=False) as address:
                results["  same, MALLOC_TRIM unset"] = throughput(
                    photos, tmp / "dask_notrim.csv", scheduler=address
                )[::2]
        # the three runs measured the same photos to the same numbers
        tables = [read_results(tmp / f).drop(columns=["analysed_at"]).sort_values("path").reset_index(drop=True)
                  for f in ("w1.csv", "w2.csv", "dask.csv", "dask_notrim.csv") if (tmp / f).exists()]
        same = all(t.equals(tables[0]) for t in tables[1:])
        print(f"\nthroughput over {n} photos (wall time of run_batch, pool start-up included):")
        for name, (rate, cpu) in results.items():
            print(f"  {name:28s} {rate:6.2f} photos/s   {rate / one:4.2f}x of 1 worker   "
                  f"CPU {cpu:.3f} s/photo (all processes)")
        print(f"  results identical across the runs: {same}")
        print("  load average after: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))

        if not args.no_memory:
            mem = tmp / "memory"
            mem.mkdir()
            make_photos(mem, args.memory_photos, shape=args.shape, scenes=args.scenes)
            marks = {100, args.memory_photos // 2, args.memory_photos}
            seen: list[tuple[int, float, float]] = []
            count = [0]
            sampler = Sampler()
            sampler.peak = tree_rss()
            start_rss = sampler.peak
            sampler.start()

            def on_row(row: dict) -> None:
                count[0] += 1
                if count[0] in marks:
                    now = tree_rss()
                    sampler.peak = max(sampler.peak, now)
                    seen.append((count[0], now / MB, sampler.peak / MB))

            t0 = time.perf_counter()
            summary = run_batch(mem, tmp / "memory.parquet", workers=2, px_per_mm=PX_PER_MM, on_row=on_row)
            sampler.stop.set()
            sampler.join()
            print(
                f"\nmemory: {summary.analysed} photos, 2-process pool, Parquet output, "
                f"{summary.photos_per_second:.2f} photos/s; RSS of the process tree sampled every 50 ms "
                f"(before the run: {start_rss / MB:.0f} MB):"
            )
            for k, now, peak in seen:
                print(f"  after {k:5d} photos: RSS now {now:6.0f} MB, peak so far {peak:6.0f} MB")
            if len(seen) >= 2:
                print(f"  peak after {seen[-1][0]} / peak after {seen[0][0]}: {seen[-1][2] / seen[0][2]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
