"""Aligning a follow-up photo of a view to the baseline photo of that view.

:func:`register` finds the homography that maps the follow-up photo's pixels
onto the baseline photo's pixels: local features (SIFT by default, or ORB;
OpenCV 5's Python package has no AKAZE) on contrast-equalised grey copies no larger than ``max_side``,
ratio-tested matches, a robust fit (MAGSAC++ via :func:`cv2.findHomography`,
or a similarity / affine model) and, optionally, an ECC refinement
(:func:`cv2.findTransformECC`). The result says whether it can be trusted
(:attr:`Registration.ok`) and, when not, why in words. The baseline's features
can be found once with :func:`photo_features` and given to every
registration of its follow-ups.

:func:`map_roi` carries a region of interest drawn on the baseline into the
follow-up's pixels; :func:`warp_to_baseline` resamples the follow-up onto
the baseline's pixel grid instead, so that the same ROI can be used as is,
and :func:`warp_roi` resamples only the ROI (plus a margin): analysing that
crop of every photo, the baseline's included, measures the very same scalp
with the same content around it (see the function for why that matters).

Pixel convention: the centre of pixel ``(row i, column j)`` is ``(x=j, y=i)``;
an ROI ``(x, y, w, h)`` covers the area ``[x - 0.5, x + w - 0.5) x
[y - 0.5, y + h - 0.5)``. All functions are pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "MappedRoi",
    "PhotoFeatures",
    "Registration",
    "WarpedRoi",
    "map_points",
    "map_roi",
    "photo_features",
    "register",
    "roi_corners",
    "warp_roi",
    "warp_to_baseline",
]

Features = Literal["sift", "orb"]
Model = Literal["homography", "affine", "similarity"]

#: Inliers at which the inlier count no longer limits the score.
GOOD_INLIERS = 100
#: Default limits of a plausible transform (see :func:`register`).
MIN_INLIERS = 25
MAX_SCALE_CHANGE = 1.5
MAX_ANISOTROPY = 1.35
MAX_PERSPECTIVE = 1.6
MIN_OVERLAP = 0.3
MIN_SPREAD = 0.08


#: What a failed registration's reason ends with: what to do about it.
RETRY_HINT = "place the region by hand, or retake the photo framed like the baseline"


def reason_without_advice(reason: str) -> str:
    """A registration's reason without :data:`RETRY_HINT`, for text that gives its own advice.

    Examples
    --------
    >>> reason_without_advice("the photo would have to be mirrored to match the baseline; " + RETRY_HINT)
    'the photo would have to be mirrored to match the baseline'
    """
    return reason.removesuffix(RETRY_HINT).rstrip("; ")


@dataclass(frozen=True)
class Registration:
    """How a follow-up photo maps onto the baseline photo.

    Attributes
    ----------
    matrix : ndarray, shape (3, 3)
        Homography from the follow-up photo's pixels to the baseline photo's
        pixels (full resolution). Identity when registration failed.
    ok : bool
        True when the result can be used; when False, ``reason`` says why
        and the ROI should be placed by hand.
    reason : str
        Empty when ``ok``; otherwise what went wrong and what to do.
    score : float
        0-1: the share of matches that agree with the transform, times
        ``min(1, inliers / 100)``; 0 when no transform was found.
    n_matches, n_inliers : int
        Feature matches that passed the ratio test, and those that agree
        with the transform.
    rms_px : float
        RMS distance (baseline pixels) between the inliers' baseline
        positions and the mapped follow-up positions.
    scale : float
        How many times larger the follow-up shows the scalp than the
        baseline, at the follow-up's centre (``1 / sqrt(|det J|)`` of the map).
    rotation_deg : float
        How far the follow-up shows the scalp turned against the baseline,
        counter-clockwise on screen, at the follow-up's centre.
    anisotropy : float
        Largest over smallest stretch at the follow-up's centre (1 for a similarity).
    overlap : float
        Share of the follow-up photo that lands inside the baseline photo.
    image_shape, baseline_shape : (int, int)
        ``(height, width)`` of the two photos.
    method : str
        Features, model and refinement used, e.g. ``'sift+homography+ecc'``.
    """

    matrix: np.ndarray
    ok: bool
    reason: str
    score: float
    n_matches: int
    n_inliers: int
    rms_px: float
    scale: float
    rotation_deg: float
    anisotropy: float
    overlap: float
    image_shape: tuple[int, int]
    baseline_shape: tuple[int, int]
    method: str
    details: dict = field(default_factory=dict, repr=False)

    @property
    def inverse(self) -> np.ndarray:
        """Homography from baseline pixels to the follow-up's pixels."""
        inv = np.linalg.inv(self.matrix)
        return inv / inv[2, 2]

    def to_dict(self) -> dict:
        """JSON-able record (the matrix as nested lists)."""
        return {
            "matrix": np.asarray(self.matrix).tolist(),
            "ok": self.ok,
            "reason": self.reason,
            "score": self.score,
            "n_matches": self.n_matches,
            "n_inliers": self.n_inliers,
            "rms_px": self.rms_px,
            "scale": self.scale,
            "rotation_deg": self.rotation_deg,
            "anisotropy": self.anisotropy,
            "overlap": self.overlap,
            "image_shape": list(self.image_shape),
            "baseline_shape": list(self.baseline_shape),
            "method": self.method,
        }


