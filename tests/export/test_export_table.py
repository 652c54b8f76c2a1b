"""measurement_table: the rows of Store.timeline, with provenance, typed, nothing identifying."""

from __future__ import annotations

import datetime as dt
import json

import cv2
import pandas as pd
import pyarrow as pa
import pytest
from _exportdata import (
    EMAIL,
    NAME_EVENT,
    PHONE,
    A_VISITS,
    B_VISITS,
    BIRTH,
    CODE_A,
    CODE_B,
    NAME,
)

from tracker.export import MEASUREMENT_COLUMNS, measurement_table
from tracker.store import NewPhoto, NotFoundError, Store
from tracker.store import models as store_models
from tracker.synth import CameraMove, render_moved_series


def _png(rgb) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _none(value):
    return None if value is pd.NA else value


#: Event markers as the identified table gives them, where they differ from the record.
EXPECTED_EVENTS = {
    NAME_EVENT: f"follow-up call with [name removed] ({PHONE}, {EMAIL}); [name removed], A. agreed",
}


def test_rows_are_the_timeline_of_each_patient(store):
    table = measurement_table(store)
    assert table["patient_code"].tolist() == [CODE_A] * 4 + [CODE_B] * 2
    for code in (CODE_A, CODE_B):
        rows = table[table["patient_code"] == code].reset_index(drop=True)
        timeline = store.timeline(code)
        visits = store.visits(code)
        # as recorded, less the name (in the store's identity table only)
        events = {v.id: [EXPECTED_EVENTS.get(e, e) for e in v.events] for v in visits}
        assert len(rows) == len(timeline) > 0
        for got, want in zip(rows.to_dict("records"), timeline, strict=True):
            assert got["measurement_id"] == want.measurement_id
            assert got["sha256"] == want.sha256
            assert got["view"] == want.view.replace(NAME, "[name removed]")  # the name stays in the store
            assert got["visit_date"] == want.visit_date
            assert got["baseline_date"] == visits[0].date
            assert json.loads(got["visit_events"]) == events[want.visit_id]
            assert _none(got["roi_id"]) == want.roi_id
            assert (got["roi_x"], got["roi_y"], got["roi_w"], got["roi_h"]) == want.roi
            assert got["mode"] == want.mode
            for metric in store_models.METRICS:
                assert _none(got[metric]) == getattr(want, metric), metric
            assert got["quality_status"] == want.quality_status
            assert json.loads(got["quality_checks"]) == want.quality["checks"]
            assert _none(got["px_per_mm"]) == want.px_per_mm
            assert got["scale_source"] == want.scale_source
            assert got["roi_source"] == want.roi_source
            assert _none(got["registration_score"]) == want.registration_score
            assert got["algorithm_version"] == want.algorithm_version
            assert json.loads(got["parameters"]) == want.parameters
            assert got["measured_at"] == pd.Timestamp(want.created_at)


def test_a_registered_photo_says_so_with_its_score(tmp_path):
    moves = [CameraMove(), CameraMove(dx=10.0, dy=6.0, rotation_deg=-6.0, scale=0.95, brightness=0.9)]
    first, again = render_moved_series(seed=8, moves=moves, kind="closeup", shape=(288, 384), density_per_cm2=220.0)
    with Store.open(tmp_path / "s", user="test") as store:
        store.add_patient("P-R")
        visits = [store.add_visit("P-R", dt.date(2025, 1, d)).id for d in (10, 20)]
        (base,) = store.add_photos(visits[0], [NewPhoto("closeup:vertex", _png(first.image.image), "a.png")])
        store.set_roi("P-R", "closeup:vertex", (60, 40, 240, 200), baseline_photo_id=base.photo.id)
        store.reanalyse(photo_ids=[base.photo.id])  # as the ROI page does on saving the region
        (follow,) = store.add_photos(visits[1], [NewPhoto("closeup:vertex", _png(again.image.image), "b.png")])
        table = measurement_table(store).set_index("sha256")
        stored = store.measurements(follow.photo.id)[-1]
    got = table.loc[follow.photo.sha256]
    assert got["roi_source"] == "registered"
    assert got["registration_score"] == stored.registration_score > 0.4
    assert table.loc[base.photo.sha256]["roi_source"] == "baseline"
    assert table.loc[base.photo.sha256]["registration_score"] is pd.NA


