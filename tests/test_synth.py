"""Tests for tracker.synth: synthetic scalp photos with exact ground truth."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tracker.synth import (
    DEMO_START,
    DemoPhoto,
    Shaft,
    SyntheticScalp,
    make_demo_patient,
    render_closeup,
    render_overview,
    render_scalp_series,
    render_shafts,
)

SMALL = (240, 320)


def brute_force_mask(shafts, shape):
    """Pixel centres within width/2 of a centreline, by plain geometry."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    out = np.zeros(shape, bool)
    for s in shafts:
        pts = s.centreline()
        best = np.full(shape, np.inf)
        for (ax, ay), (bx, by) in zip(pts[:-1], pts[1:], strict=True):
            dx, dy = bx - ax, by - ay
            u = np.clip(((xx - ax) * dx + (yy - ay) * dy) / (dx * dx + dy * dy), 0, 1)
            best = np.minimum(best, np.hypot(xx - ax - u * dx, yy - ay - u * dy))
        out |= best <= s.width_px / 2
    return out


def luminance(rgb):
    return rgb.astype(float) @ np.array([0.299, 0.587, 0.114])


def arc(x, y, length, angle, bend, width, step=24.0):
    """A gently curved polyline shaft."""
    n = max(2, int(length / step))
    angles = angle + bend * np.arange(n)
    pts = np.vstack(
        [[x, y], [x, y] + np.cumsum(step * np.c_[np.cos(angles), np.sin(angles)], axis=0)]
    )
    return Shaft(*pts[0], *pts[-1], width_px=width, points=tuple(map(tuple, pts)))


# --------------------------------------------------------------------------
# exactness of the mask
# --------------------------------------------------------------------------


def test_single_horizontal_shaft_gives_exact_pixel_count():
    shaft = Shaft(100.0, 50.0, 300.0, 50.0, width_px=10.0)
    s = render_shafts([shaft], shape=(100, 400))
    # body: columns 100..300 x rows 45..55; each round cap adds 9+9+9+7+1 = 35 pixels
    assert s.mask.sum() == 201 * 11 + 2 * 35
    assert s.mask[45:56, 100:301].all()
    assert not s.mask[44, 150] and not s.mask[56, 150]
    assert s.mask[50, 95] and not s.mask[50, 94]


@pytest.mark.parametrize("width", [1.3, 2.5, 7.0, 18.0, 33.0])
def test_mask_matches_geometry_for_random_straight_shafts(width):
    rng = np.random.default_rng(int(width * 10))
    shape = (160, 200)
    shafts = []
    for _ in range(6):
        x0, y0 = rng.uniform(-20, 220), rng.uniform(-20, 180)
        a, length = rng.uniform(0, 2 * np.pi), rng.uniform(5, 150)
        shafts.append(
            Shaft(x0, y0, x0 + length * np.cos(a), y0 + length * np.sin(a), width_px=width)
        )
    s = render_shafts(shafts, shape=shape, noise_sigma=3.0, blur_sigma=1.0, jpeg_quality=80)
    np.testing.assert_array_equal(s.mask, brute_force_mask(shafts, shape))


@pytest.mark.parametrize("width, bend", [(1.8, 0.02), (3.0, -0.05), (24.0, 0.03), (35.0, -0.06)])
def test_mask_matches_geometry_for_curved_shafts(width, bend):
    shape = (200, 260)
    shafts = [arc(10.5, 30.25, 400, 0.1, bend, width), arc(250.0, 190.0, 300, 3.6, bend, width)]
    s = render_shafts(shafts, shape=shape)
    np.testing.assert_array_equal(s.mask, brute_force_mask(shafts, shape))


