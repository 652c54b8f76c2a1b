"""One photo in, one versioned :class:`Analysis` out.

The pipeline: quality checks, mode (close-up or overview), polarity (dark or
light hair), a working copy at a size where shafts are about
:data:`WORKING_SHAFT_WIDTH` pixels wide, segmentation, measurement in the
ROI, and conversion back to the photo's pixels and, with a scale, to
micrometres and square centimetres.

Scale: a typed ``px_per_mm`` or field-of-view width is a fallback; when the
calibration card (``tracker card``) is in the photo, its markers give the
scale (``scale_source='card'``), its grey patch the white balance, and its
area is left out of the measurement. Without either, results are scale-free
and say so.

:func:`analyze_in_view` measures one photo of a view the way the store does:
the ROI drawn on the view's baseline photo is cut out of every photo on the
baseline's grid (:func:`tracker.imaging.register.warp_roi`) after the photo
was registered to the baseline, with the mode and hair polarity fixed for the
view from the baseline photo (:func:`view_settings`). How the ROI was placed
is recorded (:attr:`Analysis.roi_source`).

Everything that shapes a number is in :attr:`Analysis.parameters` together
with :data:`ALGORITHM_VERSION`, so every stored measurement can be recomputed.
"""

from __future__ import annotations

import math
from concurrent import futures
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import cv2
import numpy as np

from tracker.imaging import calibrate, measure, parallel, segment
from tracker.imaging.quality import QualityReport, assess_quality
from tracker.imaging.register import (
    PhotoFeatures,
    Registration,
    map_points,
    reason_without_advice,
    register,
    roi_corners,
    warp_roi,
)

#: Bumped whenever a change can move any measured number.
#: 0.2.0: calibration card (scale, white balance, card area left out), view-fixed
#: mode and polarity, the registered ROI measured on the baseline's grid.
#: 0.3.0: reduced copies from one pyramid of halvings, the background blur on a reduced
#: copy, Otsu from an OpenCV histogram (counts move by a few hairs on some photos).
#: 0.4.0: shafts lying on a neighbour counted, each shaft counted where its midpoint
#: lies, flat bars burnt in at the edges left out, single-shaft width from shafts only.
#: 0.5.0: light hair: its edges at a quarter of its peak, its own colour channel, its scalp read past crowded shafts;
#: segmentation turns and flips with the photo (mirrored line kernels, symmetric disk, resizes by size),
#: the reduced background blur at sigma 3.
#: 0.6.0: dense scalps: the shaft search in a tangle goes on while shafts are found (a
#: limit of shafts per group that grows with its hair, failed bands counted in a row).
#: overviews: light fall-off divided out, hair where nearer the hair level than the scalp level
#: (single thin strands kept, specks dropped by size); a view's 'auto' mode told from the whole photo.
#: A tangle of six shafts or more gets twelve failed bands in a row; shafts ending where the
#: photo shows nothing (outside it, under the card) are cut there.
#: 0.7.0: light hair also looked for in red less blue (blond hair's yellowness), the plane
#: chosen by its long lines less its light clutter (scale patches); the mode judged on that plane.
#: Close-ups: the line length and the peak window follow the shaft width smoothly (blends of odd sizes).
#: 0.8.0: close-ups: the shaft width on the working copy is taken from the photo's fixed
#: halvings on either side of it (blended by its size), so a re-exposed photo analysed at a
#: slightly different size gets nearly the same width.
#: 0.9.0: close-ups: shafts are searched on the mask turned to its canonical orientation, so
#: a turned or flipped photo gets the same count.
#: 0.10.0: the shaft width is looked for up to 1/16 of the short side, not 1/24 (shafts
#: near 40 px wide were taken for their two rims).
ALGORITHM_VERSION = "0.10.0"


def version_key(version: str) -> tuple:
    """Sort key of an algorithm version: compared part by part as numbers, so 0.10.0 follows 0.9.0.

    Examples
    --------
    >>> sorted(["0.10.0", "0.9.0", "0.9.1"], key=version_key)
    ['0.9.0', '0.9.1', '0.10.0']
    """
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in version.split("."))
#: Close-ups are analysed on a copy scaled so that a typical shaft is about
#: this wide (never enlarged): wide enough to measure width to a few percent,
#: small enough that a 12 MP photo is analysed in a fraction of a second.
WORKING_SHAFT_WIDTH = 12.0
#: Longest side of the working copy, whatever the shaft width.
MAX_WORKING_SIDE = 2048
#: The note of a close-up measured without a scale.
NO_SCALE_NOTE = (
    "No scale: width in µm, density per cm² and thin-hair share need the "
    "photo's pixels per millimetre (from a calibration card or typed in)."
)
#: Overviews resolve hair mass, not shafts: this long side is plenty.
OVERVIEW_WORKING_SIDE = 1024
#: A photo narrower or shorter than this many pixels is refused: it cannot
#: hold a shaft and its surroundings (the quality check fails close-ups far
#: above it, at 320 pixels on the short side).
MIN_PHOTO_SIDE = 8
#: A close-up's region narrower than this many shaft widths gets a note: too
#: small for a count or density to say much.
MIN_ROI_SHAFT_WIDTHS = 10
#: Shafts thinner than this are "thin" (TrichoScan's vellus bound).
THIN_HAIR_UM = 40.0

