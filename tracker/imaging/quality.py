"""Photo quality checks: sharpness, exposure, glare and resolution.

Each check returns ``"pass"``, ``"warn"`` or ``"fail"`` with the figure it
measured and one sentence a person can act on. Sharpness, exposure and glare
are measured on a copy reduced to :data:`ANALYSIS_LONG_SIDE` pixels on the
long side, so the same scene gets the same verdict at any camera resolution
and a 12 MP photo is checked in about 20 ms of CPU time.

Thresholds are module constants; the comment above each says how it was
chosen. The sharpness thresholds were calibrated on generated close-ups: dark
shafts on light textured skin and light shafts on dark skin, 1 to 400 hairs
per frame, full and 35 % brightness, sensor noise up to 10 grey levels, JPEG
quality 30, rendered at 1000 to 4000 pixels wide and blurred with a Gaussian
of sigma 0, 1, 1.4, 2, 2.8, 4 and 8 pixels relative to a 1024-pixel long
side. The exposure and glare thresholds are starting points set on generated
scenes and on what the checks must tolerate (dark hair, a black lens rim);
they have not yet been checked against real photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from skimage.util import img_as_ubyte

if TYPE_CHECKING:
    from tracker.imaging.segment import Pyramid

__all__ = ["Check", "QualityReport", "Status", "assess_quality"]

Status = Literal["pass", "warn", "fail"]
_SEVERITY: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}

#: Long side, in pixels, of the copy the sharpness, exposure and glare checks
#: run on. Hair shaft edges of close-ups (3-20 px wide at this size) stay
#: resolved; images smaller than this are analysed as they are.
ANALYSIS_LONG_SIDE = 1024

# --- sharpness -------------------------------------------------------------
# The measure is the steepness of the strongest edges: gradient magnitude
# divided by the local contrast (max - min within CONTRAST_RADIUS), at the
# EDGE_PERCENTILE of edge pixels. It is about 0.31 for a sharp photo and falls
# roughly as 1 / blur width; it does not depend on brightness, contrast or on
# how many hairs are in the frame.
#: Gaussian smoothing (px at the analysis size) before measuring edges; makes
#: the figure insensitive to sensor noise and JPEG blocks.
EDGE_SMOOTHING_SIGMA = 1.0
#: Half-size (px) of the window for local contrast: holds 95 % of the step of
#: an edge blurred with sigma 4, the fail boundary.
CONTRAST_RADIUS = 8
#: Edges weaker than this (grey levels, 0-255) are skin texture or noise.
MIN_EDGE_CONTRAST = 10.0
#: Edges count when their contrast is at least this share of the 99th
#: percentile of local contrast, so faint texture does not dilute the hairs.
EDGE_CONTRAST_SHARE = 0.5
#: Percentile of edge steepness reported; the steepest edges decide, so a
#: frame with a single hair is judged as fairly as a dense one.
EDGE_PERCENTILE = 95.0
#: Steepness at or above this passes. Calibration: blur sigma 1 measured
#: 0.228-0.321, sigma 2 measured 0.165-0.194 (single-pixel overview strands:
#: 0.233, the only scene passing at sigma 2).
SHARPNESS_PASS = 0.21
#: Steepness below this fails. Calibration: sigma 2 measured at least 0.165
#: with hairs in the frame (bare skin: 0.139), sigma 4 at most 0.128
#: (single-pixel overview strands: 0.140).
SHARPNESS_FAIL = 0.145

# --- exposure (luma, 0-255) -------------------------------------------------
#: Pixels at or below this level count as clipped shadows.
SHADOW_LEVEL = 5
#: Pixels at or above this level count as clipped highlights.
HIGHLIGHT_LEVEL = 250
#: Mean brightness at or below these warns / fails. Set so that a frame mostly
#: covered by dark hair on well-lit skin (mean about 70-80) still passes.
DARK_MEAN_WARN = 60.0
DARK_MEAN_FAIL = 35.0
#: Mean brightness at or above these warns / fails. Set so that light skin
#: lit brightly but unclipped (about 200-210) still passes.
BRIGHT_MEAN_WARN = 215.0
BRIGHT_MEAN_FAIL = 235.0
#: Share of clipped shadows that warns / fails. Generous because the black
#: rim of a round dermatoscope field covers about 40 % of a 4:3 frame; a
#: region of interest inside the rim removes it.
SHADOW_SHARE_WARN = 0.15
SHADOW_SHARE_FAIL = 0.50
#: Share of clipped highlights that warns / fails: clipped skin hides hairs,
#: and 20 % white is well past a few specular spots.
HIGHLIGHT_SHARE_WARN = 0.05
HIGHLIGHT_SHARE_FAIL = 0.20

# --- glare --------------------------------------------------------------------
#: A glare pixel is nearly clipped (max channel at least GLARE_VALUE: specular
#: reflections saturate the sensor, grey and white hair rarely does) and nearly
#: colourless (saturation (max - min) / max at most GLARE_SATURATION).
GLARE_VALUE = 245
GLARE_SATURATION = 0.2
#: Glare must form blobs at least this wide (px at the analysis size): thin
#: grey or white hair shafts and single bright pixels are not glare.
GLARE_MIN_WIDTH = 5
#: Share of the area covered by glare that warns / fails: 1 % is a few
#: spots on which hairs may be missed, 5 % a patch that hides many.
GLARE_SHARE_WARN = 0.01
GLARE_SHARE_FAIL = 0.05

# --- resolution (short side, px) ----------------------------------------------
#: (pass at or above, fail below) for each mode; in between warns. Close-ups
#: need single shafts several pixels wide; overviews need the hair mass of a
#: whole crown resolved.
RESOLUTION_LIMITS: dict[str, tuple[int, int]] = {
    "closeup": (640, 320),
    "overview": (1000, 600),
}


@dataclass(frozen=True)
class Check:
    """Outcome of one quality check.

    Attributes
    ----------
    name : str
        ``'sharpness'``, ``'exposure'``, ``'glare'`` or ``'resolution'``.
    status : {'pass', 'warn', 'fail'}
        The verdict.
    value : float
        The figure the verdict rests on: edge steepness (sharpness), mean
        brightness 0-255 (exposure), glare share of the area in % (glare),
        short side in pixels (resolution).
    advice : str
        One sentence: what was found and, unless the check passed, what to do.
    """

    name: str
    status: Status
    value: float
    advice: str

    def __post_init__(self) -> None:
        if self.status not in _SEVERITY:
            raise ValueError(
                f"status must be 'pass', 'warn' or 'fail', got {self.status!r}"
            )

    def to_dict(self) -> dict:
        """Return ``{"status", "value", "advice"}`` with plain Python types."""
        return {
            "status": self.status,
            "value": float(self.value),
            "advice": self.advice,
        }


@dataclass(frozen=True)
class QualityReport:
    """All quality checks of one photo; its status is the worst of them."""

    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        names = [check.name for check in self.checks]
        if not names or len(set(names)) != len(names):
            raise ValueError(
                f"a QualityReport needs at least one check and unique check "
                f"names, got {names}"
            )

    @property
    def status(self) -> Status:
        """The worst status among the checks."""
        return max((check.status for check in self.checks), key=_SEVERITY.__getitem__)

    def to_dict(self) -> dict:
        """Return ``{"status": ..., "checks": {name: {status, value, advice}}}``."""
        return {
            "status": self.status,
            "checks": {check.name: check.to_dict() for check in self.checks},
        }


def assess_quality(
    image: np.ndarray,
    *,
    mode: Literal["closeup", "overview"] = "closeup",
    roi: tuple[int, int, int, int] | None = None,
    pyramid: Pyramid | None = None,
) -> QualityReport:
    """Check whether a scalp photo is fit for measurement.

    Parameters
    ----------
    image : (H, W, 3) ndarray
        RGB photo, ``uint8``, ``uint16`` or floating point in [0, 1].
    mode : {'closeup', 'overview'}, optional
        ``'closeup'`` for trichoscopy / dermatoscope / macro photos,
        ``'overview'`` for phone photos of the crown, part line and so on.
        Only the resolution limits and the glare advice differ.
    roi : (x, y, w, h), optional
        Region of interest in image pixels. Sharpness, exposure and glare are
        measured inside it only; resolution always refers to the whole photo.
    pyramid : Pyramid, optional
        Reduced copies of ``image`` (8-bit) already made: with no ROI or one
        covering the whole photo, its halvings are used rather than made again.

    Returns
    -------
    QualityReport
        Checks named ``'sharpness'``, ``'exposure'``, ``'glare'`` and
        ``'resolution'``, in that order.

    Raises
    ------
    ValueError
        If the image is not an RGB array of a supported type, if a float image
        leaves [0, 1], if ``roi`` does not lie inside the image or if ``mode``
        is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from tracker.imaging.quality import assess_quality
    >>> flat = np.full((768, 1024, 3), 150, dtype=np.uint8)
    >>> report = assess_quality(flat)
    >>> report.status
    'fail'
    >>> {check.name: check.status for check in report.checks}
    {'sharpness': 'fail', 'exposure': 'pass', 'glare': 'pass', 'resolution': 'pass'}
    >>> report.checks[0].advice.split(":")[0]
    'The photo shows too little detail to judge focus'
    """
    if mode not in RESOLUTION_LIMITS:
        raise ValueError(f"mode must be 'closeup' or 'overview', got {mode!r}")
    rgb = _as_rgb_ubyte(image)
    height, width = rgb.shape[:2]
    x, y, w, h = _check_roi(roi, width, height)
    region = rgb[y : y + h, x : x + w]
    scale = min(1.0, ANALYSIS_LONG_SIDE / max(height, width))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Nearest-neighbour sampling keeps clipped and glare pixels as they are,
    # so their shares estimate those of the full-resolution photo.
    sample = cv2.resize(region, size, interpolation=cv2.INTER_NEAREST)
    if pyramid is not None and pyramid.image is rgb and (w, h) == (width, height):
        start = pyramid.halving(size)  # the same halvings _downscale_gray makes
    else:
        start = region
    return QualityReport(
        checks=(
            _sharpness(_downscale_gray(start, size)),
            _exposure(cv2.cvtColor(sample, cv2.COLOR_RGB2GRAY)),
            _glare(sample, mode),
            _resolution(width, height, mode),
        )
    )


def _as_rgb_ubyte(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        raise ValueError(
            f"expected an RGB image of shape (height, width, 3), got a grayscale "
            f"array of shape {image.shape}; stack it with np.dstack([image] * 3)"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        raise ValueError(
            f"expected an RGB image of shape (height, width, 3), got 4 channels "
            f"{image.shape}; drop the alpha channel with image[..., :3]"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(
            f"expected a non-empty RGB image of shape (height, width, 3), got "
            f"shape {image.shape}; channels go last (use np.moveaxis(image, 0, -1) "
            f"for channel-first arrays)"
        )
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return img_as_ubyte(image)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError(
                "float images must hold finite values in [0, 1]; divide 8-bit "
                "values by 255 or 16-bit values by 65535 first"
            )
        return img_as_ubyte(image)
    raise ValueError(
        f"unsupported dtype {image.dtype}; pass uint8, uint16 or float in [0, 1] "
        f"(e.g. image.astype(np.uint8) for 8-bit values held in a wider integer)"
    )


def _check_roi(
    roi: tuple[int, int, int, int] | None, width: int, height: int
) -> tuple[int, int, int, int]:
    if roi is None:
        return 0, 0, width, height
    values = tuple(roi)
    if (
        len(values) != 4
        or not all(isinstance(v, (int, np.integer)) for v in values)
        or values[0] < 0
        or values[1] < 0
        or values[2] < 1
        or values[3] < 1
        or values[0] + values[2] > width
        or values[1] + values[3] > height
    ):
        raise ValueError(
            f"roi must be four integers (x, y, w, h) with w, h >= 1 inside the "
            f"{width} x {height} image, got {roi!r}; clip it to the image"
        )
    return tuple(int(v) for v in values)


def _downscale_gray(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Grey levels of ``rgb`` reduced to ``size`` (width, height).

    Area-averaging halvings take OpenCV's fast integer path; the last step,
    by a factor below 2, interpolates linearly. Together they cost a few
    milliseconds on a 12 MP photo.
    """
    width, height = size
    while rgb.shape[1] // 2 >= width and rgb.shape[0] // 2 >= height:
        h, w = rgb.shape[:2]
        rgb = cv2.resize(
            rgb[: h - h % 2, : w - w % 2],
            (w // 2, h // 2),
            interpolation=cv2.INTER_AREA,
        )
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if gray.shape != (height, width):
        gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)
    return gray