def test_a_photo_analysed_twice_gives_its_newest_measurement(built):
    history = built.store.measurements(built.reanalysed_photo_id)
    assert history[0].measurement_id == built.older_measurement_id
    assert len(history) == 2
    ids = set(measurement_table(built.store)["measurement_id"])
    assert history[-1].measurement_id in ids
    assert built.older_measurement_id not in ids
    # the newer analysis used the ROI set after the first one
    row = measurement_table(built.store).set_index("measurement_id").loc[history[-1].measurement_id]
    assert (row["roi_x"], row["roi_y"], row["roi_w"], row["roi_h"]) == (20, 16, 240, 200)
    assert row["roi_id"] is not pd.NA


def test_baseline_is_the_first_visit_in_the_store_even_without_photos(store):
    table = measurement_table(store)
    a = table[table["patient_code"] == CODE_A]
    assert set(a["baseline_date"]) == {A_VISITS[0]}
    assert A_VISITS[0] not in set(a["visit_date"])  # the baseline visit has no photos
    b = table[table["patient_code"] == CODE_B]
    assert set(b["baseline_date"]) == {B_VISITS[0]}


def test_columns_are_in_order_and_typed(store):
    table = measurement_table(store)
    assert tuple(table.columns) == MEASUREMENT_COLUMNS
    dtypes = table.dtypes.astype(str).to_dict()
    for name in ("patient_code", "view", "sha256", "mode", "quality_checks", "parameters"):
        assert dtypes[name] == "string", name
    for name in ("hair_count", "roi_id"):
        assert dtypes[name] == "Int64", name
    for name in ("coverage_pct", "mean_width_um", "density_per_cm2", "px_per_mm", "registration_score"):
        assert dtypes[name] == "Float64", name
    for name in ("roi_x", "roi_w", "measurement_id"):
        assert dtypes[name] == "int64", name
    assert table["visit_date"].dtype == pd.ArrowDtype(pa.date32())
    assert str(table["measured_at"].dtype) == "datetime64[us, UTC]"
    # photos without a scale: values that need one are missing, not NaN or 0
    b = table[table["patient_code"] == CODE_B]
    assert b["density_per_cm2"].isna().all() and b["mean_width_um"].isna().all()
    assert (b["scale_source"] == "none").all()
    assert b["coverage_pct"].notna().all() and b["hair_count"].notna().all()


def test_patients_can_be_chosen_by_code_or_id(store):
    only_b = measurement_table(store, patients=[CODE_B])
    assert set(only_b["patient_code"]) == {CODE_B} and len(only_b) == 2
    by_id = measurement_table(store, patients=[store.patient(CODE_B).id, CODE_B])
    pd.testing.assert_frame_equal(by_id, only_b)
    both = measurement_table(store, patients=[CODE_B, CODE_A])
    pd.testing.assert_frame_equal(both, measurement_table(store))  # same order either way


def test_choosing_no_patients_gives_an_empty_typed_table(store):
    empty = measurement_table(store, patients=[])
    assert len(empty) == 0 and tuple(empty.columns) == MEASUREMENT_COLUMNS
    assert empty.dtypes.astype(str).to_dict() == measurement_table(store).dtypes.astype(str).to_dict()


def test_unknown_patient_and_single_code_are_refused(store):
    with pytest.raises(NotFoundError, match="NOPE-1"):
        measurement_table(store, patients=["NOPE-1"])
    with pytest.raises(ValueError, match=r"list of patient codes.*\['QRS-0007'\]"):
        measurement_table(store, patients=CODE_B)


def test_identity_capture_metadata_and_notes_stay_out(built):
    """The store holds name, birth date, EXIF and notes; the table holds none of them."""
    store = built.store
    assert store.identity(CODE_A).name == NAME
    gps_photo = next(p for p in store.photos(patient=CODE_A) if p.sha256 == built.gps_sha256)
    assert gps_photo.capture_metadata["camera_make"] == "SecretCam"
    table = measurement_table(store)
    text = table.astype(str).to_csv(index=False)
    for secret in (NAME, "Example", BIRTH.isoformat(), "SecretCam", "SN-7788", "2024-05-01",
                   "Hillside", "ann_example", "b.png"):
        assert secret not in text, secret
    names = " ".join(table.columns).lower()
    for word in ("name", "birth", "exif", "gps", "camera", "captured", "notes", "file"):
        assert word not in names, word


def test_empty_store(tmp_path):
    with Store.open(tmp_path / "s", database_url=f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        table = measurement_table(store)
        store.add_patient("P-1")  # a patient without visits gives no rows
        assert len(measurement_table(store)) == 0
    assert len(table) == 0 and tuple(table.columns) == MEASUREMENT_COLUMNS

