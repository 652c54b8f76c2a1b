"""The store's library API on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from _util import png_bytes

from tracker.photo import PhotoError
from tracker.store import (
    VIEWS,
    NewPhoto,
    NotFoundError,
    Store,
    StoreError,
    check,
    normalize_view,
)


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("vertex", "vertex"),
        ("Frontal hairline", "frontal_hairline"),
        ("temporal-left", "temporal_left"),
        ("  PART LINE ", "part_line"),
        ("closeup:  left   temple ", "closeup:left temple"),
        ("CloseUp:crown 2", "closeup:crown 2"),
    ],
)
def test_normalize_view(given, expected):
    assert normalize_view(given) == expected


@pytest.mark.parametrize("bad", ["", "top", "closeup:", "closeup:" + "x" * 81, 3])
def test_normalize_view_rejects(bad):
    with pytest.raises(ValueError, match="view"):
        normalize_view(bad)


def test_fixed_views_are_the_designed_list():
    assert VIEWS == (
        "vertex",
        "crown",
        "frontal_hairline",
        "part_line",
        "temporal_left",
        "temporal_right",
        "occipital",
    )


def test_identity_is_kept_apart_from_the_patient(store):
    p = store.add_patient("P-7", name="Ann Example", birth_date=dt.date(1980, 5, 17))
    anon = store.add_patient("P-8")
    with store.engine.connect() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("patient")}
    assert cols == {"id", "code", "created_at"}
    ident = store.identity("P-7")
    assert (ident.patient_id, ident.name, ident.birth_date) == (
        p.id,
        "Ann Example",
        dt.date(1980, 5, 17),
    )
    assert store.identity(anon.id) is None
    assert [x.code for x in store.patients()] == ["P-7", "P-8"]
    assert store.patient("P-8").id == anon.id


def test_patient_codes_are_checked(store):
    store.add_patient("P-1")
    with pytest.raises(StoreError, match="exists already"):
        store.add_patient("P-1")
    with pytest.raises(ValueError, match="pseudonymous"):
        store.add_patient("Ann Example")
    generated = store.add_patient()
    assert generated.code.startswith("P-") and len(generated.code) == 10
    with pytest.raises(NotFoundError):
        store.patient("P-404")


def test_visits_keep_notes_and_neutral_events_in_date_order(store):
    store.add_patient("P-1")
    store.add_visit("P-1", dt.date(2025, 6, 1), notes="follow-up")
    store.add_visit("P-1", dt.date(2025, 1, 6), events=["treatment started", " photo  card B "])
    visits = store.visits("P-1")
    assert [v.date for v in visits] == [dt.date(2025, 1, 6), dt.date(2025, 6, 1)]
    assert visits[0].events == ("treatment started", "photo card B")
    assert visits[1].notes == "follow-up"
    with pytest.raises(ValueError, match="date"):
        store.add_visit("P-1", "2025-01-01")
    with pytest.raises(ValueError, match="event"):
        store.add_visit("P-1", dt.date(2025, 1, 1), events=[" "])


def test_add_photos_stores_original_photo_and_measurement(store, visit):
    data = [png_bytes(1), png_bytes(2, size=(30, 50))]
    added = store.add_photos(
        visit.id,
        [NewPhoto("vertex", data[0], name="a.png"), NewPhoto("closeup:crown", data[1])],
    )
    assert [a.duplicate for a in added] == [False, False]
    for a, raw in zip(added, data, strict=True):
        assert a.photo.sha256 == hashlib.sha256(raw).hexdigest()
        assert store.read_original(a.photo.id) == raw
        path = store.originals.path(a.photo.sha256)
        assert path == store.location / "originals" / a.photo.sha256[:2] / a.photo.sha256
        history = store.measurements(a.photo.id)
        assert [h.measurement_id for h in history] == [a.measurement_id]
    assert (added[1].photo.width, added[1].photo.height) == (50, 30)
    assert added[0].photo.name == "a.png" and added[1].photo.view == "closeup:crown"
    assert isinstance(added[0].photo.capture_metadata, dict)
    # ordered by visit date, then view
    assert [p.id for p in store.photos(visit_id=visit.id)] == [added[1].photo.id, added[0].photo.id]
    actions = [(e.action, e.target, e.who) for e in store.audit_log(limit=2)]
    assert actions == [("add", "photo", "tester")] * 2


def test_same_bytes_twice_are_reported_as_duplicate(store, visit):
    first = store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(5))])[0]
    again = store.add_photos(
        visit.id,
        [
            NewPhoto("crown", png_bytes(5)),
            NewPhoto("crown", png_bytes(6)),
            NewPhoto("crown", png_bytes(6)),
        ],
    )
    assert [a.duplicate for a in again] == [True, False, True]
    assert again[0].photo.id == first.photo.id and again[0].measurement_id is None
    assert again[2].photo.id == again[1].photo.id
    assert _count(store, "photo") == 2 and _count(store, "measurement") == 2


def test_a_bad_photo_in_a_batch_stores_nothing(store, visit):
    good = NewPhoto("vertex", png_bytes(1))
    with pytest.raises(PhotoError):
        store.add_photos(visit.id, [good, NewPhoto("vertex", b"not an image")])
    tiny = cv2.imencode(".png", np.zeros((6, 6, 3), np.uint8))[1].tobytes()
    with pytest.raises(PhotoError, match="tiny.png: the photo is 6 x 6 pixels, too small to measure hair"):
        store.add_photos(visit.id, [good, NewPhoto("vertex", tiny, "tiny.png")])
    with pytest.raises(ValueError, match="unknown view"):
        store.add_photos(visit.id, [good, NewPhoto("forehead", png_bytes(2))])
    with pytest.raises(NotFoundError, match="visit"):
        store.add_photos(visit.id + 99, [good])
    assert _count(store, "photo") == 0 and _count(store, "measurement") == 0
    assert list(store.originals.files()) == []


def test_roi_is_versioned_and_reanalysis_adds_rows(store, visit):
    a, b = store.add_photos(
        visit.id, [NewPhoto("vertex", png_bytes(1)), NewPhoto("vertex", png_bytes(2))]
    )
    before = store.timeline("P-001")
    assert store.current_roi("P-001", "vertex") is None
    r1 = store.set_roi("P-001", "vertex", (2, 3, 20, 10), baseline_photo_id=a.photo.id)
    r2 = store.set_roi("P-001", "Vertex", (4, 4, 16, 16), baseline_photo_id=a.photo.id)
    assert store.current_roi("P-001", "vertex") == r2 and r1.id < r2.id
    new_ids = store.reanalyse(patient="P-001")
    assert len(new_ids) == 2
    after = store.timeline("P-001")
    assert [r.measurement_id for r in after] == new_ids
    assert all(r.roi_id == r2.id for r in after)
    assert after[0].roi == (4, 4, 16, 16) and after[0].roi_source == "baseline"
    # noise photos cannot be registered to each other: b is measured whole and flagged,
    # never in the baseline's box as if it were the same scalp
    assert after[1].roi == (0, 0, 48, 40) and after[1].roi_source == "unregistered"
    assert not store.registration(b.photo.id).ok
    history = store.measurements(a.photo.id)
    assert [h.measurement_id for h in history] == [before[0].measurement_id, new_ids[0]]
    assert history[0] == before[0]  # the first measurement is unchanged
    assert store.reanalyse(photo_ids=[b.photo.id]) == [new_ids[1] + 1]
    assert store.audit_log(limit=1)[0].action == "reanalyse"


def test_roi_must_fit_its_baseline_photo(store, visit):
    (a,) = store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(1))])  # 48 x 40 px
    with pytest.raises(ValueError, match="does not fit"):
        store.set_roi("P-001", "vertex", (40, 0, 10, 10), baseline_photo_id=a.photo.id)
    with pytest.raises(ValueError, match="does not fit"):
        store.set_roi("P-001", "vertex", (0, 0, 0, 10), baseline_photo_id=a.photo.id)
    with pytest.raises(ValueError, match="not a crown photo"):
        store.set_roi("P-001", "crown", (0, 0, 10, 10), baseline_photo_id=a.photo.id)
    other = store.add_patient("P-002")
    with pytest.raises(ValueError, match="of this patient"):
        store.set_roi(other.id, "vertex", (0, 0, 10, 10), baseline_photo_id=a.photo.id)
    with pytest.raises(NotFoundError):
        store.reanalyse(photo_ids=[a.photo.id + 50])


def test_timeline_groups_visits_and_views_newest_measurement_first(store, visit):
    later = store.add_visit("P-001", dt.date(2025, 7, 1))
    store.add_photos(later.id, [NewPhoto("vertex", png_bytes(3)), NewPhoto("crown", png_bytes(4))])
    store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(1)), NewPhoto("vertex", png_bytes(2))])
    rows = store.timeline("P-001")
    assert [(r.visit_date, r.view) for r in rows] == [
        (dt.date(2025, 1, 6), "vertex"),
        (dt.date(2025, 1, 6), "vertex"),
        (dt.date(2025, 7, 1), "crown"),
        (dt.date(2025, 7, 1), "vertex"),
    ]
    assert [r.view for r in store.timeline("P-001", view="crown")] == ["crown"]
    current = rows[0].algorithm_version
    # a row written by an older release, then one by the current algorithm
    photo_id = rows[0].photo_id
    with store.engine.begin() as conn:
        table = sa.Table("measurement", sa.MetaData(), autoload_with=conn)
        query = sa.select(table).where(table.c.id == rows[0].measurement_id)
        old = {
            **conn.execute(query).mappings().one(),
            "algorithm_version": "0.0.1-old",
            "coverage_pct": 1.5,
        }
        del old["id"]
        conn.execute(table.insert(), [old])
    assert store.timeline("P-001")[0].algorithm_version == "0.0.1-old"  # newest row wins
    store.reanalyse(photo_ids=[photo_id])
    assert store.timeline("P-001")[0].algorithm_version == current
    (old_row,) = store.timeline("P-001", algorithm_version="0.0.1-old")
    assert (old_row.photo_id, old_row.coverage_pct) == (photo_id, 1.5)
    assert store.timeline("P-001", algorithm_version="no-such-version") == []
    assert len(store.measurements(photo_id)) == 3


def test_delete_is_explicit_cascades_and_is_audited(store, visit):
    a, b = store.add_photos(
        visit.id, [NewPhoto("vertex", png_bytes(1)), NewPhoto("crown", png_bytes(2))]
    )
    store.set_roi("P-001", "vertex", (0, 0, 10, 10), baseline_photo_id=a.photo.id)
    with pytest.raises(ValueError, match="can delete"):
        store.delete("measurement", a.measurement_id)
    gone = store.delete("photo", a.photo.id, user="dr.b", reason="wrong patient")
    assert (gone.photos, gone.measurements, gone.originals_removed) == (1, 1, (a.photo.sha256,))
    assert not store.originals.path(a.photo.sha256).exists()
    assert store.current_roi("P-001", "vertex").baseline_photo_id is None
    entry = store.audit_log(limit=1)[0]
    assert (entry.who, entry.action, entry.target, entry.target_id) == (
        "dr.b",
        "delete",
        "photo",
        a.photo.id,
    )
    assert entry.details["reason"] == "wrong patient" and entry.details["sha256"] == [
        a.photo.sha256
    ]
    assert abs((dt.datetime.now(dt.UTC) - entry.at).total_seconds()) < 60
    gone = store.delete("patient", visit.patient_id)
    assert (gone.visits, gone.photos, gone.measurements) == (1, 1, 1)
    for table in ("patient", "patient_identity", "visit", "photo", "roi", "measurement"):
        assert _count(store, table) == 0, table
    assert list(store.originals.files()) == []
    assert store.audit_log(limit=1)[0].details["code"] == "P-001"
    with pytest.raises(NotFoundError):
        store.delete("visit", visit.id)
    assert check(store).ok


def test_reopening_keeps_everything(store_dir, database_url, store, visit):
    store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(1))])
    rows = store.timeline("P-001")
    store.close()
    with Store.open(store_dir, database_url=database_url) as again:
        assert again.timeline("P-001") == rows


def test_folder_remembers_its_database_kind(tmp_path):
    Store.open(tmp_path / "s").close()
    with pytest.raises(StoreError, match="keeps its database in sqlite"):
        Store.open(tmp_path / "s", database_url="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match="store folder"):
        Store.open("postgresql://nobody@127.0.0.1/none")


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_a_new_store_folder_is_its_owners_only_and_an_existing_one_keeps_its_mode(tmp_path, umask):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)  # a clinic's group, on purpose
    old = os.umask(umask)
    try:
        Store.open(tmp_path / "clinic" / "store").close()
        Store.open(shared).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "clinic" / "store").stat().st_mode) == 0o700
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750


def test_a_typed_scale_is_stored_and_kept_on_reanalysis(store, visit):
    (a,) = store.add_photos(
        visit.id,
        [NewPhoto("closeup:crown", png_bytes(1), px_per_mm=50.0, scale_source="magnification")],
    )
    store.reanalyse(photo_ids=[a.photo.id])
    rows = store.measurements(a.photo.id)
    assert [(r.px_per_mm, r.scale_source) for r in rows] == [(50.0, "magnification")] * 2
    assert all(isinstance(r.quality, dict) and isinstance(r.parameters, dict) for r in rows)


def test_deleting_a_photo_while_its_bytes_are_added_again_loses_no_original(store, visit, monkeypatch):
    """One clinician deletes a photo filed under the wrong view while another adds the same
    bytes again: the add wrote the file before the delete committed, and commits after it."""
    import threading

    (old,) = store.add_photos(visit.id, [NewPhoto("crown", png_bytes(5), "p.png")])
    written, release = threading.Event(), threading.Event()
    commit = type(store)._commit_photos

    def commit_later(self, *args, **kwargs):
        written.set()  # the original is written; its row is not committed yet
        release.wait(30)
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(type(store), "_commit_photos", commit_later)
    added = []
    adding = threading.Thread(
        target=lambda: added.extend(store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(5), "p.png")]))
    )
    adding.start()
    assert written.wait(30)
    store.delete("photo", old.photo.id, reason="wrong view")
    release.set()
    adding.join(30)
    (new,) = added
    assert not new.duplicate and new.photo.view == "vertex"
    assert store.read_original(new.photo.id) == png_bytes(5)
    report = check(store)
    assert report.ok and not report.temp_files


def test_a_failed_delete_puts_the_originals_back(store, visit, monkeypatch):
    (photo,) = store.add_photos(visit.id, [NewPhoto("crown", png_bytes(6), "p.png")])

    def broken(*args, **kwargs):
        raise RuntimeError("the audit log could not be written")

    monkeypatch.setattr(type(store), "_audit", broken)
    with pytest.raises(RuntimeError):
        store.delete("photo", photo.photo.id)
    assert store.read_original(photo.photo.id) == png_bytes(6) and check(store).ok


def test_photos_deleted_while_a_reanalysis_runs_are_left_out_of_it(store, visit, monkeypatch):
    a, b, c = store.add_photos(visit.id, [NewPhoto(v, png_bytes(i)) for i, v in ((11, "crown"), (12, "vertex"), (13, "occipital"))])
    place = type(store)._place
    calls = []

    def place_and_delete(self, pixels, sha256, ctx, **kwargs):
        calls.append(sha256)
        if len(calls) == 2:  # measuring b: a is measured already, c not yet
            self.delete("photo", a.photo.id)
            self.delete("photo", c.photo.id)
        return place(self, pixels, sha256, ctx, **kwargs)

    monkeypatch.setattr(type(store), "_place", place_and_delete)
    created = store.reanalyse(patient="P-001")
    assert len(created) == 1 and store.measurements(b.photo.id)[-1].measurement_id == created[0]
    assert check(store).ok


def test_a_store_folder_deleted_while_open_takes_no_more_writes(tmp_path):
    import shutil

    from tracker.store import OriginalError

    with Store.open(tmp_path / "s") as store:
        patient = store.add_patient("P-9")
        visit = store.add_visit(patient.id, dt.date(2025, 1, 6))
        shutil.rmtree(tmp_path / "s")
        with pytest.raises(StoreError, match="is gone: nothing was saved"):
            store.add_visit(patient.id, dt.date(2025, 2, 6))
        with pytest.raises(OriginalError, match="is gone; nothing was stored"):
            store.add_photos(visit.id, [NewPhoto("vertex", png_bytes(1))])
    assert not (tmp_path / "s").exists()  # nothing made it again

