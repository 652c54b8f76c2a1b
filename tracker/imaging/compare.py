"""Pictures for comparing photos of one view: thumbnails, ROI frames, ghosts, wipes."""

from __future__ import annotations

import cv2
import numpy as np

from tracker.imaging.overlay import ROI_COLOUR


def _check_rgb(image: np.ndarray, name: str = "image") -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {image.dtype} {image.shape}")


def thumbnail(image: np.ndarray, *, max_side: int = 320) -> np.ndarray:
    """A copy of ``image`` whose longer side is at most ``max_side`` pixels.

    Examples
    --------
    >>> thumbnail(np.zeros((1000, 2000, 3), np.uint8), max_side=200).shape
    (100, 200, 3)
    """
    _check_rgb(image)
    if max_side < 1:
        raise ValueError("max_side must be a positive number of pixels")
    h, w = image.shape[:2]
    factor = max_side / max(h, w)
    if factor >= 1:
        return image.copy()
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def draw_roi(image: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``image`` with the ROI ``(x, y, w, h)`` framed and the outside dimmed.

    Examples
    --------
    >>> out = draw_roi(np.full((40, 60, 3), 200, np.uint8), (10, 10, 20, 20))
    >>> int(out[0, 0, 0]) < 200, int(out[20, 20, 0])
    (True, 200)
    """
    _check_rgb(image)
    x, y, w, h = (int(v) for v in roi)
    if w <= 0 or h <= 0:
        raise ValueError(f"ROI {roi} needs a positive width and height")
    out = (image * 0.55).astype(np.uint8)
    inside = np.s_[max(y, 0) : y + h, max(x, 0) : x + w]
    out[inside] = image[inside]
    thickness = max(1, round(max(image.shape[:2]) / 400))
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), ROI_COLOUR, thickness)
    return out


def draw_quad(image: np.ndarray, corners, *, colour: tuple[int, int, int] = ROI_COLOUR) -> np.ndarray:
    """A copy of ``image`` with a quadrilateral ROI framed and the outside dimmed.

    ``corners`` are four ``(x, y)`` points in the image's pixels, e.g. the
    baseline ROI's corners mapped into a follow-up photo by its registration
    (:func:`tracker.imaging.register.roi_corners`); a turned or slanted ROI is
    drawn as it lands.

    Examples
    --------
    >>> out = draw_quad(np.full((40, 60, 3), 200, np.uint8), [(10, 5), (40, 10), (35, 35), (5, 30)])
    >>> int(out[0, 0, 0]) < 200, int(out[20, 20, 0])
    (True, 200)
    """
    _check_rgb(image)
    pts = np.asarray(corners, float)
    if pts.shape != (4, 2) or not np.all(np.isfinite(pts)):
        raise ValueError("corners must be four (x, y) points")
    poly = np.round(pts * 16).astype(np.int32)
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [poly], 1, lineType=cv2.LINE_8, shift=4)
    out = (image * 0.55).astype(np.uint8)
    keep = inside.astype(bool)
    out[keep] = image[keep]
    thickness = max(1, round(max(image.shape[:2]) / 400))
    cv2.polylines(out, [poly], True, colour, thickness, lineType=cv2.LINE_AA, shift=4)
    return out


def roi_quad(roi: tuple[int, int, int, int], to_baseline=None) -> np.ndarray:
    """The corners of an ROI drawn on the baseline, in a photo registered to it.

    ``to_baseline`` is the photo's 3x3 homography onto the baseline (a
    registration's matrix); None for the baseline itself. Corners are the
    ROI area's (top-left, top-right, bottom-right, bottom-left).

    Examples
    --------
    >>> roi_quad((10, 20, 30, 40), [[1, 0, 5], [0, 1, 0], [0, 0, 1]]).tolist()[0]
    [4.5, 19.5]
    """
    x, y, w, h = (float(v) for v in roi)
    pts = np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])
    if to_baseline is None:
        return pts
    m = np.linalg.inv(np.asarray(to_baseline, float))
    ph = np.column_stack([pts, np.ones(4)]) @ m.T
    return ph[:, :2] / ph[:, 2:3]


def ghost(image: np.ndarray, baseline: np.ndarray, *, alpha: float = 0.35) -> np.ndarray:
    """``image`` with ``baseline`` laid over it faintly, to compare framing.

    The baseline is resized to the image's size; ``alpha`` is its opacity.

    Examples
    --------
    >>> a = np.zeros((10, 20, 3), np.uint8); b = np.full((5, 10, 3), 100, np.uint8)
    >>> int(ghost(a, b, alpha=0.5)[0, 0, 0])
    50
    """
    _check_rgb(image)
    _check_rgb(baseline, "baseline")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha is an opacity between 0 and 1")
    h, w = image.shape[:2]
    over = cv2.resize(baseline, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.addWeighted(image, 1.0 - alpha, over, alpha, 0.0)


def wipe(left: np.ndarray, right: np.ndarray, *, position: float = 0.5) -> np.ndarray:
    """One picture: ``left`` up to ``position`` (0-1) of the width, ``right`` after it.

    ``right`` is resized to ``left``'s size; a thin line marks the split.

    Examples
    --------
    >>> a = np.zeros((4, 10, 3), np.uint8); b = np.full((4, 10, 3), 255, np.uint8)
    >>> out = wipe(a, b, position=0.3)
    >>> int(out[0, 0, 0]), int(out[0, 9, 0])
    (0, 255)
    """
    _check_rgb(left, "left")
    _check_rgb(right, "right")
    if not 0.0 <= position <= 1.0:
        raise ValueError("position is a fraction of the width between 0 and 1")
    h, w = left.shape[:2]
    out = left.copy()
    other = cv2.resize(right, (w, h), interpolation=cv2.INTER_AREA)
    split = round(position * w)
    out[:, split:] = other[:, split:]
    if 0 < split < w:
        line = max(1, w // 400)
        out[:, max(split - line, 0) : split + line] = (255, 255, 255)
    return out
