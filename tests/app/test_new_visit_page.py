"""New visit page (clinicians): upload several photos, check each, save them."""

from __future__ import annotations

import datetime as dt
import functools

import cv2
import numpy as np
from _app_util import closeup_png, run_page

from tracker.synth import render_overview
from tracker.wording import OBSERVED_ONLY


@functools.cache
def overview_png(seed: int) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(render_overview(seed=seed, shape=(480, 640)).image, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def upload(at, files):
    at.file_uploader(key="visit_photos_0").set_value(files)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(clinic, use_clinic, patient="P-A"):
    use_clinic(clinic)
    at = run_page("new_visit", "dr.test", query={"patient": patient})
    assert [i.value for i in at.info] == [
        "Upload the photos of this visit; each is checked and measured before you save."
    ]
    return at


def test_each_upload_shows_thumbnail_quality_and_measurements(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(at, [("one.png", closeup_png(1), "image/png"), ("two.png", closeup_png(2), "image/png")])
    assert [h.value for h in at.subheader] == ["one.png", "two.png"]
    quality_lines = [m.value for m in at.markdown if m.value.startswith("**Photo quality:**")]
    assert len(quality_lines) == 2
    assert len(at.table) == 2  # a measurement table per photo
    assert [c.value for c in at.caption].count(OBSERVED_ONLY) == 2
    # thumbnail and the baseline laid faintly over it, per photo
    assert len(at.image) == 4
    assert at.button(key="save_visit").label == "Save visit with 2 photos"


def test_a_photo_without_a_scale_says_so_once_with_what_to_do(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(at, [("closeup.png", closeup_png(3), "image/png"), ("crown.png", overview_png(4), "image/png")])
    no_scale = [c.value for c in at.caption if "no scale" in c.value.lower()]
    # one line per photo: the close-up's says what is not measured and how to get a scale
    assert no_scale == [
        "No scale: no calibration card found and none typed, so density, width in µm and thin-hair share "
        "are not measured. To measure them, keep the calibration card in the photo, or type the scale or "
        "the field-of-view width for this visit.",
        "No scale: no calibration card found and none typed.",
    ]
    # with a typed scale, no line says there is none
    at.number_input(key="visit_scale").set_value(250.0).run()
    assert not at.exception
    assert not [c.value for c in at.caption if "no scale" in c.value.lower()]
    assert "Scale as typed: 250.00 px/mm." in [c.value for c in at.caption]


def test_a_duplicate_upload_is_named_and_not_saved_again(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(at, [("again.png", closeup_png(101), "image/png")])  # P-A's baseline photo
    assert len(at.warning) == 1
    assert at.warning[0].value.startswith(
        "Duplicate: this exact photo is already stored (patient P-A, visit of 10 Jan 2025"
    )
    assert at.button(key="save_visit").disabled


def test_a_bad_file_gets_an_actionable_error(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(at, [("notes.jpg", b"not a photo at all", "image/jpeg"), ("ok.png", closeup_png(3), "image/png")])
    assert len(at.error) == 1 and at.error[0].value.startswith("notes.jpg:")
    assert at.button(key="save_visit").label == "Save visit with 1 photo"


def test_files_that_are_not_photos_get_no_view_and_are_named_as_left_out(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(
        at,
        [
            ("notes.jpg", b"not a photo at all", "image/jpeg"),
            ("empty.jpg", b"", "image/jpeg"),
            ("ok.png", closeup_png(5), "image/png"),
        ],
    )
    assert [e.value.split(":")[0] for e in at.error] == ["notes.jpg", "empty.jpg"]
    # a view is chosen for the photo only: a file that is not one has nothing to file
    assert [b.label for b in at.selectbox if b.label == "View"] == ["View"]
    assert [w.value for w in at.warning if w.value.startswith("Saving leaves out")] == [
        "Saving leaves out 2 files that could not be measured (see why above): notes.jpg, empty.jpg. "
        "To include one, upload a usable copy of it."
    ]
    assert at.button(key="save_visit").label == "Save visit with 1 photo"


def _flat_png(height: int, width: int) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), 180, np.uint8))
    assert ok
    return data.tobytes()


def test_tiny_photos_get_an_error_or_a_failed_match_and_the_others_can_still_be_saved(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(
        at,
        [
            ("tiny.png", _flat_png(6, 6), "image/png"),  # too small to measure at all
            ("small.png", _flat_png(20, 24), "image/png"),  # measured, too small to match the baseline
            ("ok.png", closeup_png(4), "image/png"),
        ],
    )
    (error,) = [e.value for e in at.error]
    assert error.startswith("tiny.png:") and "too small" in error
    assert any(w.value.startswith("Saving leaves out 1 file that") and "tiny.png" in w.value for w in at.warning)
    assert any("too small to match" in w.value for w in at.warning)
    assert at.button(key="save_visit").label == "Save visit with 2 photos"


def test_saving_stores_the_visit_with_its_photos_and_events(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    at.date_input(key="visit_date").set_value(dt.date(2025, 10, 10))
    at.text_input(key="visit_events").input("dose changed, new device")
    at.selectbox(key="visit_patient").select("P-A")
    upload(at, [("one.png", closeup_png(11), "image/png"), ("two.png", closeup_png(12), "image/png")])
    shown = [t.value for t in at.table]
    at.button(key="save_visit").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved the visit of 10 Oct 2025 with 2 photos for P-A."]
    assert at.file_uploader(key="visit_photos_1").value in (None, [])  # a fresh, empty uploader
    with fresh_clinic.open() as store:
        visit = store.visits("P-A")[-1]
        assert visit.date == dt.date(2025, 10, 10)
        assert visit.events == ("dose changed", "new device")
        rows = [r for r in store.timeline("P-A") if r.visit_id == visit.id]
        assert len(rows) == 2
        # the stored numbers are the ones the page showed
        counts = sorted(str(r.hair_count) for r in rows)
        shown_counts = sorted(t.loc[t["Measure"] == "Hair count", "Value"].item().split()[0] for t in shown)
        assert counts == shown_counts


def test_the_view_of_each_photo_can_be_chosen(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    upload(at, [("top.png", closeup_png(21), "image/png")])
    at.selectbox(key="view_0_0").select("closeup:crown").run()
    at.button(key="save_visit").click().run()
    with fresh_clinic.open() as store:
        assert store.photos(patient="P-A")[-1].view == "closeup:crown"


def test_each_photo_is_offered_a_view_of_the_kind_it_looks_like(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        store.add_patient("P-NEW")
    # a patient with only close-ups on record, and one with nothing on record
    for patient, closeup_view in (("P-A", "closeup:vertex"), ("P-NEW", "closeup:vertex")):
        at = open_page(fresh_clinic, use_clinic, patient)
        upload(at, [("crown.png", overview_png(1), "image/png"), ("near.png", closeup_png(31), "image/png")])
        assert at.selectbox(key="view_0_0").value == "vertex"
        assert at.selectbox(key="view_0_1").value == closeup_view
        assert not [w.value for w in at.warning if w.value.startswith("This photo looks like")], patient


def test_a_photo_filed_under_a_view_of_the_other_kind_is_flagged(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    upload(at, [("crown.png", overview_png(2), "image/png"), ("near.png", closeup_png(32), "image/png")])
    at.selectbox(key="view_0_0").select("closeup:vertex").run()
    at.selectbox(key="view_0_1").select("crown").run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("This photo looks like an overview") and "the view 'Close-up: vertex' is for close-ups" in w
               for w in warnings), warnings
    assert any(w.startswith("This photo looks like a close-up") and "the view 'Crown' is for overview photos" in w
               for w in warnings), warnings


def test_views_are_offered_by_their_names_and_stored_as_views(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    upload(at, [("top.png", closeup_png(22), "image/png")])
    picker = at.selectbox(key="view_0_0")
    assert picker.options[:3] == ["Close-up: vertex", "Vertex", "Crown"]  # the patient's own view first
    assert "Frontal hairline" in picker.options and "Temporal left" in picker.options
    assert not [o for o in picker.options if o.startswith("closeup:")]
    picker.select("frontal_hairline").run()
    assert at.selectbox(key="view_0_0").value == "frontal_hairline"


def test_the_visit_date_is_typed_day_first_as_the_app_writes_dates(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    assert at.date_input(key="visit_date").proto.format == "DD/MM/YYYY"


def test_a_date_before_the_first_visit_warns_that_it_becomes_the_baseline(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    assert not at.warning
    at.date_input(key="visit_date").set_value(dt.date(2024, 12, 1)).run()
    assert [w.value for w in at.warning] == [
        "This date is before the first visit on record (10 Jan 2025). Saved with it, this visit becomes "
        "the baseline: later photos are compared with its photos, and each view's region of interest "
        "has to be drawn again on them. Check the date."
    ]


def test_a_date_in_the_future_is_pointed_out(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    at.date_input(key="visit_date").set_value(dt.date.today() + dt.timedelta(days=1)).run()
    assert not at.warning  # the clinic's today may be the server's tomorrow
    later = dt.date.today() + dt.timedelta(days=365)
    at.date_input(key="visit_date").set_value(later).run()
    assert [w.value for w in at.warning] == [
        f"{later.day} {later:%b %Y} is in the future. Check the date: a visit is saved with the day it took place."
    ]


def test_a_visit_of_archived_photos_may_be_dated_decades_back(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    assert at.date_input(key="visit_date").min <= dt.date(1990, 1, 1)  # the picker's default stops ten years back


def test_a_second_visit_on_the_same_date_is_pointed_out(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    at.date_input(key="visit_date").set_value(dt.date(2025, 4, 10)).run()
    assert [w.value for w in at.warning] == [
        "A visit on 10 Apr 2025 is already on record: saving makes a second visit that day. "
        "Repeat photos of one visit belong in one upload."
    ]


def test_saving_one_photo_says_one_photo(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    upload(at, [("one.png", closeup_png(41), "image/png")])
    at.button(key="save_visit").click().run()
    assert [s.value for s in at.success][0].endswith("with 1 photo for P-A.")


def test_not_for_patients(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("new_visit", "pat.a")
    assert not at.file_uploader
    assert at.error[0].value.startswith("This page is not available")
