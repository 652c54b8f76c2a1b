"""Calibration card, registration to the baseline and repeatability, on generated series.

Prints the figures of issue 5, each with its median and worst case:

- card scale: error of ``detect_card(...).px_per_mm`` against the exact scale
  at the card centre, card tilted 0-30 degrees about several axes, turned in
  its plane, 3-8 px/mm, colour cast, blur and JPEG (and the white-balance
  gains against the truth);
- ROI placement: distance of the ROI corners mapped with ``register`` from
  the exactly mapped corners, in % of the ROI's width in the follow-up;
- coverage test-retest CV: recaptures of an unchanged scalp (moved camera:
  shift up to 5 %, rotation up to 10 degrees, scale up to 10 %, brightness
  up to 20 %), each analysed with ``tracker.analysis.analyze`` in the ROI
  mapped by ``map_roi`` (axis-aligned box of the mapped corners);
- change against the baseline: measured density (close-ups) and coverage
  change of follow-up visits with a known density / coverage change, against
  the exact change in the baseline ROI's patch of scalp; per photo and per
  visit (mean of its two repeat photos).

Also: the baseline ROI's patch cut out of every photo on the baseline's grid
(``warp_roi``) and analysed alone, and, as a control, the baseline's ROI used
unchanged (no registration).

    python benchmarks/registration.py                 # everything (about 15-30 min on 2 cores)
    python benchmarks/registration.py --only card roi --quick
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

# The checkout this script is in, not whichever tracker is installed.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.analysis import analyze
from tracker.evaluate import patch_truth
from tracker.imaging.calibrate import detect_card
from tracker.imaging.register import (
    map_points,
    map_roi,
    register,
    roi_corners,
    warp_roi,
)
from tracker.repeatability import retest_cv, visit_noise
from tracker.synth import (
    CameraMove,
    random_moves,
    render_card_scene,
    render_moved_series,
)

TARGETS = {
    "roi": 2.0,  # % of ROI width
    "cv": 3.0,  # %
    "change": 3.0,  # percentage points
    "card": 1.0,  # %
}

#: How each photo is measured: the whole photo analysed in the ROI mapped by map_roi (the box
#: around the mapped corners); the baseline ROI's patch (plus a margin of 20 % of the ROI's
#: short side) cut out of the photo on the baseline's grid by warp_roi and analysed alone, the
#: baseline cut the same way; and, as a control, the baseline ROI used as is (no registration).
VARIANTS = {
    "registered": "registered ROI (map_roi box, whole photo analysed)",
    "crop": "registered crop (warp_roi, ROI + margin analysed)",
    "fixed": "no registration (control)",
    # overviews only: the crop analysed with the hair polarity the baseline's crop got
    # (what tracker.store does: the view's mode and polarity are fixed from its baseline photo)
    "crop_fixed_polarity": "registered crop, overview polarity fixed to the baseline's (diagnostic)",
}

# the corners of the allowed moves (each recapture set of a scene also gets random ones)
EXTREME_MOVES = [
    dict(rotation_deg=10.0, scale=1.10, brightness=1.20, dx=0.05, dy=0.05),
    dict(rotation_deg=-10.0, scale=0.90, brightness=0.80, dx=-0.05, dy=0.05),
    dict(rotation_deg=10.0, scale=0.90, brightness=1.20, dx=0.05, dy=-0.05),
    dict(rotation_deg=-10.0, scale=1.10, brightness=0.80, dx=-0.05, dy=-0.05),
]


def _extreme(k: int, shape: tuple[int, int]) -> CameraMove:
    e = dict(EXTREME_MOVES[k % len(EXTREME_MOVES)])
    e["dx"] *= shape[1]
    e["dy"] *= shape[0]
    return CameraMove(**e)


# --------------------------------------------------------------------------
# card
# --------------------------------------------------------------------------


def _card_case(case: tuple) -> dict:
    i, tilt, axis, ppm, blur = case
    rng = np.random.default_rng([i, 77])
    cast = tuple(float(c) for c in rng.uniform(0.8, 1.2, 3))
    scene = render_card_scene(
        seed=i, shape=(768, 1024), px_per_mm=ppm, tilt_deg=tilt, tilt_axis_deg=axis,
        rotation_deg=float(rng.uniform(-180, 180)), colour_cast=cast, brightness=float(rng.uniform(0.8, 1.2)),
        centre=(float(rng.uniform(400, 624)), float(rng.uniform(300, 468))), blur_sigma=blur, noise_sigma=2.0,
        jpeg_quality=85,
    )
    d = detect_card(scene.image)
    row = dict(tilt=tilt, axis=axis, ppm=ppm, blur=blur, found=d is not None and d.ok)
    if d is not None:
        row.update(
            err=100.0 * (d.px_per_mm / scene.px_per_mm - 1.0),
            err_axes=100.0 * max(abs(a / b - 1.0) for a, b in zip(d.px_per_mm_range, scene.px_per_mm_range)),
            tilt_est=d.tilt_deg,
            wb_err=100.0 * float(np.max(np.abs(d.wb_gains / scene.wb_gains - 1.0))),
            markers=len(d.marker_ids),
        )
    return row


def card_cases(quick: bool) -> list[tuple]:
    tilts = [0, 10, 20, 30]
    axes = [0, 45, 90, 135] if not quick else [0, 90]
    ppms = [3.0, 5.0, 8.0] if not quick else [4.0]
    blurs = [0.7, 1.2] if not quick else [0.7]
    return [(i, *c) for i, c in enumerate(itertools.product(tilts, axes, ppms, blurs))]


def report_card(rows: list[dict]) -> dict:
    found = [r for r in rows if r["found"]]
    print(f"\n== Card scale (detect_card) - {len(rows)} scenes, 768x1024, tilt 0-30 deg, 3-8 px/mm, "
          "colour cast 0.8-1.2, blur, JPEG 85")
    print(f"   found with a usable scale: {len(found)}/{len(rows)}")
    errs = np.abs([r["err"] for r in found])
    for tilt in sorted({r["tilt"] for r in rows}):
        e = np.abs([r["err"] for r in found if r["tilt"] == tilt])
        print(f"   tilt {tilt:>2} deg: scale error median {np.median(e):.3f} %, worst {e.max():.3f} % (n={len(e)})")
    axes_err = np.array([r["err_axes"] for r in found])
    wb = np.array([r["wb_err"] for r in found])
    tilt_err = np.abs([r["tilt_est"] - r["tilt"] for r in found if r["tilt"] >= 10])
    print(f"   all: scale error median {np.median(errs):.3f} %, worst {errs.max():.3f} %  (target <= {TARGETS['card']} %)")
    print(f"   largest/smallest stretch error: median {np.median(axes_err):.3f} %, worst {axes_err.max():.3f} %")
    print(f"   tilt estimate error (tilt >= 10): median {np.median(tilt_err):.2f} deg, worst {tilt_err.max():.2f} deg")
    print(f"   white-balance gains vs truth: median {np.median(wb):.2f} %, worst {wb.max():.2f} %")
    return {"median": float(np.median(errs)), "worst": float(errs.max()), "found": len(found), "n": len(rows)}


# --------------------------------------------------------------------------
# series
# --------------------------------------------------------------------------


def _series_case(case: tuple) -> list[dict]:
    kind, seed, shape, n_random, factors_follow, extremes, options = case
    h, w = shape
    n_recaptures = n_random + (len(EXTREME_MOVES) if extremes else 0)
    moves = [CameraMove()] + random_moves(seed, n_random, shape=shape)
    if extremes:
        moves += [_extreme(k, shape) for k in range(len(EXTREME_MOVES))]
    factors = [1.0] * (1 + n_recaptures)
    visits = [0] * (1 + n_recaptures)
    follow_moves = random_moves(seed + 1000, 2 * len(factors_follow), shape=shape)
    for k, f in enumerate(factors_follow):
        factors += [f, f]
        visits += [k + 1, k + 1]
    moves += follow_moves
    t0 = time.perf_counter()
    series = render_moved_series(seed=seed, moves=moves, factors=factors, visits=visits, kind=kind, shape=shape, **options)
    render_s = time.perf_counter() - t0
    roi = (int(0.2 * w), int(0.2 * h), int(0.6 * w), int(0.6 * h))
    margin = int(0.2 * min(roi[2], roi[3]))
    base = series[0]
    mode = "closeup" if kind == "closeup" else "overview"  # a view's mode is fixed by its baseline
    rows = []
    for i, photo in enumerate(series):
        img = photo.image.image
        ppm = photo.image.px_per_mm
        t0 = time.perf_counter()
        reg = register(img, base.image.image)
        reg_s = time.perf_counter() - t0
        # ROI placement against the exact mapping
        true_corners = map_points(np.linalg.inv(photo.to_baseline), _area_corners(roi))
        est_corners = roi_corners(roi, reg, to="image")
        width_px = float(np.linalg.norm(true_corners[1] - true_corners[0]))
        roi_err = 100.0 * float(np.linalg.norm(est_corners - true_corners, axis=1).max()) / width_px
        row = dict(
            kind=kind, seed=seed, photo=i, visit=visits[i], factor=factors[i], ok=reg.ok, reason=reg.reason,
            score=reg.score, inliers=reg.n_inliers, roi_err=roi_err, reg_s=reg_s, render_s=render_s,
            move=photo.move,
        )
        row["true_cov"], row["true_count"] = patch_truth(photo, roi, base.image.image.shape[:2])
        variants = {"fixed": (img, roi, ppm)}
        if reg.ok:
            mapped = map_roi(roi, reg)
            row["clipped"] = mapped.clipped
            variants["registered"] = (img, mapped.roi, ppm)
            cut = warp_roi(img, None if i == 0 else reg, roi, margin=margin)
            row["crop_valid"] = cut.valid_fraction
            variants["crop"] = (cut.image, cut.roi, base.image.px_per_mm)
        for name, (pixels, r, scale) in variants.items():
            a = analyze(pixels, roi=r, px_per_mm=scale, mode=mode)
            row[f"{name}_cov"] = a.coverage_pct
            row[f"{name}_density"] = a.density_per_cm2
        if kind == "overview" and "crop" in variants:
            pixels, r, scale = variants["crop"]
            if i == 0:
                base_polarity = _overview_polarity(pixels)
            row["crop_fixed_polarity_cov"] = _analyze_with_polarity(pixels, r, base_polarity).coverage_pct
        rows.append(row)
    return rows


def _overview_polarity(pixels: np.ndarray) -> str:
    """The hair polarity segment_overview chooses for a picture (dark or light hair)."""
    from tracker.imaging import segment

    return segment.choose_overview_polarity(pixels)


def _analyze_with_polarity(pixels: np.ndarray, roi, polarity: str):
    """analyze() with the overview hair polarity fixed (as the store fixes it per view)."""
    return analyze(pixels, roi=roi, mode="overview", polarity=polarity)


def _area_corners(roi) -> np.ndarray:
    x, y, w, h = roi
    return np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]], float)


def _stats(values) -> str:
    v = np.asarray(values, float)
    return f"median {np.median(v):.3f}, worst {np.max(v):.3f}"


def print_details(rows: list[dict]) -> None:
    """One line per photo: its move, registration and every measured value."""
    for r in rows:
        m = r["move"]
        vals = "  ".join(
            f"{v}={r[f'{v}_cov']:.2f}" + (f"/{r[f'{v}_density']:.0f}" if r.get(f"{v}_density") is not None else "")
            for v in VARIANTS
            if f"{v}_cov" in r
        )
        print(f"   seed {r['seed']} photo {r['photo']:>2} visit {r['visit']} f={r['factor']:.2f} "
              f"move(rot {m.rotation_deg:+5.1f}, scale {m.scale:.3f}, bright {m.brightness:.2f}) ok={r['ok']} "
              f"roi_err={r['roi_err']:.3f}%  truth={r['true_cov']:.2f}/{r['true_count']}  {vals}")


def report_series(rows: list[dict], kind: str, details: bool = False) -> dict:
    rows = [r for r in rows if r["kind"] == kind]
    if not rows:
        return {}
    if details:
        print(f"\n-- {kind} photos (coverage % / density per cm2 per variant; truth = exact patch coverage / hairs)")
        print_details(rows)
    out: dict = {}
    follow = [r for r in rows if r["photo"] > 0]
    failed = [r for r in follow if not r["ok"]]
    print(f"\n== {kind}s: {len({r['seed'] for r in rows})} scenes, {len(rows)} photos "
          f"(registration ok for {len(follow) - len(failed)}/{len(follow)} follow-ups)")
    for r in failed:
        print(f"   registration not ok: seed {r['seed']} photo {r['photo']}: {r['reason']}")
    reg_ok = [r for r in follow if r["ok"]]
    roi_err = [r["roi_err"] for r in reg_ok]
    print(f"   ROI placement error, % of ROI width: {_stats(roi_err)}  (target <= {TARGETS['roi']} %)")
    print(f"   registration: score {_stats([r['score'] for r in reg_ok])}; inliers min {min(r['inliers'] for r in reg_ok)}; "
          f"time per pair median {np.median([r['reg_s'] for r in follow]):.2f} s")
    out["roi"] = (float(np.median(roi_err)), float(np.max(roi_err)))
    # test-retest CV of coverage, recaptures of the unchanged scalp (visit 0 of each scene)
    for variant in VARIANTS:
        groups, cvs = [], []
        for seed in sorted({r["seed"] for r in rows}):
            vals = [r[f"{variant}_cov"] for r in rows if r["seed"] == seed and r["visit"] == 0 and f"{variant}_cov" in r]
            if len(vals) >= 2:
                groups.append(vals)
                cvs.append(100.0 * visit_noise(vals).cv)
        if not groups:
            continue
        rms = 100.0 * retest_cv(groups)
        label = VARIANTS[variant]
        print(f"   coverage test-retest CV, {label}: per scene {_stats(cvs)} %, RMS over scenes {rms:.3f} %"
              + (f"  (target <= {TARGETS['cv']} %)" if variant != "fixed" else ""))
        out[f"cv_{variant}"] = (float(np.median(cvs)), float(np.max(cvs)), rms)
    true_groups = [[r["true_cov"] for r in rows if r["seed"] == s and r["visit"] == 0] for s in sorted({r["seed"] for r in rows})]
    print(f"   (exact coverage of the patch across those recaptures: CV RMS {100.0 * retest_cv(true_groups):.3f} %)")
    # change against baseline
    measures = [("cov", "coverage", "pp", lambda m, b: m - b)]
    if kind == "closeup":
        measures.append(("density", "density", "% change", lambda m, b: 100.0 * (m / b - 1.0)))
    for key, name, unit, change in measures:
        for variant in VARIANTS:
            per_photo, per_visit = [], []
            for seed in sorted({r["seed"] for r in rows}):
                srows = [r for r in rows if r["seed"] == seed]
                b = srows[0]
                if b.get(f"{variant}_{key}") is None:
                    continue
                true_b = b["true_cov"] if key == "cov" else b["true_count"]
                for v in sorted({r["visit"] for r in srows if r["visit"] > 0}):
                    vrows = [r for r in srows if r["visit"] == v and r.get(f"{variant}_{key}") is not None]
                    if not vrows:
                        continue
                    errs = []
                    for r in vrows:
                        truth = r["true_cov"] if key == "cov" else r["true_count"]
                        true_change = change(truth, true_b)
                        meas_change = change(r[f"{variant}_{key}"], b[f"{variant}_{key}"])
                        errs.append(meas_change - true_change)
                    per_photo += [abs(e) for e in errs]
                    per_visit.append(abs(float(np.mean(errs))))
            if not per_photo:
                continue
            label = VARIANTS[variant]
            print(f"   {name} change error vs exact ({unit}), {label}: per photo {_stats(per_photo)}; "
                  f"per visit (2 photos) {_stats(per_visit)}" + (f"  (target <= {TARGETS['change']})" if variant != "fixed" else ""))
            out[f"{key}_change_{variant}"] = (float(np.median(per_photo)), float(np.max(per_photo)),
                                               float(np.median(per_visit)), float(np.max(per_visit)))
    # the exact changes themselves, for reference
    changes = []
    for seed in sorted({r["seed"] for r in rows}):
        srows = [r for r in rows if r["seed"] == seed]
        b = srows[0]
        for r in srows:
            if r["visit"] > 0:
                changes.append((r["factor"], r["true_cov"] - b["true_cov"],
                                100.0 * (r["true_count"] / b["true_count"] - 1.0) if b["true_count"] else math.nan))
    facs = sorted({c[0] for c in changes})
    for f in facs:
        c = [x for x in changes if x[0] == f]
        extra = f", density {np.mean([x[2] for x in c]):+.1f} %" if kind == "closeup" else ""
        print(f"   exact change at factor {f:g}: coverage {np.mean([x[1] for x in c]):+.2f} pp{extra} (mean of {len(c)} photos)")
    return out


def series_cases(kind: str, scenes: int, quick: bool) -> list[tuple]:
    skins = ["light", "medium"]
    if kind == "closeup":
        shape = (512, 640) if quick else (1024, 1280)
        follow = [0.8, 0.9, 1.1]
        options = [dict(px_per_mm=100.0, density_per_cm2=220.0, jpeg_quality=90, skin=skins[s % 2]) for s in range(scenes)]
    else:
        shape = (384, 512) if quick else (1200, 1600)
        follow = [0.85, 1.1]
        options = [
            dict(coverage=0.55, jpeg_quality=90, skin=skins[s % 2], pattern=("whorl", "part")[(s // 2) % 2])
            for s in range(scenes)
        ]
    n_random = 2 if quick else 4
    return [(kind, 100 + s, shape, n_random, follow, s == 0, options[s]) for s in range(scenes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=("card", "closeup", "overview"), default=["card", "closeup", "overview"])
    parser.add_argument("--closeup-scenes", type=int, default=4)
    parser.add_argument("--overview-scenes", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller photos and fewer cases (a smoke run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--details", action="store_true", help="also print every photo's values")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results: dict = {}
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = {}
        if "card" in args.only:
            jobs["card"] = pool.map(_card_case, card_cases(args.quick))
        cases = []
        if "closeup" in args.only:
            cases += series_cases("closeup", args.closeup_scenes, args.quick)
        if "overview" in args.only:
            cases += series_cases("overview", args.overview_scenes, args.quick)
        series_rows = [r for rows in pool.map(_series_case, cases) for r in rows] if cases else []
        if "card" in args.only:
            results["card"] = report_card(list(jobs["card"]))
    for kind in ("closeup", "overview"):
        if kind in args.only:
            results[kind] = report_series(series_rows, kind, args.details)
    print("\n== Summary against the targets of issue 5 (generated series)")
    roi = [results[k]["roi"] for k in ("closeup", "overview") if results.get(k)]
    if roi:
        worst = max(w for _, w in roi)
        print(f"   ROI placement error: median {min(m for m, _ in roi):.3f}-{max(m for m, _ in roi):.3f} %, worst {worst:.3f} % "
              f"of ROI width -> {'reached' if worst <= TARGETS['roi'] else 'NOT reached'} (<= 2 %)")
    for variant in ("registered", "crop", "crop_fixed_polarity"):
        for k in ("closeup", "overview"):
            res = results.get(k, {}).get(f"cv_{variant}")
            if res:
                med, worst, rms = res
                print(f"   coverage test-retest CV ({k}s, {VARIANTS[variant]}): median {med:.2f} %, worst scene "
                      f"{worst:.2f} %, RMS {rms:.2f} % -> {'reached' if worst <= TARGETS['cv'] else 'NOT reached'} (<= 3 %)")
        for k, key, name in (("closeup", "density", "density"), ("closeup", "cov", "coverage"), ("overview", "cov", "coverage")):
            res = results.get(k, {}).get(f"{key}_change_{variant}")
            if res:
                mp, wp, mv, wv = res
                print(f"   {name} change error ({k}s, {VARIANTS[variant]}): per photo median {mp:.2f}, worst {wp:.2f}; "
                      f"per visit median {mv:.2f}, worst {wv:.2f} -> per photo {'reached' if wp <= 3 else 'NOT reached'}, "
                      f"per visit {'reached' if wv <= 3 else 'NOT reached'} (<= 3 pp)")
    if results.get("card"):
        c = results["card"]
        print(f"   card scale error, tilt 0-30 deg: median {c['median']:.3f} %, worst {c['worst']:.3f} % "
              f"({c['found']}/{c['n']} found) -> {'reached' if c['worst'] <= 1 and c['found'] == c['n'] else 'NOT reached'} (<= 1 %)")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