#: Margin cut around the ROI by :func:`analyze_in_view`, as a share of the
#: ROI's short side: the analysis sees the same surroundings in every photo.
ROI_MARGIN = 0.2
#: Cards are looked for on a copy no longer than this (then at full size when
#: found): a card a fifth of the photo's width still has 12 mm markers about
#: 30 px wide there (5 px a cell), enough for ArUco, at a quarter of the cost of 2048.
CARD_SEARCH_SIDE = 1024
#: Pixels around the card's outline also left out of the measurement (share of its long side).
CARD_BORDER = 0.03

ScaleSource = Literal["card", "magnification", "field_width", "user", "none"]
ModeChoice = Literal["auto", "closeup", "overview"]
Polarity = Literal["dark", "light"]
#: How a measurement's ROI was placed: the baseline photo's own ROI, the baseline ROI
#: carried over by registration, an ROI placed by hand on this photo, no usable
#: registration (the whole photo measured, flagged), or no ROI set (whole photo).
RoiSource = Literal["baseline", "registered", "manual", "unregistered", "whole_photo"]
ROI_SOURCES: tuple[str, ...] = ("baseline", "registered", "manual", "unregistered", "whole_photo")


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
    roi_source: str = "whole_photo"
    card: dict[str, Any] | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = field(default=None, repr=False)

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
            "roi_source": self.roi_source,
            "card": self.card,
            "placement": self.placement,
        }


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
    bbox = (int(x0 * inv) + dx, int(y0 * inv) + dy, int(np.ceil(x1 * inv)) + dx, int(np.ceil(y1 * inv)) + dy)
    scaled = g.moved(lambda x, y: (x * inv + dx, y * inv + dy), bbox)
    return replace(scaled, length_px=g.length_px * inv, width_px=g.width_px * inv)


@dataclass(frozen=True)
class ScaleFinding:
    """The scale chosen for a photo, the card found in it and what to leave out.

    Attributes
    ----------
    scale : Scale
    detection : CardDetection or None
        The card, when one was seen (usable or not).
    card_mask : (H, W) bool array or None
        The card's area (with a small border) in the photo's pixels, when
        the card was found: left out of the measurement.
    wb_gains : ndarray or None
        White-balance gains from the card's grey patch (usable card only).
    notes : tuple of str
    """

    scale: Scale
    detection: calibrate.CardDetection | None = field(default=None, repr=False)
    card_mask: np.ndarray | None = field(default=None, repr=False)
    wb_gains: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    def card_record(self) -> dict[str, Any] | None:
        return None if self.detection is None else self.detection.to_dict()


def _detect_card(pixels: np.ndarray, pyramid: segment.Pyramid) -> calibrate.CardDetection | None:
    """:func:`calibrate.detect_card`, when a photo longer than CARD_SEARCH_SIDE shows
    a marker on a copy that long (from `pyramid`, :func:`calibrate.markers_seen`)."""
    h, w = pixels.shape[:2]
    factor = min(1.0, CARD_SEARCH_SIDE / max(h, w))
    if factor < 1.0 and not calibrate.markers_seen(pyramid.reduce(factor)):
        return None
    return calibrate.detect_card(pixels)


def _card_mask(detection: calibrate.CardDetection, shape: tuple[int, ...]) -> np.ndarray:
    layout = calibrate.CARD
    border = CARD_BORDER * max(layout.width_mm, layout.height_mm)
    outline = np.array(
        [[-border, -border], [layout.width_mm + border, -border],
         [layout.width_mm + border, layout.height_mm + border], [-border, layout.height_mm + border]]
    )
    quad = calibrate.card_points_to_image(detection, outline)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def find_scale(
    pixels: np.ndarray,
    *,
    px_per_mm: float | None = None,
    scale_source: ScaleSource | None = None,
    field_width_mm: float | None = None,
    card: bool = True,
    pyramid: segment.Pyramid | None = None,
) -> ScaleFinding:
    """Choose a photo's scale: the calibration card, else a typed scale, else none.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB array
    px_per_mm : float, optional
        A typed scale (e.g. from the device's known magnification); used when
        no usable card is in the photo.
    scale_source : str, optional
        Where the typed scale came from ('magnification', 'field_width' or
        'user', the default).
    field_width_mm : float, optional
        Width of the photo's field of view in millimetres; used when there is
        no card and no ``px_per_mm``.
    card : bool
        Look for the calibration card (``tracker card``). A usable card
        (two markers or more that agree) gives the scale, whatever was typed.
    pyramid : segment.Pyramid, optional
        Reduced copies of ``pixels`` to search for the card on (and to keep
        for the measurement); made here if None.

    Returns
    -------
    ScaleFinding

    Examples
    --------
    >>> photo = np.full((600, 1000, 3), 90, np.uint8)
    >>> photo[75:525, 100:900] = calibrate.render_card(10.0)
    >>> f = find_scale(photo, px_per_mm=3.0)
    >>> round(f.scale.px_per_mm, 2), f.scale.source
    (10.0, 'card')
    >>> find_scale(photo[:, :50], field_width_mm=5.0).scale
    Scale(px_per_mm=10.0, source='field_width')
    """
    if px_per_mm is not None and not (np.isfinite(px_per_mm) and px_per_mm > 0):
        raise ValueError(f"px_per_mm must be a positive number, got {px_per_mm!r}")
    if field_width_mm is not None and not (np.isfinite(field_width_mm) and field_width_mm > 0):
        raise ValueError(
            f"field_width_mm must be the photo's field of view in millimetres (positive), got {field_width_mm!r}"
        )
    notes: list[str] = []
    if pyramid is None or pyramid.image is not pixels:
        pyramid = segment.Pyramid(pixels)
    detection = _detect_card(pixels, pyramid) if card else None
    if detection is not None:
        mask = _card_mask(detection, pixels.shape)
        if detection.ok:
            if px_per_mm is not None and abs(px_per_mm / detection.px_per_mm - 1.0) > 0.05:
                notes.append(
                    f"The calibration card gives {detection.px_per_mm:.2f} px/mm; the typed "
                    f"{px_per_mm:.2f} px/mm was not used."
                )
            notes.extend(f"Calibration card: {n}." for n in detection.notes)
            return ScaleFinding(
                Scale(float(detection.px_per_mm), "card"), detection, mask,
                np.asarray(detection.wb_gains, float), tuple(notes),
            )
        notes.append(
            "Part of a calibration card was seen but it cannot give the scale "
            f"({'; '.join(detection.notes) or 'too few markers'}); keep the whole card in view. "
            "Its area is left out of the measurement."
        )
    else:
        mask = None
    if px_per_mm is not None:
        scale = Scale(float(px_per_mm), scale_source or "user")
    elif field_width_mm is not None:
        scale = Scale(calibrate.scale_from_field_width(pixels.shape[1], field_width_mm), "field_width")
    else:
        scale = Scale(None, "none")
    return ScaleFinding(scale, detection, mask, None, tuple(notes))


