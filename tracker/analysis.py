"""One photo in, one versioned :class:`Analysis` out.

The pipeline: quality checks, mode (close-up or overview), polarity (dark or
light hair), a working copy at a size where shafts are about
:data:`WORKING_SHAFT_WIDTH` pixels wide, segmentation, measurement in the
ROI, and conversion back to the photo's pixels and, with a scale, to
micrometres and square centimetres.

Everything that shapes a number is in :attr:`Analysis.parameters` together
with :data:`ALGORITHM_VERSION`, so every stored measurement can be recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from tracker.imaging import measure, segment
from tracker.imaging.quality import QualityReport, assess_quality

#: Bumped whenever a change can move any measured number.
ALGORITHM_VERSION = "0.2.0"
#: Close-ups are analysed on a copy scaled so that a typical shaft is about
#: this wide (never enlarged): wide enough to measure width to a few percent,
#: small enough that a 12 MP photo is analysed in a fraction of a second.
WORKING_SHAFT_WIDTH = 12.0
#: Longest side of the working copy, whatever the shaft width.
MAX_WORKING_SIDE = 2048
#: Overviews resolve hair mass, not shafts: this long side is plenty.
OVERVIEW_WORKING_SIDE = 1024
#: Shafts thinner than this are "thin" (TrichoScan's vellus bound).
THIN_HAIR_UM = 40.0

ScaleSource = Literal["card", "magnification", "field_width", "user", "none"]
ModeChoice = Literal["auto", "closeup", "overview"]


@dataclass(frozen=True)
class Scale:
    """Pixels per millimetre of the photo, and where the figure came from."""

    px_per_mm: float | None
    source: ScaleSource = "none"

    def to_dict(self) -> dict[str, Any]:
        return {"px_per_mm": self.px_per_mm, "source": self.source}


@dataclass(frozen=True)
class Analysis:
    """Measurements of one photo with everything needed to recompute them.

    Metrics that need shafts (close-ups) or a scale are None where they cannot
    be measured; :meth:`to_record` says why in ``notes``.
    """

    mode: str
    roi: tuple[int, int, int, int]
    scale: Scale
    quality: QualityReport
    mask: np.ndarray = field(repr=False)
    groups: tuple[measure.HairGroup, ...] = field(repr=False)
    coverage_pct: float
    hair_count: int | None
    mean_width_px: float | None
    mean_width_um: float | None
    density_per_cm2: float | None
    thin_hair_pct: float | None
    parameters: dict[str, Any]
    notes: tuple[str, ...] = ()
    algorithm_version: str = ALGORITHM_VERSION

    def to_record(self) -> dict[str, Any]:
        """JSON-able measurements and provenance (no pixel arrays)."""
        return {
            "coverage_pct": self.coverage_pct,
            "hair_count": self.hair_count,
            "mean_width_px": self.mean_width_px,
            "mean_width_um": self.mean_width_um,
            "density_per_cm2": self.density_per_cm2,
            "thin_hair_pct": self.thin_hair_pct,
            "mode": self.mode,
            "roi": list(self.roi),
            "scale": self.scale.to_dict(),
            "quality": self.quality.to_dict(),
            "notes": list(self.notes),
            "algorithm_version": self.algorithm_version,
            "parameters": self.parameters,
        }


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return image
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _scaled_roi(roi: tuple[int, int, int, int], factor: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0 = int(round(roi[0] * factor)), int(round(roi[1] * factor))
    x1 = min(w, int(round((roi[0] + roi[2]) * factor)))
    y1 = min(h, int(round((roi[1] + roi[3]) * factor)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def _scale_group(g: measure.HairGroup, factor: float, offset: tuple[int, int] = (0, 0)) -> measure.HairGroup:
    """A group measured on the working copy, in the photo's pixels (the
    working copy's corner at `offset` of the photo)."""
    inv = 1.0 / factor
    x0, y0, x1, y1 = g.bbox
    dx, dy = offset
    return measure.HairGroup(
        centroid=(g.centroid[0] * inv + dx, g.centroid[1] * inv + dy),
        bbox=(
            int(x0 * inv) + dx,
            int(y0 * inv) + dy,
            int(np.ceil(x1 * inv)) + dx,
            int(np.ceil(y1 * inv)) + dy,
        ),
        length_px=g.length_px * inv,
        width_px=g.width_px * inv,
        hairs=g.hairs,
        counted=g.counted,
        counted_hairs=g.counted_hairs,
    )