def _sharpness(gray: np.ndarray) -> Check:
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), EDGE_SMOOTHING_SIGMA)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    window = cv2.getStructuringElement(
        cv2.MORPH_RECT, (2 * CONTRAST_RADIUS + 1, 2 * CONTRAST_RADIUS + 1)
    )
    # Local contrast on whole grey levels: 8-bit morphology is ten times
    # faster and the rounding changes the contrast by at most one level.
    contrast = cv2.morphologyEx(
        np.rint(smooth).astype(np.uint8), cv2.MORPH_GRADIENT, window
    )
    floor = max(MIN_EDGE_CONTRAST, EDGE_CONTRAST_SHARE * _percentile(contrast, 99, 256))
    edges = (contrast >= floor).view(np.uint8)
    if not edges.any():
        return Check(
            "sharpness",
            "fail",
            0.0,
            "The photo shows too little detail to judge focus: clean the lens, "
            "let the camera focus on the scalp, and retake it.",
        )
    steepness = cv2.magnitude(gx, gy) / np.maximum(contrast, 1, dtype=np.float32)
    value = _percentile(steepness, EDGE_PERCENTILE, 1.0, mask=edges)
    if value < SHARPNESS_FAIL:
        return Check(
            "sharpness",
            "fail",
            value,
            "The photo is out of focus: hold the camera still, let it focus, "
            "and retake it.",
        )
    if value < SHARPNESS_PASS:
        return Check(
            "sharpness",
            "warn",
            value,
            "The photo is slightly soft: hold the camera still and let it focus "
            "before the next photo, or retake this one.",
        )
    return Check("sharpness", "pass", value, "Sharp enough to measure.")


