"""Hair segmentation: which pixels are hair.

Close-ups (trichoscope, dermatoscope, macro lens) resolve single shafts: they are
found as long, straight structures darker (or, for grey and white hair, lighter)
than the scalp around them. Overviews (phone photos of the crown or part line)
resolve hair mass only: it is separated from visible scalp by its tone.

Every function here is pure: arrays in, arrays out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from tracker.imaging import parallel
from tracker.imaging.orientation import canonical_turn

Mode = Literal["closeup", "overview"]
Polarity = Literal["dark", "light"]

#: Relative contrast (share of the local scalp brightness) a shaft must reach
#: along a line to start a hair region, and the lower level it may fall to
#: inside one (hysteresis). Physical quantities, not fitted to one data set:
#: a clipped dark shaft is 40-80 % darker than the scalp beside it, skin
#: lines and scales are under 10-15 %.
HIGH_CONTRAST = 0.35
LOW_CONTRAST = 0.15
#: Where a shaft's edge lies, as a share of its peak contrast. A dark shaft
#: is opaque and about equally dark across: its edge is at half its peak
#: (full width at half maximum), whatever the blur. A grey, white or blond
#: shaft is translucent: brightest along its axis, where light crosses the
#: most hair, it fades towards its rims. Where its excess brightness follows
#: the length of its chord, half the peak lies at 87 % of its radius, a
#: quarter at 97 %.
EDGE_SHARE: dict[Polarity, float] = {"dark": 0.5, "light": 0.25}
#: A photo whose typical shaft is at least this share of its short side wide
#: is a close-up (shafts resolved); below, an overview.
CLOSEUP_MIN_WIDTH_SHARE = 0.01
#: The widest shaft :func:`estimate_shaft_width` looks for, as a share of the
#: short side of the copy it looks at. The close-up mode takes shafts up to
#: 40 px wide: on the 512-px thumbnail of a 1280x1024 photo such a shaft is
#: 16 px wide, 1/26 of the short side, and one of 20 px in a 640x480 photo
#: 1/24. A window of 1/24 held them only just: a wider shaft's interior was
#: taken for scalp and its rims for two thin shafts (a generated close-up
#: with 42-px shafts: 31 shafts counted of 8). 1/16 holds shafts up to 64 px
#: in a 1280x1024 photo and 30 px in a 640x480 one.
WIDEST_SHAFT_SHARE = 1 / 16
#: ... and the one :func:`survey` tells the mode by: CLOSEUP_MIN_WIDTH_SHARE was
#: set with it (at 1/16, 11 of 54 generated overviews pass for close-ups, not 4).
SURVEY_WIDEST_SHARE = 1 / 24
#: Number of line orientations tested (every 15 degrees).
N_ORIENTATIONS = 12
#: :func:`hair_contrast` smooths the scalp brightness with a Gaussian of a
#: quarter of the widest shaft; one wider than twice this (pixels) runs on a
#: reduced copy where it is this wide.
BACKGROUND_BLUR_SIGMA = 3.0
#: :func:`survey` (and so :func:`detect_mode`) looks at a copy of the photo
#: this long on its long side.
MODE_DETECTION_SIDE = 1024
#: A whole row or column whose grey levels vary less than this (standard
#: deviation) holds no photograph: it belongs to a caption or scale bar that
#: the capture software burnt in. Sensor noise and skin texture keep every
#: photographed row well above it (4 grey levels or more on 70x trichoscopy).
FLAT_LINE_STD = 1.0


def _check_image(image: np.ndarray) -> None:
    """Raise ValueError unless `image` is (H, W) or (H, W, 3) uint8."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(
            f"expected an (H, W) or (H, W, 3) image, got shape {getattr(image, 'shape', None)}; "
            "convert RGBA or other layouts to RGB first"
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 image, got {image.dtype}; decode photos with "
            "tracker.photo.load_photo, which returns 8-bit RGB"
        )


def _as_gray(image: np.ndarray, polarity: Polarity = "dark") -> np.ndarray:
    """Return an 8-bit single channel in which hair stands out most.

    Hair is nearly achromatic (black, grey, white) while scalp, follicle halos
    and shadows are tinted. For dark hair the brightest channel is used (a
    bluish halo stays bright in blue, a black shaft is dark in all three); for
    light hair the darkest channel (white is bright in all three). The
    polarity is chosen on this channel; light hair is then measured in the
    plane of :func:`_light_channel`.
    """
    _check_image(image)
    if image.ndim == 2:
        return image
    # Plane by plane: numpy reduces a length-3 last axis slowly, and OpenCV
    # takes whole planes faster than numpy takes the interleaved channels.
    r, g, b = cv2.split(image)
    pick = cv2.max if polarity == "dark" else cv2.min
    return pick(pick(r, g, dst=r), b, dst=r)


def _line_score(gray: np.ndarray, polarity: Polarity) -> float:
    """How strongly long lines of `polarity` stand out in a small (H, W) image.

    The mean contrast along the best line less the mean over a square of the
    same size, summed where it passes HIGH_CONTRAST: a shaft's excess is
    nearly its full contrast; a blob shorter than the line (glare, scales,
    flakes, pores) never reaches a quarter of its contrast.
    """
    excess = _line_excess(gray, polarity)[1]
    return float(np.sum(excess[excess > HIGH_CONTRAST]))


def _line_excess(gray: np.ndarray, polarity: Polarity) -> tuple[np.ndarray, np.ndarray]:
    """The relative contrast of a small (H, W) image and its line excess (the
    mean contrast along the best line less the mean over a square of the
    same size), as :func:`_line_score` sums it."""
    width = max(2.0, min(gray.shape[:2]) / 40)
    length = max(5, int(6 * width) | 1)
    c = _relative_contrast(gray, width * 2, polarity, opened=False)
    return c, line_response(c, length=length) - cv2.blur(c, (length, length))


def _light_channel(image: np.ndarray) -> int:
    """The plane of :func:`_light_plane` (0-3) in which light shafts stand out most.

    White and grey hair are bright in every channel and stand out most where
    the skin is darkest, in blue. Blond hair is yellowish: in blue it is
    barely brighter than the scalp, its rims not at all, while white flakes
    and scales are at their brightest there; it stands out in green or red,
    and in red less blue, where the flakes and scales, less yellow than the
    skin, do not stand out at all. The plane with the highest
    :func:`_clear_line_score` on a copy 256 px long is taken: long light lines
    count for it, light blobs against it.

    Examples
    --------
    Blond lines on brown skin among grey-white flakes as bright in green:

    >>> img = np.zeros((128, 128, 3), np.uint8); img[:] = (100, 70, 55)
    >>> for y in (20, 60, 100): img[y:y + 4, 8:120] = (150, 118, 78)
    >>> for x in range(10, 118, 18): img[38:50, x:x + 10] = (135, 118, 100)
    >>> _light_channel(img)
    3
    """
    scale = min(1.0, 256 / max(image.shape[:2]))
    small = cv2.resize(image, _scaled_size(image.shape, scale), interpolation=cv2.INTER_AREA)
    scores = parallel.map_threads(lambda i: _clear_line_score(_light_plane(small, i)), range(4))
    return int(np.argmax(scores))