def detect_mode(pixels: np.ndarray) -> segment.Mode:
    """Whether a photo is a close-up or an overview, from the photo as it is
    (:func:`tracker.imaging.segment.detect_mode` on a copy MODE_DETECTION_SIDE
    long); ``mode='auto'`` tells it the same way, after a calibration card's
    white balance when the photo shows one.

    Examples
    --------
    >>> img = np.full((300, 400, 3), 210, np.uint8)
    >>> for y in (40, 100, 160, 220): img[y:y + 10, 50:350] = 40
    >>> detect_mode(img)
    'closeup'
    """
    return _detect_mode(segment.Pyramid(pixels))


def _detect_mode(pyramid: segment.Pyramid) -> segment.Mode:
    """:func:`segment.detect_mode` of the photo of `pyramid`, on its copy of MODE_DETECTION_SIDE."""
    h, w = pyramid.image.shape[:2]
    return segment.detect_mode(pyramid.reduce(min(1.0, segment.MODE_DETECTION_SIDE / max(h, w))))


def _scale_and_mode(
    pixels: np.ndarray, mode: ModeChoice, **scale_options: Any
) -> tuple[ScaleFinding, np.ndarray, segment.Pyramid, segment.Mode]:
    """:func:`find_scale`, the photo white-balanced by the card, and the mode
    ('auto' told from the balanced photo).

    The card is looked for on a thread of its own (:func:`parallel.start`)
    while the mode is told from the photo as it came; when the card's white
    balance changes the photo, the mode is told again, from the balanced one.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB array
    mode : {'auto', 'closeup', 'overview'}
    **scale_options
        Passed on to :func:`find_scale`.

    Returns
    -------
    found : ScaleFinding
    pixels : (H, W, 3) uint8 RGB array
        The photo, white-balanced when the card allows.
    pyramid : segment.Pyramid
        Reduced copies of that photo, some already made.
    mode : {'closeup', 'overview'}
    """
    if mode not in ("auto", "closeup", "overview"):
        raise ValueError("mode must be 'auto', 'closeup' or 'overview'")
    # Reduced copies of the photo serve the card search and, unless the card's
    # white balance changes the photo, the measurement.
    pyramid = segment.Pyramid(pixels)
    search = parallel.start(partial(find_scale, pixels, pyramid=pyramid, **scale_options))
    seen = _detect_mode(pyramid) if mode == "auto" else mode
    found = search.result()
    if found.wb_gains is not None:
        pixels = calibrate.white_balance(pixels, found.wb_gains)
        pyramid = segment.Pyramid(pixels)
        seen = _detect_mode(pyramid) if mode == "auto" else mode
    return found, pixels, pyramid, seen


