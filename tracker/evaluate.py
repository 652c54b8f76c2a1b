"""Score the pipeline against ground truth.

Three sets, each through :func:`tracker.analysis.analyze` exactly as
``tracker analyze`` runs it:

- trichoscopy images with one annotation per visible shaft (Pascal-VOC-like
  XML, as in the FDU / BSRL hair follicle data): hair count error;
- image patches with hand-drawn hair masks: Dice and coverage error;
- generated close-ups (:mod:`tracker.synth`) with exact truth: coverage,
  count and width error.

The data sets are not part of the project; their folders are arguments.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tracker.analysis import analyze
from tracker.photo import read_photo

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


def _pool_map(fn: Callable, items: list, workers: int) -> Iterator:
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items, chunksize=4)


# --- hair counts on annotated trichoscopy ---------------------------------------------


def read_voc_count(xml_path: str | os.PathLike) -> int:
    """Number of annotated shafts (``<object>`` elements) in one annotation file."""
    return len(ET.parse(xml_path).getroot().findall("object"))


def _count_one(args: tuple[str, int, int]) -> dict[str, Any]:
    image_path, truth, header = args
    photo = read_photo(image_path)
    h, w = photo.pixels.shape[:2]
    a = analyze(photo.pixels, roi=(0, header, w, h - header), mode="closeup")
    return {"image": Path(image_path).name, "truth": truth, "predicted": a.hair_count}


def evaluate_counts(
    folder: str | os.PathLike, *, header_px: int = FDU_HEADER_PX, limit: int | None = None, workers: int = 1
) -> tuple[list[dict[str, Any]], Summary]:
    """Count error on a folder with ``Images/*.jpg`` and ``Annotations/*.xml``.

    Returns the per-image rows and a summary (MAE, RMSE, bias, Pearson r).
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
            jobs.append((str(image), read_voc_count(x), header_px))
    rows = list(_pool_map(_count_one, jobs, workers))
    figures = count_figures([r["truth"] for r in rows], [r["predicted"] for r in rows])
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
    return {
        "image": Path(image_path).name,
        "dice": dice(a.mask, truth),
        "coverage_truth": 100.0 * truth.mean(),
        "coverage_predicted": a.coverage_pct,
    }


def evaluate_masks(folder: str | os.PathLike, *, workers: int = 1) -> tuple[list[dict[str, Any]], Summary]:
    """Dice and coverage error on ``*image/NN.jpg`` with ``*image_target/NN_t.jpg`` masks."""
    folder = Path(folder)
    jobs = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.endswith("_target")):
        targets = folder / f"{sub.name}_target"
        for image in sorted(sub.glob("*.jpg")):
            target = targets / f"{image.stem}_t.jpg"
            if target.exists():
                jobs.append((str(image), str(target)))
    if not jobs:
        raise ValueError(f"{folder}: no image/target pairs found; expected DIR/NN.jpg and DIR_target/NN_t.jpg")
    rows = list(_pool_map(_mask_one, jobs, workers))
    d = np.array([r["dice"] for r in rows])
    cov_err = np.array([abs(r["coverage_predicted"] - r["coverage_truth"]) for r in rows])
    figures = {
        "dice_mean": round(float(d.mean()), 6),
        "dice_median": round(float(np.median(d)), 6),
        "coverage_abs_error_median_pp": round(float(np.median(cov_err)), 6),
        "coverage_abs_error_mean_pp": round(float(cov_err.mean()), 6),
    }
    return rows, Summary(f"masks: {folder.name}", figures, len(rows))


# --- generated close-ups ---------------------------------------------------------------

#: The generated set: every skin tone with dark hair, grey and light hair on
#: darker skin, two densities, and blur, noise and JPEG as phones produce.
SYNTHETIC_CASES: tuple[dict[str, Any], ...] = tuple(
    dict(skin=skin, hair=hair, density_per_cm2=density, blur_sigma=blur, jpeg_quality=q, noise_sigma=noise)
    for skin, hair in (("light", "dark"), ("medium", "dark"), ("dark", "dark"), ("medium", "grey"), ("dark", "light"))
    for density in (120.0, 250.0)
    for blur, q, noise in ((0.0, None, 2.0), (1.2, 85, 4.0))
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
        "width_truth_px": s.mean_width_px(),
        "width_predicted_px": a.mean_width_px,
    }


def evaluate_synthetic(*, repeats: int = 2, seed: int = 1000, workers: int = 1) -> tuple[list[dict[str, Any]], Summary]:
    """Coverage, count and width error on generated close-ups with exact truth."""
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
    return rows, Summary("generated close-ups", figures, len(rows))
