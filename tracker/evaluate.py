"""Score the pipeline against ground truth.

Three sets, each through :func:`tracker.analysis.analyze` exactly as
``tracker analyze`` runs it:

- trichoscopy images with one annotation per visible shaft (Pascal-VOC-like
  XML, as in the FDU / BSRL hair follicle data): hair count error, per
  annotated class how much each shaft adds to the count and how many lie on
  the hair mask, and how many annotated shafts each counted one stands
  for, whole or cut by the photo's edge;
- image patches with hand-drawn hair masks: Dice and coverage error;
- generated close-ups (:mod:`tracker.synth`) with exact truth: coverage,
  count and width error.

The data sets are not part of the project; their folders are arguments.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.analysis import Analysis, analyze
from tracker.imaging import parallel
from tracker.photo import read_photo

if TYPE_CHECKING:
    from tracker.synth import SyntheticScalp

#: Height of the burnt-in header bar (subject, size, date, magnification) of
#: the FDU trichoscope images, left out of the ROI.
FDU_HEADER_PX = 48


@dataclass(frozen=True)
class Summary:
    """A named table of figures for one evaluation set."""

    name: str
    figures: dict[str, float]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.name, "n": self.n, **self.figures}


def count_figures(truth: Iterable[float], predicted: Iterable[float]) -> dict[str, float]:
    """MAE, RMSE, bias (mean of predicted - truth) and Pearson r of counts.

    Examples
    --------
    >>> f = count_figures([10, 20, 30], [12, 19, 33])
    >>> f["mae"], f["bias"], round(f["pearson_r"], 3)
    (2.0, 1.333333, 0.982)
    """
    t = np.asarray(list(truth), float)
    p = np.asarray(list(predicted), float)
    if t.size == 0 or t.shape != p.shape:
        raise ValueError("need equally many truths and predictions, at least one")
    err = p - t
    r = float(np.corrcoef(t, p)[0, 1]) if t.size > 1 and t.std() > 0 and p.std() > 0 else float("nan")
    return {
        "mae": round(float(np.abs(err).mean()), 6),
        "rmse": round(float(np.sqrt((err**2).mean())), 6),
        "bias": round(float(err.mean()), 6),
        "pearson_r": r,
        "mean_truth": round(float(t.mean()), 6),
        "mean_predicted": round(float(p.mean()), 6),
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty).

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> dice(a, b)
    0.5
    """
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else float(2 * np.count_nonzero(a & b) / total)