def analyze(
    pixels: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    px_per_mm: float | None = None,
    scale_source: ScaleSource | None = None,
    field_width_mm: float | None = None,
    mode: ModeChoice = "auto",
    polarity: Polarity | None = None,
    thin_um: float = THIN_HAIR_UM,
    card: bool = True,
    exclude: np.ndarray | None = None,
) -> Analysis:
    """Measure hair in one photo.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB array
        As returned by :func:`tracker.photo.load_photo`.
    roi : (x, y, w, h), optional
        Region of interest in the photo's pixels; the whole photo if None.
    px_per_mm : float, optional
        Typed scale, used when no calibration card is in the photo. Without
        any scale, width in µm, density and thin-hair share are None.
    scale_source : str, optional
        Where the typed scale came from ('magnification', 'field_width',
        'user'); 'user' if a scale is given without a source.
    field_width_mm : float, optional
        Width of the photo's field of view (mm), the fallback when there is
        neither a card nor ``px_per_mm`` (``scale_source='field_width'``).
    mode : {'auto', 'closeup', 'overview'}
        'auto' tells them apart with :func:`tracker.imaging.segment.detect_mode`.
    polarity : {'dark', 'light'}, optional
        Hair darker or lighter than the scalp; chosen from the photo when
        None. Fix it per view so that recaptures cannot flip it.
    thin_um : float
        Shafts thinner than this many micrometres count as thin.
    card : bool
        Look for the calibration card: a usable card gives the scale
        (``scale_source='card'``) and the white balance, and the card's area
        is left out of the measurement.
    exclude : (H, W) bool array, optional
        Pixels left out of the measurement (e.g. outside the photo after a warp).

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
    if thin_um <= 0:
        raise ValueError("thin_um must be positive")
    if polarity not in (None, "dark", "light"):
        raise ValueError("polarity must be 'dark', 'light' or None (chosen from the photo)")
    if exclude is not None and (not isinstance(exclude, np.ndarray) or exclude.shape != pixels.shape[:2]):
        raise ValueError("exclude must be a bool array of the photo's height and width")
    _check_size(pixels)
    found, pixels, pyramid, mode = _scale_and_mode(
        pixels, mode, px_per_mm=px_per_mm, scale_source=scale_source, field_width_mm=field_width_mm, card=card
    )
    if found.card_mask is not None:
        exclude = found.card_mask if exclude is None else (exclude | found.card_mask)
    result = _measure(
        pixels, roi=roi, scale=found.scale, mode=mode, polarity=polarity, thin_um=thin_um, exclude=exclude,
        pyramid=pyramid,
    )
    if found.wb_gains is not None:
        result.parameters["white_balance_gains"] = [round(float(g), 6) for g in found.wb_gains]
    return replace(
        result,
        notes=found.notes + result.notes,
        card=found.card_record(),
        roi_source="whole_photo" if roi is None else "manual",
    )


def size_problem(shape: tuple[int, ...]) -> str | None:
    """What is wrong with a photo of `shape` too small to hold a shaft
    (MIN_PHOTO_SIDE), and what to do; None when it is large enough.

    Examples
    --------
    >>> size_problem((6, 640)) is not None, size_problem((480, 640))
    (True, None)
    """
    height, width = shape[:2]
    if min(height, width) >= MIN_PHOTO_SIDE:
        return None
    return (
        f"the photo is {width} x {height} pixels, too small to measure hair (at least "
        f"{MIN_PHOTO_SIDE} pixels on each side): send the original file from the camera"
    )


def _check_size(pixels: np.ndarray) -> None:
    """Refuse a photo too small to hold a shaft, with what to do (:func:`size_problem`)."""
    if (problem := size_problem(pixels.shape)) is not None:
        raise ValueError(problem)


def _working_width(
    pyramid: segment.Pyramid, work: np.ndarray, factor: float, polarity: segment.Polarity, plane: np.ndarray
) -> float:
    """The shaft width on the working copy `work` (the photo scaled by
    `factor`; `plane` is its :func:`segment.hair_plane`), estimated on the
    fixed halvings of the photo on either side of it and blended by the
    working size's place between them (geometrically).

    The working size follows the first width estimate, which moves a little
    when a photo is re-exposed; estimated on the working copy itself, the
    width would then move several times more (the resampling moves the
    distances it is the median of). The halvings do not move with it, and the
    blend moves smoothly from one to the other."""
    image = pyramid.image
    upper = pyramid.halving((work.shape[1], work.shape[0]))
    if upper.shape[:2] == work.shape[:2]:  # the photo itself, or one of its halvings
        return segment.estimate_shaft_width(work, polarity=polarity, plane=plane)
    lower = pyramid.halving((max(1, upper.shape[1] // 2), max(1, upper.shape[0] // 2)))
    f_upper, f_lower = upper.shape[1] / image.shape[1], lower.shape[1] / image.shape[1]
    if lower is upper or max(upper.shape[:2]) > MAX_WORKING_SIDE:
        # No halving below it, or the one above is larger than any working
        # copy may be (MAX_WORKING_SIDE, for the cost): one level alone.
        level, f = (upper, f_upper) if lower is upper else (lower, f_lower)
        return _scaled_width(segment.estimate_shaft_width(level, polarity=polarity), f, factor)
    # one after the other: each shares its line filters out among the threads
    w_upper, w_lower = (segment.estimate_shaft_width(level, polarity=polarity) for level in (upper, lower))
    share = math.log(f_upper / factor) / math.log(f_upper / f_lower)
    return math.exp((1 - share) * math.log(_scaled_width(w_upper, f_upper, factor))
                    + share * math.log(_scaled_width(w_lower, f_lower, factor)))


def _scaled_width(width: float, at: float, to: float) -> float:
    """A width estimated on a copy scaled by `at`, as it would read on one
    scaled by `to`. The estimate runs a pixel over the width at any size
    (twice the distance from the scalp at a shaft's centre pixel): the pixel
    is taken off before scaling and put back after."""
    return max(width - 1.0, 0.5) * to / at + 1.0


def _measure(
    pixels: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None,
    scale: Scale,
    mode: segment.Mode,
    polarity: Polarity | None,
    thin_um: float,
    exclude: np.ndarray | None,
    pyramid: segment.Pyramid | None = None,
) -> Analysis:
    """The measurement itself, on pixels already white-balanced, with a known scale and mode.

    `pyramid` holds reduced copies already made, used only if they are of `pixels`.
    """
    height, width = pixels.shape[:2]
    roi = (0, 0, width, height) if roi is None else tuple(int(v) for v in roi)
    measure.check_roi(pixels.shape, roi)
    roi_mask = None  # the ROI slice, unless something in it is left out
    if exclude is not None and exclude.any():
        roi_mask = measure.roi_mask(pixels.shape, roi) & ~exclude
        if not roi_mask.any():
            raise ValueError(
                "the whole ROI is covered by the calibration card or lies outside the photo; "
                "draw the ROI on scalp"
            )
    px_per_mm = scale.px_per_mm

    # Every reduced copy comes from one pyramid of halvings of the photo.
    if pyramid is None or pyramid.image is not pixels:
        pyramid = segment.Pyramid(pixels)
    # The quality checks need none of what follows: they run meanwhile, an
    # overview's beside its segmentation, a close-up's beside its shaft search
    # (below: the steps before it share their work among the cores themselves).
    quality = partial(assess_quality, pixels, mode=mode, roi=roi, pyramid=pyramid)
    quality_check = parallel.start(quality) if mode == "overview" else None
    notes: list[str] = []
    parameters: dict[str, Any] = {"mode": mode, "thin_um": thin_um}
    measured_roi = roi  # the ROI less any burnt-in bars

    if mode == "overview":
        factor = min(1.0, OVERVIEW_WORKING_SIDE / max(height, width))
        work = pyramid.reduce(factor)
        if polarity is None:
            polarity = segment.choose_overview_polarity(work)
        work_mask = segment.segment_overview(work, polarity=polarity)
        groups: tuple[measure.HairGroup, ...] = ()
        parameters["polarity"] = polarity
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
        # Every reduced copy comes from one pyramid of halvings of the photo.
        if photo.shape[:2] != (height, width):
            pyramid = segment.Pyramid(np.ascontiguousarray(photo))
        thumb = pyramid.reduce(thumb_factor)
        if polarity is None:
            polarity = segment.choose_polarity(thumb)
        thumb_width = segment.estimate_shaft_width(thumb, polarity=polarity) / thumb_factor
        factor = min(1.0, WORKING_SHAFT_WIDTH / thumb_width, MAX_WORKING_SIDE / max(photo.shape[:2]))
        work = pyramid.reduce(factor)
        plane = segment.hair_plane(work, polarity)
        shaft_width = _working_width(pyramid, work, factor, polarity, plane)
        contrast = segment.hair_contrast(work, max_width_px=2 * shaft_width, polarity=polarity, plane=plane)
        work_mask = segment.shaft_mask(contrast, shaft_width_px=shaft_width, polarity=polarity)
        work_unknown = None  # outside the photo or under the card: shafts may go on there
        if exclude is not None and exclude.any():
            work_unknown = _resize_mask(exclude[top : height - bottom, left : width - right], work.shape)
            work_mask = work_mask & ~work_unknown
        content_roi = (measured_roi[0] - left, measured_roi[1] - top, measured_roi[2], measured_roi[3])
        work_roi = _scaled_roi(content_roi, factor, work.shape)
        narrowest = min(measured_roi[2], measured_roi[3])
        if narrowest < MIN_ROI_SHAFT_WIDTHS * shaft_width / factor:
            notes.append(
                f"The region is {narrowest} px across, less than {MIN_ROI_SHAFT_WIDTHS} shaft widths (a shaft "
                f"is about {shaft_width / factor:.0f} px wide): a count or density in so small a region says "
                "little. Draw a larger region."
            )
        parameters.update(
            polarity=polarity,
            shaft_width_estimate_px=round(shaft_width / factor, 3),
            high_contrast=segment.HIGH_CONTRAST,
            low_contrast=segment.LOW_CONTRAST,
        )
    parameters["working_scale"] = round(factor, 6)
    bars = tuple(parameters.get("edge_bars_px", (0, 0, 0, 0)))
    in_photo = partial(_photo_coverage, work_mask, bars, pixels.shape, measured_roi, roi, roi_mask, exclude)
    if mode == "overview":
        mask, coverage, roi_px, excluded_px = in_photo()
    else:
        # The mask at the photo's size, its coverage and the quality checks need
        # none of the shafts: they are made meanwhile (OpenCV and NumPy, on the
        # cores the shaft search, in Python, leaves free).
        photo_mask, quality_check = parallel.start(in_photo), parallel.start(quality)
        try:
            work_groups = measure.find_hair_groups(
                work_mask, shaft_width_px=shaft_width, roi=work_roi, unknown=work_unknown
            )
        finally:
            # A failed search leaves no work running behind it; its own error is the one raised.
            futures.wait([photo_mask, quality_check])
        groups = tuple(_scale_group(g, factor, (bars[2], bars[0])) for g in work_groups)
        mask, coverage, roi_px, excluded_px = photo_mask.result()
    if excluded_px is not None:
        parameters["excluded_px"] = excluded_px

    count = width_px = width_um = density = thin = None
    # what density and width in µm are made of (see the export's data dictionary)
    parameters["measured_area_px"] = int(roi_px)
    if px_per_mm:
        parameters["measured_px_per_mm"] = float(px_per_mm)
    if mode == "closeup":
        count = measure.hair_count(groups)
        width_px = measure.mean_width_px(groups)
        if count == 0:
            notes.append(
                "No hair shaft was counted in the region: shaft width and thin-hair share need at least one."
            )
        if px_per_mm:
            roi_cm2 = roi_px / px_per_mm**2 / 100.0
            density = count / roi_cm2
            if width_px is not None:
                width_um = width_px / px_per_mm * 1000.0
                thin = measure.thin_share_pct(groups, thin_width_px=thin_um * px_per_mm / 1000.0)
        else:
            notes.append(NO_SCALE_NOTE)
    return Analysis(
        mode=mode,
        roi=roi,
        scale=scale,
        quality=quality_check.result(),
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


def _photo_coverage(
    work_mask: np.ndarray,
    bars: tuple[int, ...],
    shape: tuple[int, ...],
    measured_roi: tuple[int, int, int, int],
    roi: tuple[int, int, int, int],
    roi_mask: np.ndarray | None,
    exclude: np.ndarray | None,
) -> tuple[np.ndarray, float, int, int | None]:
    """The hair mask in the photo's pixels and its coverage of the region measured.

    Parameters
    ----------
    work_mask : (h, w) bool array
        The hair mask of the working copy, which covers the photo less its
        edge `bars`; it is brought to that size by linear interpolation (hair
        where it reaches half).
    bars : (top, bottom, left, right)
        Pixels of flat bars at the photo's edges, which hold no hair.
    shape : tuple
        The photo's shape.
    measured_roi : (x, y, w, h)
        The region measured: the ROI less the bars.
    roi : (x, y, w, h)
        The ROI as given.
    roi_mask : (H, W) bool array or None
        The ROI less the excluded pixels; None when the photo has none
        excluded (`exclude` None or empty). It is read, not changed.
    exclude : (H, W) bool array or None
        Pixels left out of the measurement.

    Returns
    -------
    mask : (H, W) bool array
        Less `exclude` when `roi_mask` is given.
    coverage : float
        Percent of the region's pixels that are hair.
    roi_px : int
        Pixels of the region.
    excluded_px : int or None
        Pixels of `roi` left out, when `roi_mask` is given.

    Examples
    --------
    >>> work = np.zeros((2, 4), bool); work[:, :2] = True
    >>> whole = (0, 0, 8, 4)
    >>> mask, coverage, roi_px, excluded = _photo_coverage(work, (0, 0, 0, 0), (4, 8), whole, whole, None, None)
    >>> int(mask.sum()), coverage, roi_px, excluded
    (16, 50.0, 32, None)
    """
    height, width = shape[:2]
    top, bottom, left, right = bars
    content = (height - top - bottom, width - left - right)
    mask = work_mask
    if mask.shape != content:
        up = cv2.resize(work_mask.astype(np.uint8) * 255, content[::-1], interpolation=cv2.INTER_LINEAR)
        mask = cv2.threshold(up, 127, 1, cv2.THRESH_BINARY, dst=up)[1].view(bool)  # >= 128, in place
    if mask.shape != (height, width):  # a bar holds no hair
        full = np.zeros((height, width), bool)
        full[top : top + content[0], left : left + content[1]] = mask
        mask = full
    x, y, w, h = measured_roi
    if roi_mask is None or exclude is None:  # (both or neither: the second for the type checker)
        roi_px = w * h
        return mask, float(100.0 * np.count_nonzero(mask[y : y + h, x : x + w]) / roi_px), roi_px, None
    mask = mask & ~exclude
    excluded_px = int(np.count_nonzero(exclude[roi[1] : roi[1] + roi[3], roi[0] : roi[0] + roi[2]]))
    roi_mask = roi_mask & measure.roi_mask(shape, measured_roi)
    roi_px = int(np.count_nonzero(roi_mask))
    return mask, float(100.0 * np.count_nonzero(mask & roi_mask) / roi_px), roi_px, excluded_px


def _resize_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if mask.shape == tuple(shape[:2]):
        return mask
    small = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return small >= 128


# --------------------------------------------------------------------------
# one photo of a view: the ROI placed through the registration to the baseline
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewSettings:
    """Mode and hair polarity of a view, fixed from its baseline photo.

    A recapture that is brighter or darker cannot then flip what counts as
    hair (an overview's polarity flips when red clips at about 1.15 x the
    baseline's brightness).
    """

    mode: str
    polarity: str

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "polarity": self.polarity}


def view_settings(analysis: Analysis) -> ViewSettings:
    """The settings a view keeps, from the analysis of its baseline photo.

    Examples
    --------
    >>> img = np.full((300, 400, 3), 210, np.uint8)
    >>> for y in (40, 100, 160, 220): img[y:y + 10, 50:350] = 40
    >>> view_settings(analyze(img))
    ViewSettings(mode='closeup', polarity='dark')
    """
    return ViewSettings(analysis.mode, str(analysis.parameters["polarity"]))


#: Seed of OpenCV's random generator for the robust fit of a registration.
REGISTRATION_SEED = 5


def register_to_baseline(image: np.ndarray, baseline: np.ndarray | PhotoFeatures) -> Registration:
    """:func:`tracker.imaging.register.register` made reproducible.

    `baseline` is the baseline photo or its
    :func:`tracker.imaging.register.photo_features` (found with the defaults).

    The robust fit draws random samples from OpenCV's global generator, so
    two calls can differ in the third decimal of a pixel; seeding it first
    gives the same registration, and so the same numbers, every time.
    """
    cv2.setRNGSeed(REGISTRATION_SEED)
    return register(image, baseline)


def roi_margin(roi: tuple[int, int, int, int]) -> int:
    """Pixels cut around the ROI by :func:`analyze_in_view` (:data:`ROI_MARGIN` of its short side)."""
    return int(ROI_MARGIN * min(roi[2], roi[3]))


def _box_of(quad: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Axis-aligned box (pixel ROI) around a quadrilateral of pixel-area corners, clipped to the photo."""
    h, w = shape[:2]
    x0 = int(np.clip(np.floor(quad[:, 0].min() + 0.5), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min() + 0.5), 0, h - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max() + 0.5), x0 + 1, w))
    y1 = int(np.clip(np.ceil(quad[:, 1].max() + 0.5), y0 + 1, h))
    return x0, y0, x1 - x0, y1 - y0


