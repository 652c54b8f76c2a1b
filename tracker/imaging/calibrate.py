"""The calibration card: its layout, a picture of it, and finding it in a photo.

The card (:data:`CARD`) is 80 x 45 mm: four ArUco markers (``DICT_4X4_50``,
ids 0-3, 12 mm) near its corners, a neutral grey patch between the top
markers and a millimetre ruler between the bottom ones. Every length is in
millimetres on the card, with the origin at the card's top-left corner, x to
the right and y down.

Finding the card (:func:`detect_card`) gives the homography from the card
plane (mm) to the photo's pixels, from which follow the scale at the card
(:attr:`CardDetection.px_per_mm`), a perspective correction
(:func:`rectify`) and white-balance gains from the grey patch
(:func:`white_balance`).

Pixel convention (as in :mod:`tracker.synth`): the centre of pixel
``(row i, column j)`` is the point ``x = j, y = i``; a pixel covers
``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``.

Everything here is a pure function on arrays: writing the printable card to
files is :mod:`tracker.card`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "CARD",
    "CardDetection",
    "CardLayout",
    "Rectified",
    "card_points_to_image",
    "detect_card",
    "local_scale",
    "markers_seen",
    "rectify",
    "render_card",
    "scale_from_field_width",
    "white_balance",
]


@dataclass(frozen=True)
class CardLayout:
    """Geometry of the printed card, in millimetres (origin top-left, y down).

    Attributes
    ----------
    width_mm, height_mm : float
        Size of the card.
    marker_mm : float
        Side of each ArUco marker, its black border included.
    markers : dict
        Marker id -> ``(x, y)`` of the marker's top-left corner.
    dictionary : int
        ``cv2.aruco`` predefined dictionary of the markers.
    grey_patch : (x, y, w, h)
        The neutral grey patch.
    grey_level : int
        sRGB value of the grey patch (the same in R, G and B).
    ruler_origin : (x, y)
        The ruler's 0 mark: ticks hang down from the line ``y`` from ``x``.
    ruler_mm : int
        Length of the ruler in millimetres.
    """

    width_mm: float = 80.0
    height_mm: float = 45.0
    marker_mm: float = 12.0
    markers: dict[int, tuple[float, float]] = field(
        default_factory=lambda: {0: (4.0, 4.0), 1: (64.0, 4.0), 2: (64.0, 29.0), 3: (4.0, 29.0)}
    )
    dictionary: int = cv2.aruco.DICT_4X4_50
    grey_patch: tuple[float, float, float, float] = (20.0, 4.0, 40.0, 12.0)
    grey_level: int = 128
    ruler_origin: tuple[float, float] = (20.0, 31.0)
    ruler_mm: int = 40

    def marker_corners_mm(self, marker_id: int) -> np.ndarray:
        """The four corners of a marker in ArUco order (top-left, top-right,
        bottom-right, bottom-left), ``(4, 2)`` in mm.

        Examples
        --------
        >>> CARD.marker_corners_mm(1).tolist()
        [[64.0, 4.0], [76.0, 4.0], [76.0, 16.0], [64.0, 16.0]]
        """
        x, y = self.markers[marker_id]
        s = self.marker_mm
        return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], float)

    @property
    def centre_mm(self) -> tuple[float, float]:
        """Centre of the card."""
        return (self.width_mm / 2.0, self.height_mm / 2.0)

    @property
    def outline_mm(self) -> np.ndarray:
        """The card's corners (top-left, top-right, bottom-right, bottom-left), ``(4, 2)``."""
        w, h = self.width_mm, self.height_mm
        return np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])

    def marker_bits(self, marker_id: int) -> np.ndarray:
        """The marker's cells, border included, as a bool array (True = black)."""
        dictionary = cv2.aruco.getPredefinedDictionary(self.dictionary)
        cells = dictionary.markerSize + 2
        return cv2.aruco.generateImageMarker(dictionary, marker_id, cells) == 0


#: The card that ``tracker card`` prints and :func:`detect_card` looks for.
CARD = CardLayout()