def overlap_shares(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision and recall of a boolean mask against the truth.

    Precision is the share of `predicted` that lies on `truth` (low where
    the mask is wider than the truth or finds what the truth left out),
    recall the share of `truth` that `predicted` covers; 1.0 for an empty
    mask.

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[:1] = True
    >>> overlap_shares(a, b)
    (0.5, 1.0)
    """
    both = int(np.count_nonzero(predicted & truth))
    n_predicted, n_truth = int(np.count_nonzero(predicted)), int(np.count_nonzero(truth))
    return (both / n_predicted if n_predicted else 1.0), (both / n_truth if n_truth else 1.0)


def _pool_map(fn: Callable, items: list, workers: int, chunksize: int = 4) -> Iterator:
    if workers <= 1:
        yield from map(fn, items)
        return
    # each worker splits its analyses over its share of the cores only
    with ProcessPoolExecutor(max_workers=workers, initializer=parallel.share_cores, initargs=(workers,)) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)


# --- hair counts on annotated trichoscopy ---------------------------------------------


@dataclass(frozen=True)
class AnnotatedShaft:
    """One annotated hair shaft: its class and the centre of its box.

    The centre is the shaft's midpoint, whichever diagonal of the box the
    shaft runs along; None for an object without a box.
    """

    kind: str
    centre: tuple[float, float] | None


def read_voc_shafts(xml_path: str | os.PathLike) -> list[AnnotatedShaft]:
    """The annotated shafts (``<object>`` elements) of one annotation file.

    The class is an object's ``<class>`` (as in the FDU / BSRL data), else
    its ``<name>`` (Pascal VOC), else ``"hair"``. Box corners may come in
    either order (FDU boxes run from one end of the shaft to the other).
    """
    shafts = []
    for obj in ET.parse(xml_path).getroot().findall("object"):
        kind = (obj.findtext("class") or obj.findtext("name") or "").strip() or "hair"
        box = obj.find("bndbox")
        corners = [box.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")] if box is not None else []
        centre = None
        if corners and all(c is not None for c in corners):
            x0, y0, x1, y1 = (float(c) for c in corners)
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        shafts.append(AnnotatedShaft(kind, centre))
    return shafts


def class_counts(shafts: Iterable[AnnotatedShaft]) -> dict[str, int]:
    """Annotated shafts per class.

    Examples
    --------
    >>> class_counts([AnnotatedShaft("thin", None), AnnotatedShaft("thick", (1.0, 2.0)), AnnotatedShaft("thin", None)])
    {'thin': 2, 'thick': 1}
    """
    counts: dict[str, int] = {}
    for shaft in shafts:
        counts[shaft.kind] = counts.get(shaft.kind, 0) + 1
    return counts


#: An annotated shaft is on the hair mask when its midpoint lies within this
#: many pixels of it (annotated lines run a pixel or two off a thin shaft's axis).
ON_MASK_PX = 2.0


def on_mask_counts(shafts: Iterable[AnnotatedShaft], mask: np.ndarray) -> tuple[dict[str, int], dict[str, int]]:
    """Per class: annotated shafts whose midpoint lies within ON_MASK_PX of
    the hair mask, and those whose midpoint lies in the photo at all.

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[4:6] = True
    >>> on_mask_counts([AnnotatedShaft("a", (5.0, 5.0)), AnnotatedShaft("a", (5.0, 9.0)),
    ...                 AnnotatedShaft("b", (20.0, 5.0)), AnnotatedShaft("b", None)], m)
    ({'a': 1}, {'a': 2})
    """
    import cv2

    h, w = mask.shape
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    on: dict[str, int] = {}
    seen: dict[str, int] = {}
    for shaft in shafts:
        if shaft.centre is None:
            continue
        x, y = (int(round(v)) for v in shaft.centre)
        if not (0 <= x < w and 0 <= y < h):
            continue
        seen[shaft.kind] = seen.get(shaft.kind, 0) + 1
        if distance[y, x] <= ON_MASK_PX:
            on[shaft.kind] = on.get(shaft.kind, 0) + 1
    return on, seen


#: Photos needed per term (each class and the constant) before the counts
#: are attributed to the classes: fewer give coefficients that are mostly noise.
PHOTOS_PER_CLASS_TERM = 10


def _per_term(terms: list[dict[str, int]], target: Iterable[float], *, term: str, constant: str) -> dict[str, float]:
    """Least squares ``target ~ sum over names of b_n * terms[n] + a`` over the
    photos: each ``b_n`` as the figure ``term.format(n)``, ``a`` as `constant`.
    Empty with fewer than PHOTOS_PER_CLASS_TERM photos per term or when the
    terms cannot be told apart (one always with another)."""
    y = np.asarray(list(target), float)
    if len(terms) != y.size:
        raise ValueError("need one set of terms per photo")
    names = sorted({n for t in terms for n in t})
    design = np.array([[t.get(n, 0) for n in names] + [1] for t in terms], float).reshape(y.size, -1)
    if y.size < PHOTOS_PER_CLASS_TERM * design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        return {}
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    figures = {term.format(n): round(float(b), 6) for n, b in zip(names, coef[:-1])}
    figures[constant] = round(float(coef[-1]), 6)
    return figures


def counted_per_class(truth_by_class: list[dict[str, int]], predicted: Iterable[float]) -> dict[str, float]:
    """How much each annotated class adds to the count, by least squares.

    Fits ``predicted ~ sum over classes of b_c * n_c + a`` over the photos,
    where ``n_c`` is a photo's number of annotated shafts of class c: ``b_c``
    is the count per annotated shaft of that class (1 when each is counted
    once, below 1 when such shafts are missed or merged with others) and
    ``a`` the count per photo that no annotated shaft explains: shafts found
    that were not annotated and, where the count rises by less than one per
    annotated shaft, what makes up the difference at the mean. Empty when there are
    fewer than PHOTOS_PER_CLASS_TERM photos per term or the classes cannot
    be told apart (one always with another).

    Examples
    --------
    Thin hairs found half the time, and one extra shaft in every photo:

    >>> truth = [{"thick": t, "thin": n} for t in range(8) for n in range(4)]
    >>> f = counted_per_class(truth, [t + 0.5 * n + 1 for t in range(8) for n in range(4)])
    >>> {k: round(v, 3) for k, v in f.items()}
    {'per_thick_shaft': 1.0, 'per_thin_shaft': 0.5, 'per_photo_unexplained': 1.0}
    """
    return _per_term(truth_by_class, predicted, term="per_{}_shaft", constant="per_photo_unexplained")


def annotated_per_counted(counted: list[dict[str, int]], truth: Iterable[float]) -> dict[str, float]:
    """How many annotated shafts each counted shaft of a kind stands for, by least squares.

    The other direction from :func:`counted_per_class`: fits
    ``truth ~ sum over kinds of b_k * n_k + a``, where ``n_k`` is a photo's
    number of counted shafts of kind k ('whole', and 'cut': an end at the
    photo's edge, see :class:`tracker.imaging.measure.ShaftAxis`). ``b_k``
    is 1 when the annotators counted every such shaft once, below 1 when
    they left some out (or the pipeline split one in two), above 1 when the
    pipeline merged several into one; ``a`` is the annotated shafts per photo
    that no counted one explains. Empty under the same conditions as
    :func:`counted_per_class`.

    Examples
    --------
    Annotators who mark every whole shaft, every other cut one, and in each
    photo one shaft that was not counted:

    >>> counted = [{"whole": w, "cut": c} for w in range(8) for c in range(4)]
    >>> f = annotated_per_counted(counted, [w + 0.5 * c + 1 for w in range(8) for c in range(4)])
    >>> {k: round(v, 3) for k, v in f.items()}
    {'annotated_per_counted_cut': 0.5, 'annotated_per_counted_whole': 1.0, 'annotated_per_photo_uncounted': 1.0}
    """
    return _per_term(counted, truth, term="annotated_per_counted_{}", constant="annotated_per_photo_uncounted")


def _counted_whole_and_cut(analysis: Analysis) -> tuple[int, int]:
    """The counted shafts of a close-up analysis: whole, and cut by the photo's edge."""
    counted = [s for g in analysis.groups if g.counted for s in g.shafts if s.inside]
    cut = sum(s.cut for s in counted)
    return len(counted) - cut, cut


def _count_one(args: tuple[str, list[AnnotatedShaft], int]) -> dict[str, Any]:
    image_path, shafts, header = args
    photo = read_photo(image_path)
    h, w = photo.pixels.shape[:2]
    a = analyze(photo.pixels, roi=(0, header, w, h - header), mode="closeup")
    on, seen = on_mask_counts(shafts, a.mask)
    whole, cut = _counted_whole_and_cut(a)
    return {
        "image": Path(image_path).name, "truth": len(shafts), "predicted": a.hair_count,
        "counted_whole": whole, "counted_cut": cut, "on_mask": on, "seen": seen,
    }


def evaluate_counts(
    folder: str | os.PathLike, *, header_px: int = FDU_HEADER_PX, limit: int | None = None, workers: int = 1
) -> tuple[list[dict[str, Any]], Summary]:
    """Count error on a folder with ``Images/*.jpg`` and ``Annotations/*.xml``.

    Returns the per-image rows and a summary: MAE, RMSE, bias and Pearson r
    of the counts; the count per annotated shaft of each class
    (:func:`counted_per_class`); and per class the share of annotated shafts
    whose midpoint lies on the hair mask (``on_mask_<class>``: those not on
    it were not found at all; those on it may still be counted together
    with a touching shaft); and the annotated shafts each counted shaft
    stands for, whole or cut by the photo's edge
    (:func:`annotated_per_counted`). Each row holds the photo's annotated
    shafts and those on the mask, per class, and its counted shafts, whole
    and cut.
    """
    folder = Path(folder)
    xmls = sorted((folder / "Annotations").glob("*.xml"))
    if not xmls:
        raise ValueError(f"{folder}: no Annotations/*.xml found; pass the folder that holds Images/ and Annotations/")
    if limit:
        xmls = xmls[:: max(1, len(xmls) // limit)][:limit]
    jobs = []
    for x in xmls:
        image = folder / "Images" / (x.stem + ".jpg")
        if image.exists():
            jobs.append((str(image), read_voc_shafts(x), header_px))
    rows = list(_pool_map(_count_one, jobs, workers))
    by_class = [class_counts(shafts) for _, shafts, _ in jobs]
    classes = sorted({c for counts in by_class for c in counts})
    on_total = {c: sum(r["on_mask"].get(c, 0) for r in rows) for c in classes}
    seen_total = {c: sum(r["seen"].get(c, 0) for r in rows) for c in classes}
    for row, counts in zip(rows, by_class):  # every row every class, for the CSV
        on = row.pop("on_mask")
        row.pop("seen")
        row.update({f"truth_{c}": counts.get(c, 0) for c in classes})
        row.update({f"on_mask_{c}": on.get(c, 0) for c in classes})
    figures = count_figures([r["truth"] for r in rows], [r["predicted"] for r in rows])
    figures.update(counted_per_class(by_class, [r["predicted"] for r in rows]))
    figures.update({f"on_mask_{c}": round(on_total[c] / seen_total[c], 6) for c in classes if seen_total[c]})
    figures.update(
        annotated_per_counted(
            [{"whole": r["counted_whole"], "cut": r["counted_cut"]} for r in rows], [r["truth"] for r in rows]
        )
    )
    return rows, Summary(f"counts: {folder.name}", figures, len(rows))


# --- hair masks ------------------------------------------------------------------------


def _mask_one(args: tuple[str, str]) -> dict[str, Any]:
    import cv2

    image_path, target_path = args
    photo = read_photo(image_path)
    target = cv2.imread(target_path, cv2.IMREAD_GRAYSCALE)
    if target is None:
        raise ValueError(f"{target_path}: cannot read the target mask")
    truth = target < 128  # black hair on white, stored as lossy JPEG
    a = analyze(photo.pixels, mode="closeup")
    precision, recall = overlap_shares(a.mask, truth)
    return {
        "image": Path(image_path).name,
        "dice": dice(a.mask, truth),
        "precision": precision,
        "recall": recall,
        "coverage_truth": 100.0 * truth.mean(),
        "coverage_predicted": a.coverage_pct,
    }


def _mask_pairs(images: Path) -> list[tuple[str, str]]:
    """``(NN.jpg, NN_t.jpg)`` pairs of one image folder and its ``<name>_target`` sibling."""
    targets = images.parent / f"{images.name}_target"
    pairs = ((image, targets / f"{image.stem}_t.jpg") for image in sorted(images.glob("*.jpg")))
    return [(str(image), str(target)) for image, target in pairs if target.exists()]


def evaluate_masks(folder: str | os.PathLike, *, workers: int = 1) -> tuple[list[dict[str, Any]], Summary]:
    """Dice, precision, recall and coverage error of hand-drawn hair masks.

    `folder` holds image folders beside their masks (``SET/NN.jpg`` with
    ``SET_target/NN_t.jpg``, for every ``SET`` in it), or is one such image
    folder itself.
    """
    folder = Path(folder)
    jobs = _mask_pairs(folder)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.endswith("_target")):
        jobs += _mask_pairs(sub)
    if not jobs:
        raise ValueError(
            f"{folder}: no image/mask pairs found. Pass a folder holding SET/NN.jpg beside SET_target/NN_t.jpg, "
            "or one such SET folder (its masks in the SET_target folder next to it)"
        )
    rows = list(_pool_map(_mask_one, jobs, workers))
    d = np.array([r["dice"] for r in rows])
    cov_err = np.array([abs(r["coverage_predicted"] - r["coverage_truth"]) for r in rows])
    figures = {
        "dice_mean": round(float(d.mean()), 6),
        "dice_median": round(float(np.median(d)), 6),
        "precision_mean": round(float(np.mean([r["precision"] for r in rows])), 6),
        "recall_mean": round(float(np.mean([r["recall"] for r in rows])), 6),
        "coverage_abs_error_median_pp": round(float(np.median(cov_err)), 6),
        "coverage_abs_error_mean_pp": round(float(cov_err.mean()), 6),
    }
    return rows, Summary(f"masks: {folder.name}", figures, len(rows))


# --- generated close-ups ---------------------------------------------------------------

#: The generated set: every skin tone with dark hair, grey and light hair on
#: darker skin, two densities, and blur, noise and JPEG as phones produce.
SYNTHETIC_CASES: tuple[dict[str, Any], ...] = tuple(
    {"skin": skin, "hair": hair, "density_per_cm2": density, "blur_sigma": blur, "jpeg_quality": q, "noise_sigma": noise}
    for skin, hair in (("light", "dark"), ("medium", "dark"), ("dark", "dark"), ("medium", "grey"), ("dark", "light"))
    for density in (120.0, 250.0)
    for blur, q, noise in ((0.0, None, 2.0), (1.2, 85, 4.0))
)


def counted_cut(scene: SyntheticScalp) -> int:
    """Shafts of a generated close-up counted in the whole photo (midpoint
    inside) that the photo's edge cuts: one of their ends lies outside it."""
    h, w = scene.image.shape[:2]

    def inside(x: float, y: float) -> bool:
        return -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5

    return sum(
        inside(*s.midpoint) and not (inside(s.x0, s.y0) and inside(s.x1, s.y1)) for s in scene.shafts
    )


def _synthetic_one(args: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    from tracker.synth import render_closeup

    seed, case = args
    s = render_closeup(seed=seed, shape=(768, 1024), **case)
    a = analyze(s.image, px_per_mm=s.px_per_mm, mode="closeup")
    return {
        "seed": seed,
        **case,
        "coverage_truth": s.coverage_pct(),
        "coverage_predicted": a.coverage_pct,
        "count_truth": s.hair_count(),
        "count_predicted": a.hair_count,
        "count_cut_truth": counted_cut(s),
        "count_cut_predicted": _counted_whole_and_cut(a)[1],
        "width_truth_px": s.mean_width_px(),
        "width_predicted_px": a.mean_width_px,
    }


def evaluate_synthetic(*, repeats: int = 2, seed: int = 1000, workers: int = 1) -> tuple[list[dict[str, Any]], Summary]:
    """Coverage, count and width error on generated close-ups with exact truth.

    The count is also split in two, as means per photo: the shafts the
    photo's edge cuts (``count_cut_*``; the midpoint of a cut shaft is
    inferred from a typical length, see
    :func:`tracker.imaging.measure.find_hair_groups`) and the whole ones
    (``count_whole_*``). A small count error overall can hide two opposite ones.
    """
    jobs = [(seed + i * len(SYNTHETIC_CASES) + j, case) for i in range(repeats) for j, case in enumerate(SYNTHETIC_CASES)]
    rows = list(_pool_map(_synthetic_one, jobs, workers))

    def rel(p: str, t: str) -> np.ndarray:
        return np.array([abs((r[p] or 0) - r[t]) / r[t] for r in rows if r[t]])

    cov = np.array([abs(r["coverage_predicted"] - r["coverage_truth"]) for r in rows])
    figures = {
        "coverage_abs_error_median_pp": round(float(np.median(cov)), 6),
        "count_rel_error_median_pct": round(100 * float(np.median(rel("count_predicted", "count_truth"))), 6),
        "width_rel_error_median_pct": round(100 * float(np.median(rel("width_predicted_px", "width_truth_px"))), 6),
        **{f"count_{k}": v for k, v in count_figures(
            [r["count_truth"] for r in rows], [r["count_predicted"] for r in rows]).items()},
    }
    for side in ("truth", "predicted"):
        total = np.array([r[f"count_{side}"] for r in rows], float)
        cut = np.array([r[f"count_cut_{side}"] for r in rows], float)
        figures[f"count_whole_mean_{side}"] = round(float(np.mean(total - cut)), 6)
        figures[f"count_cut_mean_{side}"] = round(float(np.mean(cut)), 6)
    return rows, Summary("generated close-ups", figures, len(rows))


# --- test-retest: registration, repeatability, change, card scale ------------------------
#
# Measured through the store, as the app measures: each series goes into a fresh store
# (SQLite in a temporary folder), the ROI is set on the baseline photo, and every other
# photo is registered to it and measured where the ROI lands (tracker.store.Store.add_photos).

#: The corners of the allowed camera moves (shift 5 %, rotation 10 degrees, scale 10 %,
#: brightness 20 %); every generated series has them besides random moves.
EXTREME_MOVES = (
    {"rotation_deg": 10.0, "scale": 1.10, "brightness": 1.20, "dx": 0.05, "dy": 0.05},
    {"rotation_deg": -10.0, "scale": 0.90, "brightness": 0.80, "dx": -0.05, "dy": 0.05},
    {"rotation_deg": 10.0, "scale": 0.90, "brightness": 1.20, "dx": 0.05, "dy": -0.05},
    {"rotation_deg": -10.0, "scale": 1.10, "brightness": 0.80, "dx": -0.05, "dy": -0.05},
)
#: Issue 5's targets.
RETEST_TARGETS = {"roi_error_pct": 2.0, "coverage_cv_pct": 3.0, "change_error_pp": 3.0, "card_error_pct": 1.0}


def _png(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode a generated photo")
    return buf.tobytes()


def _area_corners(roi) -> np.ndarray:
    x, y, w, h = roi
    return np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]], float)


def patch_truth(photo, roi, baseline_shape) -> tuple[float, int]:
    """Exact coverage (%) and hair count of the baseline ROI's patch of scalp in a moved photo."""
    import cv2

    from tracker.imaging.register import map_points

    x, y, w, h = roi
    bh, bw = baseline_shape
    mask = cv2.warpPerspective(photo.image.mask.astype(np.uint8), photo.to_baseline, (bw, bh), flags=cv2.INTER_NEAREST)
    coverage = 100.0 * float(mask[y : y + h, x : x + w].mean())
    count = 0
    if photo.image.shafts:
        mids = map_points(photo.to_baseline, np.array([s.midpoint for s in photo.image.shafts]))
        inside = (mids[:, 0] >= x - 0.5) & (mids[:, 0] < x + w - 0.5) & (mids[:, 1] >= y - 0.5) & (mids[:, 1] < y + h - 0.5)
        count = int(inside.sum())
    return coverage, count


def retest_cases(kind: str, scenes: int, *, full_size: bool = False) -> list[tuple]:
    """Generated series: ``(kind, seed, shape, random recaptures, follow-up factors, options)``."""
    skins = ["light", "medium"]
    if kind == "closeup":
        shape = (1024, 1280) if full_size else (640, 800)
        scale = 100.0
        follow = (0.8, 0.9, 1.1)
        options = [{"px_per_mm": scale, "density_per_cm2": 220.0, "jpeg_quality": 90, "skin": skins[s % 2]} for s in range(scenes)]
    elif kind == "overview":
        shape = (1200, 1600) if full_size else (480, 640)
        follow = (0.85, 1.1)
        options = [
            {"coverage": 0.55, "jpeg_quality": 90, "skin": skins[s % 2], "pattern": ("whorl", "part")[(s // 2) % 2]}
            for s in range(scenes)
        ]
    else:
        raise ValueError("kind must be 'closeup' or 'overview'")
    return [(kind, 100 + s, shape, 2, follow, options[s]) for s in range(scenes)]


def _retest_series(case: tuple) -> list[dict[str, Any]]:
    """One generated series through the store; one row per photo."""
    import datetime as dt
    import tempfile

    from tracker.store import NewPhoto, Store
    from tracker.synth import CameraMove, random_moves, render_moved_series

    kind, seed, shape, n_random, follow, options = case
    h, w = shape
    extremes = [CameraMove(**{**e, "dx": e["dx"] * w, "dy": e["dy"] * h}) for e in EXTREME_MOVES]
    moves = [CameraMove(), *random_moves(seed, n_random, shape=shape), *extremes]
    n_first = len(moves)
    factors, visits = [1.0] * n_first, [0] * n_first
    moves += random_moves(seed + 1000, 2 * len(follow), shape=shape)
    for k, f in enumerate(follow):
        factors += [f, f]
        visits += [k + 1, k + 1]
    series = render_moved_series(seed=seed, moves=moves, factors=factors, visits=visits, kind=kind, shape=shape, **options)
    roi = (int(0.2 * w), int(0.2 * h), int(0.6 * w), int(0.6 * h))
    view = "closeup:eval" if kind == "closeup" else "vertex"
    ppm = options.get("px_per_mm")
    rows = []
    with tempfile.TemporaryDirectory() as folder, Store.open(folder, user="evaluate") as store:
        patient = store.add_patient(f"S-{seed}")
        dates = [dt.date(2025, 1, 1) + dt.timedelta(days=30 * v) for v in range(max(visits) + 1)]
        visit_ids = [store.add_visit(patient.id, d).id for d in dates]

        def item(i: int) -> NewPhoto:
            # each photo's exact scale typed, as a card in the photo would give it (a moved
            # camera changes the scale by up to 10 %; the card scale is evaluated on its own)
            scale = series[i].image.px_per_mm if ppm else None
            return NewPhoto(view, _png(series[i].image.image), f"{seed}-{i}.png", scale, "user" if scale else None)

        (base,) = store.add_photos(visit_ids[0], [item(0)])
        store.set_roi(patient.id, view, roi, baseline_photo_id=base.photo.id)
        store.reanalyse(photo_ids=[base.photo.id])
        added = [base]
        for v in range(max(visits) + 1):
            idx = [i for i in range(1, len(series)) if visits[i] == v]
            added += store.add_photos(visit_ids[v], [item(i) for i in idx])
        for i, (photo, a) in enumerate(zip(series, added, strict=True)):
            meas = store.measurements(a.photo.id)[-1]
            true_cov, true_count = patch_truth(photo, roi, series[0].image.image.shape[:2])
            row = {
                "kind": kind, "seed": seed, "photo": i, "visit": visits[i], "factor": factors[i], "roi_source": meas.roi_source,
                "registration_score": meas.registration_score, "coverage": meas.coverage_pct, "count": meas.hair_count,
                "density": meas.density_per_cm2, "true_coverage": true_cov, "true_count": true_count, "roi_error_pct": math.nan,
            }
            if i > 0 and meas.roi_source == "registered":
                from tracker.imaging.register import map_points

                truth = map_points(np.linalg.inv(photo.to_baseline), _area_corners(roi))
                got = np.asarray(meas.parameters["placement"]["photo_corners"], float)
                row["roi_error_pct"] = 100.0 * float(np.linalg.norm(got - truth, axis=1).max() / np.linalg.norm(truth[1] - truth[0]))
            rows.append(row)
    return rows


def _card_one(case: tuple) -> dict[str, Any]:
    from tracker.synth import render_card_scene

    i, tilt, axis, ppm = case
    rng = np.random.default_rng([i, 77])
    scene = render_card_scene(
        seed=i, shape=(768, 1024), px_per_mm=ppm, tilt_deg=tilt, tilt_axis_deg=axis,
        rotation_deg=float(rng.uniform(-180, 180)), colour_cast=tuple(float(c) for c in rng.uniform(0.8, 1.2, 3)),
        brightness=float(rng.uniform(0.8, 1.2)), centre=(float(rng.uniform(400, 624)), float(rng.uniform(300, 468))),
        jpeg_quality=85,
    )
    a = analyze(scene.image)  # no typed scale: the card in the photo gives it
    found = a.scale.source == "card"
    return {"tilt": tilt, "axis": axis, "ppm": ppm, "source": a.scale.source,
                "error_pct": 100.0 * abs(a.scale.px_per_mm / scene.px_per_mm - 1.0) if found else math.nan}


def _worst(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    return (round(float(np.median(v)), 4), round(float(v.max()), 4)) if v.size else (math.nan, math.nan)


def summarize_retest(rows: list[dict[str, Any]], kind: str) -> Summary:
    """Figures of generated series: ROI placement error, test-retest CV, change against the truth."""
    from tracker.repeatability import retest_cv, visit_noise
    from tracker.timeline import kept_in_visit, placement

    rows = [r for r in rows if r["kind"] == kind]
    seeds = sorted({r["seed"] for r in rows})
    follow = [r for r in rows if r["photo"] > 0]
    figures: dict[str, float] = {
        "registered_share": round(sum(r["roi_source"] == "registered" for r in follow) / max(1, len(follow)), 4),
    }
    figures["roi_error_median_pct"], figures["roi_error_worst_pct"] = _worst(r["roi_error_pct"] for r in follow)
    metrics = ["coverage"] + (["count", "density"] if kind == "closeup" else [])
    for metric in metrics:
        groups = [[r[metric] for r in rows if r["seed"] == s and r["visit"] == 0] for s in seeds]
        groups = [g for g in groups if len(g) >= 2 and all(v is not None for v in g)]
        if not groups:
            continue
        cvs = [100.0 * visit_noise(g).cv for g in groups]
        figures[f"{metric}_cv_median_pct"], figures[f"{metric}_cv_worst_pct"] = _worst(cvs)
        figures[f"{metric}_cv_rms_pct"] = round(100.0 * retest_cv(groups), 4)
    # change from the baseline visit's mean, per follow-up visit (mean of its photos), against the exact change
    for metric, truth_key, relative in (("coverage", "true_coverage", False), ("density", "true_count", True)):
        if metric not in metrics:
            continue
        errors = []
        for s in seeds:
            srows = [r for r in rows if r["seed"] == s]

            def visit_mean(v: int, key: str) -> float:
                at = [r for r in srows if r["visit"] == v]
                kept = kept_in_visit([placement(r["roi_source"], r["registration_score"]) for r in at])
                return float(np.mean([r[key] for r, k in zip(at, kept, strict=True) if k]))

            # as the timeline shows it (tracker.timeline): each visit's mean against the baseline visit's
            b, tb = visit_mean(0, metric), visit_mean(0, truth_key)
            for v in sorted({r["visit"] for r in srows} - {0}):
                m, t = visit_mean(v, metric), visit_mean(v, truth_key)
                if relative:
                    meas, true = 100.0 * (m / b - 1.0), 100.0 * (t / tb - 1.0)
                else:
                    meas, true = m - b, t - tb
                errors.append(abs(meas - true))
        figures[f"{metric}_change_error_median_pp"], figures[f"{metric}_change_error_worst_pp"] = _worst(errors)
    return Summary(f"test-retest: generated {kind}s (through the store)", figures, len(rows))


def evaluate_retest(
    *, closeup_scenes: int = 2, overview_scenes: int = 2, card_cases: int = 16, full_size: bool = False, workers: int = 1
) -> tuple[list[dict[str, Any]], list[Summary]]:
    """Test-retest figures of issue 5 on generated series, through the store.

    Each series: a baseline, recaptures of the unchanged scalp in the same
    visit (random moves and the four extreme ones), and follow-up visits of
    two photos each with a known density (close-ups) or coverage (overviews)
    change. Card scale: :func:`tracker.analysis.analyze` of generated photos
    of the card tilted 0-30 degrees, against the exact scale at the card.
    """
    cases = retest_cases("closeup", closeup_scenes, full_size=full_size) if closeup_scenes else []
    cases += retest_cases("overview", overview_scenes, full_size=full_size) if overview_scenes else []
    rows = [r for rs in _pool_map(_retest_series, cases, workers, chunksize=1) for r in rs]
    summaries = [summarize_retest(rows, kind) for kind in ("closeup", "overview") if any(r["kind"] == kind for r in rows)]
    if card_cases:
        tilts, axes, ppms = (0, 10, 20, 30), (0, 45, 90, 135), (3.0, 5.0, 8.0)
        combos = [(t, a, p) for t in tilts for a in axes for p in ppms]
        step = max(1, len(combos) // card_cases)
        jobs = [(i, *c) for i, c in enumerate(combos[::step][:card_cases])]
        card_rows = list(_pool_map(_card_one, jobs, workers))
        med, worst = _worst(r["error_pct"] for r in card_rows)
        figures = {
            "found_share": round(sum(r["source"] == "card" for r in card_rows) / len(card_rows), 4),
            "scale_error_median_pct": med,
            "scale_error_worst_pct": worst,
        }
        for t in tilts:
            figures[f"scale_error_worst_pct_tilt_{t}"] = _worst(r["error_pct"] for r in card_rows if r["tilt"] == t)[1]
        summaries.append(Summary("card scale: generated photos, tilt 0-30 degrees (analyze)", figures, len(card_rows)))
        rows += [{"kind": "card", **r} for r in card_rows]
    return rows, summaries


#: Photo files a real series may hold.
SERIES_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic")


def _real_series(args: tuple[str, float | None]) -> list[dict[str, Any]]:
    import datetime as dt
    import tempfile

    from tracker.photo import load_photo
    from tracker.store import NewPhoto, Store

    folder, roi_share = Path(args[0]), args[1]
    visits = sorted(p for p in folder.iterdir() if p.is_dir())
    photos = [sorted(p for p in v.iterdir() if p.suffix.lower() in SERIES_SUFFIXES) for v in visits]
    # a store measures a view as its kind says: the series' view is a close-up one
    # when its baseline photo (the first of the first visit) is a close-up
    baseline = next((files[0] for files in photos if files), None)
    closeup = baseline is not None and analyze(load_photo(baseline.read_bytes(), name=baseline.name).pixels).mode == "closeup"
    view = "closeup:series" if closeup else "vertex"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Store.open(tmp, user="evaluate") as store:
        patient = store.add_patient("S-1")
        first = True
        for k, (vdir, files) in enumerate(zip(visits, photos, strict=True)):
            if not files:
                continue
            visit = store.add_visit(patient.id, dt.date(2020, 1, 1) + dt.timedelta(days=k))
            items = [NewPhoto(view, f.read_bytes(), f.name) for f in files]
            if first:
                (base,) = store.add_photos(visit.id, items[:1])
                if roi_share is not None:
                    b = base.photo
                    mw, mh = int(b.width * (1 - roi_share) / 2), int(b.height * (1 - roi_share) / 2)
                    store.set_roi(patient.id, view, (mw, mh, b.width - 2 * mw, b.height - 2 * mh), baseline_photo_id=b.id)
                    store.reanalyse(photo_ids=[b.id])
                added = [base, *store.add_photos(visit.id, items[1:])] if len(items) > 1 else [base]
                first = False
            else:
                added = store.add_photos(visit.id, items)
            for f, a in zip(files, added, strict=True):
                meas = store.measurements(a.photo.id)[-1]
                rows.append({
                    "series": folder.name, "visit": vdir.name, "photo": f.name, "roi_source": meas.roi_source,
                    "registration_score": meas.registration_score, "coverage": meas.coverage_pct, "count": meas.hair_count,
                    "density": meas.density_per_cm2, "scale_source": meas.scale_source,
                })
    return rows


def evaluate_real_series(
    folder: str | os.PathLike, *, roi_share: float | None = 0.6, workers: int = 1
) -> tuple[list[dict[str, Any]], Summary]:
    """Test-retest CV on real photo series: ``DIR/<series>/<visit>/*.jpg``.

    Each ``<series>`` folder is one view of one person; its ``<visit>``
    folders (sorted by name) hold the photos of one visit; two or more photos
    in a visit folder are repeats of the unchanged scalp. The first photo of
    the first visit is the baseline; the ROI is its centre ``roi_share`` of
    width and height (None: the whole photo, no ROI). A series whose baseline
    is a close-up is stored as a close-up view, else as an overview view, and
    all its photos are measured so. Every photo goes
    through the store: registered to the baseline and measured where the
    ROI lands. Returns one row per photo and the test-retest CV (%) per
    series and over all of them.
    """
    from tracker.repeatability import retest_cv

    folder = Path(folder)
    series = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not series:
        raise ValueError(
            f"{folder}: no series folders; lay the photos out as DIR/<series>/<visit>/*.jpg "
            "(repeat photos of one visit in the same visit folder)"
        )
    rows = [r for rs in _pool_map(_real_series, [(str(s), roi_share) for s in series], workers, chunksize=1) for r in rs]
    figures: dict[str, float] = {}
    all_groups: dict[str, list] = {"coverage": [], "count": [], "density": []}
    for s in series:
        srows = [r for r in rows if r["series"] == s.name]
        for metric in all_groups:
            groups = []
            for v in sorted({r["visit"] for r in srows}):
                vals = [r[metric] for r in srows if r["visit"] == v]
                if len(vals) >= 2 and all(x is not None for x in vals):
                    groups.append(vals)
            if groups:
                figures[f"{s.name}_{metric}_cv_pct"] = round(100.0 * retest_cv(groups), 4)
                all_groups[metric] += groups
        reg = [r for r in srows[1:]]
        if reg:
            figures[f"{s.name}_registered_share"] = round(sum(r["roi_source"] == "registered" for r in reg) / len(reg), 4)
    for metric, groups in all_groups.items():
        if groups:
            figures[f"all_{metric}_cv_pct"] = round(100.0 * retest_cv(groups), 4)
    if not any(k.startswith("all_") for k in figures):
        raise ValueError(f"{folder}: no visit folder holds two or more photos; test-retest needs repeat photos")
    return rows, Summary(f"test-retest: real series in {folder.name}", figures, len(rows))