# --------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------


def map_points(matrix: np.ndarray, points) -> np.ndarray:
    """Apply a 3x3 homography to ``(N, 2)`` points ``(x, y)``.

    Examples
    --------
    >>> map_points(np.array([[2.0, 0, 1], [0, 2.0, 0], [0, 0, 1]]), [[1.0, 1.0]]).tolist()
    [[3.0, 2.0]]
    """
    pts = np.asarray(points, float).reshape(-1, 2)
    q = np.c_[pts, np.ones(len(pts))] @ np.asarray(matrix, float).T
    return q[:, :2] / q[:, 2:3]


def _scaling(factor: float) -> np.ndarray:
    """Full-resolution pixel coordinates -> those of a copy resized by ``factor`` (pixel centres)."""
    off = 0.5 * factor - 0.5
    return np.array([[factor, 0, off], [0, factor, off], [0, 0, 1.0]])


def _jacobian(matrix: np.ndarray, point) -> np.ndarray:
    hm = np.asarray(matrix, float)
    u, v = point
    x, y = map_points(hm, [[u, v]])[0]
    wden = hm[2, 0] * u + hm[2, 1] * v + hm[2, 2]
    return np.array(
        [[hm[0, 0] - hm[2, 0] * x, hm[0, 1] - hm[2, 1] * x], [hm[1, 0] - hm[2, 0] * y, hm[1, 1] - hm[2, 1] * y]]
    ) / wden


def _frame(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])


def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _overlap(matrix: np.ndarray, shape: tuple[int, int], baseline_shape: tuple[int, int]) -> float:
    """Share of the image frame that maps inside the baseline frame (on a coarse grid)."""
    h, w = shape
    ys, xs = np.meshgrid(np.linspace(0, h - 1, 24), np.linspace(0, w - 1, 32), indexing="ij")
    p = map_points(matrix, np.c_[xs.ravel(), ys.ravel()])
    bh, bw = baseline_shape
    inside = (p[:, 0] >= -0.5) & (p[:, 0] <= bw - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= bh - 0.5)
    return float(inside.mean())


# --------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------


#: Photos with a side shorter than this (pixels) hold too few features to match.
MIN_SIDE = 32


def _check(image: np.ndarray, name: str, *, size: bool = True) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(f"{name} must be an (H, W, 3) RGB or (H, W) grey uint8 array; decode photos with tracker.photo")
    if size and min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(
            f"{name} is {image.shape[1]}x{image.shape[0]} px; registration needs at least {MIN_SIDE} px per side"
        )


def _prepare(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    factor = min(1.0, max_side / max(h, w))
    if factor < 1.0:
        grey = cv2.resize(grey, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        factor = grey.shape[1] / w  # the factor actually applied
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(grey), factor


def _features(kind: str, n_features: int):
    if kind == "sift":
        return cv2.SIFT_create(nfeatures=n_features), cv2.NORM_L2
    if kind == "orb":
        return cv2.ORB_create(nfeatures=n_features, scaleFactor=1.2, nlevels=8, fastThreshold=10), cv2.NORM_HAMMING
    raise ValueError(f"features={kind!r} is not supported; use 'sift' or 'orb'")


def _matcher(norm: int):
    if norm == cv2.NORM_L2:  # k-d trees: far faster than brute force on SIFT's 128 floats
        return cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})
    return cv2.BFMatcher(norm)


def _match(d1: np.ndarray, d2: np.ndarray, norm: int, ratio: float) -> list[tuple[int, int]]:
    """Ratio-tested matches that are also mutual nearest neighbours."""
    if d1 is None or d2 is None or len(d1) < 2 or len(d2) < 2:
        return []
    matcher = _matcher(norm)
    fwd = matcher.knnMatch(d1, d2, k=2)
    back = {pair[0].queryIdx: pair[0].trainIdx for pair in matcher.knnMatch(d2, d1, k=1) if pair}
    out = []
    for pair in fwd:
        if len(pair) < 2:
            continue
        m, n = pair
        if m.distance < ratio * n.distance and back.get(m.trainIdx) == m.queryIdx:
            out.append((m.queryIdx, m.trainIdx))
    return out


