"""Region-of-interest page (clinicians): set it on the baseline photo, see where it lands on every photo."""

from __future__ import annotations

import datetime as dt

import cv2
import pytest
from _app_util import ACCOUNTS, run_page

from tracker.store import NewPhoto, Store
from tracker.synth import CameraMove, render_moved_series


def open_page(clinic, use_clinic):
    use_clinic(clinic)
    return run_page("roi", "dr.test", query={"patient": "P-A"})


def test_shows_the_baseline_and_every_photo_of_the_view(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    assert at.selectbox(key="roi_view").value == "closeup:vertex"
    # the clinic's photos are of different (generated) scalps: none registers to the baseline,
    # so each says so and offers placing the region by hand (one preview each)
    assert len(at.image) == 1 + 4 + 3
    assert at.caption[0].value == (
        "No region set yet: the whole photo is measured until a smaller region is drawn. "
        "Move the edges below to draw one."
    )
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 3 and all(w.startswith("Place the region by hand for this photo (below)") for w in warnings)
    assert all("could not be registered to the baseline photo" in w for w in warnings)
    assert at.slider(key="roi_x_closeup:vertex").value == (0, 384)
    assert at.slider(key="roi_y_closeup:vertex").value == (0, 288)


def test_saving_the_region_measures_the_view_again_inside_it(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    at.slider(key="roi_x_closeup:vertex").set_value((40, 240))
    at.slider(key="roi_y_closeup:vertex").set_value((20, 220))
    at.run()
    assert at.image[0].captions == ["Baseline photo with the region 200 × 200 px at (40, 20)"]
    at.button(key="save_roi").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        "Saved the region of Close-up: vertex and measured its 4 photos again."
    ]
    with fresh_clinic.open() as store:
        assert store.current_roi("P-A", "closeup:vertex").box == (40, 20, 200, 200)
        rows = store.timeline("P-A")
        assert len(rows) == 4
        # the baseline in the region; the others could not be registered: whole photo, flagged
        assert rows[0].roi == (40, 20, 200, 200) and rows[0].roi_source == "baseline"
        assert all(r.roi_source == "unregistered" and r.roi == (0, 0, 384, 288) for r in rows[1:])
        assert all(len(store.measurements(r.photo_id)) == 2 for r in rows)  # old values kept
    # the page now starts from the saved region
    assert at.slider(key="roi_x_closeup:vertex").value == (40, 240)


def test_placing_the_region_by_hand_on_a_photo(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    with fresh_clinic.open() as store:
        photo = store.photos(patient="P-A")[1]
    at.slider(key=f"manual_x_{photo.id}").set_value((50, 250))
    at.slider(key=f"manual_y_{photo.id}").set_value((30, 200))
    at.run()
    at.button(key=f"manual_save_{photo.id}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Placed the region by hand on {photo.name} and measured it again."]
    with fresh_clinic.open() as store:
        last = store.measurements(photo.id)[-1]
        assert last.roi_source == "manual" and last.roi == (50, 30, 200, 170)
    # its caption says how the region was placed; it can still be moved, from where it is
    assert len(at.warning) == 2
    assert "Region placed by hand on this photo." in [c.value for c in at.caption]
    assert at.slider(key=f"manual_x_{photo.id}").value == (50, 250)
    assert any(e.label.endswith("(placed by hand)") for e in at.expander)
    assert (
        "Saving a new region returns the 1 photo placed by hand to registration: place them again "
        "afterwards if needed."
    ) in [c.value for c in at.caption]


def test_a_region_placed_by_hand_starts_at_the_baseline_size_and_a_different_size_is_pointed_out(
    fresh_clinic, use_clinic
):
    with fresh_clinic.open() as store:
        photos = store.photos(patient="P-A")
        store.set_roi("P-A", "closeup:vertex", (40, 30, 160, 120), baseline_photo_id=photos[0].id)
    at = open_page(fresh_clinic, use_clinic)
    photo = photos[1]  # another scalp: not registered
    assert at.slider(key=f"manual_x_{photo.id}").value == (40, 200)
    assert at.slider(key=f"manual_y_{photo.id}").value == (30, 150)
    assert not [w for w in at.warning if "of the baseline region's area" in w.value]
    at.slider(key=f"manual_x_{photo.id}").set_value((0, 384))
    at.slider(key=f"manual_y_{photo.id}").set_value((0, 288)).run()
    assert [w.value for w in at.warning if "of the baseline region's area" in w.value] == [
        "This region covers 576% of the baseline region's area: at the same magnification the same "
        "patch of scalp is about the same size. Check the edges before placing it."
    ]


def _png(rgb) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def test_registered_photos_show_the_region_where_it_lands(tmp_path, use_clinic):
    from _app_util import Clinic

    moves = [CameraMove(), CameraMove(dx=12.0, dy=-8.0, rotation_deg=7.0, scale=1.06, brightness=1.1)]
    series = render_moved_series(seed=3, moves=moves, kind="closeup", shape=(288, 384), density_per_cm2=220.0)
    with Store.open(tmp_path / "c", user="setup") as store:
        store.add_patient("P-A")
        for i, photo in enumerate(series):
            visit = store.add_visit("P-A", dt.date(2025, 1 + 3 * i, 10))
            store.add_photos(visit.id, [NewPhoto("closeup:vertex", _png(photo.image.image), f"r{i}.png")])
        store.add_account("dr.test", ACCOUNTS["dr.test"][0], "clinician")
    at = open_page(Clinic(tmp_path / "c"), use_clinic)
    assert len(at.image) == 1 + 2 and not at.warning
    captions = [c.value for c in at.caption]
    assert "Baseline photo: the region is drawn on it." not in captions  # no region set yet
    assert any(c.startswith("Registered to the baseline photo (score ") for c in captions)


def test_not_for_researchers(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("roi", "res.test")
    assert not at.image and at.error[0].value.startswith("This page is not available")


def test_each_row_of_four_photos_starts_level(tmp_path, use_clinic):
    """Four photos to a row, each row its own set of columns: a long note under one photo
    (here every photo fails to register) cannot push the photo below it out of line."""
    from _app_util import Clinic

    from tracker.synth import render_closeup

    with Store.open(tmp_path / "c", user="setup") as store:
        store.add_patient("P-A")
        for i in range(6):  # six different scalps: none registers to the first
            visit = store.add_visit("P-A", dt.date(2025, 1 + i, 10))
            image = render_closeup(seed=40 + i, shape=(144, 192)).image
            store.add_photos(visit.id, [NewPhoto("closeup:vertex", _png(image), f"p{i}.png")])
        store.add_account("dr.test", ACCOUNTS["dr.test"][0], "clinician")
    at = open_page(Clinic(tmp_path / "c"), use_clinic)
    with_photo = [c for c in at.columns if len(c.image) == 1]
    assert len(with_photo) == 6 and all(len(c.image) <= 1 for c in at.columns)
    assert len(at.warning) == 5  # the baseline needs no note


def test_the_view_picker_shows_view_names_and_keeps_the_stored_view(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    picker = at.selectbox(key="roi_view")
    assert picker.options == ["Close-up: vertex"] and picker.value == "closeup:vertex"


NOTHING_TO_SAVE = "Nothing to save yet: move the edges above to draw a region smaller than the whole photo."


def test_without_a_region_the_whole_photo_is_not_offered_for_saving_until_one_is_drawn(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    assert at.button(key="save_roi").disabled
    assert NOTHING_TO_SAVE in [c.value for c in at.caption]
    at.slider(key="roi_x_closeup:vertex").set_value((40, 240)).run()
    assert not at.button(key="save_roi").disabled
    assert NOTHING_TO_SAVE not in [c.value for c in at.caption]
    at.slider(key="roi_x_closeup:vertex").set_value((0, 384)).run()  # the whole photo again
    assert at.button(key="save_roi").disabled


def test_a_saved_region_can_be_widened_to_the_whole_photo(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        first = store.photos(patient="P-A")[0]
        store.set_roi("P-A", "closeup:vertex", (40, 30, 160, 120), baseline_photo_id=first.id)
    at = open_page(fresh_clinic, use_clinic)
    assert not at.button(key="save_roi").disabled
    at.slider(key="roi_x_closeup:vertex").set_value((0, 384))
    at.slider(key="roi_y_closeup:vertex").set_value((0, 288)).run()
    assert not at.button(key="save_roi").disabled  # a choice made, not a region never drawn
    assert NOTHING_TO_SAVE not in [c.value for c in at.caption]


@pytest.fixture
def sent_images(monkeypatch):
    """What the page sent for each image: ``[(caption, width)]`` with width "stretch",
    "content" or pixels (the test tree leaves the width out)."""
    import streamlit.testing.v1.local_script_runner as runner

    sent: list = []
    parse = runner.parse_tree_from_messages

    def keep(messages):
        sent[:] = messages
        return parse(messages)

    monkeypatch.setattr(runner, "parse_tree_from_messages", keep)

    def images() -> list[tuple[str, object]]:
        out = []
        for msg in sent:
            element = msg.delta.new_element
            if msg.HasField("delta") and msg.delta.HasField("new_element") and element.HasField("imgs"):
                spec = element.width_config.WhichOneof("width_spec")
                width = element.width_config.pixel_width if spec == "pixel_width" else spec.removeprefix("use_")
                out.append((element.imgs.imgs[0].caption, width))
        return out

    return images


def test_the_region_previews_fit_the_screen(clinic, use_clinic, sent_images):
    """The baseline preview and the hand-placement previews take the width of their column
    (a phone's 390 px), with no fixed width in pixels."""
    open_page(clinic, use_clinic)
    previews = [(c, w) for c, w in sent_images() if c.startswith(("Baseline photo with the region", "Region "))]
    assert len(previews) == 1 + 3
    assert {w for _, w in previews} == {"stretch"}
