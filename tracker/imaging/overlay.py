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

    Each counted shaft gets its number beside it. In a group of touching or
    crossing shafts each shaft's axis is drawn as a thin line, so one can
    see how the piece was split; a shaft whose midpoint lies outside the ROI
    gets a grey axis and no number. (A group made without its shafts' axes
    carries the range of its numbers, "4-5", at its centroid.) A group cut
    by the ROI edge that is not counted gets a grey frame.

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
        if not g.shafts:
            first = number + 1
            number += g.hairs_inside
            text = str(first) if g.hairs_inside == 1 else f"{first}-{number}"
            _label(out, text, g.centroid, font_scale, thickness)
            continue
        for i, shaft in enumerate(g.shafts):
            start, end = np.asarray(shaft.start), np.asarray(shaft.end)
            if len(g.shafts) > 1:  # how a piece was split into shafts; a lone one needs no line
                a, b = (tuple(int(v) for v in p.round()) for p in (start, end))
                cv2.line(out, a, b, LABEL_COLOUR if shaft.inside else NOT_COUNTED_COLOUR, max(1, thickness // 2))
            if shaft.inside:
                number += 1
                # Beside the shaft, not over its hair; touching shafts of a
                # group lie side by side, so their numbers are spread along
                # them rather than stacked at the middle.
                t = (i + 1) / (len(g.shafts) + 1)
                along = end - start
                norm = float(np.hypot(*along))
                side = np.array([-along[1], along[0]]) / norm if norm > 0 else np.zeros(2)
                at = start + t * along + side * (g.width_px / 2 + thickness)
                _label(out, str(number), tuple(at), font_scale, thickness, away=tuple(side))
    return out


def _label(
    out: np.ndarray,
    text: str,
    at: tuple[float, float],
    font_scale: float,
    thickness: int,
    *,
    away: tuple[float, float] | None = None,
) -> None:
    """Write `text` yellow on a black outline: its lower left corner at `at`,
    or, given a direction `away`, its box just beyond `at` in that direction."""
    if away is not None:
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness + 2)
        # the box's centre half its extent along `away` beyond `at`
        reach = (abs(away[0]) * w + abs(away[1]) * h) / 2
        cx, cy = at[0] + away[0] * reach, at[1] + away[1] * reach
        at = (cx - w / 2, cy + h / 2)
    org = (int(at[0]), int(at[1]))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, LABEL_COLOUR, thickness, cv2.LINE_AA)
