"""Tests for tracker.imaging.quality on generated scalp photos."""

from __future__ import annotations

import dataclasses
import functools
import json

import cv2
import numpy as np
import pytest

from tracker.imaging.quality import Check, QualityReport, assess_quality
from tracker.wording import BANNED_WORDS

DARK_HAIR, LIGHT_SKIN = (45, 32, 25), (205, 160, 140)
LIGHT_HAIR, DARK_SKIN = (225, 220, 215), (120, 85, 65)
BANNED = BANNED_WORDS


def _fixed(point) -> tuple[int, int]:
    """Point in 1/16 pixel, for OpenCV's sub-pixel drawing (shift=4)."""
    return tuple(round(v * 16) for v in point)


@functools.lru_cache(maxsize=64)
def scene(
    shape: tuple[int, int] = (768, 1024),
    *,
    hairs: int = 20,
    blur: float = 0.0,
    hair: tuple[int, int, int] = DARK_HAIR,
    skin: tuple[int, int, int] = LIGHT_SKIN,
    gain: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """A close-up: skin with pores, hair shafts 3-8 px wide, sensor noise.

    Sizes and ``blur`` (Gaussian sigma) are relative to a 1024-pixel long
    side, so one seed gives the same scene at any resolution. The result is
    read-only because it is cached; copy it before drawing on it.
    """
    rng = np.random.default_rng(seed)
    cv2.setRNGSeed(seed)
    h, w = shape
    unit = max(h, w) / 1024
    img = np.empty((h, w, 3), np.uint8)
    img[:] = skin
    pore = tuple(int(0.85 * c) for c in skin)
    for _ in range(400):
        centre = rng.uniform(0, 1, 2) * (w, h)
        radius = round(rng.uniform(1, 2.5) * unit * 16)
        cv2.circle(img, _fixed(centre), radius, pore, -1, cv2.LINE_AA, 4)
    for _ in range(hairs):
        start = rng.uniform(-0.1, 1.1, 2) * (w, h)
        angle = rng.uniform(0, np.pi)
        end = start + rng.uniform(0.3, 0.9) * max(h, w) * np.array(
            [np.cos(angle), np.sin(angle)]
        )
        width = max(1, round(rng.uniform(3, 8) * unit))
        cv2.line(img, _fixed(start), _fixed(end), hair, width, cv2.LINE_AA, 4)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur * unit)
    noise = np.empty(img.shape, np.int16)
    cv2.randn(noise, 0, 2)
    img = cv2.add(cv2.convertScaleAbs(img, alpha=gain), noise, dtype=cv2.CV_8U)
    img.flags.writeable = False
    return img


def by_name(report: QualityReport) -> dict[str, Check]:
    return {check.name: check for check in report.checks}


def grey(shape: tuple[int, int], level: int = 128) -> np.ndarray:
    """A featureless RGB image of ``shape`` (height, width)."""
    return np.full((*shape, 3), level, np.uint8)


def disc(image: np.ndarray, share: float, colour, centre=(512, 384)) -> np.ndarray:
    """Copy of ``image`` with a filled disc covering ``share`` of its area."""
    out = image.copy()
    radius = np.sqrt(share * out.shape[0] * out.shape[1] / np.pi)
    cv2.circle(out, _fixed(centre), round(radius * 16), colour, -1, cv2.LINE_AA, 4)
    return out


# --- sharpness ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("blur", "expected"),
    [(0, "pass"), (1, "pass"), (2, "warn"), (4, "fail"), (8, "fail")],
)
@pytest.mark.parametrize("hairs", [3, 150])
@pytest.mark.parametrize(
    "look",
    [
        {"hair": DARK_HAIR, "skin": LIGHT_SKIN},
        {"hair": LIGHT_HAIR, "skin": DARK_SKIN},
        {"hair": DARK_HAIR, "skin": LIGHT_SKIN, "gain": 0.4},
    ],
    ids=["dark-hair", "light-hair", "dim"],
)
def test_sharpness_follows_blur_not_content(blur, expected, hairs, look):
    check = by_name(assess_quality(scene(hairs=hairs, blur=blur, **look)))["sharpness"]
    assert check.status == expected, check
    assert check.advice