def _light_plane(image: np.ndarray, plane: int) -> np.ndarray:
    """Plane 0, 1 or 2 (R, G, B) of an RGB image, or 3: red less blue (0 where
    negative), the yellowness of a pixel.

    Examples
    --------
    >>> img = np.array([[[150, 118, 78], [135, 118, 100]]], np.uint8)
    >>> _light_plane(img, 1).tolist(), _light_plane(img, 3).tolist()
    ([[118, 118]], [[72, 35]])
    """
    if plane < 3:
        return np.ascontiguousarray(image[..., plane])
    return cv2.subtract(np.ascontiguousarray(image[..., 0]), np.ascontiguousarray(image[..., 2]))


def _clear_line_score(gray: np.ndarray) -> float:
    """:func:`_line_score` of light lines less the contrast of light clutter.

    Clutter is what stands out (relative contrast above HIGH_CONTRAST) in
    pieces that hold no long line: flakes, scales and glare, which a
    measurement in this plane would take for short shafts. (Hair crowded
    around a line is in the line's piece, so dense hair is no clutter.)
    Minus infinity for a plane without a long light line.
    """
    c, excess = _line_excess(gray, "light")
    lines = excess > HIGH_CONTRAST
    if not lines.any():
        return -np.inf  # no light line to measure in this plane
    bright = c > HIGH_CONTRAST
    clutter = bright & ~_hysteresis(bright, bright & lines)
    return float(np.sum(excess[lines])) - float(np.sum(c[clutter]))


def disk(size: int) -> np.ndarray:
    """A round structuring element `size` pixels across (odd) that is the same
    turned or flipped: OpenCV's MORPH_ELLIPSE is wider than it is tall, so
    it is joined with its transpose.

    Examples
    --------
    >>> disk(3)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]], dtype=uint8)
    >>> bool((disk(7) == disk(7).T).all())
    True
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number of pixels, got {size}")
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return ellipse | ellipse.T


def _scaled_size(shape: tuple[int, ...], factor: float) -> tuple[int, int]:
    """``(width, height)`` of an image of `shape` scaled by `factor`. Given as
    the size rather than the factor, OpenCV maps the whole image onto the
    whole copy, so a flipped image gives the flipped copy."""
    return max(1, int(round(shape[1] * factor))), max(1, int(round(shape[0] * factor)))


class Pyramid:
    """Reduced copies of one image that share its successive halvings.

    A halving is a mean of 2 x 2 pixels (OpenCV's fast integer path of
    INTER_AREA); a copy by `factor` is taken from the smallest halving still
    at least its size, with a last linear step of less than 2x. Reducing a
    12 MP photo this way costs a few milliseconds, against tens for one
    fractional INTER_AREA step. A copy reduced by no more than 2x is made in
    that one INTER_AREA step, as :func:`cv2.resize` would. Threads may share
    a pyramid: each copy and halving is made once, by one of them.

    Examples
    --------
    >>> p = Pyramid(np.zeros((3000, 4000, 3), np.uint8))
    >>> p.reduce(0.256).shape, p.reduce(0.128).shape, p.reduce(1.0).shape
    ((768, 1024, 3), (384, 512, 3), (3000, 4000, 3))
    """

    def __init__(self, image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise ValueError("Pyramid needs a non-empty (H, W) or (H, W, C) array")
        self._levels = [image]
        self._copies: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.RLock()

    def reduce(self, factor: float) -> np.ndarray:
        """The image scaled by `factor`; copies are kept, so do not modify them.

        Parameters
        ----------
        factor : float
            Scale, positive; at 1 or more the image itself is returned.

        Returns
        -------
        copy : ndarray
            ``round(H * factor) x round(W * factor)``, the image's dtype and channels.
        """
        if not factor > 0:
            raise ValueError(f"factor must be positive, got {factor!r}")
        image = self._levels[0]
        if factor >= 1.0:
            return image
        size = _scaled_size(image.shape, factor)
        with self._lock:
            if size not in self._copies:
                self._copies[size] = self._reduce(factor, size)
            return self._copies[size]

    @property
    def image(self) -> np.ndarray:
        """The full-size image."""
        return self._levels[0]

    def halving(self, size: tuple[int, int]) -> np.ndarray:
        """The smallest halving of the image still at least `size` (width, height).

        Each halving is a mean of 2 x 2 pixels of the one before (an odd side
        is averaged whole, reduced by a little more than 2); the image itself
        when it cannot be halved once.
        Kept, so do not modify it.
        """
        level = 0
        with self._lock:
            while self._levels[level].shape[1] // 2 >= size[0] and self._levels[level].shape[0] // 2 >= size[1]:
                level += 1
                if level == len(self._levels):
                    above = self._levels[-1]
                    lh, lw = above.shape[:2]
                    # An odd side is reduced by a little more than 2 (all of it
                    # averaged, no edge row dropped), so a flipped photo gives
                    # the flipped copy.
                    self._levels.append(cv2.resize(above, (lw // 2, lh // 2), interpolation=cv2.INTER_AREA))
            return self._levels[level]

    def _reduce(self, factor: float, size: tuple[int, int]) -> np.ndarray:
        source = self.halving(size)
        if source is self._levels[0]:
            return cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        if source.shape[1] == size[0] and source.shape[0] == size[1]:
            return source
        # In floating point: OpenCV's 8-bit linear path rounds its horizontal
        # and vertical passes differently, so a turned photo would not give
        # the turned copy.
        copy = cv2.resize(source.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        return np.rint(copy, out=copy).astype(source.dtype)


def reduce_image(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` scaled by `factor` <= 1 as :meth:`Pyramid.reduce` makes it.

    Examples
    --------
    >>> reduce_image(np.zeros((300, 400), np.uint8), 0.3).shape
    (90, 120)
    """
    return Pyramid(image).reduce(factor)