def _fit(src: np.ndarray, dst: np.ndarray, model: str, threshold: float) -> tuple[np.ndarray | None, np.ndarray]:
    try:
        return _fit_unsafe(src, dst, model, threshold)
    except cv2.error:  # degenerate point sets (all on a line, repeated points)
        return None, np.zeros(len(src), bool)


def _fit_unsafe(src: np.ndarray, dst: np.ndarray, model: str, threshold: float) -> tuple[np.ndarray | None, np.ndarray]:
    if model == "homography":
        hm, inl = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=10000, confidence=0.9999)
    else:
        fn = cv2.estimateAffine2D if model == "affine" else cv2.estimateAffinePartial2D
        a, inl = fn(src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=10000, confidence=0.9999, refineIters=20)
        hm = None if a is None else np.vstack([a, [0, 0, 1]])
    if hm is None or inl is None or not np.all(np.isfinite(hm)) or abs(hm[2, 2]) < 1e-12:
        return None, np.zeros(len(src), bool)
    return hm / hm[2, 2], inl.ravel().astype(bool)


def _ecc(
    image: np.ndarray, baseline: np.ndarray, matrix: np.ndarray, model: str, iterations: int
) -> tuple[np.ndarray | None, float]:
    """ECC refinement on the working copies; ``matrix`` maps image -> baseline there."""
    motion = {"homography": cv2.MOTION_HOMOGRAPHY, "affine": cv2.MOTION_AFFINE, "similarity": cv2.MOTION_EUCLIDEAN}[model]
    # ECC's warp maps template (baseline) coordinates to input (image) coordinates
    warp = np.linalg.inv(matrix)
    warp = (warp / warp[2, 2]).astype(np.float32)
    if motion != cv2.MOTION_HOMOGRAPHY:
        warp = warp[:2]
    if motion == cv2.MOTION_EUCLIDEAN:
        # ECC's Euclidean motion has no scale: refine as affine and check the result instead
        motion = cv2.MOTION_AFFINE
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-6)
    try:
        rho, warp = cv2.findTransformECC(
            baseline.astype(np.float32), image.astype(np.float32), warp, motion, criteria, None, 5
        )
    except cv2.error:
        return None, 0.0
    full = warp if warp.shape[0] == 3 else np.vstack([warp, [0, 0, 1]])
    inv = np.linalg.inv(full.astype(float))
    return inv / inv[2, 2], float(rho)


@dataclass(frozen=True, eq=False)
class PhotoFeatures:
    """The local features of one photo, as :func:`register` finds them.

    Made by :func:`photo_features`; a baseline's can be given to
    :func:`register` for each of its follow-ups, which then gives the same
    result as with the baseline's pixels, without finding them again.

    Attributes
    ----------
    shape : (H, W)
        The photo's height and width.
    work : (h, w) uint8 array
        The contrast-equalised grey copy the features were found on.
    factor : float
        ``work``'s size over the photo's.
    points : (N, 2) float32 array
        The features' positions in ``work``.
    descriptors : (N, D) array or None
        Their descriptors (None when none were found).
    features, max_side, n_features
        The settings they were found with.
    """

    shape: tuple[int, int]
    work: np.ndarray
    factor: float
    points: np.ndarray
    descriptors: np.ndarray | None
    features: str
    max_side: int
    n_features: int


def photo_features(
    image: np.ndarray, *, features: Features = "sift", max_side: int = 1024, n_features: int = 4000
) -> PhotoFeatures:
    """Find the local features :func:`register` matches, to reuse them.

    Parameters
    ----------
    image : uint8 array, (H, W, 3) RGB or (H, W) grey
    features, max_side, n_features
        As for :func:`register`, which must be called with the same values.

    Returns
    -------
    PhotoFeatures

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = cv2.GaussianBlur(rng.integers(0, 256, (240, 320), dtype=np.uint8), (0, 0), 2)
    >>> found = photo_features(base)
    >>> found.shape, found.points.shape[0] == found.descriptors.shape[0] > 0
    ((240, 320), True)
    """
    _check(image, "image")
    if max_side < 64:
        raise ValueError("max_side must be at least 64 pixels")
    detector, _ = _features(features, n_features)
    work, factor = _prepare(image, max_side)
    keypoints, descriptors = detector.detectAndCompute(work, None)
    points = np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2)
    return PhotoFeatures(image.shape[:2], work, factor, points, descriptors, features, max_side, n_features)