def _exposure(luma: np.ndarray) -> Check:
    mean = float(luma.mean())
    shadows = float(np.count_nonzero(luma <= SHADOW_LEVEL)) / luma.size
    highlights = float(np.count_nonzero(luma >= HIGHLIGHT_LEVEL)) / luma.size
    brightness = f"mean brightness {mean:.0f} of 255"
    severity = {"pass": "", "warn": "rather ", "fail": "too "}
    dark = _grade(-mean, -DARK_MEAN_WARN, -DARK_MEAN_FAIL)  # darker is worse
    bright = _grade(mean, BRIGHT_MEAN_WARN, BRIGHT_MEAN_FAIL)
    # Findings in order of preference when equally severe.
    findings: list[tuple[Status, str]] = [
        (
            dark,
            (
                f"The photo is {severity[dark]}dark ({brightness}): add light or "
                f"move closer to a lamp, and retake it."
            ),
        ),
        (
            bright,
            (
                f"The photo is {severity[bright]}bright ({brightness}): reduce the "
                f"light or the exposure, and retake it."
            ),
        ),
        (
            _grade(shadows, SHADOW_SHARE_WARN, SHADOW_SHARE_FAIL),
            (
                f"{shadows:.0%} of the photo is black: add light, or if that is "
                f"the dark rim of the lens, mark a region of interest inside the "
                f"lit area."
            ),
        ),
        (
            _grade(highlights, HIGHLIGHT_SHARE_WARN, HIGHLIGHT_SHARE_FAIL),
            (
                f"{highlights:.0%} of the photo is pure white: reduce the light "
                f"or the exposure, and retake it."
            ),
        ),
    ]
    status, advice = max(findings, key=lambda finding: _SEVERITY[finding[0]])
    if status == "pass":
        advice = f"Exposure is within range ({brightness})."
    return Check("exposure", status, mean, advice)


