"""Tests for tracker.imaging.orientation: one canonical copy for all eight turns and flips."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.imaging import segment
from tracker.imaging.orientation import Turn, canonical_turn
from tracker.synth import render_closeup

TURNS = {
    "as it is": lambda a: a,
    "rotate 90": lambda a: np.rot90(a, 1),
    "rotate 180": lambda a: np.rot90(a, 2),
    "rotate 270": lambda a: np.rot90(a, 3),
    "flip left-right": lambda a: a[:, ::-1],
    "flip up-down": lambda a: a[::-1],
    "transpose": lambda a: np.swapaxes(a, 0, 1),
    "anti-transpose": lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
}


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(40, 40), (30, 50), (50, 30)])
@pytest.mark.parametrize("name", TURNS)
def test_every_turn_has_the_same_canonical_copy(name, shape, dtype):
    rng = np.random.default_rng(3)
    image = (rng.random(shape) < 0.3) if dtype is bool else rng.integers(0, 200, shape).astype(dtype)
    roi = (3, 5, 20, 12)
    turned = np.ascontiguousarray(TURNS[name](image))
    # the ROI turned with the image: the bounding box of its turned mask
    inside = np.zeros(shape, bool)
    inside[5:17, 3:23] = True
    ys, xs = np.nonzero(TURNS[name](inside))
    turned_roi = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)

    expected = canonical_turn(image, roi=roi)
    got = canonical_turn(turned, roi=turned_roi)
    assert np.array_equal(got.array(turned), expected.array(image))
    assert got.roi(turned_roi) == expected.roi(roi)
    assert got.turned_shape[0] <= got.turned_shape[1]  # landscape first


def test_a_symmetric_image_ties_on_its_contents():
    # Centred and symmetric under every turn: all eight keys tie, and any
    # choice gives the same copy.
    image = np.zeros((9, 9), np.uint8)
    image[4, :] = image[:, 4] = 7
    turn = canonical_turn(image)
    assert np.array_equal(turn.array(image), image)


@pytest.mark.parametrize("name", TURNS)
def test_points_boxes_and_channels_turn_back(name):
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    turned = np.ascontiguousarray(TURNS[name](image))
    turn = canonical_turn(np.ascontiguousarray(turned[..., 0] % 5).astype(np.uint8))
    canon = turn.array(turned)
    assert canon.shape[2] == 3  # colour channels stay last
    # every pixel of the canonical copy, carried back, is that pixel of `turned`
    for y in range(canon.shape[0]):
        for x in range(canon.shape[1]):
            bx, by = turn.point_back(x, y)
            assert np.array_equal(canon[y, x], turned[int(by), int(bx)])
    x0, y0, x1, y1 = turn.box_back((1, 2, 3, 4))
    corners = [turn.point_back(x, y) for x, y in ((1, 2), (2, 3))]
    assert (x0, y0) == tuple(min(c[i] for c in corners) for i in (0, 1))
    assert (x1 - 1, y1 - 1) == tuple(max(c[i] for c in corners) for i in (0, 1))


@pytest.mark.parametrize("weights", [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32)])
def test_weights_must_be_one_plane_of_integers(weights):
    with pytest.raises(ValueError, match="pass a mask or one grey plane"):
        canonical_turn(weights)


def test_turn_as_the_docstring_says():
    a = np.arange(6).reshape(2, 3)
    turn = Turn((2, 3), transpose=True, flip_y=False, flip_x=True)
    assert turn.turned_shape == (3, 2)
    assert turn.array(a).tolist() == [[3, 0], [4, 1], [5, 2]]


@pytest.mark.parametrize("name", TURNS)
def test_the_shaft_width_of_a_turned_photo_is_the_same(name):
    # Grey hair on light skin: estimated on the photo as it lies, the
    # transposed copy reads 11.59 px against 11.79 px (floating-point sums
    # in another order, then thresholds). On the canonical copy they agree.
    image = render_closeup(seed=9, shape=(384, 512), px_per_mm=185.7274124367093, jpeg_quality=85, skin="light", hair="grey").image
    turned = np.ascontiguousarray(TURNS[name](image))
    assert segment.estimate_shaft_width(turned, polarity="light") == segment.estimate_shaft_width(image, polarity="light")
