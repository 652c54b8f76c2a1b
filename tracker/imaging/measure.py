"""Measurements of hair inside a region of interest.

A hair mask is split into *groups*: connected pieces of hair, each a single
shaft or several touching shafts (a follicular unit, a crossing). Each group
gets a number of shafts, a length and a shaft width; the image measures
(count, mean width, thin-hair share) are sums over the groups.

Counting follows the definition in the design notes: a shaft counts when its
midpoint lies inside the ROI. A group cut by the ROI edge shows only part of
its shafts; its midpoint is inside when the visible part is longer than half a
typical shaft, so such a group counts only then.

All sizes are in pixels of the arrays given; scale conversions happen in
:mod:`tracker.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np
from skimage.measure import label, regionprops
from skimage.morphology import skeletonize
from skimage.transform import hough_line

from tracker.imaging.orientation import canonical_turn

#: A group must be at least this many shaft widths long to be a shaft, and
#: this elongated (length / width of the equivalent ellipse), unless it holds
#: at least BLOB_AREA_WIDTHS squared widths of hair and a straight band of
#: hair at least BUNDLE_BAND_WIDTHS long (a short bundle of shafts with its
#: follicle halo, not a flake or a pore).
MIN_LENGTH_WIDTHS = 1.2
MIN_ELONGATION = 2.5
BLOB_AREA_WIDTHS = 2.0
BUNDLE_BAND_WIDTHS = 3.0
#: A straight band one shaft wide is a shaft when it runs at least this many
#: shaft widths and hair fills at least this share of it.
MIN_SHAFT_LENGTH_WIDTHS = 2.0
MIN_BAND_FILL = 0.6
#: ... and at least this share of it is hair no earlier shaft took (where
#: shafts cross, the crossing is shared).
MIN_NEW_SHARE = 0.5
#: Every shaft of a piece after its first must run this many widths, longer
#: than a follicle opening or halo (two to three shaft widths across) that
#: can bulge out of a single shaft; a shaft beside an earlier one (fanning
#: out of the same follicle at a small angle, or touching it) needs a
#: stretch this long that only its own hair fills.
MIN_SIDE_SHAFT_WIDTHS = 4.0
#: Orientations tried for a band (every 2 degrees).
BAND_ANGLES = np.deg2rad(np.arange(-90.0, 90.0, 2.0))
#: Most shafts in a group: this many, or more in a large tangle of crossing
#: and touching shafts (dense scalps): one per shortest shaft's worth of hair
#: (MIN_SHAFT_LENGTH_WIDTHS square shaft widths), so the limit grows with the
#: group instead of cutting off the shafts of a tangle.
MAX_SHAFTS_PER_GROUP = 12
#: Bands in a row that fail to be shafts before the search in a group ends;
#: each shaft found starts the count again, so a tangle of many shafts gets
#: as many tries per shaft as a pair does.
MAX_REJECTED_BANDS = 4
#: ... and this many once a group has given TANGLE_SHAFTS shafts or more: the
#: more shafts cross, the more bands run across them and fail before the next
#: shaft, and a search that gave up after four found the last shafts of a
#: dense scalp's tangle in one recapture and not in the next (the count then
#: changed between photos of the same scalp). Smaller groups keep four tries:
#: more there found extra shafts in real photos.
MAX_REJECTED_BANDS_TANGLE = 12
#: Shafts found in a group from which it is searched as a tangle.
TANGLE_SHAFTS = 6


class ShaftAxis(NamedTuple):
    """One shaft of a hair group: the two ends of its axis, as ``(x, y)`` in
    pixels (the same point for a short stub), whether its midpoint lies
    inside the ROI (it is counted), and whether it is cut: an end lies at the
    photo's edge or at pixels whose content is unknown, so the shaft may go
    on beyond what is seen (its midpoint is then inferred)."""

    start: tuple[float, float]
    end: tuple[float, float]
    inside: bool
    cut: bool = False


@dataclass(frozen=True)
class HairGroup:
    """A connected piece of hair mask: one shaft or several touching shafts.

    Attributes
    ----------
    centroid : (x, y) in pixels
    bbox : (x0, y0, x1, y1), x1 and y1 exclusive
    length_px : float
        Total length of the group's shafts.
    width_px : float
        Mean shaft width: hair pixels over the longer of the shafts' total
        length and the group's centre-line length.
    hairs : int
        Number of shafts in the group.
    counted : bool
        False for a group cut by the ROI edge whose shafts' midpoints most
        likely all lie outside it.
    counted_hairs : int, optional
        How many of the shafts have their midpoint inside the ROI (a shaft
        cut by the ROI edge may not, while its neighbours in the group do);
        None means all of them when `counted`.
    shafts : tuple of ShaftAxis
        Each shaft's axis, as found (empty for a group made by hand).
    """

    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    length_px: float
    width_px: float
    hairs: int
    counted: bool
    counted_hairs: int | None = None
    shafts: tuple[ShaftAxis, ...] = ()

    def moved(
        self, point: Callable[[float, float], tuple[float, float]], bbox: tuple[int, int, int, int]
    ) -> HairGroup:
        """The group with its centroid and shaft ends mapped by `point` and the
        bounding box `bbox` (the box's rounding is the caller's).

        Examples
        --------
        >>> g = HairGroup((5.0, 2.0), (0, 0, 10, 4), 10.0, 4.0, 1, True, 1, (ShaftAxis((0.0, 2.0), (9.0, 2.0), True),))
        >>> g.moved(lambda x, y: (x + 100, y), (100, 0, 110, 4)).shafts
        (ShaftAxis(start=(100.0, 2.0), end=(109.0, 2.0), inside=True, cut=False),)
        """
        return replace(
            self,
            centroid=point(*self.centroid),
            bbox=bbox,
            shafts=tuple(s._replace(start=point(*s.start), end=point(*s.end)) for s in self.shafts),
        )

    @property
    def hairs_inside(self) -> int:
        """Shafts of the group whose midpoint lies inside the ROI."""
        if not self.counted:
            return 0
        return self.hairs if self.counted_hairs is None else self.counted_hairs


def check_roi(shape: tuple[int, ...], roi: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Return `roi` ``(x, y, w, h)`` as a tuple; ValueError unless it fits an image of `shape`.

    Examples
    --------
    >>> check_roi((4, 5), (1, 1, 2, 2))
    (1, 1, 2, 2)
    """
    h, w = shape[:2]
    x, y, rw, rh = roi
    if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > w or y + rh > h:
        raise ValueError(
            f"ROI {tuple(roi)} (x, y, width, height) does not fit the {w}x{h} image; "
            "give a rectangle inside the image"
        )
    return x, y, rw, rh