def _glare(rgb: np.ndarray, mode: str) -> Check:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # S and V scaled to 0-255
    most_saturated = round(255 * GLARE_SATURATION)
    mask = cv2.inRange(hsv, (0, 0, GLARE_VALUE), (180, most_saturated, 255))
    blob = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (GLARE_MIN_WIDTH,) * 2)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, blob)
    share = float(np.count_nonzero(mask)) / mask.size
    found = f"Glare covers {share:.1%} of the photo"
    if mode == "closeup":
        remedy = "tilt the light away or switch the dermatoscope to polarised mode"
    else:
        remedy = "turn off the flash or step out of direct light"
    status = _grade(share, GLARE_SHARE_WARN, GLARE_SHARE_FAIL)
    if status == "fail":
        advice = f"{found}: {remedy}, and retake it."
    elif status == "warn":
        advice = f"{found}: {remedy} for the next photo."
    else:
        advice = f"No glare to speak of ({share:.1%} of the photo)."
    return Check("glare", status, 100 * share, advice)


def _resolution(width: int, height: int, mode: str) -> Check:
    needed, minimum = RESOLUTION_LIMITS[mode]
    short = min(width, height)
    found = f"The photo is {width} x {height} pixels"
    kind = "close-ups" if mode == "closeup" else "overview photos"
    if short < minimum:
        status: Status = "fail"
        advice = (
            f"{found}, too small for {kind} ({needed} pixels on the short side "
            f"needed): send the original file from the camera, not a screenshot "
            f"or a copy from a messaging app."
        )
    elif short < needed:
        status = "warn"
        advice = (
            f"{found}, below the {needed} pixels on the short side recommended "
            f"for {kind}: use the original file from the camera if you have it."
        )
    else:
        status = "pass"
        advice = f"{found}, enough for {kind}."
    return Check("resolution", status, float(short), advice)


def _percentile(
    values: np.ndarray, q: float, upper: float, *, mask: np.ndarray | None = None
) -> float:
    """The ``q``-th percentile of ``values`` in [0, ``upper``), from a histogram.

    Exact for 8-bit values, to 1/1024 of ``upper`` for floats; several times
    faster than sorting (``np.percentile``).
    """
    bins = 256 if values.dtype == np.uint8 else 1024
    hist = cv2.calcHist([values], [0], mask, [bins], [0, upper]).ravel()
    rank = int(np.searchsorted(np.cumsum(hist), q / 100 * hist.sum()))
    return rank * upper / bins


def _grade(value: float, warn: float, fail: float) -> Status:
    """Grade a figure where larger is worse."""
    if value >= fail:
        return "fail"
    if value >= warn:
        return "warn"
    return "pass"
