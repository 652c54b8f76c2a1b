"""Tests for tracker.analysis.analyze on generated photos with exact truth."""

from __future__ import annotations

import functools
import json
import math

import cv2
import numpy as np
import pytest

from tracker.analysis import ALGORITHM_VERSION, MAX_WORKING_SIDE, Analysis, _working_width, analyze, analyze_in_view
from tracker.imaging import segment
from tracker.synth import render_closeup, render_overview

SHAPE = (512, 640)
#: 100 px/mm: 70 µm shafts are about 7 px wide; 0.33 cm² holds 30-90 hairs.
PX_PER_MM = 100.0
#: Keys of the evaluation contract (DESIGN.md) that come from the analysis;
#: ``path`` is added by the command line.
CONTRACT_KEYS = {
    "coverage_pct",
    "hair_count",
    "mean_width_px",
    "mean_width_um",
    "density_per_cm2",
    "thin_hair_pct",
    "quality",
    "algorithm_version",
}
SCALE_METRICS = ("mean_width_um", "density_per_cm2", "thin_hair_pct")


@functools.cache
def closeup(density: float = 120.0, seed: int = 0):
    """A clean generated close-up (no blur, no JPEG), read-only and cached."""
    s = render_closeup(
        seed=seed, shape=SHAPE, px_per_mm=PX_PER_MM, density_per_cm2=density
    )
    s.image.flags.writeable = False
    return s


@functools.cache
def analysed(density: float = 120.0, seed: int = 0, *, scaled: bool = True) -> Analysis:
    return analyze(
        closeup(density, seed).image, px_per_mm=PX_PER_MM if scaled else None
    )


@pytest.fixture(scope="module")
def overview():
    # An overview at the smallest size its resolution check passes as usable.
    s = render_overview(seed=1, shape=(768, 1024))
    s.image.flags.writeable = False
    return s


def bars(widths, *, shape=(300, 400)) -> np.ndarray:
    """RGB image with one horizontal 300-px bar per width, 50 px apart."""
    img = np.full((*shape, 3), 210, np.uint8)
    for i, w in enumerate(widths):
        y = 30 + 50 * i
        img[y : y + w, 50:350] = 40
    return img


def exposed(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.round(image.astype(np.float64) * gain), 0, 255).astype(np.uint8)


# --- accuracy on generated close-ups ---------------------------------------------------

DENSITIES = [120.0, 250.0]


@pytest.mark.parametrize("density", DENSITIES)
def test_count_within_15_percent(density):
    truth = closeup(density).hair_count()
    assert truth >= 30
    assert analysed(density).hair_count == pytest.approx(truth, rel=0.15)


@pytest.mark.parametrize("density", [120.0, 250.0])
def test_width_within_15_percent(density):
    assert analysed(density).mean_width_px == pytest.approx(
        closeup(density).mean_width_px(), rel=0.15
    )


@pytest.mark.parametrize("density", [120.0, 250.0])
def test_coverage_within_1_5_points(density):
    assert analysed(density).coverage_pct == pytest.approx(
        closeup(density).coverage_pct(), abs=1.5
    )


@functools.cache
def light_hair(skin: str, hair: str, density: float, mode: str = "auto") -> tuple:
    """A clean generated close-up of light hair and its analysis, cached."""
    s = render_closeup(
        seed=0, shape=SHAPE, px_per_mm=PX_PER_MM, density_per_cm2=density, skin=skin, hair=hair
    )
    s.image.flags.writeable = False
    return s, analyze(s.image, px_per_mm=PX_PER_MM, mode=mode)


@pytest.mark.parametrize("density", DENSITIES)
def test_grey_hair_on_darker_skin_is_counted_and_measured(density):
    # Translucent shafts, brightest on their axis: measured out to their rims.
    s, a = light_hair("medium", "grey", density)
    assert a.mode == "closeup" and a.parameters["polarity"] == "light"
    assert a.hair_count == pytest.approx(s.hair_count(), rel=0.15)
    assert a.mean_width_px == pytest.approx(s.mean_width_px(), rel=0.15)
    assert a.coverage_pct == pytest.approx(s.coverage_pct(), abs=1.5)