def _area_corners(roi: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = (float(v) for v in roi)
    return np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])


def analyze_in_view(
    pixels: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    is_baseline: bool = False,
    registration: Registration | None = None,
    manual_roi: tuple[int, int, int, int] | None = None,
    settings: ViewSettings | None = None,
    mode: ModeChoice = "auto",
    px_per_mm: float | None = None,
    scale_source: ScaleSource | None = None,
    field_width_mm: float | None = None,
    thin_um: float = THIN_HAIR_UM,
    card: bool = True,
) -> Analysis:
    """Measure one photo of a view with the view's ROI placed where it belongs.

    The ROI is placed, in this order:

    - ``manual_roi`` given: that box in this photo's pixels ('manual');
    - no ``roi``: the whole photo ('whole_photo');
    - the baseline photo itself: the ROI plus a margin cut out ('baseline');
    - a usable ``registration`` to the baseline: the baseline ROI's patch of
      scalp plus the same margin, resampled onto the baseline's grid
      (:func:`tracker.imaging.register.warp_roi`) and measured there at the
      scale the photo has on that grid ('registered');
    - otherwise the ROI cannot be placed: the whole photo is measured and
      flagged ('unregistered'); place the ROI by hand for this photo.

    The scale (card, typed, field width) and the card's white balance come
    from the whole photo; the card's area and any pixels from outside the
    photo are left out.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB array
    roi : (x, y, w, h), optional
        The view's ROI in the baseline photo's pixels.
    is_baseline : bool
        True for the baseline photo the ROI was drawn on.
    registration : Registration, optional
        This photo registered to the baseline (:func:`tracker.imaging.register.register`).
    manual_roi : (x, y, w, h), optional
        An ROI placed by hand on this photo (its own pixels).
    settings : ViewSettings, optional
        The view's mode and polarity (from the baseline); chosen from this
        photo when None (as for the baseline itself).
    mode : {'auto', 'closeup', 'overview'}
        The mode when ``settings`` is None (e.g. 'closeup' for a close-up view);
        'auto' is told from the whole photo, not from the cut-out about the ROI.
    px_per_mm, scale_source, field_width_mm, thin_um, card
        As for :func:`analyze`.

    Returns
    -------
    Analysis
        ``roi_source`` says how the ROI was placed; ``placement`` records the
        ROI in baseline pixels, the box and corners applied in this photo's
        pixels and the registration's score; ``image`` is the picture that was
        measured (the cut-out when one was made), ``mask`` and ``roi`` refer to it.

    Examples
    --------
    >>> img = np.full((300, 400, 3), 210, np.uint8)
    >>> for y in (40, 100, 160, 220): img[y:y + 10, 50:350] = 40
    >>> a = analyze_in_view(img, roi=(40, 30, 320, 210), is_baseline=True)
    >>> a.roi_source, a.hair_count, a.placement["photo_roi"]
    ('baseline', 4, [40, 30, 320, 210])
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            "pixels must be an (H, W, 3) uint8 RGB array; decode photos with tracker.photo.load_photo"
        )
    _check_size(pixels)
    if settings is not None:
        mode = settings.mode  # type: ignore[assignment]
    polarity = None if settings is None else settings.polarity
    # The mode is the whole photo's: a cut-out of an overview, enlarged
    # about the ROI, can look like a close-up (strands a few pixels wide).
    found, pixels, pyramid, mode = _scale_and_mode(
        pixels, mode, px_per_mm=px_per_mm, scale_source=scale_source, field_width_mm=field_width_mm, card=card
    )
    h, w = pixels.shape[:2]
    notes = list(found.notes)
    placement: dict[str, Any] = {"baseline_roi": None if roi is None else [int(v) for v in roi]}
    image = pixels
    exclude = found.card_mask
    scale = found.scale
    analysed_roi: tuple[int, int, int, int] | None
    if registration is not None:
        placement.update(registration_ok=bool(registration.ok), registration_score=float(registration.score))

    if manual_roi is not None:
        source = "manual"
        analysed_roi = tuple(int(v) for v in manual_roi)  # type: ignore[assignment]
        placement["photo_roi"] = list(analysed_roi)
        placement["photo_corners"] = _area_corners(analysed_roi).round(3).tolist()
    elif roi is None:
        source = "whole_photo"
        analysed_roi = None
        placement["photo_roi"] = [0, 0, w, h]
    elif is_baseline or (registration is not None and registration.ok):
        source = "baseline" if is_baseline else "registered"
        reg = None if is_baseline else registration
        margin = roi_margin(roi)
        cut = warp_roi(pixels, reg, roi, margin=margin)
        image = cut.image
        analysed_roi = cut.roi
        outside = ~cut.valid
        if found.card_mask is not None:
            shift = np.array([[1.0, 0, -cut.origin[0]], [0, 1, -cut.origin[1]], [0, 0, 1]])
            m = shift if reg is None else shift @ reg.matrix
            size = (image.shape[1], image.shape[0])
            card_cut = cv2.warpPerspective(found.card_mask.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0
            outside = outside | card_cut
        exclude = outside if outside.any() else None
        if reg is None:
            corners = _area_corners(roi)
        else:
            corners = roi_corners(roi, reg, to="image")
            if scale.px_per_mm is not None:
                # the scalp's scale on the baseline's grid: this photo's px/mm divided by
                # how many of its pixels one baseline pixel covers at the ROI's centre
                centre = np.array([[roi[0] + (roi[2] - 1) / 2, roi[1] + (roi[3] - 1) / 2]])
                inv = reg.inverse
                d = 0.5
                pts = map_points(inv, np.vstack([centre, centre + [d, 0], centre + [0, d]]))
                jac = np.column_stack([(pts[1] - pts[0]) / d, (pts[2] - pts[0]) / d])
                stretch = math.sqrt(abs(float(np.linalg.det(jac))))
                scale = Scale(scale.px_per_mm / stretch, scale.source)
                placement["stretch_to_baseline"] = round(stretch, 6)
            if cut.valid_fraction < 0.98:
                notes.append(
                    f"{100 * (1 - cut.valid_fraction):.0f} % of the ROI lies outside this photo; "
                    "only the part inside is measured."
                )
        if reg is not None:
            placement.update(
                to_baseline=np.asarray(reg.matrix, float).tolist(), baseline_shape=list(reg.baseline_shape)
            )
        placement.update(
            margin_px=margin,
            crop_origin=list(cut.origin),
            valid_fraction=round(float(cut.valid_fraction), 6),
            photo_corners=np.round(corners, 3).tolist(),
            photo_roi=list(_box_of(corners, pixels.shape)),
        )
    else:
        source = "unregistered"
        analysed_roi = None
        placement["photo_roi"] = [0, 0, w, h]
        why = reason_without_advice(registration.reason) if registration is not None else ""
        notes.append(
            "Place the region by hand for this photo, or retake it from the same spot as the baseline photo: "
            "the region could not be placed on it, so the whole photo was measured. "
            f"Why: {why or 'it could not be matched to the baseline photo'}."
        )
    result = _measure(
        image, roi=analysed_roi, scale=scale, mode=mode, polarity=polarity, thin_um=thin_um, exclude=exclude,
        pyramid=pyramid,  # used only when the whole photo is measured
    )
    params = dict(result.parameters)
    params["roi_source"] = source
    if settings is not None:
        params["view_settings"] = settings.to_dict()
    if found.wb_gains is not None:
        params["white_balance_gains"] = [round(float(g), 6) for g in found.wb_gains]
    if scale.px_per_mm is not None and found.scale.px_per_mm != scale.px_per_mm:
        params["photo_px_per_mm"] = found.scale.px_per_mm
    return replace(
        result,
        parameters=params,
        notes=tuple(notes) + result.notes,
        card=found.card_record(),
        roi_source=source,
        placement=placement,
        image=image,
    )


def patch_mask_in_photo(
    result: Analysis, registration: Any, shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[measure.HairGroup, ...]]:
    """The hair mask of an :func:`analyze_in_view` cut-out, in the photo's own pixels.

    ``registration`` is the photo's registration (anything with a 3x3
    ``matrix`` onto the baseline), None for the baseline photo. Only the
    ROI's part of the mask is carried back. Hair groups are returned for the
    baseline photo (a plain shift); a registered photo's are left out.
    """
    x0, y0 = result.placement.get("crop_origin", (0, 0))
    rx, ry, rw, rh = result.roi
    inside = np.zeros(result.mask.shape, bool)
    inside[ry : ry + rh, rx : rx + rw] = True
    patch = (result.mask & inside).astype(np.uint8)
    shift = np.array([[1.0, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    to_patch = shift if registration is None else shift @ np.asarray(registration.matrix, float)
    back = cv2.warpPerspective(
        patch, to_patch, (shape[1], shape[0]), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    ).astype(bool)
    groups: tuple[measure.HairGroup, ...] = ()
    if registration is None:
        groups = tuple(
            g.moved(lambda x, y: (x + x0, y + y0), (g.bbox[0] + x0, g.bbox[1] + y0, g.bbox[2] + x0, g.bbox[3] + y0))
            for g in result.groups
        )
    return back, groups


def recompute(pixels: np.ndarray, parameters: dict[str, Any]) -> Analysis:
    """Measure a photo again from a stored measurement's ``parameters`` (its provenance).

    Everything :func:`analyze_in_view` needs is in them: how the ROI was
    placed (``roi_source`` and ``placement``, with the registration's matrix
    onto the baseline for a registered photo), the view's settings and the
    typed scale; the calibration card is found in the photo again. The
    numbers come out the same, bit for bit, with the same
    :data:`ALGORITHM_VERSION`.
    """
    place = parameters.get("placement") or {}
    source = parameters.get("roi_source", "whole_photo")
    typed = parameters.get("typed_scale") or {}
    vs = parameters.get("view_settings")
    settings = ViewSettings(**vs) if vs else None
    kwargs: dict[str, Any] = {
        "settings": settings,
        "mode": parameters.get("mode", "auto") if settings is None else "auto",
        "px_per_mm": typed.get("px_per_mm"),
        "scale_source": typed.get("scale_source"),
        "field_width_mm": typed.get("field_width_mm"),
        "thin_um": parameters.get("thin_um", THIN_HAIR_UM),
    }
    roi = place.get("baseline_roi")
    roi = None if roi is None else tuple(int(v) for v in roi)
    if source == "manual":
        return analyze_in_view(pixels, roi=roi, manual_roi=tuple(place["photo_roi"]), **kwargs)
    if source == "baseline":
        return analyze_in_view(pixels, roi=roi, is_baseline=True, **kwargs)
    if source == "registered":
        reg = Registration(
            matrix=np.asarray(place["to_baseline"], float), ok=True, reason="",
            score=float(place.get("registration_score", 0.0)), n_matches=0, n_inliers=0, rms_px=0.0, scale=1.0,
            rotation_deg=0.0, anisotropy=1.0, overlap=1.0, image_shape=tuple(pixels.shape[:2]),
            baseline_shape=tuple(place["baseline_shape"]), method="stored",
        )
        return analyze_in_view(pixels, roi=roi, registration=reg, **kwargs)
    if source == "unregistered":
        return analyze_in_view(pixels, roi=roi, **kwargs)
    return analyze_in_view(pixels, roi=None, **kwargs)