def register(
    image: np.ndarray,
    baseline: np.ndarray | PhotoFeatures,
    *,
    features: Features = "sift",
    model: Model = "homography",
    refine: Literal["ecc"] | None = None,
    max_side: int = 1024,
    n_features: int = 4000,
    ratio: float = 0.8,
    threshold_px: float = 3.0,
    min_inliers: int = MIN_INLIERS,
    max_scale_change: float = MAX_SCALE_CHANGE,
    max_anisotropy: float = MAX_ANISOTROPY,
    max_perspective: float = MAX_PERSPECTIVE,
    min_overlap: float = MIN_OVERLAP,
    ecc_iterations: int = 60,
) -> Registration:
    """Align a follow-up photo of a view to the baseline photo of that view.

    Parameters
    ----------
    image : uint8 array, (H, W, 3) RGB or (H, W) grey
        The follow-up photo.
    baseline : uint8 array, or PhotoFeatures
        The baseline photo of the same view, or its :func:`photo_features`
        (found with this call's `features`, `max_side` and `n_features`).
    features : {'sift', 'orb'}
        Local features; SIFT copes best with the repetitive texture of
        close-ups, ORB is the fastest.
    model : {'homography', 'affine', 'similarity'}
        The transform fitted. A homography also absorbs a phone held at a
        slightly different angle; a similarity (shift, rotation, scale) is
        the stiffest and fits a dermatoscope pressed on the scalp.
    refine : {None, 'ecc'}
        'ecc' refines the fit by maximising the correlation of the two
        photos (kept only if it moves no corner by more than 2 % of the
        frame and the correlation is at least 0.3).
    max_side : int
        Both photos are matched on grey copies no longer than this.
    n_features : int
        Features kept per photo (SIFT, ORB).
    ratio : float
        Lowe's ratio test; matches must also be mutual nearest neighbours.
    threshold_px : float
        Inlier distance for the robust fit, in working-copy pixels.
    min_inliers, max_scale_change, max_anisotropy, max_perspective, min_overlap
        When the result is not trusted (``ok=False``): fewer inliers than
        ``min_inliers`` (then the only reason given: a transform fitted to so
        few is no guide to how the camera moved); a scale change beyond ``max_scale_change`` either
        way; one direction stretched more than ``max_anisotropy`` times the
        other (shear, or a strongly tilted view); the local scale varying
        more than ``max_perspective`` times across the photo; less than
        ``min_overlap`` of the photo inside the baseline; a mirror image;
        or inliers bunched in less than 8 % of the overlapping area.
    ecc_iterations : int

    Returns
    -------
    Registration
        Never raises for photos that do not match: ``ok`` is False and
        ``reason`` says why.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = cv2.GaussianBlur(rng.integers(0, 256, (240, 320), dtype=np.uint8), (0, 0), 2)
    >>> moved = np.ascontiguousarray(np.roll(base, (5, -8), axis=(0, 1))[20:220, 30:290])
    >>> r = register(moved, base, model="similarity")
    >>> r.ok, np.round(r.matrix[:2, 2]).tolist()
    (True, [38.0, 15.0])
    """
    _check(image, "image", size=False)
    if not isinstance(baseline, PhotoFeatures):
        _check(baseline, "baseline", size=False)
    elif (baseline.features, baseline.max_side, baseline.n_features) != (features, max_side, n_features):
        raise ValueError(
            "the baseline's features were found with other settings "
            f"({baseline.features}, max_side={baseline.max_side}, n_features={baseline.n_features}); "
            "find them again with photo_features() and this call's features, max_side and n_features"
        )
    if model not in ("homography", "affine", "similarity"):
        raise ValueError(f"model={model!r} is not supported; use 'homography', 'affine' or 'similarity'")
    if refine not in (None, "ecc"):
        raise ValueError(f"refine={refine!r} is not supported; use None or 'ecc'")
    if max_side < 64:
        raise ValueError("max_side must be at least 64 pixels")
    if not 0 < ratio <= 1:
        raise ValueError("ratio must be in (0, 1]; 0.8 is usual")
    method = f"{features}+{model}" + ("+ecc" if refine else "")
    _, norm = _features(features, n_features)
    bshape = baseline.shape if isinstance(baseline, PhotoFeatures) else baseline.shape[:2]
    for which, (h, w) in (("photo", image.shape[:2]), ("baseline photo", bshape)):
        if min(h, w) < MIN_SIDE:
            return Registration(
                matrix=np.eye(3), ok=False, score=0.0, n_matches=0, n_inliers=0, rms_px=math.nan, scale=math.nan,
                rotation_deg=math.nan, anisotropy=math.nan, overlap=0.0, image_shape=image.shape[:2],
                baseline_shape=tuple(bshape), method=method,
                reason=f"the {which} is {w} x {h} pixels, too small to match (at least {MIN_SIDE} on each side); "
                f"{RETRY_HINT}",
            )
    found = photo_features(image, features=features, max_side=max_side, n_features=n_features)
    if not isinstance(baseline, PhotoFeatures):
        baseline = photo_features(baseline, features=features, max_side=max_side, n_features=n_features)
    shape, bshape = found.shape, baseline.shape
    work_i, fi, work_b, fb = found.work, found.factor, baseline.work, baseline.factor
    pairs = _match(found.descriptors, baseline.descriptors, norm, ratio)

    def failed(reason: str, n_inl: int = 0, details: dict | None = None) -> Registration:
        return Registration(
            matrix=np.eye(3), ok=False, reason=reason, score=0.0, n_matches=len(pairs), n_inliers=n_inl,
            rms_px=math.nan, scale=math.nan, rotation_deg=math.nan, anisotropy=math.nan, overlap=0.0,
            image_shape=shape, baseline_shape=bshape, method=method, details=details or {},
        )

    hint = RETRY_HINT
    if len(pairs) < 4:
        return failed(
            f"only {len(pairs)} details are found in both photos: they may not show the same scalp; {hint}"
        )
    src = found.points[[a for a, _ in pairs]]
    dst = baseline.points[[b for _, b in pairs]]
    work_h, inliers = _fit(src, dst, model, threshold_px)
    if work_h is None:
        return failed(f"the {len(pairs)} details found in both photos do not line up as one view of the scalp; {hint}")
    n_inl = int(inliers.sum())
    details: dict = {"working_scale": (fi, fb)}
    if refine == "ecc" and n_inl >= 4:
        # ECC on a common working size: bring the image copy to the baseline copy's scale
        refined, rho = _ecc(work_i, work_b, work_h, model, ecc_iterations)
        details["ecc_correlation"] = rho
        if refined is not None and rho >= 0.3:
            wh, ww = work_i.shape
            moved = np.abs(map_points(refined, _frame((wh, ww))) - map_points(work_h, _frame((wh, ww)))).max()
            if moved <= 0.02 * max(work_b.shape):
                work_h = refined
                details["ecc_used"] = True
    full = np.linalg.inv(_scaling(fb)) @ work_h @ _scaling(fi)
    full = full / full[2, 2]
    # quality of the fit, in baseline pixels
    res = np.linalg.norm(map_points(work_h, src[inliers]) - dst[inliers], axis=1) / fb
    rms = float(np.sqrt(np.mean(res**2))) if n_inl else math.nan
    h, w = shape
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    jac = _jacobian(full, centre)
    det = float(np.linalg.det(jac))
    sv = np.linalg.svd(jac, compute_uv=False)
    # how the follow-up shows the scalp compared with the baseline: the inverse map's
    # Jacobian in cv2.getRotationMatrix2D form [[a, b], [-b, a]] (b > 0: counter-clockwise)
    inv_jac = np.linalg.inv(jac) if det != 0 else np.full((2, 2), np.nan)
    scale = 1.0 / math.sqrt(abs(det)) if det != 0 else math.inf
    rotation = float(np.degrees(np.arctan2(inv_jac[0, 1] - inv_jac[1, 0], inv_jac[0, 0] + inv_jac[1, 1])))
    anis = float(sv[0] / max(sv[1], 1e-12))
    local = [abs(np.linalg.det(_jacobian(full, c))) for c in _frame(shape)]
    perspective = math.sqrt(max(local) / max(min(local), 1e-12))
    overlap = _overlap(full, shape, bshape)
    ratio_in = n_inl / len(pairs)
    score = ratio_in * min(1.0, n_inl / GOOD_INLIERS)
    # spread of the inliers over the overlapping part of the baseline
    spread = 0.0
    if n_inl >= 3:
        hull = cv2.convexHull(dst[inliers].reshape(-1, 1, 2)).reshape(-1, 2) / fb
        mapped = map_points(full, _frame(shape)).astype(np.float32)
        try:
            common, _ = cv2.intersectConvexConvex(mapped, _frame(bshape).astype(np.float32))
        except cv2.error:  # a folded (non-convex) frame: the checks below reject it anyway
            common = 0.0
        spread = _polygon_area(hull) / max(float(common), 1.0)
    details.update(perspective=perspective, spread=spread, inlier_ratio=ratio_in)
    reasons = []
    if n_inl < min_inliers:
        # A transform fitted to so few details says nothing about how the camera
        # moved: its mirroring, scale, tilt, overlap and spread would be reported
        # as causes they are not.
        reasons.append(
            f"only {n_inl} details line up with the baseline, at least {min_inliers} are needed: "
            "it may show another patch of scalp, or be blurred or lit very differently"
        )
    else:
        if det <= 0:
            reasons.append("the photo would have to be mirrored to match the baseline")
        elif not 1 / max_scale_change <= scale <= max_scale_change:
            reasons.append(
                f"the scalp shows {scale:.2f} times as large as on the baseline (at most {max_scale_change:g} times "
                "can be matched): the camera was much closer or farther"
            )
        if anis > max_anisotropy:
            reasons.append(
                f"the photo would have to be stretched {anis:.2f} times more one way than the other: "
                "the camera was tilted"
            )
        if perspective > max_perspective:
            reasons.append(
                f"the scalp shows {perspective:.2f} times larger on one side than the other: the camera was tilted"
            )
        if overlap < min_overlap:
            reasons.append(f"only {overlap:.0%} of the photo shows scalp seen on the baseline")
        if n_inl >= 3 and spread < MIN_SPREAD:
            reasons.append(f"the details that line up cover only {spread:.0%} of the scalp both photos show")
    reason = "; ".join(reasons) + (f"; {hint}" if reasons else "")
    return Registration(
        matrix=full, ok=not reasons, reason=reason, score=float(score), n_matches=len(pairs), n_inliers=n_inl,
        rms_px=rms, scale=scale, rotation_deg=rotation, anisotropy=anis, overlap=overlap,
        image_shape=shape, baseline_shape=bshape, method=method, details=details,
    )