def test_mask_is_geometric_truth_independent_of_blur_noise_and_jpeg():
    plain = render_closeup(seed=4, shape=SMALL, noise_sigma=0.0)
    degraded = render_closeup(seed=4, shape=SMALL, noise_sigma=8.0, blur_sigma=2.0, jpeg_quality=60)
    np.testing.assert_array_equal(plain.mask, degraded.mask)
    assert not np.array_equal(plain.image, degraded.image)
    assert plain.shafts == degraded.shafts


def test_hair_pixels_are_dark_and_skin_light_for_dark_hair():
    s = render_closeup(seed=2, shape=SMALL, density_per_cm2=400, thin_share=0.0, noise_sigma=0.0)
    lum = luminance(s.image)
    assert s.mask.any()
    assert np.median(lum[s.mask]) < np.median(lum[~s.mask]) - 80


# --------------------------------------------------------------------------
# determinism and parameters
# --------------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_closeup, render_overview])
def test_same_seed_same_photo_different_seed_different_photo(render):
    shape = (192, 256)
    a, b, c = render(seed=7, shape=shape), render(seed=7, shape=shape), render(seed=8, shape=shape)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.shafts == b.shafts and a.params == b.params
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize(
    "scalp",
    [
        lambda: render_closeup(seed=1, shape=SMALL, jpeg_quality=85),
        lambda: render_closeup(seed=1, shape=SMALL, px_per_mm=None, length="long"),
        lambda: render_overview(seed=1, shape=(96, 128)),
        lambda: render_shafts([Shaft(1.0, 2.0, 30.0, 40.0, width_px=3.0)], shape=(50, 50)),
    ],
)
def test_params_are_json_able_and_hold_the_seed(scalp):
    s = scalp()
    assert json.loads(json.dumps(s.params)) == s.params
    assert "seed" in s.params and "pores" in s.params
    assert s.image.dtype == np.uint8 and s.image.shape == s.mask.shape + (3,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(skin="olive"), "skin"),
        (dict(hair="blue"), "hair"),
        (dict(length="medium"), "length"),
        (dict(thin_share=1.5), "thin_share"),
        (dict(mean_width_um=40.0, thin_share=0.05), "mean_width_um"),
        (dict(px_per_mm=0.0), "px_per_mm"),
        (dict(jpeg_quality=0), "jpeg_quality"),
        (dict(vignette=1.0), "vignette"),
        (dict(shape=(8, 8)), "shape"),
    ],
)
def test_invalid_options_raise_helpful_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_closeup(seed=0, **{"shape": SMALL, **kwargs})


def test_overview_rejects_unreachable_coverage():
    with pytest.raises(ValueError, match="coverage"):
        render_overview(seed=0, shape=(96, 128), coverage=0.97)


# --------------------------------------------------------------------------
# measurements agree with the shaft list
# --------------------------------------------------------------------------


def counted(s, roi):
    x, y, w, h = roi
    return [
        sh
        for sh in s.shafts
        if x - 0.5 <= sh.midpoint[0] < x + w - 0.5 and y - 0.5 <= sh.midpoint[1] < y + h - 0.5
    ]


def test_hair_count_uses_midpoints_inside_the_roi():
    shafts = [
        Shaft(10.0, 10.0, 30.0, 10.0, width_px=4.0),  # midpoint (20, 10)
        Shaft(40.0, 50.0, 80.0, 50.0, width_px=4.0),  # midpoint (60, 50)
        Shaft(60.0, 20.0, 60.0, 100.0, width_px=4.0),  # midpoint (60, 60), crosses the previous one
        Shaft(-40.0, 80.0, 20.0, 80.0, width_px=4.0),  # midpoint (-10, 80) outside the frame
    ]
    s = render_shafts(shafts, shape=(120, 100))
    assert s.hair_count() == 3
    assert s.hair_count((0, 0, 50, 50)) == 1
    assert s.hair_count((50, 40, 20, 30)) == 2
    assert s.hair_count((59, 49, 2, 2)) == 1  # pixel (60, 50) in, pixel (60, 60) out
    assert s.hair_count((0, 70, 100, 50)) == 0
    assert s.shafts[3].midpoint == (-10.0, 80.0)


