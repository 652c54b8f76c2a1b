"""Synthetic scalp photos with exact ground truth.

Every photo is drawn from a list of hair shafts, so the true hair count, hair
mask, shaft widths, density and thin-hair share are known exactly. Tests,
benchmarks, the demo patient in ``sample_images/`` and ``tracker evaluate``
use these photos; none of them needs a real patient photo.

Geometry conventions
--------------------
* Pixel ``(row i, column j)`` has its centre at ``x = j, y = i``; the frame
  spans ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
* A shaft is a centreline (a straight segment, or a polyline when curved)
  and a width. A pixel is hair in the mask when the distance from its centre
  to the centreline is at most ``width / 2`` (round caps at the ends). The
  drawn intensity is anti-aliased from the same distance: the hair opacity is
  ``clip(width / 2 + 0.5 - distance, 0, 1)``, so mask pixels are the pixels
  at least half covered. Blur, noise and JPEG come after; the mask stays the
  geometric truth.
* A hair is counted in a region of interest (ROI) when the midpoint of its
  :class:`Shaft` lies inside the ROI. ROI ``(x, y, w, h)`` covers pixel
  columns ``x .. x + w - 1`` and rows ``y .. y + h - 1``, i.e. the area
  ``[x - 0.5, x + w - 0.5) x [y - 0.5, y + h - 0.5)``.
* Clipped close-up shafts (and those of :func:`render_shafts`) keep their
  whole centreline, also where it runs past the frame edge, so each hair
  has one midpoint and tiling ROIs never count a hair twice; a shaft cut by
  the frame whose midpoint lies outside is listed but not counted.
* Long hairs (``length='long'``) and overview strands keep only the part of
  the centreline inside the frame, and their midpoint is the midpoint of
  that visible part (so every listed hair counts for the whole frame). The
  mask was drawn from the whole centreline, so redrawing such a shaft can
  differ within ``width / 2`` of the frame edge. No hair leaves the frame
  and comes back (such hairs are not drawn).
* Close-up hair count: exit points of follicular units (1-3 shafts each)
  are placed with a minimum spacing over the frame and a margin one maximal
  hair length wide, with ``round(density_per_cm2 * area in cm²)`` shafts
  (exact rounding, not Poisson). The number of midpoints in the frame
  therefore scatters around ``density_per_cm2 * frame area``; the shaft
  list, not the requested density, is the truth.
* Same seed and options give the same photo bit for bit with the same
  ``SYNTH_VERSION`` (stored in ``params``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import cv2
import numpy as np

__all__ = [
    "DemoPhoto",
    "Shaft",
    "SyntheticScalp",
    "make_demo_patient",
    "render_closeup",
    "render_overview",
    "render_scalp_series",
    "render_shafts",
]

SYNTH_VERSION = "1"
"""Bumped whenever the same seed and options would give a different photo."""

DEFAULT_PX_PER_MM = 250.0
"""Scale used for geometry when a photo is rendered without a known scale."""

THIN_UM = 40.0
THIN_RANGE_UM = (20.0, 38.0)
UNIT_SIZE_P = (0.45, 0.40, 0.15)  # follicular units of 1, 2, 3 shafts
CLIPPED_LENGTH_MM = (0.4, 2.0)
LONG_LENGTH_MM = (8.0, 20.0)

SKIN_RGB = {
    "light": (222.0, 204.0, 204.0),
    "medium": (192.0, 150.0, 122.0),
    "dark": (112.0, 80.0, 62.0),
}
HAIR_RGB = {
    "dark": (40.0, 31.0, 29.0),
    "grey": (222.0, 220.0, 216.0),
    "light": (176.0, 136.0, 86.0),
}
# colour of the specular stripe along the shaft, and its strength
HIGHLIGHT = {
    "dark": ((160.0, 162.0, 175.0), 0.55),
    "grey": ((252.0, 252.0, 252.0), 0.35),
    "light": ((235.0, 215.0, 170.0), 0.35),
}
VELLUS_RGB = (196.0, 168.0, 140.0)
RADIUS_PAD = 1.0  # rasteriser: candidate pixels reach this far beyond a shaft's radius
SATURATION = 2.0  # overview: strands rarely pile onto more than ~2 layers of hair
MAX_STRANDS = 60000  # overview: stop adding strands here even below the coverage asked for
DEMO_START = date(2025, 7, 15)
DEMO_FACTORS = (1.00, 0.95, 0.98, 1.01, 1.03)


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shaft:
    """One visible hair shaft: its centreline inside the frame and its width.

    Parameters
    ----------
    x0, y0, x1, y1 : float
        Centreline end points in pixels (pixel centres at integers); for a
        clipped close-up shaft the first point is where it leaves the skin.
    width_px : float
        Shaft diameter in pixels.
    points : tuple of (float, float)
        The whole visible centreline as a polyline when the shaft is curved;
        empty for a straight shaft (then the centreline is the segment).

    Examples
    --------
    >>> Shaft(0.0, 0.0, 10.0, 0.0, width_px=4.0).midpoint
    (5.0, 0.0)
    """

    x0: float
    y0: float
    x1: float
    y1: float
    width_px: float
    points: tuple[tuple[float, float], ...] = ()

    def centreline(self) -> np.ndarray:
        """Return the centreline as an ``(N, 2)`` array of ``(x, y)``."""
        if self.points:
            return np.asarray(self.points, dtype=float)
        return np.array([[self.x0, self.y0], [self.x1, self.y1]], dtype=float)

    @property
    def length_px(self) -> float:
        """Length of the centreline in pixels."""
        return float(np.hypot(*np.diff(self.centreline(), axis=0).T).sum())

    @property
    def midpoint(self) -> tuple[float, float]:
        """Point halfway along the centreline, ``(x, y)``."""
        x, y = _point_at_fraction(self.centreline(), 0.5)
        return (float(x), float(y))


@dataclass(frozen=True, eq=False)
class SyntheticScalp:
    """A rendered photo and its exact ground truth.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB photo after blur, noise and JPEG round trip.
    mask : ndarray, shape (H, W), bool
        Exact hair pixels (pixel centre within ``width / 2`` of a centreline),
        before blur and noise.
    shafts : tuple of Shaft
        Every hair with a visible part, in drawing order (see the module
        notes for which part of a centreline is kept).
    px_per_mm : float or None
        Scale of the photo; None when the photo carries no known scale.
    kind : str
        ``'closeup'`` or ``'overview'``.
    params : dict
        Everything used to render, JSON-able, including the seed, the pore
        positions (``params['pores']``, ``[x, y, radius]``) and the camera.

    Examples
    --------
    >>> s = render_closeup(seed=1, shape=(256, 320))
    >>> s.hair_count() == len([h for h in s.shafts if -0.5 <= h.midpoint[0] < 319.5
    ...                        and -0.5 <= h.midpoint[1] < 255.5])
    True
    """

    image: np.ndarray
    mask: np.ndarray
    shafts: tuple[Shaft, ...]
    px_per_mm: float | None
    kind: str
    params: dict = field(default_factory=dict)

    def _roi(self, roi: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
        h, w = self.mask.shape
        if roi is None:
            return (0, 0, w, h)
        x, y, rw, rh = (int(v) for v in roi)
        if rw <= 0 or rh <= 0 or x < 0 or y < 0 or x + rw > w or y + rh > h:
            raise ValueError(
                f"roi (x, y, w, h)={tuple(roi)} must have positive size and lie inside "
                f"the {w}x{h} image; pass None for the whole image"
            )
        return (x, y, rw, rh)

    def _counted(self, roi) -> list[Shaft]:
        x, y, w, h = self._roi(roi)
        out = []
        for s in self.shafts:
            mx, my = s.midpoint
            if x - 0.5 <= mx < x + w - 0.5 and y - 0.5 <= my < y + h - 0.5:
                out.append(s)
        return out

    def hair_count(self, roi: tuple[int, int, int, int] | None = None) -> int:
        """Number of shafts whose visible midpoint lies inside ``roi`` (x, y, w, h)."""
        return len(self._counted(roi))

    def coverage_pct(self, roi: tuple[int, int, int, int] | None = None) -> float:
        """Share of ROI pixels that are hair in the exact mask, in percent."""
        x, y, w, h = self._roi(roi)
        return float(self.mask[y : y + h, x : x + w].mean() * 100.0)

    def mean_width_px(self, roi: tuple[int, int, int, int] | None = None) -> float:
        """Length-weighted mean width of the counted shafts (NaN when none)."""
        shafts = self._counted(roi)
        lengths = np.array([s.length_px for s in shafts])
        if not shafts or lengths.sum() <= 0:
            return float("nan")
        return float(np.average([s.width_px for s in shafts], weights=lengths))

    def density_per_cm2(self, roi: tuple[int, int, int, int] | None = None) -> float | None:
        """Counted hairs per cm² of ROI; None without a known scale."""
        if self.px_per_mm is None:
            return None
        _, _, w, h = self._roi(roi)
        area_cm2 = w * h / self.px_per_mm**2 / 100.0
        return self.hair_count(roi) / area_cm2

    def thin_hair_pct(
        self, roi: tuple[int, int, int, int] | None = None, *, thin_um: float = THIN_UM
    ) -> float | None:
        """Share of counted hairs thinner than ``thin_um`` in percent.

        None without a known scale, NaN when no hair is counted.
        """
        if self.px_per_mm is None:
            return None
        shafts = self._counted(roi)
        if not shafts:
            return float("nan")
        um = np.array([s.width_px for s in shafts]) / self.px_per_mm * 1000.0
        return float((um < thin_um).mean() * 100.0)


@dataclass(frozen=True, eq=False)
class DemoPhoto:
    """One photo of the demo patient; the caller writes ``image.image`` to ``filename``."""

    view: str
    visit: int
    visit_date: date
    filename: str
    image: SyntheticScalp
    shot: int = 1


# --------------------------------------------------------------------------
# polyline geometry and the exact rasteriser
# --------------------------------------------------------------------------


def _point_at_fraction(pts: np.ndarray, frac: float) -> np.ndarray:
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] == 0:
        return pts[0]
    s = frac * cum[-1]
    k = int(np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1))
    u = (s - cum[k]) / seg[k] if seg[k] > 0 else 0.0
    return pts[k] + u * (pts[k + 1] - pts[k])


def _clip_polyline(pts: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    """Parts of a polyline inside the frame ``[-0.5, w-0.5] x [-0.5, h-0.5]``."""
    (xmin, ymin), (xmax, ymax) = pts.min(axis=0), pts.max(axis=0)
    if xmin >= -0.5 and ymin >= -0.5 and xmax <= w - 0.5 and ymax <= h - 0.5:
        return [pts]
    if xmax < -0.5 or ymax < -0.5 or xmin > w - 0.5 or ymin > h - 0.5:
        return []
    a, b = pts[:-1], pts[1:]
    d = b - a
    t0 = np.zeros(len(a))
    t1 = np.ones(len(a))
    keep = np.ones(len(a), bool)
    lo, hi = -0.5, np.array([w - 0.5, h - 0.5])
    for axis in (0, 1):
        for p, q in ((-d[:, axis], a[:, axis] - lo), (d[:, axis], hi[axis] - a[:, axis])):
            with np.errstate(divide="ignore", invalid="ignore"):
                r = q / p
            keep &= ~((p == 0) & (q < 0))
            t0 = np.where(p < 0, np.maximum(t0, r), t0)
            t1 = np.where(p > 0, np.minimum(t1, r), t1)
    keep &= t0 <= t1
    ks = np.flatnonzero(keep)
    starts = a[ks] + t0[ks, None] * d[ks]
    ends = a[ks] + t1[ks, None] * d[ks]
    joined = (np.diff(ks) == 1) & (t1[ks[:-1]] >= 1) & (t0[ks[1:]] <= 0)
    cuts = np.flatnonzero(~joined) + 1
    runs = [
        np.vstack([starts[g[0]], ends[g]]) for g in np.split(np.arange(len(ks)), cuts) if len(g)
    ]
    return [r for r in runs if np.hypot(*np.diff(r, axis=0).T).sum() > 1e-9]


@dataclass
class _Hair:
    """A hair to draw: centreline, width and colour model."""

    pts: np.ndarray
    width: float
    rgb: tuple[float, float, float]
    highlight_rgb: tuple[float, float, float]
    highlight: float
    edge: float = 0.3
    phase: float = 0.0
    wavelength: float = 400.0


def _candidates(scratch: np.ndarray, pts: np.ndarray, reach: float):
    """Pixels within about ``reach`` of a polyline, and a nearby segment of each.

    Thick cv2 lines labelled by segment index mark the pixels in ``scratch``
    (a zeroed uint16 frame, left zeroed); they are read back chunk by chunk
    so that bounding boxes stay small.
    """
    h, w = scratch.shape
    n = len(pts) - 1
    lo, hi = pts.min(axis=0) - reach, pts.max(axis=0) + reach
    if hi[0] < 0 or hi[1] < 0 or lo[0] > w - 1 or lo[1] > h - 1:
        return None
    if n >= 65535:
        raise ValueError(f"a hair centreline has {n} segments; use fewer than 65535 points")
    fixed = np.clip(np.round(pts * 16.0), -(2**26), 2**26).astype(np.int32).tolist()
    thick = int(math.ceil(2.0 * reach)) | 1
    for k in range(n):
        cv2.line(scratch, fixed[k], fixed[k + 1], k + 1, thick, cv2.LINE_8, 4)
    seglen = float(np.hypot(*np.diff(pts, axis=0).T).mean())
    chunk = max(1, int(160.0 / max(seglen, 1e-6)))
    grow = reach + 3.0
    starts = range(0, n, chunk)
    cmin = np.array([pts[i : i + chunk + 1].min(axis=0) for i in starts]) - grow
    cmax = np.array([pts[i : i + chunk + 1].max(axis=0) for i in starts]) + grow
    cmin = np.maximum(np.floor(cmin), 0).astype(int).tolist()
    cmax = np.minimum(np.ceil(cmax), (w - 1, h - 1)).astype(int).tolist()
    found_y, found_x, found_l = [], [], []
    for (x0, y0), (x1, y1) in zip(cmin, cmax, strict=True):
        if x0 > x1 or y0 > y1:
            continue
        sub = scratch[y0 : y1 + 1, x0 : x1 + 1]
        yy, xx = np.nonzero(sub)
        if len(yy):
            found_l.append(sub[yy, xx])
            sub[yy, xx] = 0
            found_y.append(yy + y0)
            found_x.append(xx + x0)
    if not found_y:
        return None
    labels = np.concatenate(found_l).astype(np.intp) - 1
    return np.concatenate(found_y), np.concatenate(found_x), labels


def _draw_hairs(
    img: np.ndarray,
    mask: np.ndarray,
    scratch: np.ndarray,
    hairs: Sequence[_Hair],
    gain: np.ndarray | None = None,
    budget: int | None = None,
) -> tuple[int, int]:
    """Composite ``hairs`` in order onto ``img`` (float RGB) and ``mask``.

    The mask gets the pixels whose centre lies within ``width / 2`` of a
    centreline (exact distance to the polyline); the image gets the hair
    colour with opacity ``clip(width / 2 + 0.5 - distance, 0, 1)``. With
    ``budget`` only the first hairs are drawn, up to the one that brings the
    count of new mask pixels to ``budget``. Returns (hairs drawn, new mask
    pixels). The nearest segment of a pixel is searched within a window
    around the segment that labelled it, which is exact for polylines that
    turn gently (as the generators make them).
    """
    h, w = mask.shape
    ys, xs, seg, owner, win = [], [], [], [], []
    offsets = [0]
    for i, hair in enumerate(hairs):
        pts = hair.pts
        reach = hair.width / 2.0 + RADIUS_PAD
        found = _candidates(scratch, pts, reach)
        offsets.append(offsets[-1] + len(pts) - 1)
        if found is None:
            continue
        lens = np.hypot(*np.diff(pts, axis=0).T)
        ys.append(found[0])
        xs.append(found[1])
        seg.append(found[2] + offsets[i])
        owner.append(np.full(len(found[0]), i))
        win.append(min(len(lens), int(math.ceil((2.0 * reach + 2.0) / max(lens.min(), 1e-6)))))
    if not ys:
        return (len(hairs), 0)
    ys, xs, seg, owner = (np.concatenate(v) for v in (ys, xs, seg, owner))
    allpts = [hr.pts for hr in hairs]
    a = np.concatenate([p[:-1] for p in allpts])
    d = np.concatenate([np.diff(p, axis=0) for p in allpts])
    seglen = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate(
        [np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))[:-1]]) for p in allpts]
    )
    first = np.asarray(offsets[:-1])[owner]
    last = np.asarray(offsets[1:])[owner] - 1
    m = max(win)
    ks = np.clip(seg[:, None] + np.arange(-m, m + 1), first[:, None], last[:, None])
    ax, ay, dx, dy = (np.ascontiguousarray(v)[ks] for v in (a[:, 0], a[:, 1], d[:, 0], d[:, 1]))
    inv_l2 = (1.0 / np.maximum(seglen * seglen, 1e-12))[ks]
    rx = xs[:, None] - ax
    ry = ys[:, None] - ay
    u = (rx * dx + ry * dy) * inv_l2
    np.clip(u, 0.0, 1.0, out=u)
    rx -= u * dx
    ry -= u * dy
    dist2 = rx * rx + ry * ry
    best = np.argmin(dist2, axis=1)
    rows = np.arange(len(xs))
    kb = ks[rows, best]
    dist = np.sqrt(dist2[rows, best])
    arc = cum[kb] + u[rows, best] * seglen[kb]
    radius = np.array([hr.width / 2.0 for hr in hairs])[owner]
    alpha = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    keep = alpha > 0
    ys, xs, dist, arc, alpha, owner, radius = (
        v[keep] for v in (ys, xs, dist, arc, alpha, owner, radius)
    )
    # colour: cylinder shading, gentle banding along the shaft, central highlight
    rgb = np.array([hr.rgb for hr in hairs], np.float32)
    edge, phase, wave, hl = (
        np.array([getattr(hr, name) for hr in hairs], np.float32)[owner]
        for name in ("edge", "phase", "wavelength", "highlight")
    )
    s = np.clip(dist / np.maximum(radius, 1e-6), 0.0, 1.0).astype(np.float32)
    shade = (1.0 - edge * s * s) * (
        1.0 + 0.08 * np.sin(np.float32(2 * np.pi) * arc.astype(np.float32) / wave + phase)
    )
    col = rgb[owner] * shade[:, None]
    if gain is not None:
        col *= gain[ys, xs][:, None]
    hl *= np.clip((2.0 * radius.astype(np.float32) - 4.0) / 8.0, 0.0, 1.0)
    if hl.any():
        k = hl * np.exp(-((s / 0.3) ** 2))
        col += k[:, None] * (np.array([hr.highlight_rgb for hr in hairs], np.float32)[owner] - col)
    alpha = alpha.astype(np.float32)
    # composite hair by hair, in drawing order (entries are grouped by hair)
    inside = dist <= radius
    bounds = np.searchsorted(owner, np.arange(len(hairs) + 1)).tolist()
    n_used, new = len(hairs), 0
    for i in range(len(hairs)):
        lo, hi = bounds[i], bounds[i + 1]
        if lo == hi:
            continue
        yy, xx, aa = ys[lo:hi], xs[lo:hi], alpha[lo:hi, None]
        img[yy, xx] = img[yy, xx] * (1.0 - aa) + col[lo:hi] * aa
        ins = inside[lo:hi]
        my, mx = yy[ins], xx[ins]
        new += int(np.count_nonzero(~mask[my, mx]))
        mask[my, mx] = True
        if budget is not None and new >= budget:
            n_used = i + 1
            break
    return (n_used, new)


# --------------------------------------------------------------------------
# skin, light and camera
# --------------------------------------------------------------------------


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], scale: float, channels: int = 1
) -> np.ndarray:
    """Zero-mean, unit-SD random field with features about ``scale`` px across."""
    h, w = shape
    f = max(1, int(scale // 4))
    small = rng.standard_normal((h // f + 3, w // f + 3, channels), dtype=np.float32)
    small = cv2.GaussianBlur(small, (0, 0), max(scale / f / 2.0, 0.5)).reshape(small.shape)
    big = cv2.resize(small, ((w // f + 3) * f, (h // f + 3) * f), interpolation=cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], channels)[f : f + h, f : f + w]
    return (big - big.mean()) / max(float(big.std()), 1e-6)


def _blend(img: np.ndarray, layer: np.ndarray, target, strength: float) -> None:
    """In place: move ``img`` towards ``target`` by ``strength * layer``."""
    k = (strength * layer)[..., None]
    img += k * (np.asarray(target, np.float32) - img)


def _skin_canvas(
    rng: np.random.Generator,
    shape: tuple[int, int],
    skin: str,
    ppm: float,
    *,
    detail: bool,
    exits: np.ndarray,
    pores: np.ndarray,
) -> np.ndarray:
    """Skin albedo (float32 RGB 0-255) in scalp coordinates.

    ``exits`` are follicle exit points (bluish halos), ``pores`` rows of
    ``(x, y, radius)`` of empty follicle openings (dark round spots).
    """
    h, w = shape
    base = np.asarray(SKIN_RGB[skin], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    mott = _smooth_noise(rng, shape, max(0.25 * ppm, 40.0), 3)
    img *= (
        1.0
        + 0.03 * mott[..., :1]
        + 0.008 * mott[..., 1:] @ np.array([[1.0, -0.3, -0.6], [0.0, 0.4, -0.4]], np.float32)
    )
    if not detail:
        img += 3.0 * _smooth_noise(rng, shape, 1.5)
        return img
    lum = float(base.mean())
    # skin lines: thin darker furrows
    lines = np.zeros(shape, np.float32)
    n_lines = max(4, int(h * w / 25000))
    for _ in range(n_lines):
        p = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        ang = rng.uniform(0, np.pi)
        pts = []
        for _ in range(int(rng.uniform(4, 25))):
            pts.append(p.copy())
            ang += rng.normal(0, 0.18)
            p = p + 12.0 * np.array([np.cos(ang), np.sin(ang)])
        cv2.polylines(
            lines,
            [np.round(np.array(pts) * 16).astype(np.int32)],
            False,
            float(rng.uniform(0.5, 1.0)),
            2,
            cv2.LINE_AA,
            4,
        )
    lines = cv2.GaussianBlur(lines, (0, 0), 1.2)
    img *= (1.0 - 0.07 * lines)[..., None]
    # small bright scales, a few larger flakes
    scales = np.zeros(shape, np.float32)
    sc = ppm / DEFAULT_PX_PER_MM
    for _ in range(int(h * w / 2500)):
        axes = rng.uniform(2, 9) * sc
        cv2.ellipse(
            scales,
            (int(rng.uniform(0, w) * 16), int(rng.uniform(0, h) * 16)),
            (max(int(axes * 16), 16), max(int(axes * rng.uniform(0.3, 0.8) * 16), 16)),
            rng.uniform(0, 180),
            0,
            360,
            float(rng.uniform(0.4, 1.0)),
            -1,
            cv2.LINE_AA,
            4,
        )
    scales = cv2.GaussianBlur(scales, (0, 0), 0.9)
    # larger, irregular whitish patches of scaling
    scales += np.clip(_smooth_noise(rng, shape, 0.1 * ppm)[..., 0] - 1.4, 0.0, 0.5)
    _blend(img, np.minimum(scales, 1.0), (250.0, 250.0, 252.0), 0.45)
    # bluish-grey halos where hairs leave the skin
    halo = np.zeros(shape, np.float32)
    for x, y in exits:
        cv2.circle(halo, (int(x * 16), int(y * 16)), int(0.1 * ppm * 16), 1.0, -1, cv2.LINE_AA, 4)
    halo = cv2.GaussianBlur(halo, (0, 0), 0.06 * ppm)
    _blend(img, halo, (0.62 * lum, 0.68 * lum, 0.88 * lum), 0.55)
    # empty follicle openings
    pore = np.zeros(shape, np.float32)
    for x, y, rad in pores:
        cv2.circle(pore, (int(x * 16), int(y * 16)), int(rad * 16), 1.0, -1, cv2.LINE_AA, 4)
    pore = cv2.GaussianBlur(pore, (0, 0), 1.5)
    _blend(img, pore, (0.42 * base[0], 0.36 * base[1], 0.38 * base[2]), 0.85)
    # fine grain
    img += 4.0 * _smooth_noise(rng, shape, 1.5) + 3.0 * _smooth_noise(rng, shape, 6.0)
    return img


def _illumination(rng: np.random.Generator, shape: tuple[int, int], vignette: float) -> np.ndarray:
    """Camera light: smooth unevenness and vignetting, as a float32 gain."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = w / 2 + rng.uniform(-0.1, 0.1) * w
    cy = h / 2 + rng.uniform(-0.1, 0.1) * h
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    light = (1.0 - vignette * np.clip(r2, 0, 1.5)) * (
        1.0 + 0.04 * _smooth_noise(rng, shape, max(h, w) / 4)[..., 0]
    )
    return light * float(rng.uniform(0.97, 1.03))