@pytest.mark.slow
@pytest.mark.parametrize(("blur", "expected"), [(0, "pass"), (2, "warn"), (4, "fail")])
@pytest.mark.parametrize("hairs", [3, 150])
def test_sharpness_is_resolution_independent(blur, expected, hairs):
    large = by_name(assess_quality(scene((3000, 4000), hairs=hairs, blur=blur)))[
        "sharpness"
    ]
    small = by_name(assess_quality(scene((750, 1000), hairs=hairs, blur=blur)))[
        "sharpness"
    ]
    assert large.status == small.status == expected
    assert large.value == pytest.approx(small.value, abs=0.015)


def test_sharpness_steepness_falls_with_blur():
    values = [
        by_name(assess_quality(scene(hairs=20, blur=blur)))["sharpness"].value
        for blur in (0, 1, 2, 4, 8)
    ]
    assert values == sorted(values, reverse=True)
    assert values[0] > 2.5 * values[-1]


def test_flat_image_fails_sharpness_for_lack_of_detail():
    check = by_name(assess_quality(grey((600, 800), 150)))["sharpness"]
    assert (check.status, check.value) == ("fail", 0.0)
    assert "too little detail" in check.advice


def test_out_of_focus_advice_says_what_to_do():
    check = by_name(assess_quality(scene(blur=8)))["sharpness"]
    assert check.advice == (
        "The photo is out of focus: hold the camera still, let it focus, and retake it."
    )


# --- exposure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected", "word"),
    [
        (20, "fail", "dark"),
        (50, "warn", "dark"),
        (128, "pass", "within range"),
        (225, "warn", "bright"),
        (240, "fail", "bright"),
    ],
)
def test_exposure_grades_mean_brightness(level, expected, word):
    check = by_name(assess_quality(grey((600, 800), level)))["exposure"]
    assert check.status == expected
    assert check.value == pytest.approx(level)
    assert word in check.advice


@pytest.mark.parametrize(
    ("gain", "expected"), [(1.0, "pass"), (0.33, "warn"), (0.12, "fail")]
)
def test_exposure_of_dimmed_scene(gain, expected):
    check = by_name(assess_quality(scene(hairs=60, gain=gain)))["exposure"]
    assert check.status == expected
    if expected == "fail":
        assert check.advice.startswith("The photo is too dark")
        assert "retake" in check.advice


def test_overexposed_scene_fails_with_clipped_share():
    check = by_name(assess_quality(scene(hairs=60, gain=1.6)))["exposure"]
    assert check.status == "fail"
    assert "bright" in check.advice or "pure white" in check.advice


def test_black_lens_rim_warns_and_roi_inside_clears_it():
    image = np.array(scene(hairs=30))
    rim = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(rim, (512, 384), 384, 1, -1)
    image[rim == 0] = 0
    whole = by_name(assess_quality(image))["exposure"]
    assert whole.status == "warn"
    assert "region of interest" in whole.advice
    inside = by_name(assess_quality(image, roi=(300, 200, 424, 368)))["exposure"]
    assert inside.status == "pass"


# --- glare -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "expected"),
    [(0.0, "pass"), (0.003, "pass"), (0.02, "warn"), (0.08, "fail")],
)
def test_glare_grades_white_blobs(share, expected):
    image = disc(scene(hairs=30), share, (252, 251, 249))
    check = by_name(assess_quality(image))["glare"]
    assert check.status == expected
    assert check.value == pytest.approx(100 * share, abs=0.3)


@pytest.mark.parametrize(
    ("mode", "remedy"), [("closeup", "polarised"), ("overview", "flash")]
)
def test_glare_advice_fits_the_camera(mode, remedy):
    check = by_name(assess_quality(disc(scene(), 0.08, (255, 255, 255)), mode=mode))[
        "glare"
    ]
    assert check.status == "fail"
    assert remedy in check.advice


def test_white_hair_and_coloured_patches_are_not_glare():
    image = disc(
        scene(hairs=150, hair=(235, 232, 228), skin=DARK_SKIN), 0.08, (255, 40, 40)
    )
    check = by_name(assess_quality(image))["glare"]
    assert check.status == "pass"
    assert check.value < 0.1


