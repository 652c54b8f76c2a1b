"""Measurement noise from repeat photos: per-visit noise and the test-retest CV.

Several photos of one view at one visit measure the same scalp; their spread
is that visit's measurement noise (:func:`visit_noise`), drawn as the noise
band on the timeline. Across many visits (or patients) the spreads pool into
the method's test-retest coefficient of variation (:func:`retest_cv`) and
its repeatability coefficient (:func:`repeatability_coefficient`).

Conventions: the SD is the sample SD (``ddof=1``); the CV is SD / mean as a
fraction (multiply by 100 for percent). Pure functions, no files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "VisitNoise",
    "pooled_sd",
    "repeatability_coefficient",
    "retest_cv",
    "visit_noise",
]

#: sqrt(2) * 1.96: two measurements of the same thing differ by less than
#: this many within-visit SDs 95 % of the time (Bland & Altman 1986).
REPEATABILITY_FACTOR = 1.96 * math.sqrt(2.0)


def _values(values: Sequence[float], what: str = "values") -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a sequence of numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite numbers; leave out photos that could not be measured")
    return arr


@dataclass(frozen=True)
class VisitNoise:
    """The spread of repeat measurements at one visit.

    Attributes
    ----------
    n : int
        Number of repeat measurements (at least 2).
    mean : float
    sd : float
        Sample standard deviation (``ddof=1``).
    cv : float or None
        ``sd / mean`` as a fraction; None when the mean is 0.
    """

    n: int
    mean: float
    sd: float
    cv: float | None

    def band(self, k: float = 1.0) -> tuple[float, float]:
        """``(mean - k * sd, mean + k * sd)``: the noise band around the visit's mean.

        Examples
        --------
        >>> visit_noise([10.0, 12.0]).band()
        (9.585786437626904, 12.414213562373096)
        """
        return (self.mean - k * self.sd, self.mean + k * self.sd)

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "cv": self.cv}


def visit_noise(values: Sequence[float]) -> VisitNoise:
    """Noise of one visit from repeat measurements of one view.

    Parameters
    ----------
    values : sequence of float
        The same measure (e.g. coverage %) from each repeat photo; at least two.

    Returns
    -------
    VisitNoise

    Examples
    --------
    >>> v = visit_noise([30.0, 31.0, 29.0])
    >>> v.n, v.mean, v.sd, round(v.cv, 4)
    (3, 30.0, 1.0, 0.0333)
    """
    arr = _values(values)
    if len(arr) < 2:
        raise ValueError(
            f"visit noise needs at least two repeat photos of the view, got {len(arr)}; "
            "take a second photo at the visit or use the pooled repeatability"
        )
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1))
    return VisitNoise(n=len(arr), mean=mean, sd=sd, cv=None if mean == 0 else sd / abs(mean))


def _groups(visits: Sequence[Sequence[float]]) -> list[np.ndarray]:
    groups = [_values(v, "each visit's values") for v in visits]
    usable = [g for g in groups if len(g) >= 2]
    if not usable:
        raise ValueError(
            "no visit has two or more repeat measurements; repeatability needs repeat photos at one visit at least"
        )
    return usable


def pooled_sd(visits: Sequence[Sequence[float]]) -> float:
    """Within-visit SD pooled over visits: ``sqrt(sum((n_i - 1) s_i²) / sum(n_i - 1))``.

    Visits with a single measurement carry no information on noise and are
    left out.

    Examples
    --------
    >>> pooled_sd([[10.0, 12.0], [20.0, 20.0, 23.0]])
    1.632993161855452
    """
    groups = _groups(visits)
    ss = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return math.sqrt(ss / dof)


def retest_cv(visits: Sequence[Sequence[float]], *, method: Literal["rms", "pooled"] = "rms") -> float:
    """Test-retest coefficient of variation over visits with repeat measurements.

    Parameters
    ----------
    visits : sequence of sequences of float
        One sequence of repeat measurements per visit (or patient and
        visit); those with a single value are left out.
    method : {'rms', 'pooled'}
        ``'rms'``: root mean square of the per-visit CVs,
        ``sqrt(mean(cv_i²))`` (the usual figure when the noise grows with
        the level). ``'pooled'``: the pooled within-visit SD divided by the
        mean of the visit means.

    Returns
    -------
    float
        The CV as a fraction (0.03 is 3 %).

    Examples
    --------
    >>> round(retest_cv([[30.0, 31.0, 29.0], [50.0, 52.0]]), 4)
    0.0307
    >>> round(retest_cv([[30.0, 31.0, 29.0], [50.0, 52.0]], method="pooled"), 4)
    0.0285
    """
    groups = _groups(visits)
    if method == "rms":
        cvs = []
        for i, g in enumerate(groups):
            m = g.mean()
            if m == 0:
                raise ValueError(
                    f"visit {i} (of those with repeats) has mean 0, where a CV is undefined; "
                    "report pooled_sd instead"
                )
            cvs.append(g.std(ddof=1) / abs(m))
        return float(math.sqrt(np.mean(np.square(cvs))))
    if method == "pooled":
        grand = float(np.mean([g.mean() for g in groups]))
        if grand == 0:
            raise ValueError("the measurements average 0, where a CV is undefined; report pooled_sd instead")
        return pooled_sd(groups) / abs(grand)
    raise ValueError(f"method={method!r} is not supported; use 'rms' or 'pooled'")


def repeatability_coefficient(visits: Sequence[Sequence[float]]) -> float:
    """``1.96 * sqrt(2) * pooled_sd``: 95 % of repeat pairs differ by less than this.

    A difference between two visits smaller than this is within the
    measurement's own noise.

    Examples
    --------
    >>> round(repeatability_coefficient([[10.0, 12.0], [20.0, 22.0]]), 3)
    3.92
    """
    return REPEATABILITY_FACTOR * pooled_sd(visits)