# --------------------------------------------------------------------------
# regions of interest
# --------------------------------------------------------------------------


def _check_roi(roi, shape: tuple[int, int], name: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in roi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (x, y, w, h) in pixels") from None
    H, W = shape
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > W or y + h > H:
        raise ValueError(f"{name} (x, y, w, h)={tuple(roi)} must have a positive size and lie inside the {W}x{H} baseline")
    return x, y, w, h


def roi_corners(roi, registration: Registration, *, to: Literal["image", "baseline"] = "image") -> np.ndarray:
    """The corners of an ROI's area mapped through a registration.

    With ``to='image'`` the ROI is in baseline pixels and the corners come
    out in the follow-up's pixels; with ``to='baseline'`` the reverse.
    Corners are those of the area ``[x - 0.5, x + w - 0.5] x [y - 0.5,
    y + h - 0.5]``, in the order top-left, top-right, bottom-right,
    bottom-left (of the source).

    Examples
    --------
    >>> reg = Registration(np.array([[1.0, 0, 10], [0, 1, 0], [0, 0, 1]]), True, "", 1.0, 0, 0, 0.0,
    ...                    1.0, 0.0, 1.0, 1.0, (100, 100), (100, 100), "test")
    >>> roi_corners((20, 30, 10, 10), reg).tolist()[0]
    [9.5, 29.5]
    """
    x, y, w, h = (float(v) for v in roi)
    pts = np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])
    return map_points(registration.inverse if to == "image" else registration.matrix, pts)