# --- resolution --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "short", "expected"),
    [
        ("closeup", 640, "pass"),
        ("closeup", 639, "warn"),
        ("closeup", 320, "warn"),
        ("closeup", 319, "fail"),
        ("overview", 1000, "pass"),
        ("overview", 999, "warn"),
        ("overview", 600, "warn"),
        ("overview", 599, "fail"),
    ],
)
@pytest.mark.parametrize("portrait", [False, True])
def test_resolution_limits(mode, short, expected, portrait):
    shape = (short + 200, short) if portrait else (short, short + 200)
    check = by_name(assess_quality(grey(shape), mode=mode))["resolution"]
    assert check.status == expected
    assert check.value == short
    assert f"{shape[1]} x {shape[0]} pixels" in check.advice


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (30, 40)])
def test_tiny_images_fail_on_resolution_without_crashing(shape):
    image = cv2.resize(np.asarray(scene()), shape[::-1], interpolation=cv2.INTER_AREA)
    report = assess_quality(image)
    assert by_name(report)["resolution"].status == "fail"
    assert report.status == "fail"
    json.dumps(report.to_dict())


# --- input handling ----------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        lambda u8: u8.astype(np.uint16) * 257,
        lambda u8: u8.astype(np.float32) / 255,
        lambda u8: u8 / 255.0,
        lambda u8: np.asfortranarray(u8),
    ],
    ids=["uint16", "float32", "float64", "fortran-order"],
)
def test_other_dtypes_give_the_same_report(convert):
    image = np.asarray(scene(hairs=30, blur=2))
    assert assess_quality(convert(image)).to_dict() == assess_quality(image).to_dict()


@pytest.mark.parametrize(
    ("shape", "hint"),
    [
        ((40, 50), "np.dstack"),
        ((40, 50, 4), "image[..., :3]"),
        ((3, 40, 50), "np.moveaxis"),
        ((40, 50, 1), "(height, width, 3)"),
        ((0, 50, 3), "non-empty"),
        ((40, 50, 3, 1), "(height, width, 3)"),
    ],
)
def test_bad_shapes_raise_with_guidance(shape, hint):
    with pytest.raises(ValueError, match="RGB image") as info:
        assess_quality(np.zeros(shape, np.uint8))
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "image",
    [
        np.full((8, 8, 3), 2.0),
        np.full((8, 8, 3), -0.1, np.float32),
        np.full((8, 8, 3), np.nan),
    ],
    ids=["above-1", "negative", "nan"],
)
def test_float_outside_unit_range_raises(image):
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide"):
        assess_quality(image)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, bool, np.uint32])
def test_unsupported_dtype_raises(dtype):
    with pytest.raises(ValueError, match="uint8, uint16 or float"):
        assess_quality(np.zeros((8, 8, 3), dtype))


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="'closeup' or 'overview'"):
        assess_quality(scene(), mode="macro")


# --- region of interest ------------------------------------------------------


@pytest.fixture(scope="module")
def half_blurred() -> np.ndarray:
    """Left half out of focus with a glare spot, right half sharp."""
    image = np.array(scene(hairs=60))
    image[:, :512] = scene(hairs=60, blur=8)[:, :512]
    return disc(image, 0.04, (255, 255, 255), centre=(256, 384))


@pytest.mark.parametrize(
    ("roi", "sharpness", "glare"),
    [
        ((0, 0, 512, 768), "fail", "fail"),
        ((512, 0, 512, 768), "pass", "pass"),
        ((np.int64(600), 100, 300, 500), "pass", "pass"),
    ],
)
def test_roi_restricts_the_image_checks(half_blurred, roi, sharpness, glare):
    checks = by_name(assess_quality(half_blurred, roi=roi))
    assert checks["sharpness"].status == sharpness
    assert checks["glare"].status == glare
    assert checks["resolution"].value == 768  # the whole photo, not the region


@pytest.mark.parametrize(
    "roi",
    [
        (-1, 0, 10, 10),
        (0, 0, 0, 10),
        (0, 0, 1025, 10),
        (1000, 700, 30, 10),
        (0, 0, 10),
        (0.5, 0, 10, 10),
    ],
)
def test_bad_roi_raises_with_guidance(roi):
    with pytest.raises(ValueError, match=r"\(x, y, w, h\).*1024 x 768 image"):
        assess_quality(scene(), roi=roi)