def analyze(
    pixels: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    px_per_mm: float | None = None,
    scale_source: ScaleSource | None = None,
    mode: ModeChoice = "auto",
    thin_um: float = THIN_HAIR_UM,
) -> Analysis:
    """Measure hair in one photo.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB array
        As returned by :func:`tracker.photo.load_photo`.
    roi : (x, y, w, h), optional
        Region of interest in the photo's pixels; the whole photo if None.
    px_per_mm : float, optional
        Scale. Without it, width in µm, density and thin-hair share are None.
    scale_source : str, optional
        Where the scale came from ('card', 'magnification', 'field_width',
        'user'); 'user' if a scale is given without a source.
    mode : {'auto', 'closeup', 'overview'}
        'auto' tells them apart with :func:`tracker.imaging.segment.detect_mode`.
    thin_um : float
        Shafts thinner than this many micrometres count as thin.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> img = np.full((300, 400, 3), 210, np.uint8)
    >>> for y in (40, 100, 160, 220): img[y:y + 10, 50:350] = 40
    >>> a = analyze(img, px_per_mm=100.0)
    >>> a.mode, a.hair_count, round(a.mean_width_um)
    ('closeup', 4, 100)
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            "pixels must be an (H, W, 3) uint8 RGB array; decode photos with tracker.photo.load_photo"
        )
    if px_per_mm is not None and not (np.isfinite(px_per_mm) and px_per_mm > 0):
        raise ValueError(f"px_per_mm must be a positive number, got {px_per_mm!r}")
    if thin_um <= 0:
        raise ValueError("thin_um must be positive")
    if mode not in ("auto", "closeup", "overview"):
        raise ValueError("mode must be 'auto', 'closeup' or 'overview'")
    height, width = pixels.shape[:2]
    roi = (0, 0, width, height) if roi is None else tuple(int(v) for v in roi)
    measure.check_roi(pixels.shape, roi)
    scale = Scale(px_per_mm, scale_source or ("user" if px_per_mm else "none"))

    # Mode detection reduces the photo to MODE_DETECTION_SIDE first; that copy
    # is made here so an overview can reuse it as its working copy.
    detection_factor = min(1.0, segment.MODE_DETECTION_SIDE / max(height, width))
    detection_copy = None
    if mode == "auto":
        detection_copy = _resize(pixels, detection_factor)
        mode = segment.detect_mode(detection_copy)
    quality = assess_quality(pixels, mode=mode, roi=roi)
    notes: list[str] = []
    parameters: dict[str, Any] = {"mode": mode, "thin_um": thin_um}
    measured_roi = roi  # the ROI less any burnt-in bars

    if mode == "overview":
        factor = min(1.0, OVERVIEW_WORKING_SIDE / max(height, width))
        if detection_copy is not None and factor == detection_factor:
            work = detection_copy
        else:
            work = _resize(pixels, factor)
        work_mask = segment.segment_overview(work)
        groups: tuple[measure.HairGroup, ...] = ()
        notes.append("Overview photo: single shafts are not resolved, so only coverage is measured.")
    else:
        # Flat caption or scale bars burnt in at the edges are no scalp: the
        # photo is analysed without them, and they are left out of the ROI.
        bars = segment.edge_bars(pixels)
        top, bottom, left, right = bars
        x0, y0 = max(roi[0], left), max(roi[1], top)
        x1, y1 = min(roi[0] + roi[2], width - right), min(roi[1] + roi[3], height - bottom)
        if any(bars) and x1 > x0 and y1 > y0:
            measured_roi = (x0, y0, x1 - x0, y1 - y0)
            parameters["edge_bars_px"] = list(bars)
            notes.append(
                "Flat bars burnt in at the photo's edges (captions, scales) were left out of the region measured."
            )
        else:
            top = bottom = left = right = 0
        photo = pixels[top : height - bottom, left : width - right]
        # Polarity and a first shaft width from a thumbnail: cheap, and
        # enough to choose the working size.
        thumb_factor = min(1.0, 512 / max(photo.shape[:2]))
        thumb = _resize(photo, thumb_factor)
        polarity = segment.choose_polarity(thumb)
        thumb_width = segment.estimate_shaft_width(thumb, polarity=polarity) / thumb_factor
        factor = min(1.0, WORKING_SHAFT_WIDTH / thumb_width, MAX_WORKING_SIDE / max(photo.shape[:2]))
        work = _resize(photo, factor)
        shaft_width = segment.estimate_shaft_width(work, polarity=polarity)
        contrast = segment.hair_contrast(work, max_width_px=2 * shaft_width, polarity=polarity)
        work_mask = segment.shaft_mask(contrast, shaft_width_px=shaft_width)
        content_roi = (measured_roi[0] - left, measured_roi[1] - top, measured_roi[2], measured_roi[3])
        work_roi = _scaled_roi(content_roi, factor, work.shape)
        work_groups = measure.find_hair_groups(work_mask, shaft_width_px=shaft_width, roi=work_roi)
        groups = tuple(_scale_group(g, factor, (left, top)) for g in work_groups)
        parameters.update(
            polarity=polarity,
            shaft_width_estimate_px=round(shaft_width / factor, 3),
            high_contrast=segment.HIGH_CONTRAST,
            low_contrast=segment.LOW_CONTRAST,
        )
    parameters["working_scale"] = round(factor, 6)

    mask = work_mask
    if "edge_bars_px" in parameters:
        top, bottom, left, right = parameters["edge_bars_px"]
    else:
        top = bottom = left = right = 0
    content = (height - top - bottom, width - left - right)
    if factor < 1.0:
        up = cv2.resize(work_mask.astype(np.uint8) * 255, content[::-1], interpolation=cv2.INTER_LINEAR)
        mask = cv2.threshold(up, 127, 1, cv2.THRESH_BINARY)[1].view(bool)  # >= 128
    if mask.shape != (height, width):  # a bar holds no hair
        full = np.zeros((height, width), bool)
        full[top : top + content[0], left : left + content[1]] = mask
        mask = full
    x, y, w, h = measured_roi
    coverage = float(100.0 * np.count_nonzero(mask[y : y + h, x : x + w]) / (w * h))

    count = width_px = width_um = density = thin = None
    if mode == "closeup":
        count = measure.hair_count(groups)
        width_px = measure.mean_width_px(groups)
        if px_per_mm:
            roi_cm2 = measured_roi[2] * measured_roi[3] / px_per_mm**2 / 100.0
            density = count / roi_cm2
            if width_px is not None:
                width_um = width_px / px_per_mm * 1000.0
                thin = measure.thin_share_pct(groups, thin_width_px=thin_um * px_per_mm / 1000.0)
        else:
            notes.append(
                "No scale: width in µm, density per cm² and thin-hair share need the "
                "photo's pixels per millimetre (from a calibration card or typed in)."
            )
    return Analysis(
        mode=mode,
        roi=roi,
        scale=scale,
        quality=quality,
        mask=mask,
        groups=groups,
        coverage_pct=coverage,
        hair_count=count,
        mean_width_px=width_px,
        mean_width_um=width_um,
        density_per_cm2=density,
        thin_hair_pct=thin,
        parameters=parameters,
        notes=tuple(notes),
    )
