"""Registration to the view's baseline photo, wired into the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import cv2
import numpy as np
import pytest

from tracker.analysis import recompute
from tracker.imaging.register import map_points
from tracker.store import NewPhoto
from tracker.synth import CameraMove, render_moved_series

SHAPE = (360, 480)
ROI = (96, 72, 288, 216)


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@functools.cache
def series():
    """A close-up at 60 px/mm photographed three times: the baseline and two moved recaptures."""
    moves = [
        CameraMove(),
        CameraMove(dx=14.0, dy=-9.0, rotation_deg=7.0, scale=1.06, brightness=1.12),
        CameraMove(dx=-12.0, dy=10.0, rotation_deg=-9.0, scale=0.93, brightness=0.85),
    ]
    return render_moved_series(
        seed=5, moves=moves, kind="closeup", shape=SHAPE, px_per_mm=60.0, density_per_cm2=220.0
    )


def _corners(roi) -> np.ndarray:
    x, y, w, h = roi
    return np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])


def _unrelated() -> bytes:
    rng = np.random.default_rng(9)
    img = cv2.GaussianBlur(rng.integers(0, 255, (*SHAPE, 3), dtype=np.uint8), (0, 0), 6)
    return _png(img)


@pytest.fixture
def patient(store):
    return store.add_patient("P-REG")


def _visit(store, patient, day: int):
    return store.add_visit(patient.id, dt.date(2025, 1, day))


def test_follow_ups_are_registered_and_measured_where_the_roi_lands(store, patient):
    s = series()
    v1, v2 = _visit(store, patient, 6), _visit(store, patient, 20)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image), "b.png")])
    assert store.registration(base.photo.id) is None  # the baseline is not registered to itself
    store.set_roi(patient.id, "closeup:crown", ROI, baseline_photo_id=base.photo.id)
    added = store.add_photos(
        v2.id, [NewPhoto("closeup:crown", _png(p.image.image), f"f{i}.png") for i, p in enumerate(s[1:])]
    )
    for a, photo in zip(added, s[1:], strict=True):
        reg = store.registration(a.photo.id)
        assert reg.ok and reg.baseline_photo_id == base.photo.id and reg.score > 0.3 and reg.reason == ""
        (meas,) = store.measurements(a.photo.id)
        assert meas.roi_source == "registered" and meas.roi_registered
        assert meas.registration_id == reg.id and meas.registration_score == pytest.approx(reg.score)
        # the ROI's corners as applied, against the exact mapping of the baseline ROI
        truth = map_points(np.linalg.inv(photo.to_baseline), _corners(ROI))
        applied = np.asarray(meas.parameters["placement"]["photo_corners"])
        width = np.linalg.norm(truth[1] - truth[0])
        assert np.linalg.norm(applied - truth, axis=1).max() / width < 0.02
        # the applied box holds the mapped corners
        x, _, w, _ = meas.roi
        assert x <= truth[:, 0].min() + 1 and x + w >= truth[:, 0].max() - 1
        # the stored provenance gives the same numbers again, bit for bit
        again = recompute(photo.image.image, meas.parameters)
        assert (again.coverage_pct, again.hair_count, again.density_per_cm2) == (
            meas.coverage_pct, meas.hair_count, meas.density_per_cm2
        )
    placements = store.placements(patient.id, "closeup:crown")
    assert [p.roi_source for p in placements] == ["baseline", "registered", "registered"]
    assert placements[0].is_baseline and placements[1].corners is not None
    # the baseline was measured in its own ROI (plus margin) and fixed the view's polarity
    (bm,) = store.measurements(base.photo.id)
    assert bm.roi_source == "whole_photo"  # measured before the ROI was set
    store.reanalyse(patient=patient.id)
    assert store.measurements(base.photo.id)[-1].roi_source == "baseline"
    follow = store.measurements(added[0].photo.id)
    assert follow[-1].registration_id == follow[0].registration_id  # registration reused, not redone
    assert follow[-1].parameters["view_settings"]["polarity"] == store.measurements(base.photo.id)[-1].parameters["polarity"]


def test_repeats_in_the_first_visit_register_to_its_first_photo(store, patient):
    s = series()
    v1 = _visit(store, patient, 6)
    added = store.add_photos(
        v1.id, [NewPhoto("closeup:crown", _png(p.image.image), f"{i}.png") for i, p in enumerate(s)]
    )
    assert store.registration(added[0].photo.id) is None
    for a in added[1:]:
        reg = store.registration(a.photo.id)
        assert reg.ok and reg.baseline_photo_id == added[0].photo.id
        assert store.measurements(a.photo.id)[0].roi_source == "whole_photo"  # no ROI set yet


def test_a_failed_registration_is_flagged_and_the_roi_can_be_placed_by_hand(store, patient):
    s = series()
    v1, v2 = _visit(store, patient, 6), _visit(store, patient, 20)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image))])
    store.set_roi(patient.id, "closeup:crown", ROI, baseline_photo_id=base.photo.id)
    (odd,) = store.add_photos(v2.id, [NewPhoto("closeup:crown", _unrelated(), "odd.png")])
    reg = store.registration(odd.photo.id)
    assert not reg.ok and reg.reason  # says why, in words
    (meas,) = store.measurements(odd.photo.id)
    # never the mapped ROI: the whole photo, flagged
    assert meas.roi_source == "unregistered" and not meas.roi_registered
    assert meas.roi == (0, 0, SHAPE[1], SHAPE[0])
    assert any("by hand" in n for n in meas.parameters["notes"])
    (placement,) = [p for p in store.placements(patient.id, "closeup:crown") if p.photo_id == odd.photo.id]
    assert placement.roi_source == "unregistered" and placement.corners is None
    with pytest.raises(ValueError, match="inside"):
        store.set_photo_roi(odd.photo.id, (400, 0, 200, 50))
    store.set_photo_roi(odd.photo.id, (40, 30, 200, 150), user="dr.b")
    store.reanalyse(photo_ids=[odd.photo.id])
    last = store.measurements(odd.photo.id)[-1]
    assert last.roi_source == "manual" and last.roi == (40, 30, 200, 150)
    assert store.audit_log()[1].action == "set_photo_roi"
    # a new ROI for the view makes the hand placement obsolete
    store.set_roi(patient.id, "closeup:crown", (100, 80, 200, 150), baseline_photo_id=base.photo.id)
    assert store.photo_roi(odd.photo.id) is None
    store.reanalyse(photo_ids=[odd.photo.id])
    assert store.measurements(odd.photo.id)[-1].roi_source == "unregistered"


def test_a_bad_photo_stores_no_registration_either(store, patient):
    from tracker.photo import PhotoError
    from tracker.store import models as m

    s = series()
    v1, v2 = _visit(store, patient, 6), _visit(store, patient, 20)
    store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image))])
    with pytest.raises(PhotoError):
        store.add_photos(
            v2.id, [NewPhoto("closeup:crown", _png(s[1].image.image)), NewPhoto("closeup:crown", b"not a photo")]
        )
    with store.engine.connect() as conn:
        assert conn.execute(m.PhotoRegistration.__table__.select()).all() == []
    assert len(store.photos(patient=patient.id)) == 1


def test_preview_registers_like_add_photos(store, patient):
    s = series()
    v1 = _visit(store, patient, 6)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image))])
    store.set_roi(patient.id, "closeup:crown", ROI, baseline_photo_id=base.photo.id)
    item = NewPhoto("closeup:crown", _png(s[1].image.image))
    preview = store.preview_photo(patient.id, item)
    assert preview.registration.ok and preview.baseline_photo_id == base.photo.id
    assert preview.analysis.roi_source == "registered"
    v2 = _visit(store, patient, 20)
    (added,) = store.add_photos(v2.id, [item])
    assert store.measurements(added.photo.id)[0].coverage_pct == pytest.approx(preview.analysis.coverage_pct)


def test_a_baselines_features_are_found_once_and_register_as_its_pixels(store, patient, monkeypatch):
    from tracker.analysis import register_to_baseline
    from tracker.photo import load_photo
    from tracker.store import api

    s = series()
    v1 = _visit(store, patient, 6)
    base_png = _png(s[0].image.image)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", base_png)])
    item = NewPhoto("closeup:crown", _png(s[2].image.image))
    first = store.preview_photo(patient.id, NewPhoto("closeup:crown", _png(s[1].image.image)))
    assert store.registration_features_kept == (base.photo.sha256,)  # kept for the view's next follow-up
    again = store.preview_photo(patient.id, item)
    direct = register_to_baseline(load_photo(item.data).pixels, load_photo(base_png).pixels)
    assert first.registration.ok and again.registration.ok
    np.testing.assert_array_equal(again.registration.matrix, direct.matrix)
    assert again.registration.score == direct.score
    # only the newest baselines are kept
    monkeypatch.setattr(api, "BASELINE_FEATURES_KEPT", 1)
    (other,) = store.add_photos(v1.id, [NewPhoto("closeup:vertex", _png(s[1].image.image))])
    store.preview_photo(patient.id, NewPhoto("closeup:vertex", _png(s[2].image.image)))
    assert store.registration_features_kept == (other.photo.sha256,)


def test_a_baselines_original_is_decoded_once_for_its_follow_ups(store, patient, monkeypatch):
    """Previews and saves of a view's follow-ups decode the stored baseline's original once:
    its pixels are kept by sha256, for the newest BASELINE_PIXELS_KEPT baselines."""
    from tracker.store import api

    s = series()
    v1 = _visit(store, patient, 6)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image))])
    item = NewPhoto("closeup:crown", _png(s[1].image.image))
    first = store.preview_photo(patient.id, item)
    assert store.baseline_pixels_kept == (base.photo.sha256,)
    # with the original's file gone, what is not read again still measures the same
    path = store.originals.path(base.photo.sha256)
    original = path.read_bytes()
    path.unlink()
    again = store.preview_photo(patient.id, item)
    assert again.registration.score == first.registration.score
    assert again.analysis.coverage_pct == first.analysis.coverage_pct
    # saved with another typed scale, it is measured again (not the preview's values kept)
    (added,) = store.add_photos(_visit(store, patient, 20).id, [dataclasses.replace(item, field_width_mm=8.0)])
    assert store.measurements(added.photo.id)[0].coverage_pct == first.analysis.coverage_pct
    path.write_bytes(original)
    # only the newest baselines are kept, until they are forgotten
    monkeypatch.setattr(api, "BASELINE_PIXELS_KEPT", 1)
    (other,) = store.add_photos(v1.id, [NewPhoto("closeup:vertex", _unrelated())])
    store.preview_photo(patient.id, NewPhoto("closeup:vertex", _png(s[2].image.image)))
    assert store.baseline_pixels_kept == (other.photo.sha256,)
    store.forget_kept()
    assert store.baseline_pixels_kept == () and store.registration_features_kept == () and store.placements_kept == ()


def test_preview_of_a_new_view_registers_to_the_uploads_first_photo(store, patient):
    s = series()
    first, item = (NewPhoto("closeup:crown", _png(p.image.image), f"{i}.png") for i, p in enumerate(s[:2]))
    alone = store.preview_photo(patient.id, item)
    assert alone.registration is None  # on its own it would be the view's baseline
    preview = store.preview_photo(patient.id, item, batch_first=first)
    assert preview.registration.ok and preview.baseline_photo_id is None
    v1 = _visit(store, patient, 6)
    added = store.add_photos(v1.id, [first, item])
    stored = store.registration(added[1].photo.id)
    assert stored.baseline_photo_id == added[0].photo.id
    assert preview.registration.score == pytest.approx(stored.score)
    assert store.measurements(added[1].photo.id)[0].coverage_pct == pytest.approx(preview.analysis.coverage_pct)


def test_field_width_is_the_scale_fallback(store, patient):
    s = series()
    v1 = _visit(store, patient, 6)
    (a,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image), field_width_mm=8.0)])
    (meas,) = store.measurements(a.photo.id)
    assert meas.scale_source == "field_width" and meas.px_per_mm == pytest.approx(SHAPE[1] / 8.0)
    assert meas.density_per_cm2 is not None
    store.reanalyse(photo_ids=[a.photo.id])  # the typed fallback is kept
    assert store.measurements(a.photo.id)[-1].scale_source == "field_width"


def test_each_view_kind_fixes_the_mode(store, patient):
    """A photo is measured as its view's kind says, whatever it looks like: the same
    close-up is an overview in an overview view (no single shafts counted)."""
    s = series()
    v1 = _visit(store, patient, 6)
    close, over = store.add_photos(
        v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image), "c.png"), NewPhoto("crown", _png(s[1].image.image), "o.png")]
    )
    close_meas, over_meas = (store.measurements(a.photo.id)[-1] for a in (close, over))
    assert (close_meas.mode, over_meas.mode) == ("closeup", "overview")
    assert close_meas.hair_count > 0 and over_meas.hair_count is None


def test_a_baseline_too_small_to_match_gives_a_failed_registration_not_an_error(store, patient):
    v1, v2 = _visit(store, patient, 6), _visit(store, patient, 20)
    small = cv2.resize(series()[0].image.image, (24, 20), interpolation=cv2.INTER_AREA)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(small), "tiny.png")])
    (follow,) = store.add_photos(v2.id, [NewPhoto("closeup:crown", _png(series()[1].image.image), "f.png")])
    reg = store.registration(follow.photo.id)
    assert not reg.ok and "baseline photo is 24 x 20 pixels, too small to match" in reg.reason



@pytest.fixture
def measured(monkeypatch):
    """The photos :func:`tracker.analysis.analyze_in_view` measures (by their size in bytes
    of pixels and mean, enough to tell them apart), as the store calls it."""
    from tracker import analysis

    seen: list[tuple[int, float]] = []
    real = analysis.analyze_in_view

    def counted(pixels, **options):
        seen.append((pixels.size, float(pixels.mean())))
        return real(pixels, **options)

    monkeypatch.setattr(analysis, "analyze_in_view", counted)
    return seen


def test_saving_stores_the_measurement_its_preview_made(store, patient, measured):
    s = series()
    v1 = _visit(store, patient, 6)
    store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image), "b.png")])
    item = NewPhoto("closeup:crown", _png(s[1].image.image), "f.png", px_per_mm=100.0, scale_source="magnification")
    preview = store.preview_photo(patient.id, item)
    before = len(measured)
    (added,) = store.add_photos(_visit(store, patient, 20).id, [item])
    assert len(measured) == before  # nothing measured again
    assert store.placements_kept[-1] == added.photo.sha256
    (stored,) = store.measurements(added.photo.id)
    expected = preview.analysis.to_record()
    assert (stored.hair_count, stored.coverage_pct, stored.density_per_cm2) == (
        expected["hair_count"], expected["coverage_pct"], expected["density_per_cm2"]
    )
    assert stored.registration_score == preview.registration.score
    # what the stored measurement is made from is checked, not assumed: another typed
    # scale, or a new ROI, measures the same photo again
    other = NewPhoto("closeup:crown", item.data, "f.png", px_per_mm=50.0, scale_source="magnification")
    store.preview_photo(patient.id, other)
    assert len(measured) == before + 1


def test_a_new_roi_after_the_preview_is_the_one_stored(store, patient, measured):
    s = series()
    v1 = _visit(store, patient, 6)
    (base,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", _png(s[0].image.image), "b.png")])
    item = NewPhoto("closeup:crown", _png(s[1].image.image), "f.png")
    store.preview_photo(patient.id, item)
    roi = store.set_roi(patient.id, "closeup:crown", (40, 30, 200, 150), baseline_photo_id=base.photo.id)
    before = len(measured)
    (added,) = store.add_photos(_visit(store, patient, 20).id, [item])
    assert len(measured) > before
    (stored,) = store.measurements(added.photo.id)
    assert stored.roi_id == roi.id and stored.roi_source == "registered"


def test_the_preview_of_a_new_views_second_photo_is_what_is_stored(store, patient, measured):
    """With no stored photo of the view, the upload's first photo is its baseline: the
    preview of the second measures the first too (it fixes the view's settings, as
    saving both does), and saving both measures neither again."""
    s = series()
    first, item = (NewPhoto("closeup:crown", _png(p.image.image), f"{i}.png") for i, p in enumerate(s[:2]))
    store.preview_photo(patient.id, first)
    preview = store.preview_photo(patient.id, item, batch_first=first)
    assert len(measured) == 2
    added = store.add_photos(_visit(store, patient, 6).id, [first, item])
    assert len(measured) == 2
    (stored,) = store.measurements(added[1].photo.id)
    assert stored.coverage_pct == preview.analysis.coverage_pct and stored.hair_count == preview.analysis.hair_count
    assert stored.parameters["polarity"] == preview.analysis.parameters["polarity"]


def test_the_preview_of_a_visit_dated_before_the_baseline_is_what_is_stored(store, patient, measured):
    """Without an ROI, a visit dated before the view's first stored one brings the view's
    baseline: previewed with the visit's date, its photos are measured as the save measures
    them, and the save measures nothing again."""
    s = series()
    store.add_visit_with_photos(patient.id, dt.date(2025, 1, 20), [NewPhoto("closeup:crown", _png(s[0].image.image), "a.png")])
    first, item = (NewPhoto("closeup:crown", _png(p.image.image), f"{i}.png") for i, p in enumerate(s[1:3]))
    store.preview_photo(patient.id, first, batch_first=first, date=dt.date(2025, 1, 6))
    preview = store.preview_photo(patient.id, item, batch_first=first, date=dt.date(2025, 1, 6))
    # without the date the preview registers to the stored baseline instead
    other = store.preview_photo(patient.id, item, batch_first=first)
    assert preview.baseline_photo_id is None and other.baseline_photo_id is not None
    assert other.registration.score != preview.registration.score
    before = len(measured)
    _, added = store.add_visit_with_photos(patient.id, dt.date(2025, 1, 6), [first, item])
    assert len(measured) == before
    assert store.registration(added[1].photo.id).baseline_photo_id == added[0].photo.id
    (stored,) = store.measurements(added[1].photo.id)
    assert stored.registration_score == preview.registration.score
    assert stored.coverage_pct == preview.analysis.coverage_pct
