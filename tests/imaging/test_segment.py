"""Tests for tracker.imaging.segment on drawn bars and generated scalp photos."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from tracker.evaluate import dice
from tracker.imaging.segment import (
    N_ORIENTATIONS,
    Pyramid,
    _hysteresis,
    _light_channel,
    _light_plane,
    _line_kernels,
    _masked_percentile,
    _otsu,
    choose_polarity,
    edge_bars,
    detect_mode,
    disk,
    estimate_shaft_width,
    hair_contrast,
    line_response,
    reduce_image,
    scalp_light,
    segment_closeup,
    segment_overview,
    shaft_mask,
    survey,
)
from tracker.synth import render_closeup, render_overview

SHAPE = (384, 480)
#: 100 px/mm: 70 µm shafts are about 7 px wide, about 25 hairs in the frame.
PX_PER_MM = 100.0


@functools.cache
def closeup(skin: str = "light", hair: str = "dark", seed: int = 1):
    """A clean generated close-up (no blur, no JPEG), cached across tests."""
    s = render_closeup(
        seed=seed,
        shape=SHAPE,
        px_per_mm=PX_PER_MM,
        density_per_cm2=150.0,
        skin=skin,
        hair=hair,
    )
    s.image.flags.writeable = False
    return s


@pytest.fixture(scope="module")
def overview():
    # An overview at the smallest size its resolution check passes as usable.
    s = render_overview(seed=1, shape=(768, 1024))
    s.image.flags.writeable = False
    return s


def bars(width: int, *, shape=(400, 480), hair=40, skin=200, step=60) -> np.ndarray:
    """Grey image with horizontal bars ``width`` px thick every ``step`` rows."""
    img = np.full(shape, skin, np.uint8)
    for y in range(30, shape[0] - width - 10, step):
        img[y : y + width, 20 : shape[1] - 20] = hair
    return img


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.dstack([gray] * 3)


def scaled(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.round(image.astype(np.float64) * gain), 0, 255).astype(np.uint8)


# --- hair_contrast ---------------------------------------------------------------------


@pytest.mark.parametrize("channels", [None, 3])
def test_contrast_of_dark_hair(channels):
    img = np.full((64, 64), 200, np.uint8)
    img[30:34, :] = 50
    img = img if channels is None else rgb(img)
    c = hair_contrast(img, max_width_px=8)
    assert c.shape == (64, 64) and c.dtype == np.float32
    assert c[32, 32] == pytest.approx(0.75, abs=0.02)
    assert c[5, 5] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("channels", [None, 3])
def test_contrast_of_light_hair(channels):
    img = np.full((64, 64), 100, np.uint8)
    img[30:34, :] = 150
    img = img if channels is None else rgb(img)
    light = hair_contrast(img, max_width_px=8, polarity="light")
    dark = hair_contrast(img, max_width_px=8, polarity="dark")
    assert light[32, 32] == pytest.approx(0.5, abs=0.02)
    assert light[5, 5] == pytest.approx(0.0, abs=1e-6)
    # Brighter than the scalp is no contrast at all for dark hair.
    assert dark[32, 32] == 0.0


@pytest.mark.parametrize("polarity", ["dark", "light"])
@pytest.mark.parametrize("shape", [(50, 70), (50, 70, 3), (97, 31, 3)])
def test_contrast_lies_in_unit_range(shape, polarity):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    c = hair_contrast(img, max_width_px=6, polarity=polarity)
    assert c.shape == shape[:2]
    assert np.isfinite(c).all() and c.min() >= 0.0 and c.max() <= 1.0
    assert c.max() > 0.5  # the noise does hold strong pixels in both polarities


@pytest.mark.parametrize("gain", [0.85, 1.15])
@pytest.mark.parametrize(
    ("skin", "hair", "polarity"), [("light", "dark", "dark"), ("dark", "grey", "light")]
)
def test_contrast_does_not_depend_on_exposure(skin, hair, polarity, gain):
    s = closeup(skin, hair)
    before = hair_contrast(s.image, max_width_px=16, polarity=polarity)
    after = hair_contrast(scaled(s.image, gain), max_width_px=16, polarity=polarity)
    assert before[s.mask].mean() > 0.4  # the hair does stand out
    assert np.abs(after - before).mean() < 0.01
    assert np.median(np.abs(after - before)[s.mask]) < 0.01


@pytest.mark.parametrize(
    ("polarity", "hair", "skin"), [("dark", 40, 210), ("light", 220, 90)]
)
@pytest.mark.parametrize("max_width", [6, 8, 16])
def test_contrast_stays_in_place(max_width, polarity, hair, skin):
    img = np.full((120, 160), skin, np.uint8)
    img[50:58, 20:140] = hair  # a horizontal bar
    img[70:, 100:108] = hair  # a vertical one
    c = hair_contrast(img, max_width_px=max_width, polarity=polarity)
    np.testing.assert_array_equal(np.flatnonzero(c[:, 60] > 0.3), np.arange(50, 58))
    np.testing.assert_array_equal(np.flatnonzero(c[100, :] > 0.3), np.arange(100, 108))


def plain_contrast(image: np.ndarray, max_width_px: float, polarity: str) -> np.ndarray:
    """hair_contrast written with numpy's fresh arrays (opening, median, blur, ratio)."""
    from tracker.imaging.segment import _as_gray

    gray = _as_gray(image, polarity) if polarity == "dark" else _light_plane(image, _light_channel(image))
    k = int(round(max_width_px / 4)) | 1
    op = cv2.MORPH_OPEN if polarity == "dark" else cv2.MORPH_CLOSE
    gray = cv2.morphologyEx(gray, op, disk(k))
    window = 3.0 * max_width_px
    factor = min(1.0, 13.0 / window)
    size = (round(gray.shape[1] * factor), round(gray.shape[0] * factor))
    small = np.rint(cv2.resize(gray.astype(np.float32), size, interpolation=cv2.INTER_AREA)).astype(np.uint8)
    k = max(3, int(round(window * factor)) | 1)
    if polarity == "light":  # the scalp read past crowded light shafts
        small = cv2.morphologyEx(small, cv2.MORPH_OPEN, disk(max(3, (k // 2) | 1)))
    background = cv2.medianBlur(small, k)
    background = cv2.resize(background.astype(np.float32), gray.shape[::-1], interpolation=cv2.INTER_LINEAR)
    background = cv2.GaussianBlur(background, (0, 0), max(1.0, max_width_px / 4))
    g = gray.astype(np.float32)
    difference = background - g if polarity == "dark" else g - background
    return np.clip(difference / np.maximum(background, 1.0), 0.0, 1.0)


@pytest.mark.parametrize(("skin", "hair", "polarity"), [("light", "dark", "dark"), ("dark", "grey", "light")])
def test_contrast_in_place_equals_the_numpy_ratio(skin, hair, polarity):
    img = closeup(skin, hair).image
    np.testing.assert_array_equal(hair_contrast(img, max_width_px=12.0, polarity=polarity), plain_contrast(img, 12.0, polarity))


# --- turned and flipped photos ----------------------------------------------------------

TURNS = {
    "flip left-right": lambda a: a[:, ::-1],
    "flip up-down": lambda a: a[::-1],
    "turn 180": lambda a: a[::-1, ::-1],
    "turn 90": np.rot90,
}


@pytest.mark.parametrize("turn", TURNS)
@pytest.mark.parametrize(("skin", "hair", "polarity"), [("light", "dark", "dark"), ("dark", "grey", "light")])
def test_contrast_and_line_response_turn_with_the_photo(turn, skin, hair, polarity):
    t = TURNS[turn]
    img = closeup(skin, hair).image
    turned = np.ascontiguousarray(t(img))
    c = hair_contrast(img, max_width_px=12.0, polarity=polarity)
    np.testing.assert_allclose(hair_contrast(turned, max_width_px=12.0, polarity=polarity), t(c), atol=1e-5)
    np.testing.assert_allclose(line_response(np.ascontiguousarray(t(c)), length=21), t(line_response(c, length=21)), atol=1e-5)


@pytest.mark.parametrize("turn", ["flip left-right", "flip up-down", "turn 180"])
def test_a_flipped_photo_gives_the_flipped_mask(turn):
    t = TURNS[turn]
    img = closeup("medium", "dark").image
    mask = segment_closeup(img)
    np.testing.assert_array_equal(segment_closeup(np.ascontiguousarray(t(img))), t(mask))


@pytest.mark.parametrize("size", [1, 3, 5, 9, 15])
def test_disk_is_the_same_turned_or_flipped(size):
    d = disk(size)
    assert d.shape == (size, size) and d[size // 2].all() and d[:, size // 2].all()
    assert (d == d.T).all() and (d == d[::-1]).all() and (d == d[:, ::-1]).all()


# --- line_response ---------------------------------------------------------------------


@pytest.mark.parametrize("angle", [0, 7.5, 30, 52.5, 90, 120])
def test_line_response_follows_a_line_at_any_angle(angle):
    c = np.zeros((101, 101), np.float32)
    a = np.deg2rad(angle)
    dx, dy = 60 * np.cos(a), 60 * np.sin(a)
    cv2.line(
        c, (round(50 - dx), round(50 - dy)), (round(50 + dx), round(50 + dy)), 1.0, 3
    )
    r = line_response(c, length=15)
    assert r.shape == c.shape and r.dtype == np.float32
    assert r[50, 50] > 0.95
    # 20 px beside the line, further than half the kernel: no response.
    assert r[round(50 + 20 * np.cos(a)), round(50 - 20 * np.sin(a))] < 1e-6


def test_line_response_is_weak_on_a_dot():
    c = np.zeros((41, 41), np.float32)
    c[20, 20] = 1.0
    assert line_response(c, length=15).max() < 0.15


def plain_line_response(contrast: np.ndarray, length: float) -> np.ndarray:
    """The definition: each whole line kernel as one filter, the largest kept."""
    out = np.zeros_like(contrast)
    for kernel in _line_kernels(length, N_ORIENTATIONS):
        np.maximum(out, cv2.filter2D(contrast, -1, kernel, borderType=cv2.BORDER_REFLECT), out=out)
    return out


@pytest.mark.parametrize(
    ("shape", "length"),
    [((7, 9), 15), ((40, 50), 9), ((120, 160), 41), ((200, 90), 65), ((64, 64), 12), ((80, 60), 40.8)],
)
def test_line_response_equals_the_whole_kernels(shape, length):
    c = np.random.default_rng(1).random(shape, dtype=np.float32)
    np.testing.assert_allclose(line_response(c, length=length), plain_line_response(c, length), atol=1e-6)


def test_line_response_rejects_short_lines():
    with pytest.raises(ValueError, match="at least 3"):
        line_response(np.zeros((10, 10), np.float32), length=2)


# --- estimate_shaft_width --------------------------------------------------------------


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("width", [4, 8, 16])
def test_shaft_width_of_drawn_bars(width, channels):
    img = bars(width)
    img = img if channels is None else rgb(img)
    assert estimate_shaft_width(img) == pytest.approx(width, rel=0.15)


@pytest.mark.parametrize("width", [4, 8, 16])
def test_shaft_width_of_light_bars(width):
    assert estimate_shaft_width(
        bars(width, hair=220, skin=90), polarity="light"
    ) == pytest.approx(width, rel=0.15)


def test_shaft_width_of_a_blank_image_is_the_floor():
    assert estimate_shaft_width(np.full((100, 120, 3), 180, np.uint8)) == 1.5


def test_shaft_width_of_a_generated_closeup():
    s = closeup()
    assert estimate_shaft_width(s.image) == pytest.approx(s.mean_width_px(), rel=0.25)


# --- choose_polarity -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skin", "hair", "expected"),
    [
        ("light", "dark", "dark"),
        ("dark", "dark", "dark"),
        ("dark", "grey", "light"),
        ("medium", "grey", "light"),
    ],
)
def test_polarity_of_generated_closeups(skin, hair, expected):
    assert choose_polarity(closeup(skin, hair).image) == expected


def test_polarity_flips_with_the_negative():
    s = closeup()
    assert choose_polarity(s.image) == "dark"
    assert choose_polarity(255 - s.image) == "light"


@pytest.mark.parametrize(
    ("hair", "skin", "expected"), [(40, 200, "dark"), (230, 90, "light")]
)
def test_polarity_of_drawn_bars(hair, skin, expected):
    assert choose_polarity(bars(6, hair=hair, skin=skin)) == expected


def test_polarity_ignores_bright_flakes_on_dark_hair_scalp():
    img = bars(6, hair=40, skin=170)
    rng = np.random.default_rng(3)
    for x, y in rng.uniform(30, 370, (25, 2)):
        cv2.circle(img, (int(x) + 40, int(y)), 7, 250, -1)
    assert choose_polarity(img) == "dark"


# --- shaft_mask and segment_closeup ----------------------------------------------------


def test_shaft_mask_places_edges_at_half_contrast():
    c = np.zeros((60, 80), np.float32)
    c[28:34, 5:75] = 0.6
    m = shaft_mask(c, shaft_width_px=6)
    assert m.dtype == bool and m.shape == c.shape
    assert int(m[:, 40].sum()) == 6
    assert not m[:20].any() and not m[40:].any()


def test_shaft_mask_places_light_edges_at_a_quarter_of_the_peak():
    # A translucent shaft 12 px wide: brightest on its axis, a quarter as
    # contrasted at its rims. Half its peak lies inside it.
    c = np.zeros((80, 120), np.float32)
    s = (np.arange(80) - 39.5) / 6  # -1 and 1 at the rims
    c[:, 10:110] = np.where(np.abs(s) <= 1, 0.2 + 0.6 * (1 - s**2), 0.0)[:, None]
    assert int(shaft_mask(c, shaft_width_px=12, polarity="light")[:, 60].sum()) == 12
    assert int(shaft_mask(c, shaft_width_px=12, polarity="dark")[:, 60].sum()) < 12


@pytest.mark.parametrize(("skin", "hair", "plane"), [("medium", "grey", 2), ("dark", "light", 3)])
def test_light_hair_is_seen_in_its_own_plane(skin, hair, plane):
    # Grey hair stands out most in blue; light-brown hair hardly at all
    # (while white flakes do), and in red less blue, its yellowness, the
    # flakes and scales do not stand out at all.
    assert _light_channel(closeup(skin, hair).image) == plane


def test_shaft_mask_moves_smoothly_with_the_width():
    # The width estimate of a photo moves a little when its brightness does;
    # the mask must then move by a little too. Rounded to odd sizes, the peak
    # window jumped from 11 to 13 px between widths 11.25 and 11.5, and the
    # coverage with it by 1.4 %.
    img = render_closeup(seed=3, shape=(384, 512), blur_sigma=1.5, density_per_cm2=300).image
    c = hair_contrast(img, max_width_px=24.0)
    cov = np.array([shaft_mask(c, shaft_width_px=w).mean() for w in np.arange(10.0, 14.01, 0.25)])
    assert float(np.max(np.abs(np.diff(cov)) / cov[:-1])) < 0.005


def test_shaft_mask_drops_faint_lines():
    c = np.zeros((60, 80), np.float32)
    c[28:34, 5:75] = 0.12  # below the low hysteresis level: skin lines, scales
    assert not shaft_mask(c, shaft_width_px=6).any()


@pytest.mark.parametrize(
    ("skin", "hair"),
    [
        ("light", "dark"),
        ("medium", "dark"),
        ("dark", "dark"),
        ("medium", "grey"),
        ("dark", "light"),
    ],
)
def test_segment_closeup_recovers_the_true_mask(skin, hair):
    s = closeup(skin, hair)
    assert dice(segment_closeup(s.image), s.mask) >= 0.8


@pytest.mark.parametrize("seed", [1, 2])
def test_segment_closeup_rejects_pores(seed):
    s = closeup(seed=seed)
    m = segment_closeup(s.image)
    pores = s.params["pores"]
    assert len(pores) >= 3
    yy, xx = np.mgrid[: m.shape[0], : m.shape[1]]
    for x, y, radius in pores:
        inside = np.hypot(xx - x, yy - y) <= radius
        assert not (m & inside).any(), f"pore at ({x:.0f}, {y:.0f}) is in the hair mask"


@pytest.mark.parametrize("width", [4, 8, 16])
def test_segment_closeup_of_drawn_bars_is_exact_but_for_rounded_corners(width):
    img = rgb(bars(width))
    truth = img[..., 0] < 128
    m = segment_closeup(img)
    # Every row through the bars' middle is exact (edges at half contrast)...
    cols = slice(20 + 2 * width, img.shape[1] - 20 - 2 * width)
    np.testing.assert_array_equal(m[:, cols], truth[:, cols])
    # ...and the smoothing against highlights rounds each bar's four corners
    # by less than half a width.
    corner_pixels = np.count_nonzero(m ^ truth)
    assert corner_pixels <= 4 * (width // 2) ** 2 * truth[:, 30].sum() // width


def test_segment_closeup_with_given_width_and_polarity():
    s = closeup()
    auto = segment_closeup(s.image)
    given = segment_closeup(
        s.image, shaft_width_px=estimate_shaft_width(s.image), polarity="dark"
    )
    np.testing.assert_array_equal(auto, given)


def test_segment_closeup_does_not_modify_its_input():
    img = rgb(bars(8))
    before = img.copy()
    segment_closeup(img)
    np.testing.assert_array_equal(img, before)


def test_segment_overview_splits_two_tones():
    img = np.full((100, 100, 3), 210, np.uint8)
    img[:, :60] = 35
    assert segment_overview(img).mean() == pytest.approx(0.6, abs=0.01)
    assert not segment_overview(np.full((50, 50, 3), 120, np.uint8)).any()


def test_segment_overview_with_dark_polarity_measures_coverage(overview):
    m = segment_overview(overview.image, polarity="dark")
    assert 100 * m.mean() == pytest.approx(overview.coverage_pct(), abs=6.0)


@functools.cache
def small_overview(seed: int) -> np.ndarray:
    """A generated overview at phone-preview size, JPEG as phones save it (cached)."""
    img = render_overview(seed=seed, shape=(480, 640), coverage=0.4, jpeg_quality=90).image
    img.flags.writeable = False
    return img


def overview_cov(img: np.ndarray) -> float:
    return 100.0 * float(segment_overview(img, polarity="dark").mean())


def lit(img: np.ndarray, gain) -> np.ndarray:
    return np.clip(np.round(img * np.asarray(gain, np.float32)), 0, 255).astype(np.uint8)


def test_segment_overview_keeps_single_thin_strands():
    # 2 px strands 20 px apart on light skin: 10 % of the pixels are hair; an
    # opening of 3 px removed them all, smoothing before Otsu doubled them
    img = np.full((200, 300, 3), (222, 204, 204), np.uint8)
    for x in range(10, 290, 20):
        img[:, x : x + 2] = 40
    assert 100 * segment_overview(img).mean() == pytest.approx(100 * 28 / 300, abs=0.5)


def test_segment_overview_drops_specks():
    img = np.full((200, 300, 3), (222, 204, 204), np.uint8)
    img[:, :100] = 40
    img[50:52, 200:202] = 40  # a 2 x 2 speck on the scalp
    m = segment_overview(img)
    assert m[:, :100].all() and not m[:, 100:].any()


@pytest.mark.parametrize("seed", [1, 3])
def test_segment_overview_ignores_light_falling_off_across_the_frame(seed):
    # light 25 % down on the left, 15 % up on the right (vignetting, a lamp to one side)
    img = small_overview(seed)
    ramp = np.linspace(0.75, 1.15, img.shape[1])[None, :, None]
    assert overview_cov(lit(img, ramp)) == pytest.approx(overview_cov(img), abs=1.0)


@pytest.mark.parametrize("seed", [1, 3])
@pytest.mark.parametrize("gain", [0.8, 1.2])
def test_segment_overview_does_not_depend_on_the_exposure(seed, gain):
    # 20 % brighter clips the lightest scalp at 255
    img = small_overview(seed)
    assert overview_cov(lit(img, gain)) == pytest.approx(overview_cov(img), abs=0.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_segment_overview_hardly_moves_with_blur(seed):
    # a recapture resampled onto the baseline's grid is a little blurrier
    img = small_overview(seed)
    assert overview_cov(cv2.GaussianBlur(img, (0, 0), 0.8)) == pytest.approx(overview_cov(img), abs=1.5)


def test_segment_overview_follows_the_light_polarity():
    img = np.full((100, 100, 3), (112, 80, 62), np.uint8)
    img[:, :30] = 220
    assert segment_overview(img, polarity="light").mean() == pytest.approx(0.3, abs=0.01)
    assert segment_overview(img, polarity="dark").mean() == pytest.approx(0.7, abs=0.01)


@pytest.mark.parametrize("turn", TURNS)
def test_segment_overview_turns_with_the_photo(turn):
    img = small_overview(1)
    m = segment_overview(img, polarity="dark")
    turned = segment_overview(np.ascontiguousarray(TURNS[turn](img)), polarity="dark")
    assert turned.mean() == pytest.approx(m.mean(), abs=0.002)
    assert np.mean(turned != TURNS[turn](m)) < 0.005


@pytest.mark.parametrize("q", [5.0, 25.0, 50.0, 95.0])
def test_masked_percentile_equals_numpy(q):
    v = smooth_noise((120, 160), seed=3)
    mask = v > np.quantile(v, 0.3)
    assert _masked_percentile(v, mask, q) == pytest.approx(np.percentile(v[mask], q), abs=1e-3 * float(np.ptp(v)))


def test_scalp_light_recovers_a_smooth_fall_off():
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    light = 200 * (1 - 0.2 * ((xx / 160 - 0.4) ** 2 + (yy / 120 - 0.6) ** 2))
    gray = light.copy()
    gray[:, ::8] *= 0.3  # hair, not used for the fit
    scalp = np.ones(gray.shape, bool)
    scalp[:, ::8] = False
    np.testing.assert_allclose(scalp_light(gray, scalp), light, rtol=0.005)


def test_scalp_light_is_flat_without_enough_scalp():
    gray = np.linspace(50, 250, 100 * 100, dtype=np.float32).reshape(100, 100)
    scalp = np.zeros(gray.shape, bool)
    scalp[0, :10] = True
    out = scalp_light(gray, scalp)
    assert np.ptp(out) == 0 and out[0, 0] == pytest.approx(np.median(gray[scalp]))


def test_scalp_light_keeps_its_range():
    # a fit on one corner of scalp cannot run away over the rest of the frame
    yy, xx = np.mgrid[0:100, 0:100].astype(np.float32)
    gray = 50 + 3 * xx + 3 * yy
    scalp = (xx < 20) & (yy < 20)
    out = scalp_light(gray, scalp)
    assert out.max() / np.median(out) <= 1.6 + 1e-4 and np.median(out) / out.min() <= 1.6 + 1e-4


def test_scalp_light_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        scalp_light(np.ones((10, 10), np.float32), np.ones((10, 11), bool))
    with pytest.raises(ValueError, match="bool mask"):
        scalp_light(np.ones((10, 10), np.float32), np.ones((10, 10), np.uint8))


def smooth_noise(shape, *, seed=0, sigma=6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), sigma)


def test_hysteresis_equals_skimage():
    from skimage.filters import apply_hysteresis_threshold

    v = smooth_noise((300, 400))
    low, high = np.quantile(v, [0.6, 0.9])
    expected = apply_hysteresis_threshold(v, low, high)
    assert 0 < expected.sum() < (v > low).sum()  # some low regions are dropped
    np.testing.assert_array_equal(_hysteresis(v > low, v > high), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_equals_skimage_to_a_bin(seed):
    from skimage.filters import threshold_otsu

    v = hair_contrast(closeup(seed=seed).image, max_width_px=16)
    bin_width = (float(v.max()) - float(v.min())) / 256
    assert abs(_otsu(v) - threshold_otsu(v)) <= bin_width


@pytest.mark.parametrize("max_width", [6.0, 12.0, 16.0, 24.0, 40.0])
def test_contrast_with_a_wide_background_blur_on_a_reduced_copy_is_close(max_width):
    # From a Gaussian of sigma 6 (a widest shaft of 24 px) the blur runs on a
    # reduced copy; below, the contrast is exactly as at full size.
    img = closeup().image
    got = hair_contrast(img, max_width_px=max_width)
    expected = plain_contrast(img, max_width, "dark")
    if max_width < 24:
        np.testing.assert_array_equal(got, expected)
    difference = np.abs(got - expected)
    assert difference.mean() < 0.001
    assert np.quantile(difference, 0.999) < 0.02


def test_pyramid_reduces_mildly_in_one_area_step_and_keeps_the_image():
    img = closeup().image
    p = Pyramid(img)
    size = (round(img.shape[1] * 0.6), round(img.shape[0] * 0.6))
    np.testing.assert_array_equal(p.reduce(0.6), cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    assert p.reduce(1.0) is img and p.reduce(1.5) is img


@pytest.mark.parametrize("factor", [0.45, 0.3, 0.2, 0.128])
def test_pyramid_reduces_strongly_through_halvings_close_to_one_area_step(factor):
    img = render_closeup(seed=1, shape=(768, 960), px_per_mm=PX_PER_MM, density_per_cm2=150.0).image
    got = Pyramid(img).reduce(factor)
    assert got.shape[:2] == (round(768 * factor), round(960 * factor)) and got.dtype == np.uint8
    expected = cv2.resize(img, got.shape[1::-1], interpolation=cv2.INTER_AREA)
    difference = np.abs(got.astype(int) - expected)
    # The last (linear) step is a little sharper than one area step; a copy
    # shifted by half a pixel would differ by about 4 (mean) and 45 (p99).
    assert difference.mean() < 3.0  # grey levels
    assert np.quantile(difference, 0.99) < 30
    np.testing.assert_array_equal(
        Pyramid(img).reduce(0.5), cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    )


def test_pyramid_shares_copies_and_levels():
    p = Pyramid(np.zeros((3000, 4000, 3), np.uint8))
    assert p.reduce(0.256) is p.reduce(0.256)
    assert p.reduce(0.256).shape == (768, 1024, 3)
    assert p.reduce(0.128).shape == (384, 512, 3)
    assert reduce_image(np.zeros((300, 400), np.uint8), 0.3).shape == (90, 120)


@pytest.mark.parametrize("factor", [0, -0.5, float("nan")])
def test_pyramid_refuses_bad_factors(factor):
    with pytest.raises(ValueError, match="positive"):
        Pyramid(np.zeros((10, 10), np.uint8)).reduce(factor)


def test_survey_agrees_with_the_single_functions(overview):
    for image in (closeup().image, closeup("dark", "grey").image, overview.image):
        s = survey(image)
        assert s.mode == detect_mode(image)
        assert s.scale == 1.0  # both photos are at most MODE_DETECTION_SIDE long
        assert s.polarity == choose_polarity(image)
        assert s.shaft_width_px == estimate_shaft_width(image, polarity=s.polarity)


# --- detect_mode -----------------------------------------------------------------------


@pytest.mark.parametrize(("skin", "hair"), [("light", "dark"), ("dark", "grey")])
def test_detect_mode_of_closeups(skin, hair):
    assert detect_mode(closeup(skin, hair).image) == "closeup"


def test_detect_mode_of_drawn_bars():
    img = np.full((480, 640, 3), 200, np.uint8)
    for y in range(40, 440, 80):
        img[y : y + 14, 40:600] = 40
    assert detect_mode(img) == "closeup"


def test_detect_mode_of_an_overview(overview):
    assert detect_mode(overview.image) == "overview"


# --- bad input -------------------------------------------------------------------------

GOOD = np.full((64, 64, 3), 128, np.uint8)
BAD_DTYPES = [np.float32, np.float64, np.uint16, np.int32, bool]
BAD_SHAPES = [(64, 64, 4), (64, 64, 1), (64,), (2, 64, 64, 3)]
IMAGE_FUNCTIONS = {
    "hair_contrast": lambda img: hair_contrast(img, max_width_px=4),
    "estimate_shaft_width": estimate_shaft_width,
    "choose_polarity": choose_polarity,
    "segment_closeup": segment_closeup,
    "segment_overview": segment_overview,
    "detect_mode": detect_mode,
}


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
@pytest.mark.parametrize("dtype", BAD_DTYPES)
@pytest.mark.parametrize("channels", [None, 3])
def test_bad_dtype_is_refused_with_guidance(name, dtype, channels):
    img = np.zeros((64, 64) if channels is None else (64, 64, 3), dtype)
    with pytest.raises(ValueError, match=r"uint8.*load_photo"):
        IMAGE_FUNCTIONS[name](img)


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
@pytest.mark.parametrize("shape", BAD_SHAPES)
def test_bad_shape_is_refused_with_guidance(name, shape):
    with pytest.raises(ValueError, match=r"\(H, W, 3\).*RGB"):
        IMAGE_FUNCTIONS[name](np.zeros(shape, np.uint8))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hair_contrast(GOOD, max_width_px=0), "max_width_px must be positive"),
        (lambda: hair_contrast(GOOD, max_width_px=-3), "max_width_px must be positive"),
        (
            lambda: hair_contrast(GOOD, max_width_px=4, polarity="bright"),
            "'dark' or 'light'",
        ),
        (
            lambda: shaft_mask(np.zeros((9, 9), np.float32), shaft_width_px=0),
            "shaft_width_px must be positive",
        ),
        (
            lambda: shaft_mask(
                np.zeros((9, 9), np.float32), shaft_width_px=4, low=0.5, high=0.3
            ),
            "0 < low <= high",
        ),
        (
            lambda: shaft_mask(np.zeros((9, 9), np.float32), shaft_width_px=4, low=0.0),
            "0 < low <= high",
        ),
        (lambda: segment_closeup(GOOD, polarity="bright"), "'dark' or 'light'"),
    ],
)
def test_bad_parameters_are_refused_with_guidance(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pyramid_halving_is_the_level_reductions_start_from():
    img = closeup().image
    p = Pyramid(img)
    half = cv2.resize(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(p.halving((img.shape[1] // 4 + 1, img.shape[0] // 4 + 1)), half)
    assert p.halving((img.shape[1], img.shape[0])) is img and p.image is img


def _edge_bars_in_full(image: np.ndarray) -> tuple[int, int, int, int]:
    """edge_bars from every line's standard deviation over all its pixels (as it was measured before)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    g = gray.astype(np.float32)

    def flat(axis):
        mean = cv2.reduce(g, axis, cv2.REDUCE_AVG, dtype=cv2.CV_64F).ravel()
        mean2 = cv2.reduce(cv2.multiply(g, g), axis, cv2.REDUCE_AVG, dtype=cv2.CV_64F).ravel()
        return np.sqrt(np.maximum(mean2 - mean * mean, 0.0)) < 1.0

    rows, cols = flat(1), flat(0)

    def run(flat):
        return int(flat.size if flat.all() else np.argmin(flat))

    top, bottom, left, right = run(rows), run(rows[::-1]), run(cols), run(cols[::-1])
    if top + bottom >= g.shape[0] or left + right >= g.shape[1]:
        return (0, 0, 0, 0)
    if rows[top : g.shape[0] - bottom].any() or cols[left : g.shape[1] - right].any():
        return (0, 0, 0, 0)
    return top, bottom, left, right


@pytest.mark.parametrize("seed", range(6))
def test_edge_bars_equal_the_full_measure_with_nearly_flat_lines(seed):
    # Bars of one tone, and lines whose deviation is near the level, on
    # textured and on smooth ground: the bound from every 4th pixel never
    # decides a line otherwise than the full measure.
    rng = np.random.default_rng(seed)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(2, 90, 2))
        shape = (h, w, 3) if rng.random() < 0.5 else (h, w)
        img = rng.integers(0, 256, shape, dtype=np.uint8) if rng.random() < 0.7 else np.full(shape, 120, np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            n, tone = int(rng.integers(0, 12)), int(rng.integers(0, 256))
            side = int(rng.integers(4))
            if side == 0:
                img[:n] = tone
            elif side == 1:
                img[h - n :] = tone
            elif side == 2:
                img[:, :n] = tone
            else:
                img[:, w - n :] = tone
        for _ in range(int(rng.integers(0, 3))):
            spread = float(rng.choice([0.3, 0.7, 1.5, 2.5]))
            if rng.random() < 0.5:
                r = int(rng.integers(h))
                img[r] = np.clip(100 + rng.normal(0, spread, img[r].shape), 0, 255).astype(np.uint8)
            else:
                c = int(rng.integers(w))
                img[:, c] = np.clip(100 + rng.normal(0, spread, img[:, c].shape), 0, 255).astype(np.uint8)
        assert edge_bars(img) == _edge_bars_in_full(img)


def test_edge_bars_of_a_generated_closeup_with_a_caption():
    img = closeup().image.copy()
    img[:30] = 240
    img[-12:, :] = 15
    assert edge_bars(img) == _edge_bars_in_full(img) == (30, 12, 0, 0)