def hair_contrast(
    image: np.ndarray, *, max_width_px: float, polarity: Polarity = "dark", plane: np.ndarray | None = None
) -> np.ndarray:
    """Relative contrast of every pixel against the scalp around it.

    The scalp brightness is a median over a window three times the widest
    expected shaft, so shafts, glare and vignetting do not bias it. Light
    hair is seen in the plane of :func:`_light_channel`, and its
    scalp is read after an opening (see :func:`_relative_contrast`); dark
    hair in the channel of :func:`_as_gray`.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 array
    max_width_px : float
        Widest shaft expected, in pixels of `image`.
    polarity : {'dark', 'light'}
        'dark' for hair darker than the scalp, 'light' for grey, white or
        blond hair.
    plane : (H, W) uint8 array, optional
        ``hair_plane(image, polarity)`` when it was already made (for light
        hair, choosing its plane costs more than the contrast); made here if None.

    Returns
    -------
    contrast : (H, W) float32 array in [0, 1]
        The difference from the scalp brightness as a share of it: 0 where a
        pixel is as bright as the scalp (or brighter, for dark hair), 0.5 where
        it is half as bright (or, for light hair, one and a half times).

    Examples
    --------
    >>> img = np.full((64, 64), 200, np.uint8); img[30:34, :] = 50
    >>> c = hair_contrast(img, max_width_px=8)
    >>> round(float(c[32, 32]), 2), round(float(c[5, 5]), 2)
    (0.75, 0.0)
    """
    if max_width_px <= 0:
        raise ValueError("max_width_px must be positive; pass the widest shaft in pixels")
    if polarity not in ("dark", "light"):
        raise ValueError("polarity must be 'dark' or 'light'")
    _check_image(image)
    # Touching translucent shafts can fill half the window or more: the
    # scalp of light hair is read after an opening (see _relative_contrast).
    light = polarity == "light" and image.ndim == 3
    if plane is None:
        plane = hair_plane(image, polarity)
    return _relative_contrast(plane, max_width_px, polarity, opened=light)


def hair_plane(image: np.ndarray, polarity: Polarity) -> np.ndarray:
    """The (H, W) plane hair of `polarity` is seen in: that of :func:`_as_gray`
    for dark hair (and grey images), that of :func:`_light_channel` for light
    hair.

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.uint8); img[..., 0] = 90
    >>> int(hair_plane(img, "dark")[0, 0])
    90
    """
    _check_image(image)
    if polarity == "dark" or image.ndim == 2:
        return _as_gray(image, polarity)
    return _light_plane(image, _light_channel(image))