def _finish(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    blur_sigma: float,
    noise_sigma: float,
    jpeg_quality: int | None,
) -> np.ndarray:
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    if noise_sigma > 0:
        img = img + np.float32(noise_sigma) * rng.standard_normal(img.shape, dtype=np.float32)
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        ok, buf = cv2.imencode(
            ".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        )
        if not ok:
            raise ValueError("JPEG encoding failed; pass jpeg_quality=None to skip the round trip")
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def _camera(
    rng: np.random.Generator, shape: tuple[int, int], pad: int, jitter: float
) -> np.ndarray:
    """2x3 affine matrix from scalp canvas to frame: small shift and rotation."""
    h, w = shape
    ang = rng.uniform(-3.0, 3.0) * jitter
    dx, dy = rng.uniform(-1, 1, 2) * jitter * 0.6 * pad
    m = cv2.getRotationMatrix2D((w / 2 + pad, h / 2 + pad), ang, 1.0)
    m[:, 2] += (-pad + dx, -pad + dy)
    return m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@dataclass
class _Scene:
    """A scalp: skin canvas (scalp coordinates) and its hairs."""

    skin: np.ndarray
    hairs: list[_Hair]
    pores: np.ndarray  # (N, 3) x, y, radius in scalp coordinates


def _photograph(
    scene: _Scene,
    *,
    shape: tuple[int, int],
    camera: np.ndarray,
    rng: np.random.Generator,
    kind: str,
    px_per_mm: float | None,
    blur_sigma: float,
    noise_sigma: float,
    jpeg_quality: int | None,
    vignette: float,
    params: dict,
    hairs: Iterator[_Hair] | None = None,
    coverage: float | None = None,
    gain: np.ndarray | None = None,
    visible_only: bool = True,
) -> SyntheticScalp:
    """Render ``scene`` through ``camera`` into a :class:`SyntheticScalp`.

    With ``coverage`` the hairs come from the iterator ``hairs`` and drawing
    stops once that share of the frame is hair. Shafts record the part of
    each centreline inside the frame (``visible_only``) or all of it.
    """
    h, w = shape
    img = cv2.warpAffine(
        scene.skin, camera, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    mask = np.zeros(shape, bool)
    scratch = np.zeros(shape, np.uint16)
    shafts: list[Shaft] = []
    target = None if coverage is None else int(round(coverage * h * w))
    covered = 0
    source = hairs if hairs is not None else iter(scene.hairs)
    batch_size = 64 if target is not None else 10**9
    batch: list[tuple[_Hair, np.ndarray]] = []
    n_seen = 0
    exhausted = False
    while not exhausted and (target is None or (covered < target and n_seen < MAX_STRANDS)):
        batch.clear()
        for hair in source:
            n_seen += 1
            pts = _apply(camera, hair.pts)
            runs = _clip_polyline(pts, w, h)
            if not runs:
                continue
            if visible_only and len(runs) > 1:
                if hairs is not None:
                    continue
                raise ValueError(
                    "a hair leaves the frame and comes back; "
                    "split it into one shaft per visible part"
                )
            batch.append((replace(hair, pts=pts), runs[0] if visible_only else pts))
            if len(batch) >= batch_size:
                break
        else:
            exhausted = True
        budget = None if target is None else target - covered
        used, new = _draw_hairs(img, mask, scratch, [hr for hr, _ in batch], gain, budget)
        covered += new
        for hair, run in batch[:used]:
            shafts.append(
                Shaft(
                    float(run[0, 0]),
                    float(run[0, 1]),
                    float(run[-1, 0]),
                    float(run[-1, 1]),
                    float(hair.width),
                    tuple((float(x), float(y)) for x, y in run) if len(run) > 2 else (),
                )
            )
    img *= _illumination(rng, shape, vignette)[..., None]
    image = _finish(
        img, rng, blur_sigma=blur_sigma, noise_sigma=noise_sigma, jpeg_quality=jpeg_quality
    )
    pores = []
    if len(scene.pores):
        xy = _apply(camera, scene.pores[:, :2])
        for (x, y), rad in zip(xy, scene.pores[:, 2], strict=True):
            if 0 <= x <= w - 1 and 0 <= y <= h - 1:
                pores.append([round(float(x), 3), round(float(y), 3), round(float(rad), 3)])
    params = dict(
        params,
        synth_version=SYNTH_VERSION,
        pores=pores,
        camera=[[round(float(v), 6) for v in row] for row in camera],
    )
    return SyntheticScalp(image, mask, tuple(shafts), px_per_mm, kind, params)


# --------------------------------------------------------------------------
# close-ups
# --------------------------------------------------------------------------


def _check_choice(name: str, value: str, options) -> None:
    if value not in options:
        raise ValueError(f"{name}={value!r} is not supported; use one of {sorted(options)}")


def _widths_um(
    rng: np.random.Generator, n: int, mean_width_um: float, thin_share: float
) -> np.ndarray:
    """Shaft diameters: ``thin_share`` in 20-38 µm, the rest terminal hairs > 40 µm.

    The terminal mean is chosen so that the expected mean of all shafts is
    ``mean_width_um``.
    """
    thin = rng.random(n) < thin_share
    out = rng.uniform(*THIN_RANGE_UM, n)
    if thin_share < 1:
        terminal_mean = (mean_width_um - thin_share * np.mean(THIN_RANGE_UM)) / (1 - thin_share)
        if terminal_mean < 45.0:
            raise ValueError(
                f"mean_width_um={mean_width_um} with thin_share={thin_share} needs terminal "
                f"hairs of {terminal_mean:.1f} µm; raise mean_width_um (or thin_share) so that "
                "terminal hairs are at least 45 µm"
            )
        sd = 0.12 * terminal_mean
        term = np.clip(rng.normal(terminal_mean, sd, n), 41.0, terminal_mean + 3 * sd)
        out = np.where(thin, out, term)
    return out


def _hair_colour(rng: np.random.Generator, hair: str, vellus: bool):
    rgb = np.asarray(HAIR_RGB[hair]) * rng.uniform(0.88, 1.12) + rng.normal(0, 3, 3)
    if vellus and hair != "grey":
        rgb = 0.5 * rgb + 0.5 * np.asarray(VELLUS_RGB)
    hl_rgb, hl = HIGHLIGHT[hair]
    return tuple(float(v) for v in np.clip(rgb, 0, 255)), hl_rgb, hl


def _dart_throw(
    rng: np.random.Generator, n: int, box: tuple[float, float, float, float], spacing: float
) -> np.ndarray:
    """Up to ``n`` random points in ``box`` (x0, y0, x1, y1) at least ``spacing`` apart."""
    x0, y0, x1, y1 = box
    cell = spacing / math.sqrt(2)
    grid: dict[tuple[int, int], np.ndarray] = {}
    pts = []
    tries = 0
    while len(pts) < n and tries < 40 * n + 100:
        tries += 1
        p = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        gx, gy = int(p[0] // cell), int(p[1] // cell)
        ok = True
        for i in range(gx - 2, gx + 3):
            for j in range(gy - 2, gy + 3):
                q = grid.get((i, j))
                if q is not None and np.hypot(*(p - q)) < spacing:
                    ok = False
        if ok:
            grid[(gx, gy)] = p
            pts.append(p)
    return np.array(pts).reshape(-1, 2)


@dataclass
class _Follicles:
    """Follicular units of one scalp, in scalp coordinates."""

    exits: np.ndarray  # (U, 2)
    unit: np.ndarray  # (N,) unit index of each shaft
    start: np.ndarray  # (N, 2) where each shaft leaves the skin
    angle: np.ndarray  # (N,) growth direction, radians
    width_um: np.ndarray  # (N,)
    curvature: np.ndarray  # (N,) 1/px, long hair only
    rank: np.ndarray  # (N,) order in which shafts are kept when density drops
    colour: list


def _follicles(
    rng: np.random.Generator,
    *,
    canvas: tuple[int, int],
    ppm: float,
    density: float,
    mean_width_um: float,
    thin_share: float,
    hair: str,
    long: bool,
) -> _Follicles:
    h, w = canvas
    margin = 0.25 * max(h, w) if long else CLIPPED_LENGTH_MM[1] * ppm
    box = (-margin, -margin, w + margin, h + margin)
    area_cm2 = (w + 2 * margin) * (h + 2 * margin) / ppm**2 / 100.0
    n_hair = int(round(density * area_cm2))
    sizes = []
    while sum(sizes) < n_hair:
        sizes.append(int(rng.choice(3, p=UNIT_SIZE_P)) + 1)
    if sizes:
        sizes[-1] -= sum(sizes) - n_hair
    unit_density = len(sizes) / max(area_cm2, 1e-12)  # per cm²
    spacing = 0.6 * math.sqrt(100.0 * ppm**2 / max(unit_density, 1e-12))
    exits = _dart_throw(rng, len(sizes), box, spacing)
    sizes = sizes[: len(exits)]
    flow = rng.uniform(0, 2 * np.pi)
    unit, start, angle, widths = [], [], [], []
    n = int(sum(sizes))
    width_um = _widths_um(rng, n, mean_width_um, thin_share)
    i = 0
    for u, (p, k) in enumerate(zip(exits, sizes, strict=True)):
        a_unit = flow + rng.normal(0, np.radians(9))
        wpx = width_um[i : i + k] / 1000.0 * ppm
        # shafts of a unit side by side, touching, nearly parallel
        offs = np.concatenate(
            [[0.0], np.cumsum((wpx[:-1] + wpx[1:]) / 2 * rng.uniform(0.85, 1.02, k - 1))]
        )
        offs -= offs.mean()
        perp = np.array([-np.sin(a_unit), np.cos(a_unit)])
        along = np.array([np.cos(a_unit), np.sin(a_unit)])
        for j in range(k):
            unit.append(u)
            start.append(p + offs[j] * perp + rng.uniform(0, 0.4) * wpx[j] * along)
            angle.append(a_unit + rng.normal(0, np.radians(2.5)))
            widths.append(width_um[i + j])
        i += k
    widths = np.array(widths)
    colour = [_hair_colour(rng, hair, wu < THIN_UM) for wu in widths]
    n = len(widths)
    curvature = rng.uniform(-1, 1, n) / (rng.uniform(4, 12, n) * ppm) if long else np.zeros(n)
    return _Follicles(
        exits=exits,
        unit=np.array(unit, int),
        start=np.array(start).reshape(-1, 2),
        angle=np.array(angle),
        width_um=widths,
        curvature=curvature,
        rank=rng.permutation(n),
        colour=colour,
    )


def _pores(
    rng: np.random.Generator, canvas: tuple[int, int], ppm: float, hairs: list[_Hair]
) -> np.ndarray:
    """Empty follicle openings on skin free of hair (a margin of 4 px)."""
    h, w = canvas
    blocked = np.zeros(canvas, np.uint8)
    for hair in hairs:
        cv2.polylines(
            blocked,
            [np.round(hair.pts * 16).astype(np.int32)],
            False,
            1,
            int(math.ceil(hair.width)) + 12,
            cv2.LINE_8,
            4,
        )
    area_cm2 = h * w / ppm**2 / 100.0
    n = max(3, int(rng.poisson(60.0 * area_cm2)))
    out = []
    for _ in range(60 * n):
        if len(out) >= n:
            break
        rad = rng.uniform(0.03, 0.055) * ppm
        x, y = rng.uniform(rad + 2, w - rad - 3), rng.uniform(rad + 2, h - rad - 3)
        r_out = int(math.ceil(rad)) + 4
        xi, yi = int(round(x)), int(round(y))
        if blocked[max(yi - r_out, 0) : yi + r_out + 1, max(xi - r_out, 0) : xi + r_out + 1].any():
            continue
        if any(np.hypot(x - px, y - py) < rad + pr + 0.1 * ppm for px, py, pr in out):
            continue
        out.append((x, y, rad))
    return np.array(out, float).reshape(-1, 3)


def _closeup_hairs(
    rng: np.random.Generator, fol: _Follicles, ppm: float, long: bool
) -> list[_Hair]:
    """Hair centrelines and colour models of all shafts of a scalp."""
    hairs = []
    n = len(fol.width_um)
    lo, hi = LONG_LENGTH_MM if long else CLIPPED_LENGTH_MM
    lengths = rng.uniform(lo, hi, n) * ppm
    phases = rng.uniform(0, 2 * np.pi, n)
    wavelengths = rng.uniform(150, 500, n)
    for i in range(n):
        length, phase = lengths[i], phases[i]
        p, a = fol.start[i], fol.angle[i]
        if long:
            steps = max(2, int(length // 24))
            turn = fol.curvature[i] * length / steps
            angs = a + turn * np.arange(steps)
            seg = length / steps * np.stack([np.cos(angs), np.sin(angs)], 1)
            pts = np.vstack([p, p + np.cumsum(seg, 0)])
        else:
            pts = np.vstack([p, p + length * np.array([np.cos(a), np.sin(a)])])
        rgb, hl_rgb, hl = fol.colour[i]
        hairs.append(
            _Hair(
                pts,
                fol.width_um[i] / 1000.0 * ppm,
                rgb,
                hl_rgb,
                hl,
                edge=0.3,
                phase=phase,
                wavelength=wavelengths[i],
            )
        )
    return hairs


def _single_run(hair: _Hair, cameras: Sequence[np.ndarray], shape: tuple[int, int]) -> bool:
    return all(len(_clip_polyline(_apply(m, hair.pts), shape[1], shape[0])) <= 1 for m in cameras)


def _check_common(shape, blur_sigma, noise_sigma, jpeg_quality, vignette) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 16:
        raise ValueError(f"shape={shape} must be (height, width) with both at least 16 px")
    if blur_sigma < 0 or noise_sigma < 0:
        raise ValueError("blur_sigma and noise_sigma must be >= 0; pass 0 to switch them off")
    if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality={jpeg_quality} must be 1-100, or None to skip JPEG")
    if not 0 <= vignette < 1:
        raise ValueError(f"vignette={vignette} must be in [0, 1); 0 gives even light")
    return (int(shape[0]), int(shape[1]))


def _kept_follicles(rank: np.ndarray, usable: np.ndarray, inner: np.ndarray, factor: float, top: float) -> np.ndarray:
    """The ``factor / top`` share of usable follicles with the lowest rank, inside and outside the ROI alike."""
    keep = np.zeros(len(rank), bool)
    for group in (inner, ~inner):
        idx = np.flatnonzero(usable & group)
        keep[idx[np.argsort(rank[idx])][: int(round(len(idx) * factor / top))]] = True
    return keep


def _closeup_series(
    *,
    seed: int,
    factors: Sequence[float],
    visits: Sequence[int],
    jitter: float,
    shape,
    px_per_mm,
    density_per_cm2,
    mean_width_um,
    thin_share,
    skin,
    hair,
    length,
    blur_sigma,
    noise_sigma,
    jpeg_quality,
    vignette,
) -> list[SyntheticScalp]:
    shape = _check_common(shape, blur_sigma, noise_sigma, jpeg_quality, vignette)
    _check_choice("skin", skin, SKIN_RGB)
    _check_choice("hair", hair, HAIR_RGB)
    _check_choice("length", length, ("clipped", "long"))
    if px_per_mm is not None and px_per_mm <= 0:
        raise ValueError(f"px_per_mm={px_per_mm} must be > 0, or None when the scale is unknown")
    if density_per_cm2 < 0:
        raise ValueError(f"density_per_cm2={density_per_cm2} must be >= 0")
    if not 0 <= thin_share <= 1:
        raise ValueError(f"thin_share={thin_share} must be a fraction in [0, 1]")
    ppm = float(px_per_mm) if px_per_mm is not None else DEFAULT_PX_PER_MM
    long = length == "long"
    h, w = shape
    pad = int(round(0.08 * max(h, w))) if jitter > 0 else 0
    canvas = (h + 2 * pad, w + 2 * pad)
    top = max(max(factors), 1.0)
    scalp = np.random.default_rng([seed, 1])
    fol = _follicles(
        scalp,
        canvas=canvas,
        ppm=ppm,
        density=density_per_cm2 * top,
        mean_width_um=mean_width_um,
        thin_share=thin_share,
        hair=hair,
        long=long,
    )
    cameras = [
        _camera(np.random.default_rng([seed, 2, i]), shape, pad, jitter)
        for i in range(len(factors))
    ]
    all_hairs = _closeup_hairs(np.random.default_rng([seed, 3]), fol, ppm, long)
    # a long hair may not leave the frame and come back in any photo
    usable = np.array([not long or _single_run(hh, cameras, shape) for hh in all_hairs], bool)
    # hairs rooted inside and outside the frame thin out separately, so that the
    # number in the frame follows the factors closely
    x, y = fol.start.T
    inner = (x >= pad) & (x < pad + w) & (y >= pad) & (y < pad + h)
    pores = _pores(np.random.default_rng([seed, 4]), canvas, ppm, all_hairs)
    base_params = dict(
        kind="closeup",
        seed=seed,
        shape=[h, w],
        px_per_mm=px_per_mm,
        density_per_cm2=density_per_cm2,
        mean_width_um=mean_width_um,
        thin_share=thin_share,
        skin=skin,
        hair=hair,
        length=length,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
    )
    out = []
    scenes: dict[int, _Scene] = {}
    for i, (f, v) in enumerate(zip(factors, visits, strict=True)):
        if v not in scenes:
            keep = _kept_follicles(fol.rank, usable, inner, f, top)
            hairs = [hh for hh, k in zip(all_hairs, keep, strict=True) if k]
            units = np.unique(fol.unit[keep])
            exits = fol.exits[units] if not long else fol.start[keep]
            skin_img = _skin_canvas(
                np.random.default_rng([seed, 6]),
                canvas,
                skin,
                ppm,
                detail=True,
                exits=exits,
                pores=pores,
            )
            scenes[v] = _Scene(skin_img, hairs, pores)
        params = dict(
            base_params, density_factor=float(f), visit=int(v), photo=i, camera_jitter=jitter
        )
        out.append(
            _photograph(
                scenes[v],
                shape=shape,
                camera=cameras[i],
                rng=np.random.default_rng([seed, 7, i]),
                kind="closeup",
                px_per_mm=px_per_mm,
                blur_sigma=blur_sigma,
                noise_sigma=noise_sigma,
                jpeg_quality=jpeg_quality,
                vignette=vignette,
                params=params,
                visible_only=long,
            )
        )
    return out


def render_closeup(
    *,
    seed: int,
    shape: tuple[int, int] = (1024, 1280),
    px_per_mm: float | None = DEFAULT_PX_PER_MM,
    density_per_cm2: float = 200.0,
    mean_width_um: float = 70.0,
    thin_share: float = 0.1,
    skin: str = "light",
    hair: str = "dark",
    length: str = "clipped",
    blur_sigma: float = 0.0,
    noise_sigma: float = 2.0,
    jpeg_quality: int | None = None,
    vignette: float = 0.3,
) -> SyntheticScalp:
    """Render a trichoscopy close-up (e.g. 70x) with exact ground truth.

    Parameters
    ----------
    seed : int
        Same seed and options give the same photo, bit for bit.
    shape : (int, int)
        ``(height, width)`` in pixels.
    px_per_mm : float or None
        Scale. With None, 250 px/mm is used for the geometry but the photo
        reports no scale (density and widths in µm are then None).
    density_per_cm2 : float
        Hairs per cm² (exact rounding over the frame plus a margin; see the
        module notes).
    mean_width_um : float
        Expected mean shaft diameter of all shafts in µm.
    thin_share : float
        Expected share of thin (vellus-like, lighter) shafts of 20-38 µm;
        the others are above 40 µm.
    skin : {'light', 'medium', 'dark'}
    hair : {'dark', 'grey', 'light'}
    length : {'clipped', 'long'}
        ``'clipped'``: short straight shafts (0.4-2.4 mm) in follicular units
        of 1-3 near-parallel touching shafts sharing an exit point.
        ``'long'``: long gently curved hairs that cross each other and leave
        the frame; each is counted by the midpoint of its part in the frame.
    blur_sigma, noise_sigma : float
        Gaussian blur (px) and additive noise (grey levels) after drawing.
    jpeg_quality : int or None
        JPEG round trip quality, or None for none.
    vignette : float
        Darkening towards the corners, 0 (none) to below 1.

    Returns
    -------
    SyntheticScalp

    Examples
    --------
    >>> s = render_closeup(seed=0, shape=(256, 320), density_per_cm2=300)
    >>> s.image.shape, s.mask.dtype, s.kind
    ((256, 320, 3), dtype('bool'), 'closeup')
    """
    return _closeup_series(
        seed=seed,
        factors=[1.0],
        visits=[0],
        jitter=0.0,
        shape=shape,
        px_per_mm=px_per_mm,
        density_per_cm2=density_per_cm2,
        mean_width_um=mean_width_um,
        thin_share=thin_share,
        skin=skin,
        hair=hair,
        length=length,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
    )[0]


def render_shafts(
    shafts: Sequence[Shaft],
    *,
    shape: tuple[int, int],
    seed: int = 0,
    px_per_mm: float | None = DEFAULT_PX_PER_MM,
    skin: str = "light",
    hair: str = "dark",
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
    jpeg_quality: int | None = None,
    vignette: float = 0.0,
) -> SyntheticScalp:
    """Draw given shafts on synthetic skin (no pores, halos or scales).

    Useful when a test needs a hair layout it chooses itself.

    Examples
    --------
    >>> s = render_shafts([Shaft(10.0, 20.0, 50.0, 20.0, width_px=5.0)], shape=(40, 64))
    >>> int(s.mask.sum()), s.hair_count()  # 41 x 5 body pixels + 2 round caps of 8
    (221, 1)
    """
    shape = _check_common(shape, blur_sigma, noise_sigma, jpeg_quality, vignette)
    _check_choice("skin", skin, SKIN_RGB)
    _check_choice("hair", hair, HAIR_RGB)
    rng = np.random.default_rng([seed, 8])
    ppm = float(px_per_mm) if px_per_mm is not None else DEFAULT_PX_PER_MM
    hairs = []
    for s in shafts:
        if not s.width_px > 0:
            raise ValueError(f"shaft width_px={s.width_px} must be > 0")
        rgb, hl_rgb, hl = _hair_colour(rng, hair, s.width_px / ppm * 1000.0 < THIN_UM)
        hairs.append(_Hair(s.centreline(), s.width_px, rgb, hl_rgb, hl))
    skin_img = _skin_canvas(
        rng, shape, skin, ppm, detail=False, exits=np.empty((0, 2)), pores=np.empty((0, 3))
    )
    params = dict(
        kind="shafts",
        seed=seed,
        shape=list(shape),
        px_per_mm=px_per_mm,
        skin=skin,
        hair=hair,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
        shafts=[[s.x0, s.y0, s.x1, s.y1, s.width_px, [list(p) for p in s.points]] for s in shafts],
    )
    scene = _Scene(skin_img, hairs, np.empty((0, 3)))
    return _photograph(
        scene,
        shape=shape,
        camera=np.eye(2, 3),
        rng=rng,
        kind="closeup",
        px_per_mm=px_per_mm,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
        params=params,
        visible_only=False,
    )


# --------------------------------------------------------------------------
# overviews
# --------------------------------------------------------------------------


def _strands(
    seed: int,
    shape: tuple[int, int],
    pattern: str,
    hair: str,
    cameras: Sequence[np.ndarray],
    pad: int,
) -> Iterator[_Hair]:
    """Endless, reproducible sequence of long strands of combed hair (scalp coordinates).

    Roots are sparse at the whorl centre or along the part line; each strand
    follows the combing direction there with a slowly wandering bend. Strands
    are made in vectorised batches.
    """
    rng = np.random.default_rng([seed, 11])
    h, w = shape
    ch, cw = h + 2 * pad, w + 2 * pad
    scale = max(h, w) / 2048.0
    diag = math.hypot(h, w)
    cx = cw / 2 + rng.uniform(-0.1, 0.1) * w
    cy = ch / 2 + rng.uniform(-0.1, 0.1) * h
    tilt = rng.uniform(-0.15, 0.15)
    spiral = rng.choice([-1, 1]) * np.radians(rng.uniform(50, 70))
    margin = 0.1 * max(h, w)
    step = 28.0 * scale + 5.0
    base_rgb = np.asarray(HAIR_RGB[hair])
    # expected hair layers per cell (strand area / cell area), in scalp coordinates
    cell = max(8.0, max(h, w) / 64.0)
    margin_cells = int(math.ceil(margin / cell)) + 1
    load = np.zeros((int(ch / cell) + 2 * margin_cells + 1, int(cw / cell) + 2 * margin_cells + 1))
    hl_rgb = HIGHLIGHT[hair][0]

    def field(x, y):
        if pattern == "whorl":
            return np.arctan2(y - cy, x - cx) + spiral
        return np.where(
            x - cx - tilt * (y - cy) >= 0, math.atan2(0.45, 1.0), math.atan2(0.45, -1.0)
        )

    while True:
        x = rng.uniform(-margin, cw + margin, 256)
        y = rng.uniform(-margin, ch + margin, 256)
        if pattern == "whorl":
            accept = np.clip((np.hypot(x - cx, y - cy) - 0.03 * diag) / (0.25 * diag), 0.03, 1.0)
        else:
            accept = np.clip((np.abs(x - cx - tilt * (y - cy)) - 0.012 * w) / (0.18 * w), 0.02, 1.0)
        keep = rng.random(256) <= accept
        x, y = x[keep], y[keep]
        nb = len(x)
        steps = np.maximum(2, (rng.uniform(500, 1600, nb) * scale / step).astype(int))
        widths = rng.uniform(1.8, 3.4, nb) * max(scale, 0.5)
        noise = rng.normal(0, 0.02, (nb, steps.max()))
        rgb = np.clip(base_rgb * rng.uniform(0.7, 1.4, (nb, 1)) + rng.normal(0, 3, (nb, 3)), 0, 255)
        phases, waves = rng.uniform(0, 2 * np.pi, nb), rng.uniform(80, 300, nb)
        xs, ys = [x], [y]
        ang = field(x, y) + rng.normal(0, 0.15, nb)
        wander = np.zeros(nb)
        for k in range(steps.max()):
            wander = 0.9 * wander + noise[:, k]
            diff = (field(x, y) - ang + np.pi) % (2 * np.pi) - np.pi
            ang = ang + np.clip(0.15 * diff, -0.06, 0.06) + wander
            x, y = x + step * np.cos(ang), y + step * np.sin(ang)
            xs.append(x)
            ys.append(y)
        xs, ys = np.stack(xs, 1), np.stack(ys, 1)
        off = margin_cells * cell
        rows = np.clip((ys + off) // cell, 0, load.shape[0] - 1).astype(int)
        cols = np.clip((xs + off) // cell, 0, load.shape[1] - 1).astype(int)
        cells = rows * load.shape[1] + cols
        limits = rng.uniform(0.6, 1.4, nb) * SATURATION
        for i in range(nb):
            n = steps[i] + 1
            # skip strands that would only pile onto hair mass that is already opaque
            path = load.ravel()[cells[i, :n]]
            if path.mean() > limits[i]:
                continue
            np.add.at(load.ravel(), cells[i, :n], widths[i] * step / cell**2)
            strand = _Hair(
                np.c_[xs[i, :n], ys[i, :n]],
                float(widths[i]),
                tuple(rgb[i].tolist()),
                hl_rgb,
                0.0,
                edge=0.25,
                phase=float(phases[i]),
                wavelength=float(waves[i]),
            )
            if len(cameras) == 1 or _single_run(strand, cameras, shape):
                yield strand  # with one camera, _photograph drops strands that re-enter the frame


def _overview_series(
    *,
    seed,
    coverages,
    jitter,
    shape,
    pattern,
    skin,
    hair,
    px_per_mm,
    blur_sigma,
    noise_sigma,
    jpeg_quality,
    vignette,
) -> list[SyntheticScalp]:
    shape = _check_common(shape, blur_sigma, noise_sigma, jpeg_quality, vignette)
    _check_choice("skin", skin, SKIN_RGB)
    _check_choice("hair", hair, HAIR_RGB)
    _check_choice("pattern", pattern, ("whorl", "part"))
    for c in coverages:
        if not 0 <= c <= 0.9:
            raise ValueError(
                f"coverage={c} must be a fraction in [0, 0.9]; denser hair is not drawn"
            )
    if px_per_mm is not None and px_per_mm <= 0:
        raise ValueError(f"px_per_mm={px_per_mm} must be > 0, or None when the scale is unknown")
    h, w = shape
    pad = int(round(0.05 * max(h, w))) if jitter > 0 else 0
    canvas = (h + 2 * pad, w + 2 * pad)
    ppm = max(h, w) / 100.0  # skin texture scale: the frame spans about 100 mm
    skin_img = _skin_canvas(
        np.random.default_rng([seed, 12]),
        canvas,
        skin,
        ppm,
        detail=False,
        exits=np.empty((0, 2)),
        pores=np.empty((0, 3)),
    )
    scene = _Scene(skin_img, [], np.empty((0, 3)))
    cameras = [
        _camera(np.random.default_rng([seed, 13, i]), shape, pad, jitter)
        for i in range(len(coverages))
    ]
    base = dict(
        kind="overview",
        seed=seed,
        shape=[h, w],
        pattern=pattern,
        skin=skin,
        hair=hair,
        px_per_mm=px_per_mm,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
        camera_jitter=jitter,
    )
    sheen = _smooth_noise(np.random.default_rng([seed, 15]), (h, w), max(h, w) / 5)[..., 0]
    gain = (1.0 + 0.9 * np.clip(sheen - 0.6, 0, None) ** 1.5).astype(np.float32)
    # every photo draws the same strands in the same order (made once, shared)
    strands = itertools.tee(_strands(seed, shape, pattern, hair, cameras, pad), len(coverages))
    out = []
    for i, cov in enumerate(coverages):
        rng = np.random.default_rng([seed, 14, i])
        out.append(
            _photograph(
                scene,
                shape=shape,
                camera=cameras[i],
                rng=rng,
                kind="overview",
                px_per_mm=px_per_mm,
                blur_sigma=blur_sigma,
                noise_sigma=noise_sigma,
                jpeg_quality=jpeg_quality,
                vignette=vignette,
                params=dict(base, coverage=float(cov), photo=i),
                hairs=strands[i],
                coverage=cov,
                gain=gain,
            )
        )
    return out


def render_overview(
    *,
    seed: int,
    shape: tuple[int, int] = (1536, 2048),
    coverage: float = 0.6,
    pattern: str = "whorl",
    skin: str = "light",
    hair: str = "dark",
    px_per_mm: float | None = None,
    blur_sigma: float = 0.6,
    noise_sigma: float = 2.0,
    jpeg_quality: int | None = None,
    vignette: float = 0.15,
) -> SyntheticScalp:
    """Render an overview photo (phone at the crown or part line) with exact ground truth.

    Long combed strands (1.8-3.4 px wide at 2048 px) are added one by one
    until ``coverage`` of the frame is hair, so the exact coverage lands
    within one strand of the request. Scalp shows where hair is sparse: at
    the whorl (``pattern='whorl'``) or along a part line (``pattern='part'``).
    Strands rarely pile onto hair that is already about two layers thick,
    so hair mass stays slightly see-through. Each strand is one shaft,
    counted by the midpoint of its part in the frame. A 1536x2048 overview
    takes several seconds to render (thousands of strands).

    Parameters
    ----------
    seed : int
    shape : (int, int)
        ``(height, width)``.
    coverage : float
        Share of the frame covered by hair, 0-0.9.
    pattern : {'whorl', 'part'}
    skin : {'light', 'medium', 'dark'}
    hair : {'dark', 'grey', 'light'}
    px_per_mm : float or None
        Scale reported with the photo (overviews usually have none).
    blur_sigma, noise_sigma, jpeg_quality, vignette
        As in :func:`render_closeup`.

    Examples
    --------
    >>> s = render_overview(seed=0, shape=(192, 256), coverage=0.5)
    >>> abs(s.coverage_pct() - 50.0) < 2.0
    True
    """
    return _overview_series(
        seed=seed,
        coverages=[coverage],
        jitter=0.0,
        shape=shape,
        pattern=pattern,
        skin=skin,
        hair=hair,
        px_per_mm=px_per_mm,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        vignette=vignette,
    )[0]


# --------------------------------------------------------------------------
# series and the demo patient
# --------------------------------------------------------------------------


def render_scalp_series(
    *,
    seed: int,
    factors: Sequence[float],
    visits: Sequence[int] | None = None,
    kind: str = "closeup",
    camera_jitter: float = 1.0,
    **options,
) -> list[SyntheticScalp]:
    """Photograph the same scalp several times, one photo per entry of ``factors``.

    Close-ups keep the same follicles, shafts, pores and skin; a factor
    ``f`` keeps the share ``f`` of the shafts present at factor 1 (a factor
    above 1 adds shafts), taken separately among shafts rooted inside and
    outside the frame so that the count in the frame follows the factors.
    Overviews keep the same strands in the same order and draw them until
    ``coverage * f`` of the frame is hair. Each photo has its own small
    camera shift and rotation (scaled by ``camera_jitter``), light and noise.

    Parameters
    ----------
    seed : int
    factors : sequence of float
        Density (close-up) or coverage (overview) factor of each photo.
    visits : sequence of int, optional
        Visit of each photo; photos of one visit show the same hairs and must
        share a factor (repeat photos). Default: one visit per photo.
    kind : {'closeup', 'overview'}
    camera_jitter : float
        0 keeps the camera fixed; 1 shifts by up to ~5 % and turns by up to 3°.
    **options
        Keyword options of :func:`render_closeup` or :func:`render_overview`.

    Examples
    --------
    >>> a, b = render_scalp_series(
    ...     seed=0, factors=[1.0, 0.5], shape=(200, 240), density_per_cm2=400
    ... )
    >>> b.hair_count() < a.hair_count()
    True
    """
    _check_choice("kind", kind, ("closeup", "overview"))
    factors = [float(f) for f in factors]
    if not factors or min(factors) < 0:
        raise ValueError("factors must be a non-empty sequence of numbers >= 0, one per photo")
    visits = list(range(len(factors))) if visits is None else [int(v) for v in visits]
    if len(visits) != len(factors):
        raise ValueError(
            f"visits has {len(visits)} entries for {len(factors)} factors; give one visit per photo"
        )
    for v in set(visits):
        if len({f for f, vv in zip(factors, visits, strict=True) if vv == v}) > 1:
            raise ValueError(
                f"photos of visit {v} have different factors; repeat photos must share one"
            )
    if camera_jitter < 0:
        raise ValueError(f"camera_jitter={camera_jitter} must be >= 0")
    if kind == "closeup":
        defaults = dict(
            shape=(1024, 1280),
            px_per_mm=DEFAULT_PX_PER_MM,
            density_per_cm2=200.0,
            mean_width_um=70.0,
            thin_share=0.1,
            skin="light",
            hair="dark",
            length="clipped",
            blur_sigma=0.0,
            noise_sigma=2.0,
            jpeg_quality=None,
            vignette=0.3,
        )
        unknown = set(options) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown close-up options {sorted(unknown)}; use those of render_closeup"
            )
        return _closeup_series(
            seed=seed,
            factors=factors,
            visits=visits,
            jitter=camera_jitter,
            **{**defaults, **options},
        )
    defaults = dict(
        shape=(1536, 2048),
        coverage=0.6,
        pattern="whorl",
        skin="light",
        hair="dark",
        px_per_mm=None,
        blur_sigma=0.6,
        noise_sigma=2.0,
        jpeg_quality=None,
        vignette=0.15,
    )
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(
            f"unknown overview options {sorted(unknown)}; use those of render_overview"
        )
    opts = {**defaults, **options}
    coverage = opts.pop("coverage")
    return _overview_series(
        seed=seed, coverages=[coverage * f for f in factors], jitter=camera_jitter, **opts
    )


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, d.day)


def make_demo_patient(
    *,
    seed: int = 0,
    closeup_shape: tuple[int, int] = (1024, 1280),
    overview_shape: tuple[int, int] = (1200, 1600),
) -> list[DemoPhoto]:
    """A demo patient: three views over five visits about three months apart.

    Views: ``'vertex'`` (overview, part line), ``'crown'`` (overview, whorl)
    and ``'closeup-vertex'`` (close-up at 250 px/mm). Visits start on
    2025-07-15; the scalp's hair density (close-up) and coverage (overview)
    follow the factors ``DEMO_FACTORS`` = 1.00, 0.95, 0.98, 1.01, 1.03 of
    baseline. Each photo has its own small camera shift and light, so the
    measured values of a photo scatter around that trend; each
    ``DemoPhoto.image`` holds the exact truth of its photo. Visit 3 has a
    second close-up (shot 2) of the same hairs for repeatability. Images
    are not JPEG-compressed here; written as JPEG quality 90 the set takes
    about 9 MB. Rendering the full-size set takes about a minute.

    Parameters
    ----------
    seed : int
    closeup_shape, overview_shape : (int, int)
        ``(height, width)`` of the photos; smaller shapes render faster.

    Examples
    --------
    >>> photos = make_demo_patient(seed=0)  # doctest: +SKIP
    >>> sorted({p.view for p in photos})  # doctest: +SKIP
    ['closeup-vertex', 'crown', 'vertex']
    """
    dates = [_add_months(DEMO_START, 3 * i) for i in range(len(DEMO_FACTORS))]
    photos: list[DemoPhoto] = []

    def add(view: str, images: list[SyntheticScalp], visits: list[int]) -> None:
        shots: dict[int, int] = {}
        for img, v in zip(images, visits, strict=True):
            shots[v] = shots.get(v, 0) + 1
            d = dates[v - 1]
            name = f"{d.isoformat()}_{view}_{shots[v]}.jpg"
            photos.append(DemoPhoto(view, v, d, name, img, shots[v]))

    visits = list(range(1, len(DEMO_FACTORS) + 1))
    close_visits = sorted(visits + [3])
    close = render_scalp_series(
        seed=seed,
        factors=[DEMO_FACTORS[v - 1] for v in close_visits],
        visits=close_visits,
        kind="closeup",
        camera_jitter=0.3,
        shape=closeup_shape,
        density_per_cm2=190.0,
        mean_width_um=68.0,
        thin_share=0.12,
        vignette=0.3,
    )
    add("closeup-vertex", close, close_visits)
    for view, pattern, coverage, k in (
        ("vertex", "part", 0.62, 100),
        ("crown", "whorl", 0.55, 200),
    ):
        images = render_scalp_series(
            seed=seed + k,
            factors=list(DEMO_FACTORS),
            kind="overview",
            shape=overview_shape,
            coverage=coverage,
            pattern=pattern,
        )
        add(view, images, visits)
    photos.sort(key=lambda p: (p.visit, p.view, p.shot))
    return photos


# --------------------------------------------------------------------------
# moved cameras (registration) and the calibration card in a scene
# --------------------------------------------------------------------------

__all__ += [
    "CameraMove",
    "CardScene",
    "MovedPhoto",
    "card_homography",
    "random_moves",
    "render_card_scene",
    "render_moved_series",
]


@dataclass(frozen=True)
class CameraMove:
    """How the camera of one photo differs from the reference framing of a scalp.

    The photo shows the scalp scaled by ``scale`` and turned by
    ``rotation_deg`` about the frame centre (positive is counter-clockwise
    on screen, as :func:`cv2.getRotationMatrix2D`), then shifted by
    ``(dx, dy)`` pixels, with the light multiplied by ``brightness``.

    Examples
    --------
    >>> CameraMove(dx=12.0, rotation_deg=-5.0, scale=1.08, brightness=0.85).scale
    1.08
    """

    dx: float = 0.0
    dy: float = 0.0
    rotation_deg: float = 0.0
    scale: float = 1.0
    brightness: float = 1.0

    def matrix(self, canvas: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
        """2x3 affine map from scalp canvas ``(H, W)`` pixels to frame ``(h, w)`` pixels."""
        ch, cw = canvas
        h, w = shape
        m = cv2.getRotationMatrix2D(((cw - 1) / 2.0, (ch - 1) / 2.0), self.rotation_deg, self.scale)
        m[:, 2] += ((w - 1) / 2.0 - (cw - 1) / 2.0 + self.dx, (h - 1) / 2.0 - (ch - 1) / 2.0 + self.dy)
        return m


@dataclass(frozen=True, eq=False)
class MovedPhoto:
    """One photo of a moved-camera series and its exact geometry.

    Attributes
    ----------
    image : SyntheticScalp
        The photo and its truth (``image.px_per_mm`` is the series scale
        times ``move.scale``, when the series has a scale).
    move : CameraMove
    to_baseline : ndarray, shape (3, 3)
        Exact homography (here a similarity) from this photo's pixels to
        the first photo's pixels.
    """

    image: SyntheticScalp
    move: CameraMove
    to_baseline: np.ndarray


def random_moves(
    seed: int,
    n: int,
    *,
    shape: tuple[int, int],
    max_shift: float = 0.05,
    max_rotation_deg: float = 10.0,
    max_scale: float = 0.10,
    max_brightness: float = 0.20,
) -> list[CameraMove]:
    """``n`` camera moves drawn uniformly within the limits (reproducible).

    Shifts are up to ``max_shift`` of the frame's width and height,
    rotations up to ``max_rotation_deg`` either way, scale within
    ``1 +- max_scale`` and brightness within ``1 +- max_brightness``.

    Examples
    --------
    >>> moves = random_moves(0, 20, shape=(200, 300))
    >>> all(abs(m.rotation_deg) <= 10 and abs(m.scale - 1) <= 0.1 and abs(m.dx) <= 15 for m in moves)
    True
    """
    if n < 0 or min(max_shift, max_rotation_deg, max_scale, max_brightness) < 0 or max_scale >= 1 or max_brightness >= 1:
        raise ValueError(
            "n and the limits must be >= 0, with max_scale and max_brightness below 1 (fractions)"
        )
    rng = np.random.default_rng([seed, 21])
    h, w = shape
    out = []
    for _ in range(n):
        dx, dy = rng.uniform(-1, 1, 2) * max_shift * np.array([w, h])
        out.append(
            CameraMove(
                dx=float(dx),
                dy=float(dy),
                rotation_deg=float(rng.uniform(-1, 1) * max_rotation_deg),
                scale=float(1.0 + rng.uniform(-1, 1) * max_scale),
                brightness=float(1.0 + rng.uniform(-1, 1) * max_brightness),
            )
        )
    return out


def _moved_pad(moves: Sequence[CameraMove], shape: tuple[int, int], extra: int) -> int:
    """Canvas margin so that every moved frame sees only drawn scalp (no mirrored border)."""
    h, w = shape
    need = 0.0
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    for mv in moves:
        a = np.radians(mv.rotation_deg)
        rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        rel = (corners - [(w - 1) / 2 + mv.dx, (h - 1) / 2 + mv.dy]) @ np.linalg.inv(rot).T / mv.scale
        need = max(need, np.abs(rel[:, 0]).max() - w / 2, np.abs(rel[:, 1]).max() - h / 2)
    return int(math.ceil(max(need, 0.0))) + extra


def _homog(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _moved_hair(hair: _Hair, move: CameraMove) -> _Hair:
    b = move.brightness
    return replace(
        hair,
        width=hair.width * move.scale,
        rgb=tuple(float(c) * b for c in hair.rgb),
        highlight_rgb=tuple(float(c) * b for c in hair.highlight_rgb),
    )


def _check_moves(moves: Sequence[CameraMove]) -> list[CameraMove]:
    moves = list(moves)
    if not moves:
        raise ValueError("moves must hold one CameraMove per photo (the first is the baseline)")
    for mv in moves:
        if not isinstance(mv, CameraMove):
            raise ValueError(f"moves must be CameraMove objects, got {type(mv).__name__}")
        if not (0.5 <= mv.scale <= 2.0 and 0.2 <= mv.brightness <= 3.0 and abs(mv.rotation_deg) <= 90):
            raise ValueError(
                f"{mv} is out of range: scale must be 0.5-2, brightness 0.2-3 and rotation within 90 degrees"
            )
    return moves


def render_moved_series(
    *,
    seed: int,
    moves: Sequence[CameraMove],
    factors: Sequence[float] | None = None,
    visits: Sequence[int] | None = None,
    kind: str = "closeup",
    **options,
) -> list[MovedPhoto]:
    """Photograph the same scalp with known camera moves; the first photo is the baseline.

    Like :func:`render_scalp_series`, but each photo's camera is given
    exactly (shift, rotation, scale, brightness), so the true mapping of
    every photo onto the baseline photo is known (:attr:`MovedPhoto.to_baseline`).
    A scale change also scales the shafts' widths, the skin and the
    photo's ``px_per_mm``; brightness multiplies the light on skin and hair
    before noise. Close-ups keep their follicles, pores and skin across
    photos and thin out shafts with ``factors`` as
    :func:`render_scalp_series` does. Overviews draw the same strands in the
    same order; each visit keeps the strands that bring the reference
    framing (no move) to ``coverage * factor``, and every photo of the visit
    draws exactly those strands, so recaptures of one visit show the same
    hair.

    Parameters
    ----------
    seed : int
    moves : sequence of CameraMove
        One per photo.
    factors : sequence of float, optional
        Density (close-up) or coverage (overview) factor per photo; default 1.
    visits : sequence of int, optional
        Visit per photo; photos of one visit must share a factor. Default:
        photos with equal factors share a visit.
    kind : {'closeup', 'overview'}
    **options
        As for :func:`render_closeup` or :func:`render_overview`.

    Returns
    -------
    list of MovedPhoto

    Examples
    --------
    >>> a, b = render_moved_series(seed=0, moves=[CameraMove(), CameraMove(dx=10.0, rotation_deg=5.0)],
    ...                            shape=(120, 160), px_per_mm=100.0, density_per_cm2=300)
    >>> x, y, _ = b.to_baseline @ [b.image.shafts[0].x0, b.image.shafts[0].y0, 1.0]
    >>> any(abs(s.x0 - x) < 1e-6 and abs(s.y0 - y) < 1e-6 for s in a.image.shafts)
    True
    """
    _check_choice("kind", kind, ("closeup", "overview"))
    moves = _check_moves(moves)
    factors = [1.0] * len(moves) if factors is None else [float(f) for f in factors]
    if len(factors) != len(moves) or min(factors) < 0:
        raise ValueError("give one factor >= 0 per move")
    if visits is None:
        order = sorted(set(factors))
        visits = [order.index(f) for f in factors]
    visits = [int(v) for v in visits]
    if len(visits) != len(moves):
        raise ValueError("give one visit per move")
    for v in set(visits):
        if len({f for f, vv in zip(factors, visits, strict=True) if vv == v}) > 1:
            raise ValueError(f"photos of visit {v} have different factors; repeat photos must share one")
    if kind == "closeup":
        defaults = dict(
            shape=(1024, 1280), px_per_mm=DEFAULT_PX_PER_MM, density_per_cm2=200.0, mean_width_um=70.0,
            thin_share=0.1, skin="light", hair="dark", length="clipped", blur_sigma=0.0, noise_sigma=2.0,
            jpeg_quality=None, vignette=0.3,
        )
    else:
        defaults = dict(
            shape=(1536, 2048), coverage=0.6, pattern="whorl", skin="light", hair="dark", px_per_mm=None,
            blur_sigma=0.6, noise_sigma=2.0, jpeg_quality=None, vignette=0.15,
        )
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {kind} options {sorted(unknown)}; use those of render_{kind}")
    opts = {**defaults, **options}
    shape = _check_common(opts["shape"], opts["blur_sigma"], opts["noise_sigma"], opts["jpeg_quality"], opts["vignette"])
    _check_choice("skin", opts["skin"], SKIN_RGB)
    _check_choice("hair", opts["hair"], HAIR_RGB)
    px_per_mm = opts["px_per_mm"]
    if px_per_mm is not None and px_per_mm <= 0:
        raise ValueError(f"px_per_mm={px_per_mm} must be > 0, or None when the scale is unknown")
    h, w = shape
    pad = _moved_pad(moves, shape, extra=int(round(0.02 * max(h, w))) + 4)
    canvas = (h + 2 * pad, w + 2 * pad)
    cameras = [mv.matrix(canvas, shape) for mv in moves]
    to_base = [_homog(cameras[0]) @ np.linalg.inv(_homog(m)) for m in cameras]
    if kind == "closeup":
        images = _moved_closeups(seed, moves, factors, visits, cameras, canvas, pad, opts)
    else:
        images = _moved_overviews(seed, moves, factors, visits, cameras, canvas, pad, opts)
    return [MovedPhoto(img, mv, t) for img, mv, t in zip(images, moves, to_base, strict=True)]


def _move_params(mv: CameraMove) -> dict:
    return dict(
        move=dict(dx=mv.dx, dy=mv.dy, rotation_deg=mv.rotation_deg, scale=mv.scale, brightness=mv.brightness)
    )


def _moved_closeups(seed, moves, factors, visits, cameras, canvas, pad, opts) -> list[SyntheticScalp]:
    shape = tuple(opts["shape"])
    h, w = shape
    _check_choice("length", opts["length"], ("clipped", "long"))
    if opts["density_per_cm2"] < 0 or not 0 <= opts["thin_share"] <= 1:
        raise ValueError("density_per_cm2 must be >= 0 and thin_share a fraction in [0, 1]")
    px_per_mm = opts["px_per_mm"]
    ppm = float(px_per_mm) if px_per_mm is not None else DEFAULT_PX_PER_MM
    long = opts["length"] == "long"
    top = max(max(factors), 1.0)
    fol = _follicles(
        np.random.default_rng([seed, 1]), canvas=canvas, ppm=ppm, density=opts["density_per_cm2"] * top,
        mean_width_um=opts["mean_width_um"], thin_share=opts["thin_share"], hair=opts["hair"], long=long,
    )
    all_hairs = _closeup_hairs(np.random.default_rng([seed, 3]), fol, ppm, long)
    usable = np.array([not long or _single_run(hh, cameras, shape) for hh in all_hairs], bool)
    # the reference frame (no move) decides which shafts are 'inside' when thinning out
    x, y = fol.start.T
    inner = (x >= pad) & (x < pad + w) & (y >= pad) & (y < pad + h)
    pores = _pores(np.random.default_rng([seed, 4]), canvas, ppm, all_hairs)
    base_params = dict(
        kind="closeup", series="moved", seed=seed, **{k: (list(v) if k == "shape" else v) for k, v in opts.items()}
    )
    scenes: dict[int, tuple[np.ndarray, list[_Hair]]] = {}
    out = []
    for i, (f, v, mv) in enumerate(zip(factors, visits, moves, strict=True)):
        if v not in scenes:
            keep = _kept_follicles(fol.rank, usable, inner, f, top)
            hairs = [hh for hh, k in zip(all_hairs, keep, strict=True) if k]
            units = np.unique(fol.unit[keep])
            exits = fol.exits[units] if not long else fol.start[keep]
            skin_img = _skin_canvas(
                np.random.default_rng([seed, 6]), canvas, opts["skin"], ppm, detail=True, exits=exits, pores=pores
            )
            scenes[v] = (skin_img, hairs)
        skin_img, hairs = scenes[v]
        scene = _Scene(
            skin_img * np.float32(mv.brightness),
            [_moved_hair(hh, mv) for hh in hairs],
            np.c_[pores[:, :2], pores[:, 2] * mv.scale] if len(pores) else pores,
        )
        params = dict(base_params, density_factor=float(f), visit=int(v), photo=i, **_move_params(mv))
        out.append(
            _photograph(
                scene, shape=shape, camera=cameras[i], rng=np.random.default_rng([seed, 7, i]), kind="closeup",
                px_per_mm=None if px_per_mm is None else float(px_per_mm) * mv.scale,
                blur_sigma=opts["blur_sigma"], noise_sigma=opts["noise_sigma"], jpeg_quality=opts["jpeg_quality"],
                vignette=opts["vignette"], params=params, visible_only=long,
            )
        )
    return out


def _moved_overviews(seed, moves, factors, visits, cameras, canvas, pad, opts) -> list[SyntheticScalp]:
    shape = tuple(opts["shape"])
    h, w = shape
    _check_choice("pattern", opts["pattern"], ("whorl", "part"))
    for f in factors:
        if not 0 <= opts["coverage"] * f <= 0.9:
            raise ValueError(f"coverage x factor = {opts['coverage'] * f} must be a fraction in [0, 0.9]")
    ch, cw = canvas
    ppm = max(h, w) / 100.0
    skin_img = _skin_canvas(
        np.random.default_rng([seed, 12]), canvas, opts["skin"], ppm, detail=False,
        exits=np.empty((0, 2)), pores=np.empty((0, 3)),
    )
    sheen = _smooth_noise(np.random.default_rng([seed, 15]), canvas, max(h, w) / 5)[..., 0]
    sheen_gain = (1.0 + 0.9 * np.clip(sheen - 0.6, 0, None) ** 1.5).astype(np.float32)
    reference = CameraMove().matrix(canvas, shape)
    strands = _strands(seed, shape, opts["pattern"], opts["hair"], [reference, *cameras], pad)
    # how many strands each visit keeps: drawn in order until the reference framing is covered
    targets = sorted({(opts["coverage"] * f, v) for f, v in zip(factors, visits, strict=True)})
    img = np.zeros((h, w, 3), np.float32)
    mask = np.zeros(shape, bool)
    scratch = np.zeros(shape, np.uint16)
    kept: list[_Hair] = []
    n_keep: dict[int, int] = {}
    covered = 0
    for cov, v in targets:
        target = int(round(cov * h * w))
        while covered < target and len(kept) < MAX_STRANDS:
            batch = [next(strands) for _ in range(64)]
            moved = [replace(s, pts=_apply(reference, s.pts)) for s in batch]
            used, new = _draw_hairs(img, mask, scratch, moved, None, target - covered)
            covered += new
            kept.extend(batch[:used])
            if used < len(batch):  # the rest would overshoot this target: keep them for the next
                strands = itertools.chain(batch[used:], strands)
        n_keep[v] = len(kept)
    base_params = dict(
        kind="overview", series="moved", seed=seed, **{k: (list(v) if k == "shape" else v) for k, v in opts.items()}
    )
    out = []
    px_per_mm = opts["px_per_mm"]
    for i, (f, v, mv) in enumerate(zip(factors, visits, moves, strict=True)):
        gain = cv2.warpAffine(sheen_gain, cameras[i], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        scene = _Scene(skin_img * np.float32(mv.brightness), [], np.empty((0, 3)))
        params = dict(base_params, coverage=float(opts["coverage"] * f), visit=int(v), photo=i,
                      strands=n_keep[v], **_move_params(mv))
        out.append(
            _photograph(
                scene, shape=shape, camera=cameras[i], rng=np.random.default_rng([seed, 14, i]), kind="overview",
                px_per_mm=None if px_per_mm is None else float(px_per_mm) * mv.scale,
                blur_sigma=opts["blur_sigma"], noise_sigma=opts["noise_sigma"], jpeg_quality=opts["jpeg_quality"],
                vignette=opts["vignette"], params=params, hairs=iter([_moved_hair(s, mv) for s in kept[: n_keep[v]]]),
                coverage=None, gain=gain,
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class CardScene:
    """A photo with the calibration card in it, and the card's exact geometry.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), uint8
    card_to_image : ndarray, shape (3, 3)
        Exact homography from card millimetres to photo pixels.
    px_per_mm : float
        True scale at the card centre, ``sqrt(|det J|)`` of that homography
        (the definition :func:`tracker.imaging.calibrate.detect_card` reports).
    px_per_mm_range : (float, float)
        True largest and smallest stretch at the card centre.
    wb_gains : ndarray, shape (3,)
        The R, G, B gains that make the grey patch neutral again (mean kept).
    params : dict
    """

    image: np.ndarray
    card_to_image: np.ndarray
    px_per_mm: float
    px_per_mm_range: tuple[float, float]
    wb_gains: np.ndarray
    params: dict = field(default_factory=dict)


def card_homography(
    *,
    shape: tuple[int, int],
    px_per_mm: float,
    tilt_deg: float = 0.0,
    tilt_axis_deg: float = 0.0,
    rotation_deg: float = 0.0,
    centre: tuple[float, float] | None = None,
    focal_px: float | None = None,
    layout=None,
) -> np.ndarray:
    """Homography from card mm to the pixels of a pinhole camera looking at the card.

    The card lies in a plane turned by ``rotation_deg`` in itself and then
    tilted by ``tilt_deg`` about an axis in the plane at ``tilt_axis_deg``;
    the camera (focal length ``focal_px``, default 0.6 x the frame diagonal,
    like a phone's main camera; principal point at the frame centre) stands
    at the distance where an untilted card would show ``px_per_mm``, and the
    card centre lands on ``centre`` (default: the frame centre).

    Examples
    --------
    >>> from tracker.imaging.calibrate import CARD, local_scale
    >>> H = card_homography(shape=(480, 640), px_per_mm=5.0)
    >>> round(local_scale(H, CARD.centre_mm)[0], 6)
    5.0
    """
    from tracker.imaging.calibrate import CARD

    layout = CARD if layout is None else layout
    h, w = shape
    f = float(focal_px) if focal_px is not None else 0.6 * math.hypot(h, w)
    if not (px_per_mm > 0 and f > 0 and 0 <= tilt_deg < 80):
        raise ValueError("px_per_mm and focal_px must be positive and tilt_deg within 0-80 degrees")
    dist = f / px_per_mm  # mm from the camera to the card centre
    pp = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    c = pp if centre is None else np.asarray(centre, float)
    psi = np.radians(rotation_deg)
    rz = np.array([[np.cos(psi), -np.sin(psi), 0], [np.sin(psi), np.cos(psi), 0], [0, 0, 1]])
    axis = np.array([np.cos(np.radians(tilt_axis_deg)), np.sin(np.radians(tilt_axis_deg)), 0.0])
    rt, _ = cv2.Rodrigues(axis * np.radians(tilt_deg))
    r = rt @ rz
    t = np.array([(c[0] - pp[0]) * dist / f, (c[1] - pp[1]) * dist / f, dist])
    k = np.array([[f, 0, pp[0]], [0, f, pp[1]], [0, 0, 1]])
    cu, cv = layout.centre_mm
    hm = k @ np.c_[r[:, 0], r[:, 1], t] @ np.array([[1, 0, -cu], [0, 1, -cv], [0, 0, 1]])
    return hm / hm[2, 2]


def render_card_scene(
    *,
    seed: int,
    shape: tuple[int, int] = (768, 1024),
    px_per_mm: float = 6.0,
    tilt_deg: float = 0.0,
    tilt_axis_deg: float = 0.0,
    rotation_deg: float = 0.0,
    centre: tuple[float, float] | None = None,
    focal_px: float | None = None,
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0),
    brightness: float = 1.0,
    skin: str = "light",
    hair: str = "dark",
    background: np.ndarray | None = None,
    blur_sigma: float = 0.7,
    noise_sigma: float = 2.0,
    jpeg_quality: int | None = None,
) -> CardScene:
    """Photograph the calibration card lying on a scalp, with exact geometry and colour truth.

    The card (:func:`tracker.imaging.calibrate.render_card`) is seen through
    :func:`card_homography` (pinhole camera, tilt and rotation as given),
    drawn with 3x supersampling onto skin with some loose hair (or onto
    ``background``), lit by ``brightness`` x ``colour_cast`` (per channel)
    and a gentle grey light gradient, then blurred, noised and optionally
    JPEG-compressed.

    Examples
    --------
    >>> s = render_card_scene(seed=0, shape=(240, 320), px_per_mm=3.0, tilt_deg=20.0)
    >>> s.image.shape, 2.5 < s.px_per_mm < 3.5
    ((240, 320, 3), True)
    """
    from tracker.imaging.calibrate import CARD, local_scale, render_card

    shape = _check_common(shape, blur_sigma, noise_sigma, jpeg_quality, 0.0)
    _check_choice("skin", skin, SKIN_RGB)
    _check_choice("hair", hair, HAIR_RGB)
    cast = np.asarray(colour_cast, float)
    if cast.shape != (3,) or np.any(cast <= 0) or not brightness > 0:
        raise ValueError("colour_cast must be three positive channel factors and brightness positive")
    h, w = shape
    hm = card_homography(
        shape=shape, px_per_mm=px_per_mm, tilt_deg=tilt_deg, tilt_axis_deg=tilt_axis_deg,
        rotation_deg=rotation_deg, centre=centre, focal_px=focal_px,
    )
    rng = np.random.default_rng([seed, 31])
    if background is None:
        bg = _skin_canvas(rng, shape, skin, max(px_per_mm, 1.0), detail=False, exits=np.empty((0, 2)), pores=np.empty((0, 3)))
        strands = []
        for _ in range(int(h * w / 4000)):
            p = rng.uniform([0, 0], [w, h])
            a = rng.uniform(0, 2 * np.pi)
            bend = rng.normal(0, 0.01)
            n = int(rng.uniform(6, 30))
            ang = a + bend * np.arange(n) * 10
            pts = p + np.cumsum(np.c_[np.cos(ang), np.sin(ang)] * 10.0, axis=0)
            rgb, hl_rgb, hl = _hair_colour(rng, hair, False)
            strands.append(_Hair(np.vstack([p, pts]), float(rng.uniform(1.5, 3.0)), rgb, hl_rgb, 0.0))
        _draw_hairs(bg, np.zeros(shape, bool), np.zeros(shape, np.uint16), strands)
    else:
        if background.shape != (h, w, 3):
            raise ValueError(f"background must be an (H, W, 3) image of shape {shape}")
        bg = background.astype(np.float32)
    # card: supersampled by ss, from a raster finer than the supersampled frame
    ss = 3
    corners = CARD.outline_mm
    stretch = max(local_scale(hm, tuple(c))[1] for c in corners)
    rppm = max(4.0, 1.5 * ss * stretch)
    card = render_card(rppm).astype(np.float32)
    raster_from_mm = np.array([[rppm, 0, -0.5], [0, rppm, -0.5], [0, 0, 1]])
    ss_from_img = np.array([[ss, 0, (ss - 1) / 2.0], [0, ss, (ss - 1) / 2.0], [0, 0, 1]])
    m = ss_from_img @ hm @ np.linalg.inv(raster_from_mm)
    size = (w * ss, h * ss)
    warped = cv2.warpPerspective(card, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpPerspective(np.ones(card.shape[:2], np.float32), m, size, flags=cv2.INTER_LINEAR)
    big = cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
    big = big * (1.0 - alpha[..., None]) + warped * alpha[..., None]
    img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = rng.uniform(-1, 1, 2) * 0.08
    light = 1.0 + g[0] * (xx / w - 0.5) + g[1] * (yy / h - 0.5)
    img = img * (light[..., None] * np.float32(brightness) * cast.astype(np.float32))
    image = _finish(img, rng, blur_sigma=blur_sigma, noise_sigma=noise_sigma, jpeg_quality=jpeg_quality)
    area, big_s, small_s = local_scale(hm, CARD.centre_mm)
    params = dict(
        kind="card", seed=seed, shape=[h, w], px_per_mm=px_per_mm, tilt_deg=tilt_deg, tilt_axis_deg=tilt_axis_deg,
        rotation_deg=rotation_deg, centre=None if centre is None else list(centre), focal_px=focal_px,
        colour_cast=cast.tolist(), brightness=brightness, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality, synth_version=SYNTH_VERSION,
    )
    return CardScene(image, hm, area, (big_s, small_s), cast.mean() / cast, params)