@pytest.mark.parametrize("roi", [(0, 0, 400, 300), (50, 40, 200, 150), (200, 150, 200, 150)])
def test_measurements_agree_with_shaft_list(roi):
    s = render_closeup(seed=3, shape=(300, 400), density_per_cm2=400, thin_share=0.25)
    inside = counted(s, roi)
    assert s.hair_count(roi) == len(inside) > 0
    x, y, w, h = roi
    assert s.coverage_pct(roi) == pytest.approx(100 * s.mask[y : y + h, x : x + w].mean())
    lengths = np.array([sh.length_px for sh in inside])
    widths = np.array([sh.width_px for sh in inside])
    assert s.mean_width_px(roi) == pytest.approx((lengths * widths).sum() / lengths.sum())
    area_cm2 = w * h / s.px_per_mm**2 / 100
    assert s.density_per_cm2(roi) == pytest.approx(len(inside) / area_cm2)
    um = widths / s.px_per_mm * 1000
    assert s.thin_hair_pct(roi) == pytest.approx(100 * (um < 40).mean())
    assert s.thin_hair_pct(roi, thin_um=30) == pytest.approx(100 * (um < 30).mean())


def test_without_scale_density_and_thin_share_are_none():
    s = render_closeup(seed=5, shape=SMALL, px_per_mm=None)
    assert s.px_per_mm is None and s.params["px_per_mm"] is None
    assert s.density_per_cm2() is None and s.thin_hair_pct() is None
    assert s.mean_width_px() > 0 and s.hair_count() > 0


def test_roi_outside_image_raises():
    s = render_closeup(seed=0, shape=(64, 64))
    with pytest.raises(ValueError, match="inside"):
        s.hair_count((10, 10, 60, 10))
    with pytest.raises(ValueError, match="positive"):
        s.coverage_pct((0, 0, 0, 5))


def test_requested_density_width_and_thin_share_are_met_on_average():
    photos = [
        render_closeup(seed=k, density_per_cm2=250, mean_width_um=65, thin_share=0.2)
        for k in range(3)
    ]
    density = np.mean([p.density_per_cm2() for p in photos])
    assert density == pytest.approx(250, rel=0.2)
    widths = np.concatenate([[sh.width_px / p.px_per_mm * 1000 for sh in p.shafts] for p in photos])
    assert widths.mean() == pytest.approx(65, rel=0.1)
    assert (widths < 40).mean() == pytest.approx(0.2, abs=0.08)
    assert widths.min() >= 20 and not np.any((widths >= 38) & (widths <= 40))


def test_clipped_hairs_come_in_follicular_units_of_near_parallel_shafts():
    s = render_closeup(seed=6, density_per_cm2=300)
    starts = np.array([[sh.x0, sh.y0] for sh in s.shafts])
    angles = np.array([np.arctan2(sh.y1 - sh.y0, sh.x1 - sh.x0) for sh in s.shafts])
    widths = np.array([sh.width_px for sh in s.shafts])
    pairs = 0
    for i in range(len(starts)):
        for j in range(i + 1, len(starts)):
            if np.hypot(*(starts[i] - starts[j])) < 1.2 * (widths[i] + widths[j]):
                pairs += 1
                diff = np.angle(np.exp(1j * (angles[i] - angles[j])))
                assert abs(np.degrees(diff)) < 15
    assert pairs >= 3
    lengths = np.array([sh.length_px for sh in s.shafts])
    assert lengths.max() <= 2.0 * 250 + 1e-6 and lengths.min() >= 0.4 * 250 - 1e-6


# --------------------------------------------------------------------------
# appearance: skin and hair colours, pores
# --------------------------------------------------------------------------