@dataclass(frozen=True)
class MappedRoi:
    """An ROI drawn on the baseline, placed in a follow-up photo.

    Attributes
    ----------
    roi : (x, y, w, h)
        Axis-aligned ROI in the follow-up's pixels (see :func:`map_roi`).
    corners : ndarray, shape (4, 2)
        The baseline ROI's corners in the follow-up's pixels (a
        quadrilateral; a rectangle turned by the registration's rotation).
    clipped : bool
        True when part of the mapped ROI fell outside the follow-up photo.
    visible_fraction : float
        Share of the mapped quadrilateral's area inside the follow-up photo.
    fit : str
        'bbox' or 'inscribed'.
    """

    roi: tuple[int, int, int, int]
    corners: np.ndarray = field(repr=False)
    clipped: bool
    visible_fraction: float
    fit: str


def _inscribed(quad: np.ndarray, aspect: float) -> tuple[float, float, float, float]:
    """Largest axis-aligned box of the given aspect (w/h), centred on the quad's centroid, inside the quad."""
    c = quad.mean(axis=0)
    contour = quad.astype(np.float32).reshape(-1, 1, 2)
    size = math.sqrt(_polygon_area(quad))
    lo, hi = 0.0, 2.0 * size
    for _ in range(40):
        mid = (lo + hi) / 2
        hw, hh = mid * math.sqrt(aspect) / 2, mid / math.sqrt(aspect) / 2
        box = c + np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        if all(cv2.pointPolygonTest(contour, (float(px), float(py)), False) >= 0 for px, py in box):
            lo = mid
        else:
            hi = mid
    hw, hh = lo * math.sqrt(aspect) / 2, lo / math.sqrt(aspect) / 2
    return (c[0] - hw, c[1] - hh, c[0] + hw, c[1] + hh)


