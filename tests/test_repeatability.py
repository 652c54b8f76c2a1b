"""Tests for tracker.repeatability: per-visit noise, test-retest CV, repeatability coefficient."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracker.repeatability import (
    pooled_sd,
    repeatability_coefficient,
    retest_cv,
    visit_noise,
)


@pytest.mark.parametrize("values", [[30.0, 31.0], [30.0, 31.0, 29.0, 33.5], list(np.linspace(10, 20, 9))])
def test_visit_noise_matches_numpy(values):
    v = visit_noise(values)
    arr = np.asarray(values)
    assert v.n == len(arr)
    assert v.mean == pytest.approx(arr.mean())
    assert v.sd == pytest.approx(arr.std(ddof=1))
    assert v.cv == pytest.approx(arr.std(ddof=1) / arr.mean())
    lo, hi = v.band(2.0)
    assert lo == pytest.approx(v.mean - 2 * v.sd) and hi == pytest.approx(v.mean + 2 * v.sd)
    assert v.to_dict() == {"n": v.n, "mean": v.mean, "sd": v.sd, "cv": v.cv}


def test_identical_repeats_have_no_noise():
    v = visit_noise([25.0, 25.0, 25.0])
    assert v.sd == 0.0 and v.cv == 0.0


def test_cv_is_undefined_at_mean_zero():
    assert visit_noise([-1.0, 1.0]).cv is None


@pytest.mark.parametrize("values", [[], [3.0]])
def test_visit_noise_needs_two_photos(values):
    with pytest.raises(ValueError, match="at least two repeat photos"):
        visit_noise(values)


@pytest.mark.parametrize("values", [[1.0, math.nan], [1.0, math.inf], ["a", "b"]])
def test_visit_noise_rejects_non_numbers(values):
    with pytest.raises(ValueError):
        visit_noise(values)


VISITS = [[30.0, 31.0, 29.0], [50.0, 52.0], [12.0], [41.0, 40.0, 43.0, 40.5]]


def test_retest_cv_rms_by_hand():
    groups = [np.asarray(g) for g in VISITS if len(g) >= 2]  # the single photo carries no noise
    cvs = [g.std(ddof=1) / g.mean() for g in groups]
    assert retest_cv(VISITS) == pytest.approx(math.sqrt(np.mean(np.square(cvs))))


def test_retest_cv_pooled_by_hand():
    groups = [np.asarray(g) for g in VISITS if len(g) >= 2]
    ss = sum(((g - g.mean()) ** 2).sum() for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    assert pooled_sd(VISITS) == pytest.approx(math.sqrt(ss / dof))
    grand = np.mean([g.mean() for g in groups])
    assert retest_cv(VISITS, method="pooled") == pytest.approx(math.sqrt(ss / dof) / grand)


def test_cv_does_not_depend_on_the_unit():
    scaled = [[v * 7.5 for v in g] for g in VISITS]
    assert retest_cv(scaled) == pytest.approx(retest_cv(VISITS))
    assert retest_cv(scaled, method="pooled") == pytest.approx(retest_cv(VISITS, method="pooled"))
    assert pooled_sd(scaled) == pytest.approx(7.5 * pooled_sd(VISITS))


@pytest.mark.parametrize("true_cv", [0.01, 0.03, 0.08])
@pytest.mark.parametrize("repeats", [2, 3, 5])
def test_retest_cv_recovers_a_known_noise(true_cv, repeats):
    """Many simulated visits with noise SD = true_cv x level: the RMS CV finds true_cv."""
    rng = np.random.default_rng(int(true_cv * 1000) + repeats)
    levels = rng.uniform(10, 60, 4000)
    visits = [lvl + rng.normal(0, true_cv * lvl, repeats) for lvl in levels]
    assert retest_cv(visits) == pytest.approx(true_cv, rel=0.03)
    # a noise proportional to the level: the pooled CV is near it too, but not the same estimator
    assert retest_cv(visits, method="pooled") == pytest.approx(true_cv, rel=0.15)


def test_repeatability_coefficient_covers_95_percent_of_pairs():
    rng = np.random.default_rng(5)
    sd = 1.7
    visits = [50 + rng.normal(0, sd, 2) for _ in range(20000)]
    rc = repeatability_coefficient(visits)
    assert rc == pytest.approx(1.96 * math.sqrt(2) * sd, rel=0.02)
    diffs = np.abs([v[0] - v[1] for v in visits])
    assert np.mean(diffs < rc) == pytest.approx(0.95, abs=0.01)


def test_no_repeats_at_all_raises():
    with pytest.raises(ValueError, match="repeat"):
        retest_cv([[1.0], [2.0]])
    with pytest.raises(ValueError, match="repeat"):
        pooled_sd([])


def test_rms_cv_with_a_zero_mean_visit_raises():
    with pytest.raises(ValueError, match="pooled_sd"):
        retest_cv([[-1.0, 1.0], [10.0, 11.0]])


def test_pooled_cv_with_zero_grand_mean_raises():
    with pytest.raises(ValueError, match="pooled_sd"):
        retest_cv([[-1.0, 1.0], [-2.0, 2.0]], method="pooled")


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        retest_cv(VISITS, method="median")
