"""Tests for tracker.imaging.compare: thumbnails, ROI frames, ghosts and wipes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tracker.imaging.compare import draw_roi, ghost, thumbnail, wipe
from tracker.imaging.overlay import ROI_COLOUR

SHAPES = [(1, 1), (5, 3), (40, 60), (333, 777), (777, 333), (600, 600), (1201, 1601)]


def noise(shape: tuple[int, int], seed: int = 0, low: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=(*shape, 3), dtype=np.uint8)


BAD_IMAGES = {
    "float": np.zeros((10, 12, 3), np.float32),
    "uint16": np.zeros((10, 12, 3), np.uint16),
    "grey": np.zeros((10, 12), np.uint8),
    "rgba": np.zeros((10, 12, 4), np.uint8),
    "4-d": np.zeros((1, 10, 12, 3), np.uint8),
}


# ---------------------------------------------------------------------- thumbnail
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("max_side", [1, 7, 64, 320])
def test_thumbnail_keeps_aspect_and_never_enlarges(shape, max_side):
    image = noise(shape)
    before = image.copy()
    out = thumbnail(image, max_side=max_side)
    h, w = shape
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    oh, ow = out.shape[:2]
    assert max(oh, ow) == min(max_side, max(h, w))
    assert oh <= h and ow <= w and oh >= 1 and ow >= 1
    factor = max(oh, ow) / max(h, w)
    # each side is the scaled side rounded (at least one pixel)
    assert abs(oh - max(1.0, h * factor)) <= 0.5 + 1e-9
    assert abs(ow - max(1.0, w * factor)) <= 0.5 + 1e-9
    np.testing.assert_array_equal(image, before)
    assert not np.shares_memory(out, image)
    if max(h, w) <= max_side:
        np.testing.assert_array_equal(out, image)  # small enough: an unchanged copy


def test_thumbnail_default_and_content():
    image = np.zeros((1000, 2000, 3), np.uint8)
    image[:, 1000:] = (200, 100, 50)  # right half coloured
    out = thumbnail(image)
    assert out.shape == (160, 320, 3)
    np.testing.assert_array_equal(out[:, :159], 0)
    np.testing.assert_array_equal(out[:, 161:], np.broadcast_to((200, 100, 50), (160, 159, 3)))


@pytest.mark.parametrize("max_side", [0, -5])
def test_thumbnail_refuses_a_non_positive_size(max_side):
    with pytest.raises(ValueError, match="max_side must be a positive"):
        thumbnail(noise((10, 10)), max_side=max_side)


# ---------------------------------------------------------------------- draw_roi
def _roi_for(shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    return (w // 5, h // 4, max(1, w // 2), max(1, h // 2))


@pytest.mark.parametrize("shape", [s for s in SHAPES if min(s) >= 40])
def test_draw_roi_dims_outside_and_frames(shape):
    image = noise(shape, seed=1)
    before = image.copy()
    roi = _roi_for(shape)
    x, y, w, h = roi
    out = draw_roi(image, roi)
    np.testing.assert_array_equal(image, before)
    assert out.shape == image.shape and out.dtype == np.uint8
    t = max(1, round(max(shape) / 400))  # frame thickness, with a margin each side below
    m = t + 1
    inner = np.s_[y + m : y + h - m, x + m : x + w - m]
    np.testing.assert_array_equal(out[inner], image[inner])  # inside: untouched
    outside = np.ones(shape, bool)
    outside[max(y - m, 0) : y + h + m, max(x - m, 0) : x + w + m] = False
    dimmed = out[outside].astype(int)
    original = image[outside].astype(int)
    assert (dimmed <= original).all()
    np.testing.assert_allclose(dimmed, original * 0.55, atol=1)  # outside: dimmed
    colour = np.array(ROI_COLOUR, np.uint8)
    for row, col in [
        (y, x + w // 2),
        (y + h - 1, x + w // 2),
        (y + h // 2, x),
        (y + h // 2, x + w - 1),
        (y, x),
        (y + h - 1, x + w - 1),
    ]:
        np.testing.assert_array_equal(out[row, col], colour, err_msg=f"frame at {(row, col)}")


def test_draw_roi_may_reach_past_the_edge():
    image = np.full((30, 40, 3), 200, np.uint8)
    out = draw_roi(image, (30, 20, 50, 50))  # runs off the right and bottom
    np.testing.assert_array_equal(out[25, 35], [200, 200, 200])
    assert (out[5, 5] == int(200 * 0.55)).all()
    np.testing.assert_array_equal(out[20, 35], ROI_COLOUR)


@pytest.mark.parametrize("roi", [(0, 0, 0, 10), (0, 0, 10, 0), (5, 5, -3, 4)])
def test_draw_roi_refuses_an_empty_roi(roi):
    with pytest.raises(ValueError, match="positive width and height"):
        draw_roi(noise((20, 20)), roi)


# ---------------------------------------------------------------------- ghost
@pytest.mark.parametrize(
    ("shape", "other"), [((40, 60), (20, 30)), ((333, 777), (1000, 1201)), ((5, 3), (5, 3))]
)
def test_ghost_resizes_the_baseline_and_blends(shape, other):
    image = np.full((*shape, 3), 100, np.uint8)
    baseline = np.full((*other, 3), 200, np.uint8)
    before = (image.copy(), baseline.copy())
    for alpha, expected in [(0.0, 100), (0.35, 135), (0.5, 150), (1.0, 200)]:
        out = ghost(image, baseline, alpha=alpha)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - expected).max() <= 1, alpha
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(baseline, before[1])


def test_ghost_lays_the_baseline_where_it_belongs():
    """A feature in the left half of a half-size baseline shows in the left half."""
    image = np.zeros((40, 80, 3), np.uint8)
    baseline = np.zeros((20, 40, 3), np.uint8)
    baseline[:, :20] = 255
    out = ghost(image, baseline, alpha=1.0)
    assert (out[:, :38] == 255).all() and (out[:, 42:] == 0).all()
    np.testing.assert_array_equal(ghost(image, baseline, alpha=0.0), image)


@pytest.mark.parametrize("alpha", [-0.01, 1.01, 2.0, float("nan")])
def test_ghost_refuses_an_opacity_outside_0_1(alpha):
    with pytest.raises(ValueError, match="alpha is an opacity between 0 and 1"):
        ghost(noise((10, 10)), noise((10, 10)), alpha=alpha)


@pytest.mark.parametrize("bad", list(BAD_IMAGES), ids=list(BAD_IMAGES))
def test_ghost_refuses_bad_arrays_and_names_them(bad):
    good = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match=r"^image must be an \(H, W, 3\) uint8 RGB array"):
        ghost(BAD_IMAGES[bad], good)
    with pytest.raises(ValueError, match=r"^baseline must be an \(H, W, 3\) uint8 RGB array"):
        ghost(good, BAD_IMAGES[bad])


# ---------------------------------------------------------------------- wipe
def _column_kinds(out: np.ndarray, left: np.ndarray, right: np.ndarray) -> str:
    """One letter a column: L (from left), R (from right), W (white split line)."""
    kinds = []
    for c in range(out.shape[1]):
        col = out[:, c]
        if (col == 255).all():
            kinds.append("W")
        elif (col == left[:, c]).all():
            kinds.append("L")
        elif (col == right[:, c]).all():
            kinds.append("R")
        else:
            kinds.append("?")
    return "".join(kinds)


@pytest.mark.parametrize("shape", [(4, 10), (7, 7), (31, 97), (300, 1201)])
@pytest.mark.parametrize("position", [0.0, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_wipe_puts_left_before_the_split_and_right_after(shape, position):
    left = noise(shape, seed=2, low=0, high=100)
    right = noise(shape, seed=3, low=100, high=200)  # same size: no resizing
    before = (left.copy(), right.copy())
    out = wipe(left, right, position=position)
    assert out.shape == left.shape and out.dtype == np.uint8
    kinds = _column_kinds(out, left, right)
    w = shape[1]
    line = max(1, w // 400)
    assert re.fullmatch(rf"L*W{{0,{2 * line}}}R*", kinds), kinds
    split = kinds.count("L") + kinds.count("W") / 2  # middle of the line
    assert abs(split - position * w) <= 1, (kinds, position)
    if position == 0.0:
        assert kinds == "R" * w
    if position == 1.0:
        assert kinds == "L" * w
    if 0 < position * w - 1 and position * w + 1 < w:
        assert "W" in kinds  # the split is marked
    np.testing.assert_array_equal(left, before[0])
    np.testing.assert_array_equal(right, before[1])


def test_wipe_resizes_the_right_image():
    left = np.zeros((40, 100, 3), np.uint8)
    right = np.zeros((20, 50, 3), np.uint8)
    right[:, 25:] = 200  # its right half is bright
    out = wipe(left, right, position=0.2)
    assert out.shape == left.shape
    assert (out[:, :18] == 0).all()  # left image
    assert (out[:, 22:48] == 0).all()  # right image, dark half, at full size
    assert (out[:, 52:] == 200).all()  # right image, bright half, at full size


@pytest.mark.parametrize("position", [-0.1, 1.5, float("nan")])
def test_wipe_refuses_a_position_outside_0_1(position):
    with pytest.raises(ValueError, match="position is a fraction of the width between 0 and 1"):
        wipe(noise((10, 10)), noise((10, 10)), position=position)


@pytest.mark.parametrize("bad", list(BAD_IMAGES), ids=list(BAD_IMAGES))
def test_bad_arrays_are_refused_everywhere(bad):
    good = np.zeros((10, 12, 3), np.uint8)
    array = BAD_IMAGES[bad]
    with pytest.raises(ValueError, match=r"^left must be an \(H, W, 3\) uint8"):
        wipe(array, good)
    with pytest.raises(ValueError, match=r"^right must be an \(H, W, 3\) uint8"):
        wipe(good, array)
    with pytest.raises(ValueError, match=r"^image must be an \(H, W, 3\) uint8"):
        thumbnail(array)
    with pytest.raises(ValueError, match=r"^image must be an \(H, W, 3\) uint8"):
        draw_roi(array, (1, 1, 5, 5))