def map_roi(roi, registration: Registration, *, fit: Literal["bbox", "inscribed"] = "bbox") -> MappedRoi:
    """Place an ROI drawn on the baseline in the follow-up photo's pixels.

    The ROI's four corners are mapped through the registration's inverse.
    With ``fit='bbox'`` the result is the axis-aligned box around them (a
    turned ROI gains the corners' triangles: about 1.36x the area at 10°);
    with ``fit='inscribed'`` it is the largest box of the ROI's aspect
    ratio, centred on the mapped ROI, that lies inside it (scalp outside the
    baseline ROI is never included; about 0.74x the area at 10°). Edges are
    rounded to the nearest pixel boundary (a box edge at ``e`` pixel
    coordinates starts or ends the ROI at pixel ``round(e + 0.5)``), then
    clipped to the photo. An ROI that lands entirely outside the photo
    raises ValueError.

    For measuring the very same scalp as the baseline ROI, resample the
    photo with :func:`warp_to_baseline` and use the ROI unchanged instead.

    Parameters
    ----------
    roi : (x, y, w, h)
        In baseline pixels, inside the baseline photo.
    registration : Registration
        From :func:`register`; a registration that is not ``ok`` raises
        ValueError (place the region by hand instead).
    fit : {'bbox', 'inscribed'}

    Returns
    -------
    MappedRoi

    Examples
    --------
    >>> reg = Registration(np.array([[1.0, 0, 10], [0, 1, -5], [0, 0, 1]]), True, "", 1.0, 0, 0, 0.0,
    ...                    1.0, 0.0, 1.0, 1.0, (100, 100), (100, 100), "test")
    >>> map_roi((20, 30, 40, 20), reg).roi
    (10, 35, 40, 20)
    """
    if not registration.ok:
        raise ValueError(f"the registration is not usable ({reason_without_advice(registration.reason)}); {RETRY_HINT}")
    if fit not in ("bbox", "inscribed"):
        raise ValueError(f"fit={fit!r} is not supported; use 'bbox' or 'inscribed'")
    x, y, w, h = _check_roi(roi, registration.baseline_shape, "roi")
    quad = roi_corners((x, y, w, h), registration, to="image")
    if fit == "bbox":
        x0, y0 = quad.min(axis=0)
        x1, y1 = quad.max(axis=0)
    else:
        x0, y0, x1, y1 = _inscribed(quad, w / h)
    H, W = registration.image_shape
    c0, r0 = round(x0 + 0.5), round(y0 + 0.5)
    c1, r1 = round(x1 + 0.5), round(y1 + 0.5)
    cc0, rr0, cc1, rr1 = max(c0, 0), max(r0, 0), min(c1, W), min(r1, H)
    if cc1 <= cc0 or rr1 <= rr0:
        raise ValueError("the region falls outside the follow-up photo; place the region by hand or retake the photo")
    # share of the quadrilateral inside the frame
    inter, _ = cv2.intersectConvexConvex(quad.astype(np.float32), _frame((H, W)).astype(np.float32))
    area = _polygon_area(quad)
    visible = float(min(1.0, inter / area)) if area > 0 else 0.0
    clipped = (cc0, rr0, cc1, rr1) != (c0, r0, c1, r1) or visible < 0.999
    return MappedRoi((int(cc0), int(rr0), int(cc1 - cc0), int(rr1 - rr0)), quad, bool(clipped), visible, fit)