#: Largest RMS disagreement (px) of the marker corners with one card for a usable scale.
MAX_RMS_PX = 1.5
#: Ink of the ruler and the text, sRGB.
INK = 0
#: Ruler ticks: line width and lengths (1 mm, 5 mm and 10 mm marks), mm.
TICK_WIDTH_MM = 0.2
TICK_LENGTHS_MM = (2.0, 3.0, 4.5)


# --------------------------------------------------------------------------
# the card as a picture
# --------------------------------------------------------------------------


def _coverage_1d(n: int, lo: float, hi: float, ppm: float) -> np.ndarray:
    """Share of each of ``n`` pixels (pixel j spans mm [j, j+1] / ppm) inside [lo, hi] mm."""
    edges = np.arange(n + 1) / ppm
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None) * ppm


def _fill_rect(ink: np.ndarray, rect: tuple[float, float, float, float], ppm: float, value: float = 1.0) -> None:
    """In place: exact area coverage of the mm rectangle (x, y, w, h), blended to ``value``."""
    x, y, w, h = rect
    rows, cols = ink.shape
    r0, r1 = max(0, math.floor(y * ppm)), min(rows, math.ceil((y + h) * ppm) + 1)
    c0, c1 = max(0, math.floor(x * ppm)), min(cols, math.ceil((x + w) * ppm) + 1)
    if r1 <= r0 or c1 <= c0:
        return
    cy = _coverage_1d(rows, y, y + h, ppm)[r0:r1]
    cx = _coverage_1d(cols, x, x + w, ppm)[c0:c1]
    sub = ink[r0:r1, c0:c1]
    sub += np.outer(cy, cx) * (value - sub)


def render_card(px_per_mm: float = 600 / 25.4, layout: CardLayout = CARD) -> np.ndarray:
    """The card as an RGB picture at ``px_per_mm`` (default 600 dpi).

    Markers, the grey patch and ruler ticks are drawn with the exact share of
    each pixel they cover (no jagged or shifted edges at any scale); pixel
    ``j`` covers ``[j, j + 1] / px_per_mm`` mm, so a card point ``(u, v)`` mm
    lies at pixel coordinates ``(u * px_per_mm - 0.5, v * px_per_mm - 0.5)``.
    Labels are drawn with OpenCV's Hershey font.

    Parameters
    ----------
    px_per_mm : float
        Resolution; at least 4 so that the 2 mm marker cells stay sharp.
    layout : CardLayout

    Returns
    -------
    ndarray, shape (round(height_mm * px_per_mm), round(width_mm * px_per_mm), 3), uint8

    Examples
    --------
    >>> card = render_card(10.0)
    >>> card.shape, int(card[0, 0, 0]), int(card[45, 45, 0])  # white paper, black marker border
    ((450, 800, 3), 255, 0)
    """
    if not (np.isfinite(px_per_mm) and px_per_mm >= 4.0):
        raise ValueError(f"px_per_mm={px_per_mm!r} must be at least 4 so that the markers stay readable")
    ppm = float(px_per_mm)
    h, w = round(layout.height_mm * ppm), round(layout.width_mm * ppm)
    # 'ink' is darkness 0 (paper) .. 1 (black); the grey patch is painted separately
    ink = np.zeros((h, w), np.float64)
    for marker_id, (mx, my) in layout.markers.items():
        bits = layout.marker_bits(marker_id).astype(float)
        n = bits.shape[0]
        cell = layout.marker_mm / n
        r0, r1 = max(0, math.floor(my * ppm)), min(h, math.ceil((my + layout.marker_mm) * ppm) + 1)
        c0, c1 = max(0, math.floor(mx * ppm)), min(w, math.ceil((mx + layout.marker_mm) * ppm) + 1)
        cy = np.stack([_coverage_1d(h, my + k * cell, my + (k + 1) * cell, ppm)[r0:r1] for k in range(n)], 1)
        cx = np.stack([_coverage_1d(w, mx + k * cell, mx + (k + 1) * cell, ppm)[c0:c1] for k in range(n)], 1)
        ink[r0:r1, c0:c1] += cy @ bits @ cx.T
    # ruler: a line, a tick per mm, longer ticks each 5 and 10 mm
    rx, ry = layout.ruler_origin
    tw = TICK_WIDTH_MM
    _fill_rect(ink, (rx - tw / 2, ry - tw / 2, layout.ruler_mm + tw, tw), ppm)
    for k in range(layout.ruler_mm + 1):
        length = TICK_LENGTHS_MM[2 if k % 10 == 0 else 1 if k % 5 == 0 else 0]
        _fill_rect(ink, (rx + k - tw / 2, ry, tw, length), ppm)
    rgb = 255.0 * (1.0 - np.clip(ink, 0.0, 1.0))
    grey = np.zeros((h, w))
    _fill_rect(grey, layout.grey_patch, ppm)
    rgb += grey * (layout.grey_level - rgb)
    out = np.repeat(np.round(rgb).astype(np.uint8)[..., None], 3, axis=2)
    _draw_labels(out, layout, ppm)
    return out