def _relative_contrast(gray: np.ndarray, max_width_px: float, polarity: Polarity, *, opened: bool) -> np.ndarray:
    """:func:`hair_contrast` of one (H, W) uint8 channel.

    With `opened`, bright detail up to half the window wide (shafts,
    follicular units, flakes) is taken out of the copy the scalp's median is
    read from: where touching light shafts fill half the window, the median
    alone reads hair, and their rims fall below it. Dark hair and the choice
    of polarity do without: where dark hair crowds, the opening would take
    out the strips of scalp between shafts and make them light lines.
    """
    # Specular highlights run along a shaft as a stripe narrower than it; a
    # grey opening (closing for light hair) removes such details so that a
    # shaft reads as one dark (or light) band.
    k = int(round(max_width_px / 4)) | 1  # odd, so the result is not shifted
    if k >= 3:
        gray = cv2.morphologyEx(gray, cv2.MORPH_OPEN if polarity == "dark" else cv2.MORPH_CLOSE, disk(k))
    # The median is taken on a copy small enough that the window is ~13 px.
    window = 3.0 * max_width_px
    factor = min(1.0, 13.0 / window)
    # (in floating point, rounded back for the median: OpenCV's 8-bit path rounds
    # rows and columns differently, so a turned photo would not give the turned copy)
    small = cv2.resize(gray.astype(np.float32), _scaled_size(gray.shape, factor), interpolation=cv2.INTER_AREA)
    small = np.rint(small, out=small).astype(np.uint8)
    k = max(3, int(round(window * factor)) | 1)
    if opened:
        d = max(3, (k // 2) | 1)
        small = cv2.morphologyEx(small, cv2.MORPH_OPEN, disk(d))
    background = cv2.medianBlur(small, k)
    sigma = max(1.0, max_width_px / 4)
    size = (gray.shape[1], gray.shape[0])
    scale = BACKGROUND_BLUR_SIGMA / sigma
    if scale <= 0.5:
        # A wide Gaussian runs on a copy at most half the size on which it is
        # BACKGROUND_BLUR_SIGMA wide (the median copy is smaller still), and
        # the smooth result is brought to full size: the same surface to a
        # small fraction of a grey level inside the frame, at a fraction of the cost.
        middle = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        background = cv2.resize(background.astype(np.float32), middle, interpolation=cv2.INTER_LINEAR)
        background = cv2.GaussianBlur(background, (0, 0), BACKGROUND_BLUR_SIGMA)
        background = cv2.resize(background, size, interpolation=cv2.INTER_LINEAR)
    else:
        background = cv2.resize(background.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        background = cv2.GaussianBlur(background, (0, 0), sigma)
    # Both polarities are a ratio to the scalp's own brightness, so a change of
    # exposure leaves them unchanged and white flakes on light skin stay faint.
    # (In place: fresh full-size arrays cost more than the arithmetic.)
    ratio = gray.astype(np.float32)
    if polarity == "dark":
        cv2.subtract(background, ratio, dst=ratio)
    else:
        cv2.subtract(ratio, background, dst=ratio)
    cv2.divide(ratio, cv2.max(background, 1.0, dst=background), dst=ratio)
    cv2.max(ratio, 0.0, dst=ratio)
    return cv2.min(ratio, 1.0, dst=ratio)


def edge_bars(image: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns at the photo's edges taken by flat burnt-in bars.

    Capture software often burns a caption or scale strip of one flat tone
    into the top or bottom of a trichoscopy photo. Such a strip is no scalp,
    and its border with the photo would read as a long dark or light line.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 array

    Returns
    -------
    top, bottom, left, right : int
        Number of flat rows (columns) running in from each edge; 0 where
        there is no bar.

    Examples
    --------
    >>> img = np.random.default_rng(0).integers(0, 255, (50, 40), dtype=np.uint8)
    >>> img[-8:] = 200
    >>> edge_bars(img)
    (0, 8, 0, 0)

    A drawing on a flat ground is flat between its strokes too: no bars.

    >>> img = np.full((50, 40), 200, np.uint8); img[20:24] = 40
    >>> edge_bars(img)
    (0, 0, 0, 0)
    """
    _check_image(image)
    rows = _flat_lines(image, axis=1)
    cols = _flat_lines(image, axis=0)

    def run(flat: np.ndarray) -> int:
        return int(flat.size if flat.all() else np.argmin(flat))

    top, bottom = run(rows), run(rows[::-1])
    left, right = run(cols), run(cols[::-1])
    if top + bottom >= image.shape[0] or left + right >= image.shape[1]:
        return (0, 0, 0, 0)  # a flat image: nothing to tell apart
    # In a photograph only the bars are flat; a drawing with flat lines
    # between its strokes has no bars to leave out.
    if rows[top : image.shape[0] - bottom].any() or cols[left : image.shape[1] - right].any():
        return (0, 0, 0, 0)
    return top, bottom, left, right


#: :func:`_flat_lines` first looks at one in this many pixels of a line.
_FLAT_SAMPLE_STEP = 4


def _line_spread(image: np.ndarray, axis: int) -> np.ndarray:
    """Standard deviation of the grey levels of every row (axis 1) or column (axis 0)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    g = gray.astype(np.float32)
    mean = cv2.reduce(g, axis, cv2.REDUCE_AVG, dtype=cv2.CV_64F).ravel()
    mean2 = cv2.reduce(cv2.multiply(g, g), axis, cv2.REDUCE_AVG, dtype=cv2.CV_64F).ravel()
    return np.sqrt(np.maximum(mean2 - mean * mean, 0.0))


def _flat_lines(image: np.ndarray, axis: int) -> np.ndarray:
    """Which rows (axis 1) or columns (axis 0) have a grey-level standard deviation below FLAT_LINE_STD.

    A line's squared deviations from its own mean, summed over all its n
    pixels, are at least those of any k of them from *their* mean; so its
    standard deviation is at least ``sqrt(k / n)`` times that of the k. That
    bound, from one in :data:`_FLAT_SAMPLE_STEP` pixels (the middle stretch
    of each row, every so many pixels of each column: views of the photo, no
    copy), clears every photographed line (their deviations are 3.5 grey
    levels or more); only the others (bars, or the lines of a flat drawing)
    are measured in full, to the same figure as ever.
    """
    n = image.shape[axis]  # pixels in a line
    if axis == 1:
        k = -(-n // _FLAT_SAMPLE_STEP)
        start = (n - k) // 2
        sample = image[:, start : start + k]
    else:
        sample = image[::_FLAT_SAMPLE_STEP]
    gray = cv2.cvtColor(sample, cv2.COLOR_RGB2GRAY) if sample.ndim == 3 else sample
    k = gray.shape[axis]
    # k * sum of squares - sum^2 = k^2 * variance of the k, in exact integers
    total = cv2.reduce(gray, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.int64)
    squares = cv2.reduce(gray, axis, cv2.REDUCE_SUM2, dtype=cv2.CV_64F).ravel().astype(np.int64)
    # (bound / level)^2 = (k * squares - total^2) / (k * n * level^2); clearing the level
    # by 1 % leaves no doubt whatever the rounding of the full figure
    maybe = np.flatnonzero(k * squares - total * total < (1.01 * FLAT_LINE_STD) ** 2 * k * n)
    flat = np.zeros(image.shape[1 - axis], bool)
    if maybe.size:
        lines = image[maybe] if axis == 1 else np.ascontiguousarray(image[:, maybe])
        flat[maybe] = _line_spread(lines, axis) < FLAT_LINE_STD
    return flat


def _odd_span(length: float) -> tuple[int, float]:
    """The odd whole length at or below `length`, and how far `length` lies
    towards the next one (0 to 1): a line of a fractional length is the
    blend of the two odd lines around it, so its response, and all that
    follows from it, moves smoothly with the length instead of by steps of
    two pixels.

    Examples
    --------
    >>> _odd_span(41.0), _odd_span(40.0), _odd_span(42.5)
    ((41, 0.0), (39, 0.5), (41, 0.75))
    """
    low = int(np.floor(length))
    low -= 1 - low % 2
    return low, (length - low) / 2


def _line_kernels(length: float, n: int) -> list[np.ndarray]:
    """Line kernels at the orientations ``pi * i / n`` (x right, y down).

    Lines up to 45 degrees are drawn (and made symmetric about their centre);
    the others are their mirror images, so the set maps onto itself exactly
    when a photo is flipped or turned by a quarter: the line response, and
    what follows from it, does not depend on how the camera was held. A
    `length` between two odd ones blends their kernels (see :func:`_odd_span`).
    """
    low, share = _odd_span(length)
    if share == 0.0:
        return _odd_line_kernels(low, n)
    short = [np.pad(k, 1) for k in _odd_line_kernels(low, n)]
    return [(1 - share) * a + share * b for a, b in zip(short, _odd_line_kernels(low + 2, n), strict=True)]


def _odd_line_kernels(length: int, n: int) -> list[np.ndarray]:
    """:func:`_line_kernels` of an odd whole `length`."""
    if n % 4:
        raise ValueError("the number of orientations must be a multiple of 4")
    c = (length - 1) / 2
    drawn = []
    for i in range(n // 4 + 1):
        theta = np.pi * i / n
        k = np.zeros((length, length), np.float32)
        dx, dy = np.cos(theta) * c, np.sin(theta) * c
        p0 = (int(round(c - dx)), int(round(c - dy)))
        p1 = (int(round(c + dx)), int(round(c + dy)))
        cv2.line(k, p0, p1, 1.0, 1, cv2.LINE_AA)
        k = (k + k[::-1, ::-1]) / 2
        if 4 * i == n:  # the diagonal is its own mirror image across it
            k = (k + k.T) / 2
        drawn.append(k / k.sum())
    kernels = drawn + [drawn[n // 2 - i].T for i in range(n // 4 + 1, n // 2 + 1)]
    kernels += [kernels[n - i][:, ::-1] for i in range(n // 2 + 1, n)]
    return [np.ascontiguousarray(k) for k in kernels]


#: OpenCV filters a float image through the DFT once a kernel has 130 cells or
#: more (50 on some builds), however few of them are non-zero; below that it
#: visits only the non-zero taps. A line kernel is one pixel per step, so it is
#: cut into pieces below the lower bound and each piece is applied directly:
#: the same sums, several times faster on a large image.
_DIRECT_KERNEL_CELLS = 49


@lru_cache(maxsize=16)
def _line_kernel_pieces(length: float, n: int) -> tuple[tuple[tuple[np.ndarray, int, int], ...], ...]:
    """Each line kernel of :func:`_line_kernels` as pieces ``(kernel, x0, y0)``.

    A piece holds consecutive taps of the line in a box of fewer than
    :data:`_DIRECT_KERNEL_CELLS` cells; ``(x0, y0)`` is the box's corner in the
    full kernel. The arrays are read-only (they are cached).
    """
    out = []
    for k in _line_kernels(length, n):
        ys, xs = np.nonzero(k)
        order = np.lexsort((ys, xs) if np.ptp(xs) >= np.ptp(ys) else (xs, ys))
        ys, xs = ys[order], xs[order]
        pieces = []
        start = 0
        while start < ys.size:
            end = start + 1
            while end < ys.size and (np.ptp(ys[start : end + 1]) + 1) * (np.ptp(xs[start : end + 1]) + 1) <= _DIRECT_KERNEL_CELLS:
                end += 1
            yy, xx = ys[start:end], xs[start:end]
            y0, x0 = int(yy.min()), int(xx.min())
            piece = np.zeros((int(np.ptp(yy)) + 1, int(np.ptp(xx)) + 1), np.float32)
            piece[yy - y0, xx - x0] = k[yy, xx]
            piece.flags.writeable = False
            pieces.append((piece, x0, y0))
            start = end
        out.append(tuple(pieces))
    return tuple(out)


#: :func:`line_response` runs through its lines a strip of rows at a time,
#: of about this many pixels at most (a buffer of 512 kB, so that its buffers
#: stay in a 1 MB cache); smaller images in one go.
_LINE_STRIP_PIXELS = 1 << 17


def line_response(contrast: np.ndarray, *, length: float) -> np.ndarray:
    """Strongest mean contrast along a line of `length` pixels through each pixel.

    A shaft keeps its contrast along its axis; skin texture, pores and scales
    do not, so averaging along the best of 12 orientations separates them.

    Parameters
    ----------
    contrast : (H, W) float32 array
        Output of :func:`hair_contrast`.
    length : float
        Line length in pixels, about three shaft widths or more; between two
        odd lengths, the line is a blend of both (see :func:`_odd_span`).

    Returns
    -------
    response : (H, W) float32 array

    Examples
    --------
    >>> c = np.zeros((40, 40), np.float32); c[20, :] = 1.0
    >>> r = line_response(c, length=9)
    >>> float(r[20, 20]) > 0.9 and float(r[5, 5]) == 0.0
    True
    """
    if length < 3:
        raise ValueError("length must be at least 3 pixels")
    contrast = np.asarray(contrast, np.float32)
    if contrast.ndim != 2:
        raise ValueError(f"contrast must be an (H, W) array, got shape {contrast.shape}")
    # The image is padded once by reflection (as BORDER_REFLECT would), so each
    # piece of a line is applied with its corner as anchor to a shifted window
    # of the padding: no piece needs a border of its own.
    low, share = _odd_span(length)
    r = (low - 1) // 2 + (share > 0)
    height, width = contrast.shape
    padded = cv2.copyMakeBorder(contrast, r, r, r, r, cv2.BORDER_REFLECT)
    response = np.empty_like(contrast)
    # Every piece is filtered into one of two buffers (the first piece of a
    # line into its own, which then holds the line's sum): no fresh arrays.
    # Strips of rows are done one after the other, each through every line,
    # so that the buffers stay in the processor's cache (the same sums).
    # The strips are shared out evenly among the threads, each with its own buffers.
    strips = -(-height * (width + 2 * r) // _LINE_STRIP_PIXELS)
    threads = min(parallel.thread_count(), strips)
    strips = -(-strips // threads) * threads
    rows = -(-height // strips)
    size = (rows + 2 * r) * (width + 2 * r)
    tops = range(0, height, rows)

    def run(share: range) -> None:
        first, other = np.empty(size, np.float32), np.empty(size, np.float32)
        for top in share:
            strip = response[top : top + rows]
            strip[:] = 0.0
            _strip_line_response(padded[top:], strip, length, first, other)

    parallel.map_threads(run, [tops[i::threads] for i in range(min(threads, len(tops)))])
    return response


def _strip_line_response(
    padded: np.ndarray, response: np.ndarray, length: float, first: np.ndarray, other: np.ndarray
) -> None:
    """In place: `response` (h, w), the maximum over the lines of their mean along
    each, from `padded`, whose top-left ``(h + 2r, w + 2r)`` window is the
    strip's padded image; `first` and `other` are flat buffers at least that large."""
    height, width = response.shape
    for pieces in _line_kernel_pieces(length, N_ORIENTATIONS):
        for i, (piece, x0, y0) in enumerate(pieces):
            kh, kw = piece.shape
            window = padded[y0 : y0 + height + kh - 1, x0 : x0 + width + kw - 1]
            out = (first if i == 0 else other)[: window.size].reshape(window.shape)
            cv2.filter2D(window, -1, piece, dst=out, anchor=(0, 0))
            if i == 0:
                line = out[:height, :width]
            else:
                cv2.add(line, out[:height, :width], dst=line)
        cv2.max(response, line, dst=response)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of a float32 map over 256 bins spanning its range, as
    skimage's ``threshold_otsu`` (its histogram from OpenCV, several times
    faster than numpy's on a large map)."""
    lo, hi = cv2.minMaxLoc(values)[:2]
    if lo == hi:
        return float(lo)
    edges = np.linspace(lo, hi, 257)
    # calcHist's bins are half-open: stretch the top one to include the maximum.
    counts = cv2.calcHist([values], [0], None, [256], [lo, float(np.nextafter(np.float32(hi), np.float32(np.inf)))])
    return float(threshold_otsu(hist=(counts.ravel(), (edges[:-1] + edges[1:]) / 2)))


def estimate_shaft_width(
    image: np.ndarray, *, polarity: Polarity = "dark", plane: np.ndarray | None = None
) -> float:
    """Typical shaft width in pixels, from the image itself.

    Strongly contrasted structures are thresholded (Otsu) on a contrast map with
    a window holding shafts up to WIDEST_SHAFT_SHARE of the short side; the
    median of twice the distance transform along their ridges is the typical
    width. Used to set every other size in proportion, so the pipeline adapts
    to the magnification. For light hair, whose translucent shafts are
    brightest along the axis, the thresholded cores are first grown out to the
    shafts' edges (EDGE_SHARE of their peak). The image is looked at in its
    canonical orientation (:mod:`tracker.imaging.orientation`), so a turned or
    flipped copy gets the same width.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 array
    polarity : {'dark', 'light'}
        As for :func:`hair_contrast`.
    plane : (H, W) uint8 array, optional
        As for :func:`hair_contrast`.

    Returns
    -------
    width : float
        At least 1.5 px.

    Examples
    --------
    >>> img = np.full((120, 160), 200, np.uint8)
    >>> for y in (20, 60, 100): img[y:y + 8, 10:150] = 40
    >>> 6 <= estimate_shaft_width(img) <= 10
    True
    """
    if plane is None:
        plane = hair_plane(image, polarity)
    # Its sums in floating point are not exactly symmetric, and thresholds can
    # make a 1e-7 difference one of a few per cent: on the canonical
    # orientation, a turned or flipped photo gets the same width.
    turn = canonical_turn(plane)
    # Given the plane, the estimate reads only the image's shape: a view will do.
    return _shaft_width(turn.view(image), polarity, to_rims=polarity == "light", plane=turn.array(plane))


def _shaft_width(
    image: np.ndarray,
    polarity: Polarity,
    *,
    to_rims: bool,
    plane: np.ndarray | None = None,
    widest: float = WIDEST_SHAFT_SHARE,
) -> float:
    """:func:`estimate_shaft_width`; without `to_rims`, the width of the
    thresholded cores with the plain median scalp (the same for dark hair),
    which :func:`survey` judges the mode by. Light cores are seen in the
    plane of :func:`_light_channel`: in the darkest channel the cores of
    blond shafts are narrow slivers. `plane` is :func:`hair_plane`'s, if made.
    `widest` is the widest shaft looked for, as a share of the short side."""
    generous = max(4.0, min(image.shape[:2]) * widest)
    if plane is None:
        plane = hair_plane(image, polarity)
    if to_rims:
        c = hair_contrast(image, max_width_px=generous, polarity=polarity, plane=plane)
    else:
        c = _relative_contrast(plane, generous, polarity, opened=False)
    if float(c.max()) < LOW_CONTRAST:
        return 1.5
    t = max(LOW_CONTRAST, _otsu(c))
    # Only pixels on long lines: flakes, pores and glare are shorter than the
    # line and fall below HIGH_CONTRAST along it.
    along = line_response(c, length=max(5, (min(image.shape[:2]) // 12) | 1))
    strong = (c > t) & (along > HIGH_CONTRAST)
    if to_rims:
        # Otsu's threshold keeps only the bright core of a translucent shaft:
        # the cores are grown out to where the contrast falls to EDGE_SHARE
        # of their peak, as :func:`shaft_mask` places a shaft's edges.
        k = max(3, int(round(generous)) | 1)
        peak = cv2.dilate(np.where(strong, c, np.float32(0)), disk(k))
        strong = _hysteresis((c > LOW_CONTRAST) & (c >= EDGE_SHARE["light"] * peak), strong)
    # The opening drops one- and two-pixel texture that would drag the median down.
    strong = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    dist = cv2.distanceTransform(strong, cv2.DIST_L2, 5)
    # Ridge pixels: local maxima of the distance map.
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (dist > 0.5)
    if not ridge.any():
        return 1.5
    return max(1.5, float(2 * np.median(dist[ridge])))


def choose_polarity(image: np.ndarray) -> Polarity:
    """'dark' if the hair is darker than the scalp, 'light' for grey or white hair.

    Each polarity is scored by its *line excess*: the mean contrast along the
    best line minus the mean over a square of the same size, summed over the
    pixels where it passes HIGH_CONTRAST. A shaft's excess is nearly its full
    contrast; a blob shorter than the line (glare, scales, flakes, pores)
    never reaches a quarter of its contrast, so however many bright flakes a
    scalp with dark hair shows, they do not flip the choice.

    Examples
    --------
    >>> img = np.full((100, 100), 90, np.uint8); img[40:44, :] = 230
    >>> choose_polarity(img)
    'light'
    """
    _check_image(image)
    scale = min(1.0, 256 / max(image.shape[:2]))
    small = cv2.resize(image, _scaled_size(image.shape, scale), interpolation=cv2.INTER_AREA)
    dark, light = parallel.map_threads(lambda polarity: _line_score(_as_gray(small, polarity), polarity), ("dark", "light"))
    return "dark" if dark >= light else "light"


def _hysteresis(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Pixels of `low` 4-connected to a pixel of `high` (a subset of `low`):
    skimage's ``apply_hysteresis_threshold`` on the two masks, with OpenCV's
    connected components."""
    count, labels = cv2.connectedComponents(low.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    keep = np.zeros(count, bool)
    keep[labels[high]] = True
    keep[0] = False
    return keep[labels]


def shaft_mask(
    contrast: np.ndarray,
    *,
    shaft_width_px: float,
    high: float = HIGH_CONTRAST,
    low: float = LOW_CONTRAST,
    polarity: Polarity = "dark",
) -> np.ndarray:
    """Mask of hair shafts from a contrast map.

    Shafts are found where the line response (:func:`line_response`) passes
    `high`, grown while it stays above `low` (hysteresis); each shaft's edge
    is then placed where its contrast falls to EDGE_SHARE of its peak (half
    for dark hair).

    Parameters
    ----------
    contrast : (H, W) float32 array
        Output of :func:`hair_contrast`.
    shaft_width_px : float
        Typical shaft width; the line length is 3.4 widths. Every size
        follows it smoothly, so a slightly different width moves the mask
        by a little, not by a step.
    high, low : float
        Hysteresis levels (relative contrast).
    polarity : {'dark', 'light'}
        The polarity `contrast` was computed for; it sets EDGE_SHARE.

    Returns
    -------
    mask : (H, W) bool array

    Examples
    --------
    >>> c = np.zeros((60, 80), np.float32); c[28:34, 5:75] = 0.6
    >>> m = shaft_mask(c, shaft_width_px=6)
    >>> int(m[:, 40].sum()), bool(m[5, 5])
    (6, False)
    """
    if not 0 < low <= high:
        raise ValueError("need 0 < low <= high for the hysteresis levels")
    if shaft_width_px <= 0:
        raise ValueError("shaft_width_px must be positive")
    w = float(shaft_width_px)
    response = line_response(contrast, length=max(5.0, 3.4 * w))
    # Hysteresis on the response where the contrast itself passes `low`.
    above_low = (contrast > low) & (response > low)
    detected = _hysteresis(above_low, above_low & (response > high))
    # A dark shaft's edge is where its contrast falls to half its peak (full
    # width at half maximum): the true width whatever the blur, and it keeps
    # the follicle halo and the blurred rim out of the mask (EDGE_SHARE has
    # the share for light shafts). The rule is applied to contrast smoothed
    # well below the shaft width, so specular speckles on a shaft do not
    # punch holes in it.
    smooth = cv2.GaussianBlur(contrast, (0, 0), max(0.5, w / 6))
    # The peak is looked for in a window a pixel wider than the shaft, so that
    # from its edge it reaches past the axis; between two odd sizes, the
    # peaks in both are blended, so the mask moves smoothly with the width.
    side, share = _odd_span(max(3.0, w + 1))
    on_shafts = np.where(detected, smooth, np.float32(0))
    peak = cv2.dilate(on_shafts, np.ones((side, side), np.uint8))
    if share > 0:
        wider = cv2.dilate(on_shafts, np.ones((side + 2, side + 2), np.uint8))
        peak = cv2.addWeighted(peak, 1 - share, wider, share, 0.0)
    mask = detected & (smooth >= EDGE_SHARE[polarity] * peak)
    opened = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return opened.view(bool)


def segment_closeup(
    image: np.ndarray,
    *,
    shaft_width_px: float | None = None,
    polarity: Polarity | None = None,
) -> np.ndarray:
    """Mask of hair shafts in a close-up photo.

    Chooses the polarity and the shaft width from the image where they are
    not given, then applies :func:`hair_contrast` and :func:`shaft_mask`.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB array or (H, W) uint8 array
    shaft_width_px : float, optional
        Typical shaft width; estimated with :func:`estimate_shaft_width` if
        not given. The background window and line length scale with it.
    polarity : {'dark', 'light'}, optional
        Chosen with :func:`choose_polarity` if not given.

    Returns
    -------
    mask : (H, W) bool array

    Examples
    --------
    >>> img = np.full((120, 160, 3), 200, np.uint8); img[50:58, 10:150] = 40
    >>> m = segment_closeup(img)
    >>> bool(m[54, 80]), bool(m[10, 10])
    (True, False)
    """
    if polarity is None:
        polarity = choose_polarity(image)
    plane = hair_plane(image, polarity)
    if shaft_width_px is None:
        shaft_width_px = estimate_shaft_width(image, polarity=polarity, plane=plane)
    contrast = hair_contrast(image, max_width_px=2 * shaft_width_px, polarity=polarity, plane=plane)
    return shaft_mask(contrast, shaft_width_px=shaft_width_px, polarity=polarity)


#: Overview photos: the smooth fall-off of the light across the frame
#: (vignetting, a lamp off to one side) is divided out by a quadratic fitted
#: to the log brightness of the visible scalp; it is trusted within this
#: factor of its median (a fit extrapolated over hair-covered corners is not).
OVERVIEW_LIGHT_RANGE = 1.6
#: Overview photos: the hair level is this percentile of the hair side of
#: Otsu's split (its core, not the mixed pixels at the edges of strands), the
#: scalp level the median of the scalp side; a pixel is hair where it is
#: nearer the hair level than the scalp level (at least half covered, as the
#: truth of a drawn strand is).
OVERVIEW_HAIR_PERCENTILE = 25.0
#: Overview photos: Gaussian smoothing (pixels) of the luminance before it is
#: thresholded, against sensor noise and JPEG blocks.
OVERVIEW_SMOOTH_SIGMA = 0.5


def _overview_speck_px(shape: tuple[int, ...]) -> int:
    """Connected hair regions smaller than this (pixels) are specks, not hair."""
    k = max(3, int(min(shape[:2]) / 300) | 1)
    return k * k


def scalp_light(gray: np.ndarray, scalp: np.ndarray) -> np.ndarray:
    """Smooth light level across a photo, from the scalp pixels in it.

    A quadratic surface fitted (least squares) to the log grey level of the
    ``scalp`` pixels, so that dividing by it takes out vignetting and light
    falling off across the frame without following the hair. The surface is
    kept within :data:`OVERVIEW_LIGHT_RANGE` of its median; without enough
    scalp (fewer than 64 pixels) it is flat.

    Parameters
    ----------
    gray : (H, W) float32 array
        Grey levels (> 0 where they count).
    scalp : (H, W) bool array
        The pixels known to be scalp.

    Returns
    -------
    (H, W) float32 array
        The light level, in grey levels, at every pixel.

    Examples
    --------
    >>> g = np.tile(np.linspace(100, 200, 64, dtype=np.float32), (48, 1))
    >>> light = scalp_light(g, g > 0)
    >>> bool(np.allclose(light, g, rtol=0.02))
    True
    """
    if gray.ndim != 2 or scalp.shape != gray.shape or scalp.dtype != bool:
        raise ValueError(
            f"gray must be an (H, W) array and scalp a bool mask of the same shape, got {gray.shape} and "
            f"{scalp.shape} {scalp.dtype}; pass one photo's grey levels and e.g. gray > threshold"
        )
    h, w = gray.shape
    step = max(1, int(np.sqrt(h * w / 40000)))
    yy, xx = np.mgrid[0:h:step, 0:w:step]
    keep = scalp[::step, ::step] & (gray[::step, ::step] > 0)
    if np.count_nonzero(keep) < 64:
        level = float(np.median(gray[scalp])) if scalp.any() else float(gray.mean())
        return np.full((h, w), max(level, 1e-3), np.float32)

    def terms(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        return [np.ones_like(x), x, y, x * x, x * y, y * y]

    x, y = xx[keep] / w - 0.5, yy[keep] / h - 0.5
    a = np.stack(terms(x, y), 1)
    coef, *_ = np.linalg.lstsq(a, np.log(gray[::step, ::step][keep].astype(np.float64)), rcond=None)
    gx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    gy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    log_light = _surface(coef.astype(np.float32), terms(gx, gy))
    mid = float(np.median(log_light[::step, ::step]))
    span = float(np.log(OVERVIEW_LIGHT_RANGE))
    np.clip(log_light, mid - span, mid + span, out=log_light)
    return np.exp(log_light, out=log_light)


def _surface(coef: np.ndarray, terms: list[np.ndarray]) -> np.ndarray:
    """The sum of ``coef[i] * terms[i]`` over float32 rows (1, W) and columns
    (H, 1), added in that order; in place once it is full size (fresh
    full-size arrays cost more than the arithmetic).

    Examples
    --------
    >>> x, y = np.float32([[1, 2]]), np.float32([[1], [3]])
    >>> _surface(np.float32([1, 2, 3]), [np.ones_like(x), x, y * x]).tolist()
    [[6.0, 11.0], [12.0, 23.0]]
    """
    total = coef[0] * terms[0]
    for c, t in zip(coef[1:], terms[1:], strict=True):
        term = c * t
        if np.broadcast_shapes(total.shape, term.shape) == total.shape:
            total += term
        else:
            total = total + term
    return total


def _masked_percentile(values: np.ndarray, mask: np.ndarray, q: float, bins: int = 4096) -> float:
    """Percentile ``q`` of a float32 map's values under a non-empty bool ``mask``.

    From a histogram of ``bins`` bins spanning the map's range (OpenCV's,
    several times faster than sorting), interpolated within the bin.
    """
    lo, hi = cv2.minMaxLoc(values)[:2]
    if lo == hi:
        return float(lo)
    top = float(np.nextafter(np.float32(hi), np.float32(np.inf)))
    hist = cv2.calcHist([values], [0], mask.view(np.uint8), [bins], [lo, top]).ravel()
    cdf = np.cumsum(hist, dtype=np.float64)
    target = q / 100.0 * cdf[-1]
    i = min(int(np.searchsorted(cdf, target)), bins - 1)
    below = cdf[i - 1] if i else 0.0
    frac = (target - below) / hist[i] if hist[i] else 0.0
    return float(lo + (i + frac) * (top - lo) / bins)


def segment_overview(image: np.ndarray, *, polarity: Polarity | None = None) -> np.ndarray:
    """Mask of hair mass against visible scalp in an overview photo.

    Hair and scalp form two tone populations. The luminance is divided by the
    light level across the frame (:func:`scalp_light`, fitted on the scalp
    side of Otsu's threshold), so vignetting and uneven light count for
    nothing; Otsu's threshold then splits the two sides again, and a pixel is
    hair where its level is nearer the hair level (a low percentile of the
    hair side: the core of strands) than the scalp level (the scalp side's
    median). Both levels come from the photo itself, so the result does not
    depend on the exposure, and a threshold half-way between them does not
    move a strand's edge when the photo is more or less blurred (or
    resampled onto a baseline's grid). Without a given polarity, the hair is
    the less coloured side (black, grey and white hair are nearly
    achromatic, scalp is skin-toned; dark hair is assumed for grayscale
    photos). Specks smaller than a few pixels are dropped; single thin
    strands are kept.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 array
    polarity : {'dark', 'light'}, optional
        Hair darker or lighter than the scalp; fix it per view
        (:func:`choose_overview_polarity` of the baseline photo).

    Returns
    -------
    (H, W) bool array
        True where hair is.

    Examples
    --------
    >>> img = np.full((100, 100, 3), 210, np.uint8); img[:, :60] = 35
    >>> round(float(segment_overview(img).mean()), 2)
    0.6
    >>> lit = (img * np.linspace(0.8, 1.15, 100)[:, None, None]).astype(np.uint8)
    >>> round(float(segment_overview(lit).mean()), 2)
    0.6
    """
    _check_image(image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if int(gray.max()) == int(gray.min()):
        return np.zeros(gray.shape, bool)
    if polarity is None:
        polarity = choose_overview_polarity(image)
    fine = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), OVERVIEW_SMOOTH_SIGMA)
    t = _otsu(fine)
    scalp = fine > t if polarity == "dark" else fine <= t
    flat = fine / scalp_light(fine, scalp)  # 1 on lit scalp, whatever the exposure
    t = _otsu(flat)
    hair_side, scalp_side = (flat <= t, flat > t) if polarity == "dark" else (flat > t, flat <= t)
    if not hair_side.any() or not scalp_side.any():
        return np.zeros(gray.shape, bool)
    q = OVERVIEW_HAIR_PERCENTILE if polarity == "dark" else 100.0 - OVERVIEW_HAIR_PERCENTILE
    cut = (_masked_percentile(flat, hair_side, q) + _masked_percentile(flat, scalp_side, 50.0)) / 2
    mask = (flat <= cut) if polarity == "dark" else (flat > cut)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= _overview_speck_px(gray.shape)
    keep[0] = False
    return keep[labels]


def choose_overview_polarity(image: np.ndarray) -> Polarity:
    """The hair polarity :func:`segment_overview` chooses for ``image`` when none is given.

    Fix it per view (from the baseline photo) so that a brighter or darker
    recapture cannot flip which side of the threshold counts as hair.

    Examples
    --------
    >>> img = np.full((100, 100, 3), (200, 150, 120), np.uint8); img[:, :60] = 35
    >>> choose_overview_polarity(img)
    'dark'
    """
    _check_image(image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0)
    if int(smooth.max()) == int(smooth.min()) or image.ndim == 2:
        return "dark"
    # The hair is the less coloured side of Otsu's threshold.
    dark = smooth <= threshold_otsu(smooth)
    if not dark.any() or dark.all():
        return "dark"
    # Channel by channel: numpy reduces a length-3 last axis slowly.
    r, g, b = cv2.split(image)
    chroma = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    return "dark" if chroma[dark].mean() <= chroma[~dark].mean() else "light"


@dataclass(frozen=True)
class Survey:
    """What a first look at a photo tells (see :func:`survey`).

    Attributes
    ----------
    polarity : {'dark', 'light'}
    shaft_width_px : float
        Typical shaft width in pixels of the photo.
    scale : float
        Size of the surveyed copy relative to the photo (at most 1).
    mode : {'closeup', 'overview'}
    """

    polarity: Polarity
    shaft_width_px: float
    scale: float
    mode: Mode


def survey(image: np.ndarray) -> Survey:
    """Polarity, typical shaft width and mode of a photo, from one copy.

    The copy is MODE_DETECTION_SIDE pixels on its long side (the photo itself
    if smaller), made with :func:`reduce_image`; :func:`choose_polarity` and
    :func:`estimate_shaft_width` run on it. The photo is a close-up when its
    typical shaft is at least CLOSEUP_MIN_WIDTH_SHARE of the short side wide
    (a 70 µm shaft in a field 7 mm high or less, as at 20x and above), and at
    most an eighth of it; in an overview single hairs are a few pixels at
    most and hair forms large tone regions. The share is that of the lines'
    bright (or dark) cores, as the bound was set on them: light shafts grown
    to their rims would make the strips of scalp between the dark hair of an
    overview pass it.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) uint8 array

    Returns
    -------
    Survey

    Examples
    --------
    >>> img = np.full((480, 640, 3), 200, np.uint8)
    >>> for y in range(40, 440, 80): img[y:y + 14, 40:600] = 40
    >>> s = survey(img)
    >>> s.polarity, s.mode, 12 <= s.shaft_width_px <= 16
    ('dark', 'closeup', True)
    """
    small, scale, polarity, core, mode = _first_look(image)
    width = core if polarity == "dark" else estimate_shaft_width(small, polarity=polarity)
    return Survey(polarity=polarity, shaft_width_px=width / scale, scale=scale, mode=mode)


def _first_look(image: np.ndarray) -> tuple[np.ndarray, float, Polarity, float, Mode]:
    """The copy :func:`survey` looks at, its scale, the polarity, the width of
    the lines' cores on the copy and the mode.

    The mode needs only the width of the lines' cores, not that of light
    shafts grown to their rims, so :func:`detect_mode` stops here.
    """
    _check_image(image)
    scale = min(1.0, MODE_DETECTION_SIDE / max(image.shape[:2]))
    small = reduce_image(image, scale)
    polarity = choose_polarity(small)
    core = _shaft_width(small, polarity, to_rims=False, widest=SURVEY_WIDEST_SHARE)
    share = core / min(small.shape[:2])
    mode: Mode = "closeup" if CLOSEUP_MIN_WIDTH_SHARE <= share <= 1 / 8 else "overview"
    return small, scale, polarity, core, mode


def detect_mode(image: np.ndarray) -> Mode:
    """Tell a close-up from an overview photo (the mode of :func:`survey`).

    Examples
    --------
    >>> img = np.full((480, 640, 3), 200, np.uint8)
    >>> for y in range(40, 440, 80): img[y:y + 14, 40:600] = 40
    >>> detect_mode(img)
    'closeup'
    """
    return _first_look(image)[4]
