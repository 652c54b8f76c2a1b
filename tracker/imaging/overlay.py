"""An overlay picture that lets a person check what was measured."""

from __future__ import annotations

import cv2
import numpy as np

from tracker.imaging.measure import HairGroup

HAIR_COLOUR = (255, 40, 200)  # magenta: stands out on skin and on dark or grey hair
ROI_COLOUR = (40, 220, 255)
LABEL_COLOUR = (255, 255, 0)
NOT_COUNTED_COLOUR = (160, 160, 160)


def draw_overlay(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    groups: tuple[HairGroup, ...] = (),
    alpha: float = 0.45,
) -> np.ndarray:
    """Tint hair pixels, frame the ROI and number every counted shaft.

    A group of touching shafts carries the range of its numbers ("4-5"); a
    group cut by the ROI edge that is not counted gets a grey frame.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB array
    mask : (H, W) bool array
    roi : (x, y, w, h), optional
    groups : tuple of HairGroup, in the pixel coordinates of `image`
    alpha : float
        Opacity of the hair tint.

    Returns
    -------
    overlay : (H, W, 3) uint8 RGB array (a new array; `image` is not changed)

    Examples
    --------
    >>> img = np.full((50, 80, 3), 200, np.uint8); m = np.zeros((50, 80), bool); m[20:25] = True
    >>> out = draw_overlay(img, m, roi=(5, 5, 70, 40))
    >>> out.shape, bool((out[22, 40] != img[22, 40]).any()), bool((img == 200).all())
    ((50, 80, 3), True, True)
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("image must be an (H, W, 3) uint8 RGB array")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image {image.shape[:2]}")
    out = image.copy()
    tint = np.array(HAIR_COLOUR, np.float32)
    out[mask] = ((1 - alpha) * out[mask] + alpha * tint).astype(np.uint8)
    thickness = max(1, round(max(image.shape[:2]) / 600))
    font_scale = max(0.4, max(image.shape[:2]) / 2000)
    if roi is not None:
        x, y, w, h = roi
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), ROI_COLOUR, thickness)
    number = 0
    for g in groups:
        x0, y0, x1, y1 = g.bbox
        if not g.counted:
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), NOT_COUNTED_COLOUR, thickness)
            continue
        first = number + 1
        number += g.hairs_inside
        text = str(first) if g.hairs_inside == 1 else f"{first}-{number}"
        org = (int(g.centroid[0]), int(g.centroid[1]))
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, LABEL_COLOUR, thickness, cv2.LINE_AA)
    return out
