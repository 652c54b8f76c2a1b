"""analyze() with the calibration card and analyze_in_view() with registration (issue 5)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tracker.analysis import (
    ALGORITHM_VERSION,
    CARD_SEARCH_SIDE,
    ViewSettings,
    analyze,
    analyze_in_view,
    find_scale,
    register_to_baseline,
    view_settings,
)
from tracker.imaging.calibrate import render_card
from tracker.imaging.register import map_points
from tracker.synth import (
    CameraMove,
    render_card_scene,
    render_moved_series,
    render_overview,
)


def test_algorithm_version_was_bumped():
    assert ALGORITHM_VERSION != "0.1.0"


@pytest.mark.parametrize("tilt", [0.0, 30.0])
def test_the_card_gives_the_scale_within_1_percent(tilt):
    scene = render_card_scene(seed=3, shape=(600, 800), px_per_mm=5.0, tilt_deg=tilt, tilt_axis_deg=45.0,
                              rotation_deg=20.0, colour_cast=(1.15, 1.0, 0.85), jpeg_quality=85)
    a = analyze(scene.image)
    assert a.scale.source == "card"
    assert abs(a.scale.px_per_mm / scene.px_per_mm - 1) < 0.01
    assert a.card is not None and a.card["ok"]
    # the grey patch's white balance was applied and recorded
    gains = np.array(a.parameters["white_balance_gains"])
    assert np.allclose(gains, scene.wb_gains, rtol=0.05)


def test_the_card_is_found_in_a_large_photo_from_the_reduced_search_copy():
    # 2000 px wide: the first search runs on a copy CARD_SEARCH_SIDE long; the
    # card is a tenth of the width and tilted 30 degrees
    scene = render_card_scene(seed=5, shape=(1500, 2000), px_per_mm=2.5, tilt_deg=30.0, tilt_axis_deg=45.0)
    assert max(scene.image.shape[:2]) > CARD_SEARCH_SIDE
    a = analyze(scene.image)
    assert a.scale.source == "card"
    assert abs(a.scale.px_per_mm / scene.px_per_mm - 1) < 0.01


def test_a_typed_scale_is_the_fallback_and_the_card_wins():
    scene = render_card_scene(seed=4, shape=(600, 800), px_per_mm=5.0)
    a = analyze(scene.image, px_per_mm=12.0, scale_source="magnification")
    assert a.scale.source == "card" and abs(a.scale.px_per_mm - scene.px_per_mm) / scene.px_per_mm < 0.01
    assert any("12.00 px/mm was not used" in n for n in a.notes)
    plain = render_overview(seed=1, shape=(480, 640)).image
    b = analyze(plain, px_per_mm=12.0, scale_source="magnification")
    assert (b.scale.px_per_mm, b.scale.source) == (12.0, "magnification")
    c = analyze(plain, field_width_mm=64.0)
    assert (c.scale.px_per_mm, c.scale.source) == (10.0, "field_width")
    d = analyze(plain)
    assert (d.scale.px_per_mm, d.scale.source) == (None, "none")
    with pytest.raises(ValueError, match="field of view in millimetres"):
        analyze(plain, field_width_mm=-1.0)


def test_the_card_area_is_left_out_of_the_measurement():
    # bare skin with the card on it: the card's black markers and ruler must not count as hair
    skin = np.full((600, 800, 3), (214, 170, 150), np.uint8)
    photo = skin.copy()
    card = render_card(5.0)
    photo[100 : 100 + card.shape[0], 150 : 150 + card.shape[1]] = card
    with_card = analyze(photo, mode="overview", polarity="dark")
    assert with_card.scale.source == "card"
    assert with_card.coverage_pct < 1.0
    assert with_card.parameters["excluded_px"] >= card.shape[0] * card.shape[1]
    ignored = analyze(photo, mode="overview", polarity="dark", card=False)
    assert ignored.coverage_pct > with_card.coverage_pct + 1.5  # what the card would have added


def test_polarity_can_be_fixed():
    img = render_overview(seed=2, shape=(480, 640)).image
    auto = analyze(img)
    other = "light" if auto.parameters["polarity"] == "dark" else "dark"
    fixed = analyze(img, polarity=other)
    assert fixed.parameters["polarity"] == other and fixed.coverage_pct != pytest.approx(auto.coverage_pct)
    with pytest.raises(ValueError, match="polarity"):
        analyze(img, polarity="bright")


@functools.cache
def moved():
    moves = [CameraMove(), CameraMove(dx=15.0, dy=-10.0, rotation_deg=8.0, scale=1.08, brightness=1.15)]
    return render_moved_series(seed=7, moves=moves, kind="closeup", shape=(360, 480), px_per_mm=60.0,
                               density_per_cm2=220.0)


def test_analyze_in_view_measures_the_same_patch_at_the_baseline_scale():
    base, follow = moved()
    roi = (96, 72, 288, 216)
    b = analyze_in_view(base.image.image, roi=roi, is_baseline=True, px_per_mm=60.0, scale_source="magnification")
    assert b.roi_source == "baseline"
    settings = view_settings(b)
    reg = register_to_baseline(follow.image.image, base.image.image)
    assert reg.ok
    assert register_to_baseline(follow.image.image, base.image.image).matrix.tolist() == reg.matrix.tolist()
    f = analyze_in_view(follow.image.image, roi=roi, registration=reg, settings=settings,
                        px_per_mm=60.0 * 1.08, scale_source="magnification")
    assert f.roi_source == "registered"
    # on the baseline's grid the follow-up's scale is the baseline's
    assert f.scale.px_per_mm == pytest.approx(60.0, rel=0.01)
    x, y, w, h = roi
    corners = np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])
    truth = map_points(np.linalg.inv(follow.to_baseline), corners)
    err = np.linalg.norm(np.array(f.placement["photo_corners"]) - truth, axis=1).max()
    assert err / np.linalg.norm(truth[1] - truth[0]) < 0.02
    # the unchanged scalp: coverage within 3 % of the baseline's
    assert abs(f.coverage_pct / b.coverage_pct - 1) < 0.03
    assert f.parameters["polarity"] == settings.polarity and f.mode == settings.mode


def test_a_failed_registration_never_gets_the_mapped_roi():
    base, _ = moved()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, base.image.image.shape, dtype=np.uint8)
    reg = register_to_baseline(noise, base.image.image)
    assert not reg.ok
    a = analyze_in_view(noise, roi=(96, 72, 288, 216), registration=reg, settings=ViewSettings("closeup", "dark"))
    assert a.roi_source == "unregistered" and a.roi == (0, 0, 480, 360)
    assert any("by hand" in n for n in a.notes)
    m = analyze_in_view(noise, roi=(96, 72, 288, 216), registration=reg, manual_roi=(10, 10, 100, 80))
    assert m.roi_source == "manual" and m.roi == (10, 10, 100, 80)


def test_find_scale_ignores_a_lone_marker_for_scale():
    photo = np.full((400, 600, 3), 200, np.uint8)
    card = render_card(8.0)
    # only the card's top-left corner, with marker 0 (4-16 mm) and none of the others
    photo[50 : 50 + 160, 20 : 20 + 160] = card[:160, :160]
    f = find_scale(photo, px_per_mm=3.0)
    assert f.scale.source == "user" and f.scale.px_per_mm == 3.0
    assert f.detection is not None and f.detection.marker_ids == (0,) and not f.detection.ok
    # one marker seen: no scale from it, but its area is left out and the user is told
    assert f.card_mask is not None and f.card_mask[50 + 80, 20 + 80]
    assert any("cannot give the scale" in n for n in f.notes)


@functools.cache
def moved_overview():
    # the evaluation's first overview scene, with two of its extreme recaptures
    h, w = 480, 640
    moves = [
        CameraMove(),
        CameraMove(dx=-0.05 * w, dy=0.05 * h, rotation_deg=-10.0, scale=0.9, brightness=0.8),
        CameraMove(dx=0.05 * w, dy=0.05 * h, rotation_deg=10.0, scale=1.1, brightness=1.2),
    ]
    return render_moved_series(seed=100, moves=moves, kind="overview", shape=(h, w), coverage=0.55, skin="light",
                               pattern="whorl", jpeg_quality=90)


def test_an_overview_view_takes_its_mode_from_the_whole_photo():
    # the cut-out about the ROI, enlarged, looks like a close-up; the photo does not
    base = moved_overview()[0].image.image
    b = analyze_in_view(base, roi=(128, 96, 384, 288), is_baseline=True)
    assert b.roi_source == "baseline"
    assert view_settings(b) == ViewSettings("overview", "dark")


def test_overview_recaptures_20_percent_darker_or_brighter_give_the_same_coverage():
    base, *recaptures = moved_overview()
    roi = (128, 96, 384, 288)
    b = analyze_in_view(base.image.image, roi=roi, is_baseline=True)
    settings = view_settings(b)
    for photo in recaptures:
        reg = register_to_baseline(photo.image.image, base.image.image)
        assert reg.ok
        f = analyze_in_view(photo.image.image, roi=roi, registration=reg, settings=settings)
        assert f.roi_source == "registered" and f.mode == "overview"
        # the unchanged scalp, moved, turned, zoomed and lit 20 % differently: within 3 %
        assert abs(f.coverage_pct / b.coverage_pct - 1) < 0.03


def test_analyze_in_view_rejects_an_unknown_mode():
    img = np.full((120, 160, 3), 200, np.uint8)
    with pytest.raises(ValueError, match="mode must be"):
        analyze_in_view(img, mode="macro")
