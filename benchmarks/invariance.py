"""How much rotating, flipping or re-exposing a photo moves its measurements.

For each photo: coverage and hair count of the photo as it is, and of the
same photo rotated by 90 and 180 degrees, flipped both ways, and with its
brightness scaled by 0.85 and 1.15. Prints, per transform, the median and the
95th percentile of the relative coverage change (%) and of the absolute count
change (hairs). The target: coverage within 2 % and count within 1 hair.

    python benchmarks/invariance.py --images ../shared/data/fdu-trichoscopy-dev/Images --crop-top 48 --limit 40
    python benchmarks/invariance.py --synthetic 20

Without --images it uses generated close-ups (tracker.synth).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

# The checkout this script is in, not whichever tracker is installed.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.analysis import analyze

TRANSFORMS = {
    "rotate 90": lambda im: np.ascontiguousarray(np.rot90(im, 1)),
    "rotate 180": lambda im: np.ascontiguousarray(np.rot90(im, 2)),
    "flip left-right": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "flip up-down": lambda im: np.ascontiguousarray(im[::-1]),
    "brightness x0.85": lambda im: np.clip(im.astype(np.float32) * 0.85 + 0.5, 0, 255).astype(np.uint8),
    "brightness x1.15": lambda im: np.clip(im.astype(np.float32) * 1.15 + 0.5, 0, 255).astype(np.uint8),
}


def _load(source: tuple[str, object]) -> np.ndarray:
    kind, value = source
    if kind == "file":
        from tracker.photo import read_photo

        return read_photo(value).pixels
    from tracker.synth import render_closeup

    return render_closeup(seed=int(value), shape=(768, 1024)).image


def _one(job: tuple[tuple[str, object], int, tuple[str, ...]]) -> dict[str, tuple[float, int]]:
    source, crop_top, names = job
    image = _load(source)[crop_top:]
    base = analyze(image, mode="closeup")
    out = {}
    for name in names:
        a = analyze(TRANSFORMS[name](image), mode="closeup")
        rel = 100.0 * abs(a.coverage_pct - base.coverage_pct) / max(base.coverage_pct, 1e-9)
        out[name] = (rel, abs(a.hair_count - base.hair_count))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="folder of photos (*.jpg, *.png)")
    parser.add_argument("--crop-top", type=int, default=0, help="rows to cut off first (burnt-in header)")
    parser.add_argument("--limit", type=int, default=40, help="photos to use (an even sample)")
    parser.add_argument("--synthetic", type=int, default=20, help="generated photos when no --images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only", nargs="+", choices=list(TRANSFORMS), metavar="TRANSFORM",
        help=f"measure only these transforms (of: {', '.join(repr(t) for t in TRANSFORMS)})",
    )
    args = parser.parse_args()
    names = tuple(t for t in TRANSFORMS if not args.only or t in args.only)
    if args.images:
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
        sources = [("file", str(p)) for p in files]
    else:
        sources = [("synthetic", 500 + i) for i in range(args.synthetic)]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_one, [(s, args.crop_top, names) for s in sources]))
    print(f"{len(results)} photos")
    print(f"{'transform':18} {'coverage change % (median / p95)':>34} {'count change (median / p95 / max)':>36}")
    for name in names:
        cov = np.array([r[name][0] for r in results])
        cnt = np.array([r[name][1] for r in results])
        print(
            f"{name:18} {np.median(cov):>20.2f} / {np.percentile(cov, 95):6.2f}"
            f" {np.median(cnt):>22.1f} / {np.percentile(cnt, 95):4.1f} / {cnt.max():3d}"
        )


if __name__ == "__main__":
    main()