def _text(img: np.ndarray, text: str, x_mm: float, y_mm: float, height_mm: float, ppm: float, centred: bool = False) -> None:
    """Hershey text whose capital height is about ``height_mm``, baseline at ``y_mm``."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = height_mm * ppm / 22.0  # Hershey simplex capitals are ~22 px tall at scale 1
    thick = max(1, round(scale * 1.6))
    (tw, _), _ = cv2.getTextSize(text, font, scale, thick)
    x = x_mm * ppm - (tw / 2 if centred else 0)
    cv2.putText(img, text, (round(x), round(y_mm * ppm)), font, scale, (INK,) * 3, thick, cv2.LINE_AA)


def _draw_labels(img: np.ndarray, layout: CardLayout, ppm: float) -> None:
    rx, ry = layout.ruler_origin
    for k in range(0, layout.ruler_mm + 1, 10):
        _text(img, str(k), rx + k, ry + TICK_LENGTHS_MM[2] + 3.0, 2.0, ppm, centred=True)
    _text(img, "mm", rx + layout.ruler_mm - 5.0, ry + TICK_LENGTHS_MM[2] + 3.0, 1.6, ppm, centred=True)
    _gx, gy, _gw, gh = layout.grey_patch
    _text(img, "scalp tracker calibration card", layout.width_mm / 2, gy + gh + 5.0, 2.0, ppm, centred=True)
    _text(
        img,
        f"{layout.width_mm:g} x {layout.height_mm:g} mm - print at actual size",
        layout.width_mm / 2,
        gy + gh + 9.0,
        1.6,
        ppm,
        centred=True,
    )


# --------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------


def _apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, float).reshape(-1, 2)
    q = np.c_[pts, np.ones(len(pts))] @ np.asarray(h, float).T
    return q[:, :2] / q[:, 2:3]


def local_scale(homography: np.ndarray, point: tuple[float, float]) -> tuple[float, float, float]:
    """Scale of a plane-to-image homography at a point of the plane.

    Returns ``(area_scale, largest, smallest)``: ``sqrt(|det J|)`` of the
    Jacobian ``J`` of the mapping at ``point`` (output units per input unit,
    the scale that keeps areas right there), and the largest and smallest
    stretch (singular values of ``J``).

    Examples
    --------
    >>> H = np.array([[20.0, 0, 5], [0, 10.0, 7], [0, 0, 1]])
    >>> tuple(round(v, 6) for v in local_scale(H, (3.0, 4.0)))
    (14.142136, 20.0, 10.0)
    """
    hm = np.asarray(homography, float)
    u, v = point
    x, y = _apply_h(hm, [[u, v]])[0]
    wden = hm[2, 0] * u + hm[2, 1] * v + hm[2, 2]
    jac = np.array(
        [
            [hm[0, 0] - hm[2, 0] * x, hm[0, 1] - hm[2, 1] * x],
            [hm[1, 0] - hm[2, 0] * y, hm[1, 1] - hm[2, 1] * y],
        ]
    ) / wden
    sv = np.linalg.svd(jac, compute_uv=False)
    return (float(math.sqrt(abs(np.linalg.det(jac)))), float(sv[0]), float(sv[1]))


def scale_from_field_width(image_width_px: int, field_width_mm: float) -> float:
    """Pixels per millimetre from the width of the field of view (the fallback without a card).

    Examples
    --------
    >>> scale_from_field_width(1280, 5.12)
    250.0
    """
    if not (image_width_px > 0 and np.isfinite(field_width_mm) and field_width_mm > 0):
        raise ValueError(
            "give the photo's width in pixels and the field of view's width in millimetres, "
            f"both positive (got {image_width_px!r} px, {field_width_mm!r} mm)"
        )
    return float(image_width_px) / float(field_width_mm)


# --------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CardDetection:
    """The calibration card found in a photo.

    Attributes
    ----------
    card_to_image : ndarray, shape (3, 3)
        Homography from card millimetres to photo pixels.
    px_per_mm : float
        Photo pixels per millimetre at the card's centre, on the card's plane:
        ``sqrt(|det J|)`` of the homography's Jacobian there, i.e. the scale
        that keeps areas right at the card (a tilted card looks shorter along
        the tilt; see ``px_per_mm_range`` and :func:`rectify`).
    px_per_mm_range : (float, float)
        Largest and smallest stretch at the card centre (px per mm along the
        least and the most foreshortened direction).
    tilt_deg : float
        Tilt of the card against the image plane, from the homography for a
        camera with square pixels and its optical centre in the middle of
        the photo (a cropped photo breaks that); where the focal length
        cannot be told (a card nearly square-on), from the foreshortening,
        ``acos(smallest / largest)``. A rough guide, a few degrees.
    corners : ndarray, shape (4, 2)
        The card's outer corners in the photo (top-left, top-right,
        bottom-right, bottom-left of the card).
    marker_ids : tuple of int
        Markers found (of the four).
    reprojection_rms_px : float
        RMS distance between the found marker corners and the homography's
        prediction of them, in photo pixels.
    wb_gains : ndarray, shape (3,)
        R, G, B gains that make the grey patch neutral (their mean
        brightness is kept): pass them to :func:`white_balance`.
    grey_rgb : ndarray, shape (3,)
        Median R, G, B of the grey patch in the photo.
    score : float
        0-1: the share of the four markers found, lowered when the found
        corners disagree with one card (``1 - rms / 2 px``, at least 0)
        and halved when the grey patch is clipped.
    ok : bool
        True when the scale can be used: two markers or more whose corners
        agree with one card within :data:`MAX_RMS_PX` (RMS). With a single
        marker the scale can be several percent off.
    notes : tuple of str
        Anything that makes the result less trustworthy, in words.
    """

    card_to_image: np.ndarray = field(repr=False)
    px_per_mm: float
    px_per_mm_range: tuple[float, float]
    tilt_deg: float
    corners: np.ndarray = field(repr=False)
    marker_ids: tuple[int, ...]
    reprojection_rms_px: float
    wb_gains: np.ndarray
    grey_rgb: np.ndarray
    score: float
    ok: bool
    notes: tuple[str, ...] = ()

    @property
    def image_to_card(self) -> np.ndarray:
        """Homography from photo pixels to card millimetres."""
        return np.linalg.inv(self.card_to_image)

    def to_dict(self) -> dict:
        """JSON-able summary (no arrays but short lists)."""
        return {
            "px_per_mm": self.px_per_mm,
            "px_per_mm_range": list(self.px_per_mm_range),
            "tilt_deg": self.tilt_deg,
            "marker_ids": list(self.marker_ids),
            "reprojection_rms_px": self.reprojection_rms_px,
            "wb_gains": [float(g) for g in self.wb_gains],
            "score": self.score,
            "ok": self.ok,
            "corners": np.round(self.corners, 3).tolist(),
            "card_to_image": np.asarray(self.card_to_image).tolist(),
            "notes": list(self.notes),
        }


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(
            "image must be an (H, W, 3) RGB or (H, W) grey uint8 array; decode photos with tracker.photo.load_photo"
        )


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _detector(layout: CardLayout) -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 5
    params.cornerRefinementMaxIterations = 50
    params.cornerRefinementMinAccuracy = 0.01
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(layout.dictionary), params)


#: :func:`markers_seen` thresholds the photo with these adaptive windows only (px),
#: the smallest and largest of the detector's three (3, 13, 23) ...
QUICK_THRESHOLD_WINDOWS = (3, 23)
#: ... and drops would-be markers with a side shorter than this share of their
#: outline (OpenCV's default 0.05): a square marker has a quarter, one tilted
#: 40 degrees a fifth, 60 degrees a sixth; the texture of hair gives hundreds
#: of thin ones. With both, the first look saw a marker in every one of 108
#: generated card photos (markers 11-140 px, tilt 0-40 degrees, blur, noise,
#: JPEG) where the full detector saw one, at a fifth of its time on hair.
QUICK_MIN_SIDE_SHARE = 0.15


def markers_seen(image: np.ndarray, *, layout: CardLayout = CARD) -> bool:
    """Whether any of the card's markers is in a photo: a quick first look.

    The markers are looked for as :func:`detect_card` looks for them, with
    the adaptive windows of :data:`QUICK_THRESHOLD_WINDOWS`, without
    candidates thinner than :data:`QUICK_MIN_SIDE_SHARE` and without corner
    refinement; nothing is measured.

    Examples
    --------
    >>> photo = np.full((600, 1000, 3), 90, np.uint8)
    >>> markers_seen(photo)
    False
    >>> photo[75:525, 100:900] = render_card(10.0)
    >>> markers_seen(photo)
    True
    """
    _check_image(image)
    params = cv2.aruco.DetectorParameters()
    params.adaptiveThreshWinSizeMin, params.adaptiveThreshWinSizeMax = QUICK_THRESHOLD_WINDOWS
    params.adaptiveThreshWinSizeStep = QUICK_THRESHOLD_WINDOWS[1] - QUICK_THRESHOLD_WINDOWS[0]
    params.minCornerDistanceRate = QUICK_MIN_SIDE_SHARE
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(layout.dictionary), params)
    _, ids, _ = detector.detectMarkers(_grey(image))
    return ids is not None and any(int(i) in layout.markers for i in ids.ravel())


def _refine_corners(grey: np.ndarray, pts: np.ndarray, side_px: float) -> np.ndarray:
    """Sub-pixel corners with a search window sized to the marker's cells."""
    win = int(np.clip(side_px / 12.0, 2, 12))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 0.001)
    refined = cv2.cornerSubPix(grey, pts.astype(np.float32).reshape(-1, 1, 2), (win, win), (-1, -1), criteria)
    return refined.reshape(-1, 2).astype(float)


