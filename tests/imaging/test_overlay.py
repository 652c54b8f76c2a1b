"""Tests for tracker.imaging.overlay."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.imaging.measure import HairGroup, ShaftAxis, find_hair_groups
from tracker.imaging.overlay import (
    HAIR_COLOUR,
    LABEL_COLOUR,
    NOT_COUNTED_COLOUR,
    ROI_COLOUR,
    draw_overlay,
)


def scene(shape=(200, 260)) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((*shape, 3), 200, np.uint8)
    mask = np.zeros(shape, bool)
    for y in (30, 80, 130):
        mask[y : y + 8, 30:200] = True
    img[mask] = 40
    return img, mask


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=2)


@pytest.mark.parametrize("shape", [(50, 80), (200, 260), (601, 333)])
def test_overlay_shape_and_dtype(shape):
    img = np.full((*shape, 3), 200, np.uint8)
    out = draw_overlay(img, np.zeros(shape, bool))
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, img)  # nothing to draw: an unchanged copy
    assert out is not img


def test_overlay_does_not_modify_its_inputs():
    img, mask = scene()
    groups = find_hair_groups(mask, shaft_width_px=8)
    img_before, mask_before = img.copy(), mask.copy()
    draw_overlay(img, mask, roi=(10, 10, 220, 170), groups=groups)
    np.testing.assert_array_equal(img, img_before)
    np.testing.assert_array_equal(mask, mask_before)


def test_hair_is_tinted_and_only_hair():
    img, mask = scene()
    out = draw_overlay(img, mask, alpha=0.5)
    np.testing.assert_array_equal(changed(out, img), mask)
    expected = (0.5 * img[mask] + 0.5 * np.array(HAIR_COLOUR)).astype(np.uint8)
    np.testing.assert_allclose(out[mask], expected, atol=1)


def test_roi_is_framed():
    img, mask = scene()
    out = draw_overlay(img, np.zeros_like(mask), roi=(10, 20, 220, 160))
    assert tuple(out[20, 100]) == ROI_COLOUR and tuple(out[179, 100]) == ROI_COLOUR
    assert tuple(out[100, 10]) == ROI_COLOUR and tuple(out[100, 229]) == ROI_COLOUR
    assert not changed(out, img)[22:178, 12:228].any()


def test_each_counted_shaft_gets_a_number_beside_it():
    img, mask = scene()
    groups = find_hair_groups(mask, shaft_width_px=8)
    assert [len(g.shafts) for g in groups] == [1, 1, 1]
    plain = draw_overlay(img, mask)
    labelled = draw_overlay(img, mask, groups=groups)
    diff = changed(labelled, plain)
    for g in groups:
        (shaft,) = g.shafts
        (x0, y0), (x1, y1) = shaft.start, shaft.end
        assert abs(y0 - y1) < 1 and abs(x1 - x0) > 150  # along the shaft, end to end
        # the number lies beside the shaft's middle, not over its hair
        x, y = int((x0 + x1) / 2), int(round(y0))
        near = diff[y - 25 : y + 26, x - 20 : x + 21]
        assert near.sum() > 20
        assert not (diff & mask)[y - 3 : y + 4].any()
    # a lone shaft needs no axis line: nothing drawn away from the numbers
    assert not diff[:, :80].any() and not diff[:, 150:].any()


def test_a_group_of_shafts_gets_their_axes_and_a_grey_one_for_a_shaft_outside_the_roi():
    img = np.full((120, 200, 3), 200, np.uint8)
    mask = np.zeros((120, 200), bool)
    inside = ShaftAxis((20.0, 40.0), (180.0, 40.0), True)
    outside = ShaftAxis((20.0, 90.0), (180.0, 90.0), False)
    g = HairGroup((100.0, 65.0), (20, 36, 181, 94), 320.0, 8.0, 2, True, 1, (inside, outside))
    out = draw_overlay(img, mask, groups=(g,))
    assert tuple(out[40, 60]) == LABEL_COLOUR and tuple(out[90, 60]) == NOT_COUNTED_COLOUR
    # one number, beside the counted axis a third of the way along (the first of two shafts)
    diff = changed(out, img)
    assert diff[41:60, 60:100].sum() > 10
    assert not diff[60:89].any() and not diff[91:].any()


def test_group_made_without_its_axes_carries_a_number_range():
    img = np.full((120, 200, 3), 200, np.uint8)
    mask = np.zeros((120, 200), bool)
    one = HairGroup((60.0, 60.0), (10, 50, 110, 70), 100.0, 8.0, 1, True)
    three = HairGroup((60.0, 60.0), (10, 50, 110, 70), 300.0, 8.0, 3, True)
    a = changed(draw_overlay(img, mask, groups=(one,)), img).sum()
    b = changed(draw_overlay(img, mask, groups=(three,)), img).sum()
    assert b > 2 * a  # "1-3" against "1"


def test_uncounted_group_gets_a_grey_frame_and_no_number():
    img = np.full((120, 200, 3), 200, np.uint8)
    mask = np.zeros((120, 200), bool)
    g = HairGroup((60.0, 60.0), (20, 30, 120, 90), 100.0, 8.0, 1, False)
    out = draw_overlay(img, mask, groups=(g,))
    assert (
        tuple(out[30, 70]) == NOT_COUNTED_COLOUR
        and tuple(out[89, 70]) == NOT_COUNTED_COLOUR
    )
    assert not changed(out, img)[32:88, 22:118].any()


@pytest.mark.parametrize(
    ("image", "mask", "match"),
    [
        (np.zeros((20, 30), np.uint8), np.zeros((20, 30), bool), r"\(H, W, 3\) uint8"),
        (
            np.zeros((20, 30, 4), np.uint8),
            np.zeros((20, 30), bool),
            r"\(H, W, 3\) uint8",
        ),
        (
            np.zeros((20, 30, 3), np.float32),
            np.zeros((20, 30), bool),
            r"\(H, W, 3\) uint8",
        ),
        (
            np.zeros((20, 30, 3), np.uint16),
            np.zeros((20, 30), bool),
            r"\(H, W, 3\) uint8",
        ),
        (np.zeros((20, 30, 3), np.uint8), np.zeros((30, 20), bool), "does not match"),
        (
            np.zeros((20, 30, 3), np.uint8),
            np.zeros((20, 30, 3), bool),
            "does not match",
        ),
    ],
)
def test_bad_input_raises(image, mask, match):
    with pytest.raises(ValueError, match=match):
        draw_overlay(image, mask)