@pytest.mark.parametrize("skin", ["light", "medium", "dark"])
@pytest.mark.parametrize("hair", ["dark", "grey", "light"])
def test_skin_and_hair_colours(skin, hair):
    s = render_closeup(
        seed=11, shape=SMALL, skin=skin, hair=hair, density_per_cm2=400, thin_share=0.0
    )
    lum = luminance(s.image)
    hair_lum, skin_lum = np.median(lum[s.mask]), np.median(lum[~s.mask])
    if hair == "dark":
        assert hair_lum < skin_lum - 30
    elif hair == "grey" and skin != "light":
        assert hair_lum > skin_lum + 30
    elif not (hair == "grey" and skin == "light"):
        assert abs(hair_lum - skin_lum) > 15


def test_grey_hair_is_brighter_than_darker_scalp():
    s = render_closeup(seed=12, shape=SMALL, skin="dark", hair="grey", density_per_cm2=400)
    lum = luminance(s.image)
    assert np.median(lum[s.mask]) > np.median(lum[~s.mask]) + 60


def test_pores_exist_are_dark_and_not_hair():
    s = render_closeup(seed=13)
    pores = s.params["pores"]
    assert len(pores) >= 3
    lum = luminance(s.image)
    yy, xx = np.mgrid[0 : s.mask.shape[0], 0 : s.mask.shape[1]]
    for x, y, r in pores:
        disc = (xx - x) ** 2 + (yy - y) ** 2 <= (r + 2) ** 2
        assert not s.mask[disc].any()
        ring = ((xx - x) ** 2 + (yy - y) ** 2 <= (3 * r) ** 2) & ~disc & ~s.mask
        core = (xx - x) ** 2 + (yy - y) ** 2 <= (0.5 * r) ** 2
        assert lum[core].mean() < lum[ring].mean() - 25


# --------------------------------------------------------------------------
# long hair and overviews
# --------------------------------------------------------------------------