def _grey_patch_rgb(image: np.ndarray, card_to_image: np.ndarray, layout: CardLayout) -> np.ndarray:
    """Median colour inside the grey patch (1.5 mm in from its edges), sampled on the card plane."""
    x, y, w, h = layout.grey_patch
    inset = min(1.5, w / 4, h / 4)
    ppm = 4.0
    out_w, out_h = int((w - 2 * inset) * ppm), int((h - 2 * inset) * ppm)
    # output pixel (j, i) -> card mm -> image px
    to_mm = np.array([[1 / ppm, 0, x + inset + 0.5 / ppm], [0, 1 / ppm, y + inset + 0.5 / ppm], [0, 0, 1]])
    m = card_to_image @ to_mm
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    patch = cv2.warpPerspective(
        rgb, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )
    return np.median(patch.reshape(-1, 3).astype(float), axis=0)


def _tilt_deg(card_to_image: np.ndarray, shape: tuple[int, int], foreshortening: float) -> float:
    """Angle between the card's plane and the image plane.

    Solved from the homography for a camera with square pixels and its
    principal point at the photo's centre: the focal length follows from the
    card's axes being orthogonal and equally long (Zhang 2000), the plane's
    normal from the rotation. When that is ill-conditioned (a card nearly
    square-on, where the focal length cannot be told), the weak-perspective
    estimate ``acos(foreshortening)`` is used.
    """
    weak = float(np.degrees(np.arccos(np.clip(foreshortening, 0.0, 1.0))))
    h, w = shape
    a = np.array([[1.0, 0, -(w - 1) / 2], [0, 1, -(h - 1) / 2], [0, 0, 1]]) @ card_to_image
    a1, a2 = a[:, 0], a[:, 1]
    # f² from orthogonality and from equal length; keep the better conditioned
    candidates = []
    den = a1[2] * a2[2]
    if abs(den) > 1e-12:
        candidates.append((abs(den), -(a1[0] * a2[0] + a1[1] * a2[1]) / den))
    den = a2[2] ** 2 - a1[2] ** 2
    if abs(den) > 1e-12:
        candidates.append((abs(den), (a1[0] ** 2 + a1[1] ** 2 - a2[0] ** 2 - a2[1] ** 2) / den))
    if not candidates:
        return weak
    f2 = max(candidates)[1]
    if not np.isfinite(f2) or f2 <= (0.2 * max(h, w)) ** 2 or f2 >= (20.0 * max(h, w)) ** 2:
        return weak
    f = math.sqrt(f2)
    r1 = np.array([a1[0] / f, a1[1] / f, a1[2]])
    r2 = np.array([a2[0] / f, a2[1] / f, a2[2]])
    n = np.cross(r1 / np.linalg.norm(r1), r2 / np.linalg.norm(r2))
    return float(np.degrees(np.arccos(np.clip(abs(n[2]) / np.linalg.norm(n), 0.0, 1.0))))