def roi_mask(shape: tuple[int, ...], roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """Boolean mask of a rectangular ROI ``(x, y, w, h)``; the whole image if None.

    Examples
    --------
    >>> int(roi_mask((4, 5), (1, 1, 2, 2)).sum())
    4
    """
    h, w = shape[:2]
    if roi is None:
        return np.ones((h, w), bool)
    x, y, rw, rh = check_roi(shape, roi)
    out = np.zeros((h, w), bool)
    out[y : y + rh, x : x + rw] = True
    return out


def coverage_pct(mask: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> float:
    """Share of ROI pixels that are hair, in percent.

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[:, :3] = True
    >>> coverage_pct(m), coverage_pct(m, (0, 0, 5, 10))
    (30.0, 60.0)
    """
    inside = roi_mask(mask.shape, roi)
    return float(100.0 * np.count_nonzero(mask & inside) / np.count_nonzero(inside))


def shaft_lengths(group: np.ndarray, *, shaft_width_px: float) -> list[float]:
    """Lengths of the straight shafts that make up one connected piece of hair.

    Shafts are taken out one at a time: the straight band one shaft wide
    that covers the most hair pixels (a Hough transform whose votes are summed
    across the band) is a shaft if it is long and well filled; its pixels are
    removed and the search repeats. Touching parallel shafts, shafts fanning
    out of one follicle and crossing shafts all come apart this way.

    Parameters
    ----------
    group : (H, W) bool array
        One connected piece of hair mask (a crop is enough).
    shaft_width_px : float
        Width of one shaft.

    Returns
    -------
    lengths : list of float
        One entry per shaft found, in pixels; empty if no band is long and
        full enough (a short stub).

    Examples
    --------
    Two shafts crossing at 40 degrees:

    >>> import cv2
    >>> g = np.zeros((200, 200), np.uint8)
    >>> _ = cv2.line(g, (20, 100), (180, 100), 1, 8)
    >>> _ = cv2.line(g, (30, 40), (170, 160), 1, 8)
    >>> len(shaft_lengths(g.astype(bool), shaft_width_px=8))
    2

    Two shafts crossing at a right angle, and two touching parallel shafts:

    >>> g = np.zeros((200, 200), np.uint8)
    >>> _ = cv2.line(g, (20, 100), (180, 100), 1, 8)
    >>> _ = cv2.line(g, (100, 20), (100, 180), 1, 8)
    >>> len(shaft_lengths(g.astype(bool), shaft_width_px=8))
    2

    >>> [round(v) for v in shaft_lengths(np.ones((16, 160), bool), shaft_width_px=8)]
    [160, 160]
    """
    return [length for length, _, _ in _shaft_bands(group, shaft_width_px=shaft_width_px)]


def _shaft_bands(
    group: np.ndarray, *, shaft_width_px: float
) -> list[tuple[float, tuple[float, float], tuple[float, float]]]:
    """The shafts of :func:`shaft_lengths` as ``(length, (x0, y0), (x1, y1))``:
    each shaft's length and the two ends of its axis, in `group`'s pixels."""
    group = np.ascontiguousarray(group, dtype=bool)
    ys_all, xs_all = np.nonzero(group)
    x_all, y_all = xs_all.astype(np.float64), ys_all.astype(np.float64)  # converted once, not per band
    remaining = np.ones(ys_all.size, bool)  # the group's pixels no shaft took yet
    left = ys_all.size
    band = max(1, int(round(shaft_width_px))) | 1  # odd: the vote window is centred
    min_length = MIN_SHAFT_LENGTH_WIDTHS * shaft_width_px
    lengths: list[tuple[float, tuple[float, float], tuple[float, float]]] = []
    taken: list[tuple[float, float, float, float]] = []  # rho, theta, t0, t1 of each shaft
    # The hair a band must hold to be a shaft, in the accumulator's units
    # (votes averaged over the band's `band` distances).
    least_votes = MIN_BAND_FILL * shaft_width_px * min_length / band
    score = None
    votes = None
    rejected = 0
    most = max(MAX_SHAFTS_PER_GROUP, int(ys_all.size // (shaft_width_px * min_length)))
    while len(lengths) < most and left >= MIN_BAND_FILL * shaft_width_px * min_length:
        if score is None:
            if votes is None:
                accumulator, angles, distances = hough_line(group, theta=BAND_ANGLES)
                # Only the distances the hair votes for, and two bands either
                # side (all the blur and the flanks read), are kept: elsewhere
                # nothing passes `least_votes`, and within them every figure
                # is the one the whole accumulator gives. The votes are kept
                # in float32, which holds such counts exactly.
                voted = np.flatnonzero(accumulator.any(axis=1))
                base = max(0, int(voted[0]) - 2 * band)
                votes = accumulator[base : int(voted[-1]) + 2 * band + 1].astype(np.float32)
            else:
                # The votes are counts: those of the hair just taken out are
                # taken off, rather than every remaining pixel voting again.
                first, taken_votes = _box_votes(ys_all[new], xs_all[new], distances.size)
                # The box's rows beyond the distances kept hold no votes (this
                # hair voted only for kept ones): they are cut off, not taken off.
                start = first - base
                lo, hi = max(0, -start), min(taken_votes.shape[0], votes.shape[0] - start)
                votes[start + lo : start + hi] -= taken_votes[lo:hi].astype(np.float32)
            inside = cv2.blur(votes, (1, band), borderType=cv2.BORDER_CONSTANT)
            # Prefer a band along an edge of the hair: its emptier flank holds
            # little hair. A band cutting diagonally through two touching shafts
            # has hair on both sides and loses to one lying along either shaft.
            # (Beyond the accumulator's ends a flank is empty.)
            flank = np.zeros_like(inside)
            if inside.shape[0] > 2 * band:
                np.minimum(inside[: -2 * band], inside[2 * band :], out=flank[band:-band])
            score = np.subtract(inside, flank, out=flank)
            np.copyto(score, -np.inf, where=inside < least_votes)
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        if not np.isfinite(score[i, j]):
            break
        rho, theta = distances[base + i], angles[j]
        # In a tangle of shafts the best band may run across them; the next
        # best are tried before the search ends (the band and its neighbours
        # in distance and angle are not tried again).
        score[max(0, i - band // 2) : i + band // 2 + 1, max(0, j - 1) : j + 2] = -np.inf
        # The band's extent is measured on all of the group's hair, so a
        # shaft already taken out where it crossed this one leaves no gap.
        # (Only the pixels in the band are followed further.)
        in_band = np.flatnonzero(np.abs(x_all * np.cos(theta) + y_all * np.sin(theta) - rho) <= shaft_width_px / 2)
        if in_band.size == 0:
            continue
        along = -x_all[in_band] * np.sin(theta) + y_all[in_band] * np.cos(theta)
        t = np.sort(along)
        # The longest stretch of the band with no gap wider than a shaft.
        breaks = np.flatnonzero(np.diff(t) > shaft_width_px)
        starts, ends = np.concatenate(([0], breaks + 1)), np.append(breaks, t.size - 1)
        k = int(np.argmax(t[ends] - t[starts]))
        t0, t1 = t[starts[k]], t[ends[k]]
        length = t1 - t0 + 1
        stretch = (along >= t0) & (along <= t1)
        fresh = stretch & remaining[in_band]
        # Well filled, and at least half of it hair no earlier shaft took.
        area = shaft_width_px * length
        # A further shaft in a piece must be longer than a follicle opening.
        least = min_length if not lengths else MIN_SIDE_SHAFT_WIDTHS * shaft_width_px
        if length < least or stretch.sum() < MIN_BAND_FILL * area or fresh.sum() < MIN_NEW_SHARE * area:
            # A shaft fanning out of the same follicle as an earlier one at a
            # small angle, or lying beside it, shares much of its band with
            # that shaft's hair. It is still a shaft where the hair no earlier
            # shaft took is itself a long, well-filled band: then the new
            # hair fills its own stretch as a shaft does (a strip left over
            # beside a wide shaft, or a follicle halo tapering off it, fills
            # it at most half).
            run = _longest_filled_run(along[fresh], shaft_width_px)
            fresh &= (along >= run[0]) & (along <= run[1]) if run is not None else False
            if (
                run is None
                or run[1] - run[0] + 1 < MIN_SIDE_SHAFT_WIDTHS * shaft_width_px
                # the rest of a bent shaft, beyond an earlier one's end
                or not _beside(xs_all[in_band[fresh]], ys_all[in_band[fresh]], taken, shaft_width_px)
            ):
                rejected += 1
                if rejected > (MAX_REJECTED_BANDS_TANGLE if len(lengths) >= TANGLE_SHAFTS else MAX_REJECTED_BANDS):
                    break
                continue
            t0, t1 = run
            length = t1 - t0 + 1
        new = in_band[fresh]
        rejected = 0  # a shaft: the next one gets its own tries
        remaining[new] = False
        left -= new.size
        score = None
        c, s = float(np.cos(theta)), float(np.sin(theta))
        ends = tuple((float(rho * c - t * s), float(rho * s + t * c)) for t in (t0, t1))
        lengths.append((float(length), ends[0], ends[1]))
        taken.append((float(rho), float(theta), float(t0), float(t1)))
    return lengths


def _box_votes(ys: np.ndarray, xs: np.ndarray, rows: int) -> tuple[int, np.ndarray]:
    """The Hough votes (skimage's ``hough_line`` at BAND_ANGLES) of the pixels
    ``(xs, ys)``, for an accumulator of `rows` distances: the first row they
    fall in, and their counts from there.

    They are counted in the box from the origin to the farthest pixel, whose
    accumulator is that of any larger image less some distances at either
    end (a pixel's distances do not depend on the image): the same counts,
    without scanning the rest of the image for pixels.

    Examples
    --------
    >>> img = np.zeros((60, 80), bool); img[10:12, 5:9] = True
    >>> full = hough_line(img, theta=BAND_ANGLES)[0]
    >>> first, counts = _box_votes(*np.nonzero(img), full.shape[0])
    >>> bool((full[first : first + counts.shape[0]] == counts).all()), int(full.sum() - counts.sum())
    (True, 0)
    """
    box = np.zeros((int(ys.max(initial=0)) + 1, int(xs.max(initial=0)) + 1), bool)
    box[ys, xs] = True
    counts = hough_line(box, theta=BAND_ANGLES)[0]
    return (rows - counts.shape[0]) // 2, counts


def _longest_filled_run(t: np.ndarray, shaft_width_px: float) -> tuple[float, float] | None:
    """Longest stretch along a band that hair fills to at least MIN_BAND_FILL.

    `t` holds the positions along the band of the hair pixels in it; the fill
    at a position is their number per unit length over one shaft width
    (averaged over a shaft width along the band). Returns the stretch's
    first and last position, or None if the fill never reaches the level.
    """
    if t.size == 0:
        return None
    t0 = float(np.floor(t.min()))
    counts = np.bincount((t - t0).astype(np.intp)).astype(np.float32)
    k = max(1, int(round(shaft_width_px))) | 1  # odd: the window is centred
    fill = np.convolve(counts, np.ones(k, np.float32) / (k * shaft_width_px), mode="same")
    full = np.flatnonzero(fill >= MIN_BAND_FILL)
    if full.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(full) > 1)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, full.size - 1]
    i = int(np.argmax(full[ends] - full[starts]))
    return t0 + float(full[starts[i]]), t0 + float(full[ends[i]])


def _beside(
    xs: np.ndarray, ys: np.ndarray, taken: list[tuple[float, float, float, float]], shaft_width_px: float
) -> bool:
    """Whether most of these pixels lie beside one of the shafts taken: within
    that shaft's extent along its axis and at most two widths from its axis."""
    for rho, theta, t0, t1 in taken:
        along = -xs * np.sin(theta) + ys * np.cos(theta)
        across = np.abs(xs * np.cos(theta) + ys * np.sin(theta) - rho)
        if np.mean((along >= t0) & (along <= t1) & (across <= 2 * shaft_width_px)) >= 0.5:
            return True
    return False


def _path_length(centre: np.ndarray) -> float:
    """Length of one-pixel-wide centre lines: each step to a side neighbour
    counts 1, to a diagonal neighbour the square root of 2."""
    c = centre.astype(np.float32)
    side = cv2.filter2D(c, -1, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32), borderType=cv2.BORDER_CONSTANT)
    diagonal = cv2.filter2D(c, -1, np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.float32), borderType=cv2.BORDER_CONSTANT)
    # Every step is seen from both of its ends.
    return float(((side + np.sqrt(2) * diagonal) * c).sum() / 2)


def _axis_lengths(piece: np.ndarray) -> tuple[float, float]:
    """Major and minor axis lengths of the ellipse with the same second
    moments as a piece of mask (as skimage's ``axis_major_length`` and
    ``axis_minor_length``), from OpenCV's moments."""
    m = cv2.moments(piece.view(np.uint8), binaryImage=True)
    a, c, b = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    half_sum, root = (a + c) / 2, np.hypot((a - c) / 2, b)
    return 4 * float(np.sqrt(max(half_sum + root, 0.0))), 4 * float(np.sqrt(max(half_sum - root, 0.0)))


def _elongated(piece: np.ndarray) -> bool:
    major, minor = _axis_lengths(piece)
    return major >= MIN_ELONGATION * max(minor, 1.0)


def _feret_diameter_max(piece: np.ndarray) -> float:
    """Longest extent of a piece of mask, as skimage's ``feret_diameter_max``.

    skimage rasterises the convex hull of the pixels' edge midpoints and takes
    the largest distance between points of that raster's contour (which, on a
    binary image, are the midpoints between hull and background pixels). The
    same figure is computed here without the raster: the hull's cross-section
    of every pixel row and column is found in exact integer arithmetic (on
    doubled coordinates), its two end midpoints are collected, and the largest
    distance is taken between the vertices of their convex hull. Bit for bit
    equal to skimage, several times faster.

    Examples
    --------
    A 3 x 4 block: from the left edge of its top-left pixel to the right edge
    of its bottom-right pixel (edge midpoints), sqrt(2² + 4²).

    >>> bool(_feret_diameter_max(np.ones((3, 4), bool)) == np.sqrt(20))
    True
    """
    piece = np.ascontiguousarray(piece, dtype=bool).view(np.uint8)
    # The hull of the pixels' edge midpoints is the hull of the pixel centres
    # grown by a diamond, and the centres' hull is that of the outer contours:
    # only its vertices need growing.
    contours = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    if not contours:
        return 0.0
    centres = cv2.convexHull(np.concatenate(contours)).reshape(-1, 2)
    cx, cy = 2 * centres[:, 0], 2 * centres[:, 1]  # doubled coordinates
    grown = np.stack([np.concatenate([cx, cx, cx - 1, cx + 1]), np.concatenate([cy - 1, cy + 1, cy, cy])], axis=1)
    hull = cv2.convexHull(grown.astype(np.int32)).reshape(-1, 2).astype(np.int64)
    x1, y1 = hull[:, 0], hull[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    big = np.int64(1) << 40

    def cross_section(u1, v1, u2, v2):
        """First and last pixel index along u of the hull pixels on each line
        v = 2 * k (pixel centres inside the hull or on its border), for every
        k the hull spans; also returns k."""
        lines = np.arange(-(-v1.min() // 2), v1.max() // 2 + 1, dtype=np.int64)
        v = 2 * lines[:, None]
        hit = (v >= np.minimum(v1, v2)) & (v <= np.maximum(v1, v2))
        dv = v2 - v1
        flat = dv == 0
        # u where the edge meets the line: num / den with den > 0.
        num = np.where(dv < 0, -1, 1) * (u1 * dv + (u2 - u1) * (v - v1))
        den = 2 * np.where(flat, 1, np.abs(dv))
        first = np.where(flat, -(-np.minimum(u1, u2) // 2), -(-num // den))
        last = np.where(flat, np.maximum(u1, u2) // 2, num // den)
        first = np.where(hit, first, big).min(axis=1)
        last = np.where(hit, last, -big).max(axis=1)
        ok = first <= last
        return lines[ok], first[ok], last[ok]

    r, left, right = cross_section(x1, y1, x2, y2)
    c, top, bottom = cross_section(y1, x1, y2, x2)
    ends_x = np.concatenate([2 * left - 1, 2 * right + 1, 2 * c, 2 * c])
    ends_y = np.concatenate([2 * r, 2 * r, 2 * top - 1, 2 * bottom + 1])
    ends = cv2.convexHull(np.stack([ends_x, ends_y], axis=1).astype(np.int32)).reshape(-1, 2) / 2.0
    d = ends[:, None, :] - ends[None, :, :]
    return float(np.sqrt(np.max(np.einsum("ijk,ijk->ij", d, d))))


def find_hair_groups(
    mask: np.ndarray,
    *,
    shaft_width_px: float,
    roi: tuple[int, int, int, int] | None = None,
    unknown: np.ndarray | None = None,
) -> tuple[HairGroup, ...]:
    """Split a close-up hair mask into groups and count the shafts in each.

    Pieces too short or too round to be shafts (pores, flakes) are dropped.
    The width of one shaft is the median width along the mask's centre lines,
    so it adapts to each photo; each group's shafts are then found with
    :func:`shaft_lengths`.

    The search runs on the mask turned to its canonical orientation
    (:func:`tracker.imaging.orientation.canonical_turn`; thinning and line
    finding are not symmetric under turns and flips), so a turned or flipped
    mask gives the same groups, turned or flipped.

    Parameters
    ----------
    mask : (H, W) bool array
        Output of :func:`tracker.imaging.segment.shaft_mask`.
    shaft_width_px : float
        First guess of the shaft width (to join broken shafts and drop specks).
    roi : (x, y, w, h), optional
    unknown : (H, W) bool array, optional
        Pixels whose content is unknown (outside the photo, under a
        calibration card). A shaft ending at them may go on beneath them,
        as one ending at the photo's edge may go on beyond it: both are
        taken to be cut there.

    Returns
    -------
    groups : tuple of HairGroup

    Examples
    --------
    Three single shafts 8 px wide, two touching ones and a small round pore:

    >>> m = np.zeros((200, 200), bool)
    >>> for y in (20, 60, 100): m[y:y + 8, 20:180] = True
    >>> m[140:156, 20:180] = True
    >>> m[180:188, 100:108] = True
    >>> [g.hairs for g in find_hair_groups(m, shaft_width_px=8)]
    [1, 1, 1, 2]
    """
    mask = np.asarray(mask, dtype=bool)
    if roi is not None:
        roi = check_roi(mask.shape, roi)
    if unknown is not None and unknown.shape != mask.shape:
        raise ValueError(f"unknown has shape {unknown.shape}, the mask {mask.shape}; give one of the mask's shape")
    turn = canonical_turn(mask, roi=roi, unknown=unknown)
    groups = _find_hair_groups(
        turn.array(mask),
        shaft_width_px=shaft_width_px,
        roi=turn.roi(roi) if roi is not None else None,
        unknown=turn.array(unknown) if unknown is not None else None,
    )
    back = [g.moved(turn.point_back, turn.box_back(g.bbox)) for g in groups]
    return tuple(sorted(back, key=lambda g: (g.bbox[1], g.bbox[0])))


def _find_hair_groups(
    mask: np.ndarray,
    *,
    shaft_width_px: float,
    roi: tuple[int, int, int, int] | None,
    unknown: np.ndarray | None,
) -> tuple[HairGroup, ...]:
    """:func:`find_hair_groups` on a mask as it lies."""
    inside = roi_mask(mask.shape, roi)
    # Joins a shaft broken by a highlight or a crossing thin hair.
    k = max(3, int(round(shaft_width_px)) | 1)
    closed = cv2.morphologyEx(
        mask.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    ).astype(bool)
    # Pieces are followed beyond the ROI (a shaft's midpoint may lie inside
    # while one of its ends lies outside); those that do not reach it are left.
    labels = label(closed)
    x, y, w, h = roi if roi is not None else (0, 0, mask.shape[1], mask.shape[0])
    regions = [
        r for r in regionprops(labels) if r.bbox[0] < y + h and r.bbox[2] > y and r.bbox[1] < x + w and r.bbox[3] > x
    ]

    feret: dict[int, float] = {}
    elongated: dict[int, bool] = {}

    def extent(r) -> float:
        """Longest extent (maximum Feret diameter), computed once per piece."""
        if r.label not in feret:
            feret[r.label] = _feret_diameter_max(r.image)
        return feret[r.label]

    def is_elongated(r) -> bool:
        if r.label not in elongated:
            elongated[r.label] = _elongated(r.image)
        return elongated[r.label]

    def long_enough(r, width: float) -> bool:
        """extent(r) >= MIN_LENGTH_WIDTHS * width; the bounding box often
        decides (the extent is at least its longer side, at most its diagonal)."""
        y0, x0, y1, x1 = r.bbox
        bound = MIN_LENGTH_WIDTHS * width
        if max(y1 - y0, x1 - x0) >= bound:
            return True
        if float(np.hypot(y1 - y0, x1 - x0)) < bound:
            return False
        return extent(r) >= bound

    def is_shaft(r, width: float) -> bool:
        return long_enough(r, width) and (is_elongated(r) or r.area >= BLOB_AREA_WIDTHS * width**2)

    shafts = [r for r in regions if is_shaft(r, shaft_width_px)]
    if not shafts:
        return ()
    # One shaft's width: the median width along the mask's centre lines. Most
    # of the centre-line length runs through single shafts even where they
    # cross or touch, so this holds in dense scalps and follicular units. (A
    # run of n hair pixels has its centre (n + 1) / 2 from the nearest scalp
    # pixel, hence twice the distance less one.)
    hair = np.ascontiguousarray(mask, dtype=bool)
    centre = skeletonize(hair)
    distance = cv2.distanceTransform(hair.view(np.uint8), cv2.DIST_L2, 5)
    # Only the centre lines in the ROI of pieces that pass as shafts: thin
    # specks and the frayed rims of glare or bars would drag the median down.
    in_shafts = np.isin(labels, [r.label for r in shafts]) & inside
    single = float(np.median(2 * distance[centre & in_shafts] - 1))
    shafts = [r for r in shafts if is_shaft(r, single)]
    if not shafts:
        return ()

    height, width = mask.shape
    # A shaft's end within half a width (and a pixel) of the photo's edge may
    # be cut by it: the hidden part is unknown.
    margin = single / 2 + 1.0

    # Distance of every pixel to the nearest unknown one (where the photo
    # shows nothing, a shaft's end is hidden as beyond the photo's edge).
    hidden = None
    if unknown is not None and unknown.any():
        hidden = cv2.distanceTransform((~unknown).astype(np.uint8), cv2.DIST_L2, 5)

    def at_edge(px: float, py: float) -> bool:
        if px <= margin - 0.5 or py <= margin - 0.5 or px >= width - 0.5 - margin or py >= height - 0.5 - margin:
            return True
        if hidden is None:
            return False
        return bool(hidden[min(max(int(round(py)), 0), height - 1), min(max(int(round(px)), 0), width - 1)] <= margin)

    def in_roi(px: float, py: float) -> bool:
        return x - 0.5 <= px < x + w - 0.5 and y - 0.5 <= py < y + h - 0.5

    kept, found, shaft_ends = [], [], []
    for r in shafts:
        bands = _shaft_bands(r.image, shaft_width_px=single)
        lengths = [b[0] for b in bands]
        if not is_elongated(r) and max(lengths, default=0.0) < BUNDLE_BAND_WIDTHS * single:
            continue  # a flake or pore: no long straight band of hair in it
        y0, x0, _, _ = r.bbox
        if bands:
            ends = [((ax + x0, ay + y0), (bx + x0, by + y0)) for _, (ax, ay), (bx, by) in bands]
        else:
            # A short thin stub is one shaft, along the piece's longest extent.
            lengths = [extent(r)]
            cy, cx = r.centroid
            ends = [((cx, cy), (cx, cy))]
        kept.append(r)
        found.append(lengths)
        shaft_ends.append(ends)
    shafts = kept
    if not shafts:
        return ()
    # A typical shaft's length: of whole single shafts if there are any.
    whole = [
        extent(r) for r, f, e in zip(shafts, found, shaft_ends) if len(f) == 1 and not (at_edge(*e[0][0]) or at_edge(*e[0][1]))
    ]
    whole = whole or [extent(r) for r in shafts]
    typical_length = float(np.median(whole))

    def midpoint_inside(length: float, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the midpoint of a shaft seen from `a` to `b` lies in the ROI.

        A shaft cut by the photo's edge at one end is taken to be a typical
        shaft where it shows less: its midpoint is then half a typical
        length from its free end."""
        cut_a, cut_b = at_edge(*a), at_edge(*b)
        if cut_a == cut_b:
            return in_roi((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        free, cut_end = (b, a) if cut_a else (a, b)
        half = max(length, typical_length) / 2
        ux, uy = cut_end[0] - free[0], cut_end[1] - free[1]
        norm = max(float(np.hypot(ux, uy)), 1e-9)
        return in_roi(free[0] + ux / norm * half, free[1] + uy / norm * half)

    groups = []
    for r, lengths, ends in zip(shafts, found, shaft_ends):
        axes = tuple(
            ShaftAxis(
                (float(a[0]), float(a[1])),
                (float(b[0]), float(b[1])),
                bool(midpoint_inside(v, a, b)),
                bool(at_edge(*a) or at_edge(*b)),
            )
            for v, (a, b) in zip(lengths, ends)
        )
        inside_shafts = sum(axis.inside for axis in axes)
        y0, x0, y1, x1 = r.bbox
        cy, cx = r.centroid
        own = r.image
        centre_length = _path_length(centre[r.slice] & own)
        hair_pixels = np.count_nonzero(mask[r.slice] & own)
        groups.append(
            HairGroup(
                centroid=(float(cx), float(cy)),
                bbox=(int(x0), int(y0), int(x1), int(y1)),
                length_px=float(sum(lengths)),
                # Hair over length: the shafts found, or the centre lines
                # where they are longer (an arm the bands missed).
                width_px=float(hair_pixels / max(centre_length, sum(lengths))),
                hairs=len(lengths),
                counted=inside_shafts > 0,
                counted_hairs=inside_shafts,
                shafts=axes,
            )
        )
    return tuple(groups)


def hair_count(groups: tuple[HairGroup, ...]) -> int:
    """Shafts whose midpoint lies inside the ROI."""
    return sum(g.hairs_inside for g in groups)


def mean_width_px(groups: tuple[HairGroup, ...]) -> float | None:
    """Length-weighted mean shaft width of the counted shafts; None if none.

    Examples
    --------
    >>> g = HairGroup((0, 0), (0, 0, 1, 1), 100.0, 10.0, 1, True)
    >>> h = HairGroup((0, 0), (0, 0, 1, 1), 100.0, 4.0, 2, True)
    >>> mean_width_px((g, h))
    7.0
    """
    counted = [g for g in groups if g.counted]
    length = sum(g.length_px for g in counted)
    if length == 0:
        return None
    return float(sum(g.width_px * g.length_px for g in counted) / length)


def thin_share_pct(groups: tuple[HairGroup, ...], *, thin_width_px: float) -> float | None:
    """Share of counted shafts narrower than `thin_width_px`, in percent; None if none."""
    n = hair_count(groups)
    if n == 0:
        return None
    thin = sum(g.hairs_inside for g in groups if g.width_px < thin_width_px)
    return float(100.0 * thin / n)
