"""New visit page: each upload's registration to the baseline photo, and the scale it got."""

from __future__ import annotations

import datetime as dt

import cv2
import pytest
from _app_util import ACCOUNTS, Clinic, closeup_png, run_page

from tracker.store import NewPhoto, Store
from tracker.synth import CameraMove, render_card_scene, render_moved_series


def _png(rgb) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _clinic(tmp_path, *, roi: bool = True) -> tuple[Clinic, bytes]:
    moves = [CameraMove(), CameraMove(dx=10.0, dy=6.0, rotation_deg=-6.0, scale=0.95, brightness=0.9)]
    first, again = render_moved_series(seed=8, moves=moves, kind="closeup", shape=(288, 384), density_per_cm2=220.0)
    with Store.open(tmp_path / "c", user="setup") as store:
        store.add_patient("P-A")
        visit = store.add_visit("P-A", dt.date(2025, 1, 10))
        (base,) = store.add_photos(visit.id, [NewPhoto("closeup:vertex", _png(first.image.image), "base.png")])
        if roi:
            store.set_roi("P-A", "closeup:vertex", (60, 40, 240, 200), baseline_photo_id=base.photo.id)
        store.add_account("dr.test", ACCOUNTS["dr.test"][0], "clinician")
    return Clinic(tmp_path / "c"), _png(again.image.image)


def _open(clinic, use_clinic):
    use_clinic(clinic)
    return run_page("new_visit", "dr.test", query={"patient": "P-A"})


@pytest.mark.parametrize(
    ("roi", "registered_ends", "failed_starts", "failed_says"),
    [
        # with a region: the failed photo is measured whole and its region can be placed by hand
        (True, ").", "Place the region by hand for this photo", "could not be registered to the baseline photo"),
        # no region yet: nothing to place, so the advice is to retake the photo
        (False, "no region set yet.", "Retake this photo from the same spot and distance", "the whole photo is measured"),
    ],
)
def test_each_upload_says_how_it_registered(tmp_path, use_clinic, roi, registered_ends, failed_starts, failed_says):
    clinic, again = _clinic(tmp_path, roi=roi)
    at = _open(clinic, use_clinic)
    at.file_uploader(key="visit_photos_0").set_value(
        [("again.png", again, "image/png"), ("other.png", closeup_png(5), "image/png")]
    )
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Registered to the baseline photo (score ") and c.endswith(registered_ends) for c in captions)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith(failed_starts)
    assert failed_says in warnings[0]
    assert sum(c.startswith("No scale") for c in captions) == 2  # once for each photo


def test_two_photos_of_a_new_view_the_second_registers_to_the_first(tmp_path, use_clinic):
    moves = [CameraMove(), CameraMove(dx=10.0, dy=6.0, rotation_deg=-6.0, scale=0.95, brightness=0.9)]
    photos = render_moved_series(seed=8, moves=moves, kind="closeup", shape=(288, 384), density_per_cm2=220.0)
    with Store.open(tmp_path / "c", user="setup") as store:
        store.add_patient("P-N")
        store.add_account("dr.test", ACCOUNTS["dr.test"][0], "clinician")
    use_clinic(Clinic(tmp_path / "c"))
    at = run_page("new_visit", "dr.test", query={"patient": "P-N"})
    at.file_uploader(key="visit_photos_0").set_value(
        [(f"{i}.png", _png(p.image.image), "image/png") for i, p in enumerate(photos)]
    )
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert captions.count("First photo of this view: it becomes the baseline photo the others are registered to.") == 1
    assert any(c.startswith("Registered to the baseline photo (score ") for c in captions)
    assert not at.warning


def test_field_width_is_offered_and_a_card_says_it_gave_the_scale(tmp_path, use_clinic):
    clinic, again = _clinic(tmp_path)
    at = _open(clinic, use_clinic)
    at.number_input(key="visit_field_width").set_value(4.8)
    scene = render_card_scene(seed=2, shape=(480, 640), px_per_mm=4.0, tilt_deg=15.0)
    at.file_uploader(key="visit_photos_0").set_value(
        [("again.png", again, "image/png"), ("card.png", _png(scene.image), "image/png")]
    )
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert "Scale from the typed field-of-view width: 80.00 px/mm." in captions  # 384 px / 4.8 mm
    assert next(s.value for s in at.success).startswith("Scale from the calibration card in the photo: ")
    at.button(key="save_visit").click().run()
    with Store.open(clinic.location) as store:
        rows = store.timeline("P-A")
        assert [r.scale_source for r in rows[1:]] == ["field_width", "card"]
        assert rows[1].roi_source == "registered"