def _refine_ecc(grey: np.ndarray, hmat: np.ndarray, layout: CardLayout, marker_ids) -> np.ndarray:
    """Refine the homography by matching the markers' known picture to the photo (ECC).

    The markers' edges, not only their corners, then fix the fit, which
    removes the small inward bias of corner detection on blurred photos.
    The refinement is kept only when it converges close to the start.
    """
    area = local_scale(hmat, layout.centre_mm)[0]
    tppm = float(np.clip(area, 4.0, 12.0))
    template = cv2.cvtColor(render_card(tppm, layout), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = np.zeros(template.shape, np.uint8)
    for i in marker_ids:
        x, y = layout.markers[i]
        m = 1.0  # the white quiet zone around the marker is printed paper too
        r0, r1 = round((y - m) * tppm), round((y + layout.marker_mm + m) * tppm)
        c0, c1 = round((x - m) * tppm), round((x + layout.marker_mm + m) * tppm)
        mask[max(r0, 0) : r1, max(c0, 0) : c1] = 255
    raster_to_mm = np.array([[1 / tppm, 0, 0.5 / tppm], [0, 1 / tppm, 0.5 / tppm], [0, 0, 1]])
    warp = (hmat @ raster_to_mm).astype(np.float32)
    warp /= warp[2, 2]
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-7)
    # the mask must be given in the photo's pixels (OpenCV 4 and 5 alike): the markers' areas seen there
    h, w = grey.shape
    photo_mask = cv2.warpPerspective(mask, warp.astype(float), (w, h), flags=cv2.INTER_NEAREST)
    if not photo_mask.any():
        return hmat
    try:
        rho, warp = cv2.findTransformECC(
            template, grey.astype(np.float32), warp, cv2.MOTION_HOMOGRAPHY, criteria, photo_mask, 3
        )
    except cv2.error:
        return hmat
    refined = warp.astype(float) @ np.linalg.inv(raster_to_mm)
    refined /= refined[2, 2]
    moved = np.abs(_apply_h(refined, layout.outline_mm) - _apply_h(hmat, layout.outline_mm)).max()
    if rho < 0.7 or not np.isfinite(moved) or moved > max(3.0, 0.5 * area):
        return hmat
    return refined