@pytest.mark.parametrize("density", DENSITIES)
def test_light_brown_hair_on_dark_skin_is_counted(density):
    # The mode is given, as the evaluation gives it (see the next test).
    # Whitish scale patches on dark skin are as bright as light-brown shafts
    # in every colour channel (they were counted as hairs: 64 for 33); in red
    # less blue, the shafts' yellowness, they do not stand out.
    s, a = light_hair("dark", "light", density, "closeup")
    assert a.parameters["polarity"] == "light"
    assert a.hair_count == pytest.approx(s.hair_count(), rel=0.25)
    assert a.mean_width_px == pytest.approx(s.mean_width_px(), rel=0.15)


@pytest.mark.parametrize("density", DENSITIES)
def test_light_brown_hair_on_dark_skin_is_detected_as_a_closeup(density):
    # The mode is judged by the width of the shafts' bright cores, seen in
    # the plane light hair is measured in: in the darkest channel (blue) they
    # were under half the shaft, and the photo was taken for an overview.
    assert light_hair("dark", "light", density)[1].mode == "closeup"


def test_an_enlarged_photo_is_measured_as_accurately():
    # Five times larger (3200 x 2560): the working copy comes from halvings
    # of the photo; the tolerances are those of the photo itself.
    s = closeup()
    big = cv2.resize(s.image, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    a = analyze(big, px_per_mm=5 * PX_PER_MM)
    assert a.mode == "closeup"
    assert a.parameters["working_scale"] < 0.5
    assert a.mask.shape == big.shape[:2]
    assert a.hair_count == pytest.approx(s.hair_count(), rel=0.15)
    assert a.mean_width_px == pytest.approx(5 * s.mean_width_px(), rel=0.15)
    assert a.coverage_pct == pytest.approx(s.coverage_pct(), abs=1.5)
    # each shaft's axis is in the photo's own pixels: its midpoint on the hair
    hair = np.argwhere(a.mask)[:, ::-1]
    for g in a.groups:
        assert len(g.shafts) == g.hairs and sum(s.inside for s in g.shafts) == g.hairs_inside
        for shaft in g.shafts:
            mid = (np.asarray(shaft.start) + np.asarray(shaft.end)) / 2
            assert np.hypot(*(hair - mid).T).min() <= a.mean_width_px


def test_closeup_is_detected_and_dark_hair_chosen():
    a = analysed()
    assert a.mode == "closeup"
    assert a.parameters["mode"] == "closeup" and a.parameters["polarity"] == "dark"
    assert a.mask.shape == SHAPE and a.mask.dtype == bool
    assert a.roi == (0, 0, SHAPE[1], SHAPE[0])
    # A group counts the shafts whose midpoint is inside the ROI: a shaft
    # cut by the photo's edge may not be, while its neighbours are.
    assert a.hair_count == sum(g.hairs_inside for g in a.groups)
    assert all(0 <= g.hairs_inside <= g.hairs and g.counted == (g.hairs_inside > 0) for g in a.groups)


# --- scale -----------------------------------------------------------------------------


def test_without_scale_scale_metrics_are_none_and_notes_say_so():
    a = analysed(scaled=False)
    for name in SCALE_METRICS:
        assert getattr(a, name) is None, name
    assert a.hair_count is not None and a.mean_width_px is not None
    assert a.scale.px_per_mm is None and a.scale.source == "none"
    assert any("No scale" in n and "density" in n for n in a.notes)


def test_with_scale_metrics_follow_from_pixels():
    a = analysed()
    assert a.scale.px_per_mm == PX_PER_MM and a.scale.source == "user"
    assert a.mean_width_um == pytest.approx(a.mean_width_px / PX_PER_MM * 1000)
    area_cm2 = SHAPE[0] * SHAPE[1] / PX_PER_MM**2 / 100
    assert a.density_per_cm2 == pytest.approx(a.hair_count / area_cm2)
    assert 0.0 <= a.thin_hair_pct <= 100.0
    assert not any("No scale" in n for n in a.notes)
    # the same pixels, so the same scale-free numbers
    b = analysed(scaled=False)
    assert (a.coverage_pct, a.hair_count, a.mean_width_px) == (
        b.coverage_pct,
        b.hair_count,
        b.mean_width_px,
    )


@pytest.mark.parametrize(("thin_um", "expected"), [(80.0, 0.0), (120.0, 100.0)])
def test_thin_share_uses_the_bound_in_micrometres(thin_um, expected):
    # 10-px bars at 100 px/mm are 100 µm wide.
    a = analyze(bars([10] * 4), px_per_mm=100.0, thin_um=thin_um)
    assert a.hair_count == 4
    assert a.mean_width_um == pytest.approx(100.0, rel=0.1)
    assert a.thin_hair_pct == expected
    assert a.parameters["thin_um"] == thin_um


@pytest.mark.parametrize("source", ["card", "magnification", "field_width"])
def test_scale_source_is_recorded(source):
    a = analyze(bars([10] * 4), px_per_mm=50.0, scale_source=source)
    assert a.to_record()["scale"] == {"px_per_mm": 50.0, "source": source}


# --- overview --------------------------------------------------------------------------


def test_overview_mode_measures_coverage_only(overview):
    a = analyze(overview.image, mode="overview", px_per_mm=20.0)
    assert a.mode == "overview"
    assert a.hair_count is None and a.mean_width_px is None
    for name in SCALE_METRICS:
        assert getattr(a, name) is None, name
    assert a.groups == ()
    assert 0.0 < a.coverage_pct < 100.0
    assert any("only coverage" in n for n in a.notes)
    assert a.mask.shape == overview.image.shape[:2]


def test_overview_coverage_within_5_points(overview):
    a = analyze(overview.image, mode="overview")
    assert a.coverage_pct == pytest.approx(overview.coverage_pct(), abs=5.0)


# --- record ----------------------------------------------------------------------------


@pytest.mark.parametrize("scaled", [True, False])
def test_record_is_json_with_the_contract_keys(scaled):
    record = analysed(scaled=scaled).to_record()
    assert CONTRACT_KEYS <= set(record)
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["algorithm_version"] == ALGORITHM_VERSION
    assert record["quality"]["status"] in ("pass", "warn", "fail")
    assert record["roi"] == [0, 0, SHAPE[1], SHAPE[0]]
    assert isinstance(record["hair_count"], int)
    for name in SCALE_METRICS:
        assert (record[name] is not None) is scaled


def test_overview_record_is_json(overview):
    record = analyze(overview.image, mode="overview").to_record()
    assert CONTRACT_KEYS <= set(record)
    assert record["hair_count"] is None and record["mode"] == "overview"
    json.dumps(record, allow_nan=False)


# --- ROI -------------------------------------------------------------------------------


def test_roi_restricts_the_measurement():
    s = closeup()
    roi = (100, 80, 400, 300)
    a = analyze(s.image, roi=roi, px_per_mm=PX_PER_MM)
    assert a.roi == roi
    assert a.to_record()["roi"] == list(roi)
    assert a.coverage_pct == pytest.approx(s.coverage_pct(roi), abs=1.5)
    assert 0 < a.hair_count <= analysed().hair_count
    assert a.density_per_cm2 == pytest.approx(
        a.hair_count / (400 * 300 / PX_PER_MM**2 / 100)
    )
    # Every group reaches into the ROI; a piece may run beyond it (a shaft
    # counts by its midpoint, which needs the part outside the ROI too).
    for g in a.groups:
        x0, y0, x1, y1 = g.bbox
        assert x0 < 500 + 2 and y0 < 380 + 2 and x1 > 100 - 2 and y1 > 80 - 2


@pytest.mark.parametrize(
    "roi",
    [
        (0, 0, 700, 100),
        (600, 0, 100, 100),
        (-1, 0, 10, 10),
        (0, 0, 0, 10),
        (10, 500, 10, 20),
    ],
)
def test_roi_outside_the_image_names_the_fix(roi):
    with pytest.raises(ValueError, match="give a rectangle inside the image"):
        analyze(bars([10]), roi=roi)


# --- invariance ------------------------------------------------------------------------

TRANSFORMS = {
    "rotate 90": lambda im: np.rot90(im, 1),
    "rotate 180": lambda im: np.rot90(im, 2),
    "rotate 270": lambda im: np.rot90(im, 3),
    "flip left-right": lambda im: im[:, ::-1],
    "flip up-down": lambda im: im[::-1],
    "brightness x0.85": lambda im: exposed(im, 0.85),
    "brightness x1.15": lambda im: exposed(im, 1.15),
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_invariance(name):
    base = analysed(scaled=False)
    moved = analyze(np.ascontiguousarray(TRANSFORMS[name](closeup().image)))
    assert moved.mode == "closeup"
    if name.startswith("brightness"):
        assert abs(moved.coverage_pct - base.coverage_pct) <= 0.02 * base.coverage_pct
        assert abs(moved.hair_count - base.hair_count) <= 1
    else:
        # The mask turns and flips exactly, and the shafts are counted on the
        # mask turned to its canonical orientation: the same figures exactly.
        assert moved.coverage_pct == base.coverage_pct
        assert moved.hair_count == base.hair_count
        assert moved.mean_width_px == pytest.approx(base.mean_width_px, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_shafts_near_40_px_wide_are_measured(seed):
    # At 600 px/mm (a 1280x1024 frame 2.1 mm wide) shafts are 36-47 px wide,
    # at the top of the close-up range. A width search capped at 1/24 of the
    # thumbnail's short side took their interiors for scalp and their rims
    # for shafts: widths of 11-15 px and four to seven times the count.
    s = render_closeup(seed=seed, shape=(1024, 1280), px_per_mm=600.0, density_per_cm2=150)
    a = analyze(s.image)
    assert a.mode == "closeup"
    assert a.mean_width_px == pytest.approx(s.mean_width_px(), rel=0.15)
    assert abs(a.coverage_pct - 100 * s.mask.mean()) <= 1.0
    assert abs(a.hair_count - s.hair_count()) <= 2


def test_the_working_width_follows_the_working_size_smoothly():
    # Re-exposing a photo moves its working size a little (it follows the first
    # width estimate). Estimated on each working copy itself, the width per
    # unit of scale swings by 10 % in a sawtooth over these sizes; taken from
    # the fixed halvings on either side, it stays within a few percent.
    big = cv2.resize(closeup().image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    pyramid = segment.Pyramid(big)
    per_scale = []
    for factor in np.linspace(0.44, 0.56, 7):
        work = pyramid.reduce(factor)
        per_scale.append(_working_width(pyramid, work, factor, "dark", segment.hair_plane(work, "dark")) / factor)
    assert max(per_scale) / min(per_scale) < 1.03
    # on a halving itself, the width is the estimate on it
    half = pyramid.reduce(0.5)
    assert _working_width(pyramid, half, 0.5, "dark", segment.hair_plane(half, "dark")) == pytest.approx(
        segment.estimate_shaft_width(half, polarity="dark")
    )


def test_the_working_width_of_a_large_photo_comes_from_the_halving_below():
    # 4480 x 3584: the halving above these working copies is larger than
    # MAX_WORKING_SIDE, so the one below gives the width, scaled to each.
    big = cv2.resize(closeup().image, None, fx=7, fy=7, interpolation=cv2.INTER_CUBIC)
    pyramid = segment.Pyramid(big)
    per_scale = []
    for factor in (0.26, 0.30, 0.32):
        work = pyramid.reduce(factor)
        assert max(pyramid.halving((work.shape[1], work.shape[0])).shape) > MAX_WORKING_SIDE
        per_scale.append(_working_width(pyramid, work, factor, "dark", segment.hair_plane(work, "dark")) / factor)
    assert max(per_scale) / min(per_scale) < 1.03
    lower = pyramid.reduce(0.25)
    width = segment.estimate_shaft_width(lower, polarity="dark")
    assert per_scale[1] == pytest.approx(((width - 1) / 0.25 * 0.30 + 1) / 0.30)


# --- drawn bars and bad input ----------------------------------------------------------


def test_docstring_example():
    img = np.full((300, 400, 3), 210, np.uint8)
    for y in (40, 100, 160, 220):
        img[y : y + 10, 50:350] = 40
    a = analyze(img, px_per_mm=100.0)
    assert (a.mode, a.hair_count, round(a.mean_width_um)) == ("closeup", 4, 100)
    assert a.coverage_pct == pytest.approx(100 * 4 * 10 * 300 / (300 * 400), abs=0.5)


def test_input_is_not_modified():
    img = bars([8, 8, 12])
    before = img.copy()
    analyze(img, px_per_mm=80.0)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((50, 60), np.uint8),
        np.zeros((50, 60, 4), np.uint8),
        np.zeros((50, 60, 3), np.float32),
        np.zeros((50, 60, 3), np.uint16),
        [[[0, 0, 0]]],
    ],
    ids=["gray", "rgba", "float32", "uint16", "list"],
)
def test_bad_pixels_refused_with_guidance(pixels):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB.*load_photo"):
        analyze(pixels)


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (300, 7)])
@pytest.mark.parametrize("mode", ["auto", "closeup", "overview"])
def test_a_photo_too_small_to_hold_a_shaft_is_refused_with_guidance(shape, mode):
    pixels = np.full((*shape, 3), 200, np.uint8)
    with pytest.raises(ValueError, match=r"too small to measure hair \(at least 8 pixels on each side\).*original"):
        analyze(pixels, mode=mode)
    with pytest.raises(ValueError, match="too small to measure hair"):
        analyze_in_view(pixels, mode=mode)