def test_long_hairs_are_curved_cross_the_frame_and_count_by_visible_midpoint():
    s = render_closeup(seed=14, shape=(400, 500), length="long")
    h, w = s.mask.shape
    on_edge = 0
    for sh in s.shafts:
        pts = sh.centreline()
        assert pts[:, 0].min() >= -0.5 - 1e-9 and pts[:, 0].max() <= w - 0.5 + 1e-9
        assert pts[:, 1].min() >= -0.5 - 1e-9 and pts[:, 1].max() <= h - 0.5 + 1e-9
        ends = np.r_[pts[0], pts[-1]]
        on_edge += (
            np.isclose(ends, [-0.5, -0.5, -0.5, -0.5]).any()
            or np.isclose(ends, [w - 0.5, h - 0.5, w - 0.5, h - 0.5]).any()
        )
    assert on_edge >= len(s.shafts) // 2 > 0
    assert sum(len(sh.points) > 2 for sh in s.shafts) > len(s.shafts) // 2
    assert s.hair_count() == len(s.shafts)  # every visible midpoint lies in the frame
    half = (0, 0, w // 2, h)
    assert s.hair_count(half) == len(counted(s, half))


@pytest.mark.parametrize("coverage", [0.2, 0.45, 0.7])
@pytest.mark.parametrize("pattern", ["whorl", "part"])
def test_overview_coverage_is_near_requested(coverage, pattern):
    s = render_overview(seed=15, shape=(150, 200), coverage=coverage, pattern=pattern)
    assert s.kind == "overview" and s.px_per_mm is None
    assert s.coverage_pct() == pytest.approx(100 * coverage, abs=1.5)
    assert s.coverage_pct() >= 100 * coverage
    assert s.hair_count() == len(s.shafts) > 10


def test_overview_shows_scalp_where_hair_is_sparse():
    s = render_overview(seed=16, shape=(300, 400), coverage=0.6, pattern="whorl")
    lum = luminance(s.image)
    assert np.median(lum[~s.mask]) > np.median(lum[s.mask]) + 50
    # the scalp at the whorl is not covered evenly: some 50x50 block is mostly skin
    blocks = s.mask[:300, :400].reshape(6, 50, 8, 50).mean(axis=(1, 3))
    assert blocks.min() < 0.35 and blocks.max() > 0.8


# --------------------------------------------------------------------------
# series and the demo patient
# --------------------------------------------------------------------------


def test_series_keeps_the_scalp_and_follows_the_factors():
    photos = render_scalp_series(
        seed=17,
        factors=[1.0, 0.6, 0.6],
        visits=[0, 1, 1],
        shape=SMALL,
        density_per_cm2=600,
        camera_jitter=0.0,
    )
    a, b, c = photos
    np.testing.assert_array_equal(b.mask, c.mask)  # same visit, fixed camera: same hairs
    assert b.shafts == c.shafts
    assert b.mask.sum() < a.mask.sum()
    assert a.params["pores"] == b.params["pores"]
    widths_b = {sh.width_px for sh in b.shafts}
    assert widths_b <= {sh.width_px for sh in a.shafts} | widths_b  # a subset of hairs
    assert len(widths_b & {sh.width_px for sh in a.shafts}) >= len(widths_b) // 2


def test_series_with_camera_jitter_moves_the_frame():
    a, b = render_scalp_series(seed=18, factors=[1.0, 1.0], visits=[0, 0], shape=SMALL)
    assert a.params["camera"] != b.params["camera"]
    assert not np.array_equal(a.mask, b.mask)


def test_overview_series_follows_coverage_factors():
    photos = render_scalp_series(
        seed=19, factors=[1.0, 0.8, 1.2], kind="overview", shape=(120, 160), coverage=0.5
    )
    cover = [p.coverage_pct() for p in photos]
    assert cover == pytest.approx([50, 40, 60], abs=1.5)


def test_series_rejects_mixed_factors_within_a_visit():
    with pytest.raises(ValueError, match="repeat"):
        render_scalp_series(seed=0, factors=[1.0, 0.9], visits=[1, 1], shape=SMALL)
    with pytest.raises(ValueError, match="unknown"):
        render_scalp_series(seed=0, factors=[1.0], shape=SMALL, colour="red")


def test_demo_patient_has_views_visits_and_a_repeat():
    photos = make_demo_patient(seed=0, closeup_shape=(192, 240), overview_shape=(96, 128))
    assert all(isinstance(p, DemoPhoto) and isinstance(p.image, SyntheticScalp) for p in photos)
    assert {p.view for p in photos} == {"vertex", "crown", "closeup-vertex"}
    dates = sorted({p.visit_date for p in photos})
    assert dates[0] == DEMO_START and len(dates) == 5
    assert all(80 <= (b - a).days <= 100 for a, b in zip(dates, dates[1:], strict=False))
    assert len({p.filename for p in photos}) == len(photos)
    repeats = [p for p in photos if p.shot > 1]
    assert len(repeats) == 1 and repeats[0].view == "closeup-vertex"
    close = sorted(
        (p for p in photos if p.view == "closeup-vertex" and p.shot == 1), key=lambda p: p.visit
    )
    assert all(p.image.px_per_mm for p in close)
    for p in photos:
        assert p.filename == f"{p.visit_date.isoformat()}_{p.view}_{p.shot}.jpg"
        assert json.loads(json.dumps(p.image.params)) == p.image.params
    crown = sorted((p for p in photos if p.view == "crown"), key=lambda p: p.visit)
    cov = np.array([p.image.coverage_pct() for p in crown])
    assert cov[1] < cov[0] < cov[4]


def test_closeup_render_time_is_reported(capsys):
    t = time.perf_counter()
    render_closeup(seed=0)
    elapsed = time.perf_counter() - t
    with capsys.disabled():
        print(f"\nrender_closeup 1024x1280: {elapsed:.2f} s")
    assert elapsed > 0