def detect_card(image: np.ndarray, *, layout: CardLayout = CARD, refine: bool = True) -> CardDetection | None:
    """Find the calibration card in a photo.

    ArUco markers are found with :class:`cv2.aruco.ArucoDetector` (sub-pixel
    corners); the corners of all markers found give a least-squares
    homography from the card plane to the photo (RANSAC drops a corner that
    disagrees by more than 3 px), refined by matching the markers' known
    picture to the photo (``refine``). With a single marker an affine map
    is fitted instead and the score is at most 0.25: use the scale only
    when :attr:`CardDetection.ok` (two markers or more that agree). Markers need about 40
    photo pixels per side (cells of 6-7 px) to be read reliably.

    Parameters
    ----------
    image : (H, W, 3) RGB or (H, W) grey uint8 array
    layout : CardLayout
        The card to look for (default: the one ``tracker card`` prints).
    refine : bool
        Refine the corner fit by matching the markers' picture to the
        photo (ECC); needs two markers or more.

    Returns
    -------
    CardDetection or None
        None when none of the card's markers is in the photo.

    Examples
    --------
    >>> photo = np.full((600, 1000, 3), 90, np.uint8)
    >>> photo[75:525, 100:900] = render_card(10.0)
    >>> d = detect_card(photo)
    >>> round(d.px_per_mm, 2), d.marker_ids, round(d.score, 1), d.ok
    (10.0, (0, 1, 2, 3), 1.0, True)
    """
    _check_image(image)
    grey = _grey(image)
    corners, ids, _ = _detector(layout).detectMarkers(grey)
    if ids is None or len(ids) == 0:
        return None
    found: dict[int, np.ndarray] = {}
    for c, i in zip(corners, ids.ravel(), strict=True):
        i = int(i)
        if i not in layout.markers:
            continue
        c = c.reshape(4, 2).astype(float)
        # the same id twice: keep the larger (a marker printed elsewhere is usually smaller)
        if i in found and cv2.contourArea(found[i].astype(np.float32)) >= cv2.contourArea(c.astype(np.float32)):
            continue
        found[i] = c
    if not found:
        return None
    notes: list[str] = []
    marker_ids = tuple(sorted(found))
    mm = np.concatenate([layout.marker_corners_mm(i) for i in marker_ids])
    px = np.concatenate([found[i] for i in marker_ids])
    side = float(np.mean([np.linalg.norm(np.diff(found[i], axis=0, append=found[i][:1]), axis=1).mean() for i in marker_ids]))
    px = _refine_corners(grey, px, side)
    if len(marker_ids) >= 2:
        hmat, inliers = cv2.findHomography(mm, px, cv2.RANSAC, 3.0)
        if hmat is None:
            return None
        keep = inliers.ravel().astype(bool)
        if keep.sum() < len(keep):
            notes.append(f"{int(len(keep) - keep.sum())} marker corner(s) disagreed with the card and were left out")
        hmat, _ = cv2.findHomography(mm[keep], px[keep], 0)
    else:
        # four corners fix a homography exactly but poorly: an affine map is steadier
        keep = np.ones(4, bool)
        aff, _ = cv2.estimateAffine2D(mm, px, method=cv2.LMEDS)
        hmat = None if aff is None else np.vstack([aff, [0.0, 0.0, 1.0]])
        notes.append(
            "only one marker found: the scale rests on a single 12 mm square and ignores perspective; "
            "keep all four markers in view"
        )
    if hmat is None or not np.all(np.isfinite(hmat)):
        return None
    hmat = hmat / hmat[2, 2]
    residual = np.linalg.norm(_apply_h(hmat, mm[keep]) - px[keep], axis=1)
    rms = float(np.sqrt(np.mean(residual**2)))
    if rms > MAX_RMS_PX:
        notes.append(f"the marker corners disagree by {rms:.1f} px (RMS): is the card bent or partly covered?")
    if len(marker_ids) >= 2 and refine:
        hmat = _refine_ecc(grey, hmat, layout, marker_ids)
    area, big, small = local_scale(hmat, layout.centre_mm)
    tilt = _tilt_deg(hmat, grey.shape, small / big)
    grey_rgb = _grey_patch_rgb(image, hmat, layout)
    score = len(marker_ids) / len(layout.markers) * max(0.0, 1.0 - rms / 2.0)
    if grey_rgb.max() >= 250 or grey_rgb.min() <= 5:
        notes.append("the grey patch is over- or under-exposed: white balance from it is unreliable")
        score *= 0.5
    gains = grey_rgb.mean() / np.maximum(grey_rgb, 1.0)
    if tilt > 45:
        notes.append(f"the card is tilted about {tilt:.0f} degrees: hold the camera square to the scalp")
    return CardDetection(
        card_to_image=hmat,
        px_per_mm=area,
        px_per_mm_range=(big, small),
        tilt_deg=tilt,
        corners=_apply_h(hmat, layout.outline_mm),
        marker_ids=marker_ids,
        reprojection_rms_px=rms,
        wb_gains=gains,
        grey_rgb=grey_rgb,
        score=float(score),
        ok=len(marker_ids) >= 2 and rms <= MAX_RMS_PX,
        notes=tuple(notes),
    )