# --- report ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        (("pass", "pass"), "pass"),
        (("pass", "warn"), "warn"),
        (("warn", "fail", "pass"), "fail"),
        (("fail",), "fail"),
    ],
)
def test_report_status_is_the_worst_check(statuses, worst):
    checks = tuple(Check(f"c{i}", s, 0.0, "x.") for i, s in enumerate(statuses))
    assert QualityReport(checks).status == worst


def test_assessed_report_status_is_the_worst_check():
    report = assess_quality(disc(scene(blur=2), 0.02, (255, 255, 255)))
    assert [c.status for c in report.checks] == ["warn", "pass", "warn", "pass"]
    assert report.status == "warn"
    assert assess_quality(scene(blur=8)).status == "fail"


def test_report_and_check_validate_their_fields():
    with pytest.raises(ValueError, match="at least one check"):
        QualityReport(())
    with pytest.raises(ValueError, match="unique"):
        QualityReport(
            (Check("glare", "pass", 0, "a."), Check("glare", "warn", 1, "b."))
        )
    with pytest.raises(ValueError, match="'pass', 'warn' or 'fail'"):
        Check("glare", "ok", 0.0, "a.")
    with pytest.raises(dataclasses.FrozenInstanceError):
        assess_quality(scene()).checks[0].status = "pass"


def test_to_dict_is_json_serialisable():
    report = assess_quality(scene(hairs=30))
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == report.status
    assert list(data["checks"]) == ["sharpness", "exposure", "glare", "resolution"]
    for name, entry in data["checks"].items():
        assert set(entry) == {"status", "value", "advice"}
        assert type(entry["value"]) is float
        assert entry == by_name(report)[name].to_dict()


# --- advice wording ----------------------------------------------------------


@functools.cache
def scenario_checks() -> tuple[Check, ...]:
    """Checks from photos chosen to reach every verdict of every check."""
    scenarios = [
        (scene(hairs=30), "closeup"),
        (scene(blur=2), "closeup"),
        (scene(blur=8), "closeup"),
        (grey((700, 900), 150), "closeup"),
        (grey((700, 900), 50), "closeup"),
        (grey((700, 900), 20), "closeup"),
        (grey((700, 900), 225), "closeup"),
        (grey((700, 900), 240), "closeup"),
        (disc(scene(), 0.3, (255, 255, 255)), "closeup"),
        (disc(scene(), 0.3, (0, 0, 0)), "closeup"),
        (disc(scene(), 0.02, (255, 255, 255)), "closeup"),
        (disc(scene(), 0.08, (255, 255, 255)), "overview"),
        (grey((500, 600)), "closeup"),
        (grey((100, 120)), "overview"),
        (grey((700, 900)), "overview"),
    ]
    return tuple(
        c for image, mode in scenarios for c in assess_quality(image, mode=mode).checks
    )


def test_scenarios_reach_every_verdict_of_every_check():
    seen = {(c.name, c.status) for c in scenario_checks()}
    names = ("sharpness", "exposure", "glare", "resolution")
    assert seen == {(n, s) for n in names for s in ("pass", "warn", "fail")}


def test_advice_is_one_plain_sentence_without_banned_words():
    for check in scenario_checks():
        text = check.advice
        assert text[0].isupper() or text[0].isdigit(), text
        assert text.endswith(".") and ". " not in text, text
        assert not any(word in text.lower() for word in BANNED), text


@pytest.mark.parametrize("roi", [None, (0, 0, 2400, 1800), (100, 50, 1800, 1200)])
def test_a_pyramid_of_the_photo_gives_the_same_report(roi):
    from tracker.imaging.segment import Pyramid

    img = np.ascontiguousarray(scene((1800, 2400), seed=3))
    pyramid = Pyramid(img)
    pyramid.reduce(0.2)  # halvings made before, as the analysis makes them
    assert assess_quality(img, roi=roi, pyramid=pyramid) == assess_quality(img, roi=roi)
    # a pyramid of another image is not used
    other = Pyramid(np.zeros_like(img))
    assert assess_quality(img, roi=roi, pyramid=other) == assess_quality(img, roi=roi)