@pytest.mark.parametrize("mode", ["auto", "closeup", "overview"])
def test_the_smallest_photo_measured(mode):
    pixels = np.full((8, 8, 3), 200, np.uint8)
    pixels[3:5] = 40
    a = analyze(pixels, mode=mode)
    assert a.mask.shape == (8, 8) and 0 <= a.coverage_pct <= 100
    assert a.quality.status == "fail"  # far below the resolution check's bounds


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"px_per_mm": 0.0}, "px_per_mm must be a positive number"),
        ({"px_per_mm": -5.0}, "px_per_mm must be a positive number"),
        ({"px_per_mm": math.nan}, "px_per_mm must be a positive number"),
        ({"px_per_mm": math.inf}, "px_per_mm must be a positive number"),
        ({"thin_um": 0.0}, "thin_um must be positive"),
        ({"mode": "macro"}, "'auto', 'closeup' or 'overview'"),
    ],
)
def test_bad_options_refused_with_guidance(kwargs, match):
    with pytest.raises(ValueError, match=match):
        analyze(bars([10]), **kwargs)


@pytest.mark.parametrize("tone", [40, 225])
def test_a_flat_bar_burnt_in_below_the_photo_is_left_out(tone):
    # Capture software often adds a caption strip of one flat tone; its
    # border with the photo must not read as a shaft, and it holds no scalp.
    s = closeup()
    a = analysed()
    strip = np.full((40, SHAPE[1], 3), tone, np.uint8)
    with_bar = analyze(np.concatenate([s.image, strip]), px_per_mm=PX_PER_MM)
    assert with_bar.parameters["edge_bars_px"] == [0, 40, 0, 0]
    assert any("bars" in note for note in with_bar.notes)
    assert with_bar.hair_count == a.hair_count
    assert with_bar.coverage_pct == pytest.approx(a.coverage_pct, abs=0.05)
    assert with_bar.density_per_cm2 == pytest.approx(a.density_per_cm2)
    assert not with_bar.mask[SHAPE[0] :].any()
    assert "edge_bars_px" not in a.parameters


def test_a_region_a_few_shafts_across_gets_a_note_a_larger_one_none():
    scene = render_closeup(seed=3, shape=(384, 512))
    small = analyze(scene.image, roi=(10, 10, 40, 200), px_per_mm=scene.px_per_mm)
    (note,) = [n for n in small.notes if n.startswith("The region is 40 px across")]
    assert note.endswith("a count or density in so small a region says little. Draw a larger region.")
    large = analyze(scene.image, roi=(0, 0, 300, 300), px_per_mm=scene.px_per_mm)
    assert not [n for n in large.notes if n.startswith("The region is")]


def test_a_close_up_with_no_shaft_says_why_width_and_thin_share_are_empty():
    a = analyze(np.full((100, 120, 3), 200, np.uint8), px_per_mm=100.0, mode="closeup")
    assert (a.hair_count, a.density_per_cm2, a.mean_width_um, a.thin_hair_pct) == (0, 0.0, None, None)
    assert any(n.startswith("No hair shaft was counted in the region") for n in a.notes)