def card_points_to_image(detection: CardDetection, points_mm: np.ndarray) -> np.ndarray:
    """Map card points (mm, ``(N, 2)``) to photo pixels.

    Examples
    --------
    >>> photo = np.full((600, 1000, 3), 90, np.uint8)
    >>> photo[75:525, 100:900] = render_card(10.0)
    >>> np.round(card_points_to_image(detect_card(photo), [[0.0, 0.0], [80.0, 45.0]]), 1).tolist()
    [[99.5, 74.5], [899.5, 524.5]]
    """
    return _apply_h(detection.card_to_image, np.asarray(points_mm, float))


# --------------------------------------------------------------------------
# corrections
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rectified:
    """A photo warped onto the card's plane (perspective removed).

    Attributes
    ----------
    image : ndarray
        The warped photo; pixels that came from outside the photo are black.
    valid : ndarray of bool
        True where the pixel came from inside the photo.
    image_to_rectified : ndarray, shape (3, 3)
        Homography from photo pixels to the rectified image's pixels.
    px_per_mm : float
        Scale of the rectified image, the same in every direction on the card's plane.
    """

    image: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
    image_to_rectified: np.ndarray
    px_per_mm: float


def rectify(
    image: np.ndarray,
    detection: CardDetection,
    *,
    px_per_mm: float | None = None,
    max_side: int = 4096,
) -> Rectified:
    """Remove the perspective: warp the photo so that the card's plane is seen square on.

    The output has ``px_per_mm`` (default: the detection's scale, so the
    photo keeps about its size) in every direction on the card's plane,
    covers the whole photo, and keeps the card's orientation (card x to the
    right). Only points on the card's plane are exactly corrected; the scalp
    around the card is close to that plane only near the card.

    Parameters
    ----------
    image : uint8 array
    detection : CardDetection
    px_per_mm : float, optional
    max_side : int
        The output's longest side is capped here (the scale is lowered when
        a strongly tilted photo would map to a larger image).

    Examples
    --------
    >>> photo = np.full((600, 1000, 3), 90, np.uint8)
    >>> photo[75:525, 100:900] = render_card(10.0)
    >>> r = rectify(photo, detect_card(photo))
    >>> r.image.shape[1], abs(r.image.shape[0] - 600) <= 1, round(r.px_per_mm, 2)
    (1000, True, 10.0)
    """
    _check_image(image)
    ppm = float(px_per_mm if px_per_mm is not None else detection.px_per_mm)
    if not (np.isfinite(ppm) and ppm > 0):
        raise ValueError(f"px_per_mm must be a positive number, got {px_per_mm!r}")
    if max_side < 16:
        raise ValueError("max_side must be at least 16 pixels")
    h, w = image.shape[:2]
    to_card = detection.image_to_card
    frame = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    mm = _apply_h(to_card, frame)
    lo, hi = mm.min(axis=0), mm.max(axis=0)
    extent = float((hi - lo).max())
    if extent * ppm > max_side:
        ppm = max_side / extent
    # (a tolerance of 0.01 px keeps round-off from adding a row)
    out_w = max(1, math.ceil((hi[0] - lo[0]) * ppm - 0.01))
    out_h = max(1, math.ceil((hi[1] - lo[1]) * ppm - 0.01))
    # card mm -> rectified pixel centre coordinates
    mm_to_out = np.array([[ppm, 0, -lo[0] * ppm - 0.5], [0, ppm, -lo[1] * ppm - 0.5], [0, 0, 1]])
    m = mm_to_out @ to_card
    out = cv2.warpPerspective(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    valid = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (out_w, out_h), flags=cv2.INTER_NEAREST) > 0
    return Rectified(out, valid, m / m[2, 2], ppm)


def white_balance(image: np.ndarray, gains) -> np.ndarray:
    """Multiply R, G and B by ``gains`` (e.g. :attr:`CardDetection.wb_gains`), rounded and clipped to 0-255.

    Examples
    --------
    >>> white_balance(np.full((1, 1, 3), (100, 120, 150), np.uint8), [1.2, 1.0, 0.8]).tolist()
    [[[120, 120, 120]]]
    """
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError("image must be an (H, W, 3) uint8 RGB array")
    g = np.asarray(gains, float).reshape(-1)
    if g.shape != (3,) or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gains must be three positive numbers (R, G, B), got {gains!r}")
    return np.clip(np.round(image.astype(np.float32) * g.astype(np.float32)), 0, 255).astype(np.uint8)