def warp_to_baseline(image: np.ndarray, registration: Registration) -> tuple[np.ndarray, np.ndarray]:
    """Resample the follow-up photo onto the baseline's pixel grid.

    Returns ``(warped, valid)``: the photo as the baseline camera would have
    framed it (bilinear; black outside the follow-up) and a bool mask of
    pixels that came from inside the follow-up. An ROI drawn on the
    baseline then covers the same scalp in ``warped``; note that a photo
    taken from farther away is enlarged (its detail does not grow).

    Examples
    --------
    >>> reg = Registration(np.array([[1.0, 0, 2], [0, 1, 0], [0, 0, 1]]), True, "", 1.0, 0, 0, 0.0,
    ...                    1.0, 0.0, 1.0, 1.0, (4, 6), (4, 6), "test")
    >>> img = np.arange(24, dtype=np.uint8).reshape(4, 6)
    >>> warped, valid = warp_to_baseline(img, reg)
    >>> warped[0].tolist(), valid[0].tolist()
    ([0, 0, 0, 1, 2, 3], [False, False, True, True, True, True])
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("image must be a uint8 grey or RGB array")
    if tuple(image.shape[:2]) != tuple(registration.image_shape):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but the registration was made for "
            f"{registration.image_shape[1]}x{registration.image_shape[0]}; register this photo first"
        )
    bh, bw = registration.baseline_shape
    m = registration.matrix
    warped = cv2.warpPerspective(image, m, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    ih, iw = registration.image_shape
    valid = cv2.warpPerspective(np.full((ih, iw), 255, np.uint8), m, (bw, bh), flags=cv2.INTER_NEAREST) > 0
    return warped, valid


@dataclass(frozen=True)
class WarpedRoi:
    """The baseline ROI's patch of scalp cut from a photo, on the baseline's pixel grid.

    Attributes
    ----------
    image : ndarray
        The crop: the ROI plus ``margin`` pixels on each side (where the
        baseline has them), resampled from the photo.
    valid : ndarray of bool
        True where the pixel came from inside the photo.
    roi : (x, y, w, h)
        The ROI inside the crop.
    origin : (int, int)
        The crop's top-left pixel in baseline coordinates.
    valid_fraction : float
        Share of the ROI's pixels that came from inside the photo.
    """

    image: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
    roi: tuple[int, int, int, int]
    origin: tuple[int, int]
    valid_fraction: float


def warp_roi(
    image: np.ndarray, registration: Registration | None, roi, *, margin: int = 0
) -> WarpedRoi:
    """Cut the baseline ROI's patch of scalp out of a photo, resampled onto the baseline's grid.

    With ``registration=None`` the photo is the baseline itself and the crop
    is a plain copy. Analysing these crops (with the returned ``roi``, at the
    baseline's scale) measures the same scalp at every visit; and because
    the crop holds the same content in every photo, analysis steps that look
    at the whole picture (the overview threshold and hair-colour choice)
    see the same thing too, which keeps repeat measurements close (on
    generated overviews about 2 % CV against about 10 % when the whole
    follow-up is analysed in a mapped box).

    Parameters
    ----------
    image : uint8 array, grey or RGB
    registration : Registration or None
        Must be ``ok``; None for the baseline.
    roi : (x, y, w, h)
        In baseline pixels, inside the baseline.
    margin : int
        Extra pixels around the ROI (clipped to the baseline frame).

    Examples
    --------
    >>> img = np.arange(48, dtype=np.uint8).reshape(6, 8)
    >>> reg = Registration(np.array([[1.0, 0, 1], [0, 1, 0], [0, 0, 1]]), True, "", 1.0, 0, 0, 0.0,
    ...                    1.0, 0.0, 1.0, 1.0, (6, 8), (6, 8), "test")
    >>> w = warp_roi(img, reg, (2, 1, 3, 2))
    >>> w.image.tolist(), w.roi, w.valid_fraction
    ([[9, 10, 11], [17, 18, 19]], (0, 0, 3, 2), 1.0)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("image must be a uint8 grey or RGB array")
    if margin < 0:
        raise ValueError("margin must be >= 0 pixels")
    if registration is None:
        bshape = image.shape[:2]
        matrix = np.eye(3)
    else:
        if not registration.ok:
            raise ValueError(f"the registration is not usable ({reason_without_advice(registration.reason)}); {RETRY_HINT}")
        if tuple(image.shape[:2]) != tuple(registration.image_shape):
            raise ValueError("image is not the photo this registration was made for; register it first")
        bshape = registration.baseline_shape
        matrix = registration.matrix
    x, y, w, h = _check_roi(roi, bshape, "roi")
    bh, bw = bshape
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(bw, x + w + margin), min(bh, y + h + margin)
    shift = np.array([[1.0, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    size = (x1 - x0, y1 - y0)
    if registration is None:
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        valid = np.ones(crop.shape[:2], bool)
    else:
        m = shift @ matrix
        crop = cv2.warpPerspective(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ih, iw = registration.image_shape
        valid = cv2.warpPerspective(np.full((ih, iw), 255, np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0
    inner = (x - x0, y - y0, w, h)
    frac = float(valid[inner[1] : inner[1] + h, inner[0] : inner[0] + w].mean())
    return WarpedRoi(crop, valid, inner, (x0, y0), frac)
