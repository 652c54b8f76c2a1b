"""Role enforcement (tracker.access.Access) on a real SQLite store.

A clinician may do everything; a patient sees their own record only, read-only,
and cannot tell another patient's record from a missing one; a researcher gets
de-identified exports only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from tracker.access import Access, AccessDenied, PatientSummary
from tracker.export import DEIDENTIFIED_COLUMNS, KEY_ENV
from tracker.imaging.overlay import ROI_COLOUR
from tracker.photo import PhotoError
from tracker.store import NewPhoto, NotFoundError, Store, StoreError
from tracker.synth import render_closeup

PASSWORD = "a long password"
OWN_RECORD_ONLY = "this account can see only its own record"


def png(seed: int, size: tuple[int, int] = (40, 48)) -> bytes:
    """A small noisy PNG; another seed gives other bytes."""
    image = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def closeup_png(seed: int) -> bytes:
    """A generated trichoscopy close-up with hairs to count, as PNG bytes."""
    scalp = render_closeup(seed=seed, shape=(240, 320), px_per_mm=100.0)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(scalp.image, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def moved_pngs(seed: int) -> tuple[bytes, bytes]:
    """A close-up and the same scalp photographed again: shifted, turned 6 degrees, 5 % closer."""
    from tracker.synth import CameraMove, render_moved_series

    moved = CameraMove(dx=8.0, dy=-5.0, rotation_deg=6.0, scale=1.05, brightness=1.1)
    series = render_moved_series(
        seed=seed, moves=[CameraMove(), moved], kind="closeup", shape=(240, 320), px_per_mm=100.0
    )
    out = []
    for photo in series:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(photo.image.image, cv2.COLOR_RGB2BGR))
        assert ok
        out.append(buf.tobytes())
    return out[0], out[1]


@dataclass
class World:
    store: Store
    clinician: Access
    patient: Access  # pat.one, whose record is P-1
    researcher: Access
    p1: int
    p2: int
    p1_photos: list[int]
    p2_photo: int
    p2_visit: int
    data: dict[int, bytes]  # photo id -> original bytes


def _build(folder, *, sign_in: bool) -> World:
    """Two patients with photos, and one account of each role.

    With ``sign_in`` the accounts are those :meth:`Store.authenticate` returns;
    without, the same records read with :meth:`Store.account` (no argon2 check,
    which is slow and tested in tests/store/test_accounts.py).
    """
    store = Store.open(folder, user="setup")
    p1 = store.add_patient("P-1", name="Ann Example", birth_date=dt.date(1980, 5, 17))
    p2 = store.add_patient("P-2", name="Bob Other")
    v1 = store.add_visit(p1.id, dt.date(2025, 1, 6), events=["treatment started"])
    v2 = store.add_visit(p1.id, dt.date(2025, 4, 1))
    w1 = store.add_visit(p2.id, dt.date(2025, 2, 1))
    data: dict[int, bytes] = {}
    p1_photos = []
    for visit, items in (
        (v1, [NewPhoto("vertex", png(1)), NewPhoto("crown", png(2))]),
        (v2, [NewPhoto("vertex", png(3))]),
    ):
        for item, added in zip(items, store.add_photos(visit.id, items), strict=True):
            data[added.photo.id] = item.data
            p1_photos.append(added.photo.id)
    (other,) = store.add_photos(w1.id, [NewPhoto("vertex", png(4))])
    data[other.photo.id] = png(4)
    store.set_roi(p1.id, "vertex", (2, 2, 30, 30), baseline_photo_id=p1_photos[0])
    store.set_roi(p2.id, "vertex", (4, 4, 20, 20), baseline_photo_id=other.photo.id)
    store.reanalyse(patient=p1.id)  # P-1's newest vertex measurements use the ROI
    store.add_account("dr.a", PASSWORD, "clinician")
    store.add_account("pat.one", PASSWORD, "patient", patient="P-1")
    store.add_account("res", PASSWORD, "researcher")

    def access(username: str) -> Access:
        if sign_in:
            return Access(store, store.authenticate(username, PASSWORD))
        return Access(store, store.account(username))

    return World(
        store,
        access("dr.a"),
        access("pat.one"),
        access("res"),
        p1.id,
        p2.id,
        p1_photos,
        other.photo.id,
        w1.id,
        data,
    )


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch):
    for name in ("DATABASE_URL", "TRACKER_STORE", KEY_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store shared by tests that only read (or are refused)."""
    w = _build(tmp_path_factory.mktemp("access") / "store", sign_in=True)
    yield w
    w.store.close()


@pytest.fixture
def fresh(tmp_path):
    """A store of its own, for tests that change it."""
    w = _build(tmp_path / "store", sign_in=False)
    yield w
    w.store.close()


def _state(store: Store) -> tuple:
    """What a refused call must leave unchanged."""
    return (
        store.patients(),
        [store.visits(p.id) for p in store.patients()],
        store.photos(),
        [store.timeline(p.id) for p in store.patients()],
        [store.current_roi(p.id, "vertex") for p in store.patients()],
        store.audit_log(),
        sorted(store.originals.files()),
    )


# ---------------------------------------------------------------------- clinician
def test_roles_and_own_patient(world):
    assert (world.clinician.role, world.patient.role, world.researcher.role) == (
        "clinician",
        "patient",
        "researcher",
    )
    assert world.patient.own_patient == "P-1"
    assert world.clinician.own_patient is None and world.researcher.own_patient is None


def test_clinician_lists_and_searches_patients(world):
    everyone = world.clinician.patients()
    assert everyone == [
        PatientSummary("P-1", "Ann Example", dt.date(1980, 5, 17), 2, dt.date(2025, 4, 1)),
        PatientSummary("P-2", "Bob Other", None, 1, dt.date(2025, 2, 1)),
    ]
    assert [p.code for p in world.clinician.patients("ANN")] == ["P-1"]
    assert [p.code for p in world.clinician.patients(" p-2 ")] == ["P-2"]
    assert world.clinician.patients("nobody here") == []


def test_clinician_reads_every_record(world):
    c, s = world.clinician, world.store
    for pid, code in ((world.p1, "P-1"), (world.p2, "P-2")):
        assert c.patient(code).id == pid and c.patient(pid).code == code
        assert c.visits(code) == s.visits(pid)
        assert c.photos(code) == s.photos(patient=pid)
        assert c.timeline(code) == s.timeline(pid)
        assert c.current_roi(code, "vertex") == s.current_roi(pid, "vertex")
    for photo_id, raw in world.data.items():
        assert c.original(photo_id) == raw
    assert c.views("P-1") == ["crown", "vertex"]  # both at the first visit, by name
    assert c.baseline_photo("P-1", "vertex").id == world.p1_photos[0]
    assert c.baseline_photo("P-1", "occipital") is None
    with pytest.raises(NotFoundError):  # a clinician may learn that a code is unknown
        c.visits("P-404")


def test_clinician_changes_the_record(fresh):
    c, s = fresh.clinician, fresh.store
    new = c.add_patient("P-3", name="Cy New")
    visit = c.add_visit("P-3", dt.date(2025, 5, 1), events=["photo card B"])
    (added,) = c.add_photos(visit.id, [NewPhoto("vertex", png(10))])
    roi = c.set_roi("P-3", "vertex", (1, 1, 20, 20), baseline_photo_id=added.photo.id)
    new_ids = c.reanalyse("P-3")
    assert s.identity(new.id).name == "Cy New"
    assert s.visits("P-3") == [visit] and visit.events == ("photo card B",)
    assert [r.measurement_id for r in s.timeline("P-3")] == new_ids
    assert s.timeline("P-3")[0].roi_id == roi.id
    # every change is written to the audit log under the clinician's name
    entries = s.audit_log(limit=5)
    assert [(e.action, e.target) for e in entries] == [
        ("reanalyse", "photo"),
        ("set_roi", "roi"),
        ("add", "photo"),
        ("add", "visit"),
        ("add", "patient"),
    ]
    assert {e.who for e in entries} == {"dr.a"}


# ---------------------------------------------------------------------- patient
def test_patient_sees_their_own_record(world):
    me, s = world.patient, world.store
    for ref in ("P-1", world.p1):
        assert me.patient(ref).code == "P-1"
        assert me.visits(ref) == s.visits(world.p1) and len(me.visits(ref)) == 2
        assert me.photos(ref) == s.photos(patient=world.p1)
        assert me.timeline(ref) == s.timeline(world.p1) and len(me.timeline(ref)) == 3
        assert me.timeline(ref, view="crown") == s.timeline(world.p1, view="crown")
        assert me.current_roi(ref, "vertex").box == (2, 2, 30, 30)
    assert me.views("P-1") == world.clinician.views("P-1")
    for photo_id in world.p1_photos:
        raw = world.data[photo_id]
        assert me.original(photo_id) == raw
        pixels = me.pixels(photo_id)
        assert pixels.shape == (40, 48, 3) and pixels.dtype == np.uint8
        overlay = me.overlay(photo_id)
        assert overlay.shape == pixels.shape and overlay.dtype == np.uint8
        np.testing.assert_array_equal(overlay, world.clinician.overlay(photo_id))


def test_patient_overlay_frames_the_stored_roi(world):
    """The overlay is drawn from the newest measurement, with its ROI framed."""
    photo_id = world.p1_photos[0]
    row = world.store.measurements(photo_id)[-1]
    assert row.roi == (2, 2, 30, 30)
    overlay = world.patient.overlay(photo_id)
    x, y, w, h = row.roi
    border = np.concatenate(
        [
            overlay[y, x : x + w],
            overlay[y + h - 1, x : x + w],
            overlay[y : y + h, x],
            overlay[y : y + h, x + w - 1],
        ]
    )
    framed = (border == np.array(ROI_COLOUR, np.uint8)).all(axis=1)
    assert framed.mean() > 0.8  # shaft numbers may cover a few frame pixels
    untouched = world.patient.pixels(photo_id)
    assert not (untouched == np.array(ROI_COLOUR, np.uint8)).all(axis=2).any()


_OTHER_PATIENT_CALLS = {
    "patient by code": lambda a, w: a.patient("P-2"),
    "patient by id": lambda a, w: a.patient(w.p2),
    "visits by code": lambda a, w: a.visits("P-2"),
    "visits by id": lambda a, w: a.visits(w.p2),
    "photos": lambda a, w: a.photos("P-2"),
    "views": lambda a, w: a.views(w.p2),
    "baseline photo": lambda a, w: a.baseline_photo("P-2", "vertex"),
    "timeline by code": lambda a, w: a.timeline("P-2"),
    "timeline by id": lambda a, w: a.timeline(w.p2, view="vertex"),
    "current roi": lambda a, w: a.current_roi("P-2", "vertex"),
    "original": lambda a, w: a.original(w.p2_photo),
    "pixels": lambda a, w: a.pixels(w.p2_photo),
    "overlay": lambda a, w: a.overlay(w.p2_photo),
    "unknown code": lambda a, w: a.visits("P-404"),
    "unknown code timeline": lambda a, w: a.timeline("NO-SUCH-CODE"),
    "unknown id": lambda a, w: a.visits(w.p2 + 1000),
}


@pytest.mark.parametrize("call", list(_OTHER_PATIENT_CALLS), ids=list(_OTHER_PATIENT_CALLS))
def test_patient_is_refused_another_record_with_one_message(world, call):
    """Another patient's record and a missing one look the same: no existence leak."""
    before = _state(world.store)
    with pytest.raises(AccessDenied) as refused:
        _OTHER_PATIENT_CALLS[call](world.patient, world)
    assert str(refused.value) == OWN_RECORD_ONLY
    assert not isinstance(refused.value, NotFoundError)
    assert _state(world.store) == before


@pytest.mark.parametrize("call", ["original", "pixels", "overlay", "photo"])
def test_patient_cannot_tell_a_missing_photo_from_another_patients(world, call):
    missing = max(world.data) + 1000
    with pytest.raises(AccessDenied) as refused:
        getattr(world.patient, call)(missing)
    assert str(refused.value) == OWN_RECORD_ONLY


_CHANGES = {
    "patients": lambda a, w: a.patients(),
    "add patient": lambda a, w: a.add_patient("P-9"),
    "add visit": lambda a, w: a.add_visit("P-1", dt.date(2025, 9, 1)),
    "record visit": lambda a, w: a.record_visit(
        "P-1", dt.date(2025, 9, 1), [NewPhoto("vertex", png(50))]
    ),
    "add photos": lambda a, w: a.add_photos(
        w.store.visits(w.p1)[0].id, [NewPhoto("vertex", png(51))]
    ),
    "add photos to another patient": lambda a, w: a.add_photos(
        w.p2_visit, [NewPhoto("vertex", png(52))]
    ),
    "preview": lambda a, w: a.preview_photo("P-1", NewPhoto("vertex", png(53))),
    "set roi": lambda a, w: a.set_roi(
        "P-1", "vertex", (0, 0, 10, 10), baseline_photo_id=w.p1_photos[0]
    ),
    "reanalyse": lambda a, w: a.reanalyse("P-1"),
    "export de-identified": lambda a, w: a.export_table(deidentified=True),
    "export identified": lambda a, w: a.export_table(deidentified=False),
}


@pytest.mark.parametrize("call", list(_CHANGES), ids=list(_CHANGES))
def test_patient_cannot_change_or_export(world, call):
    before = _state(world.store)
    with pytest.raises(AccessDenied, match="a patient account cannot do this"):
        _CHANGES[call](world.patient, world)
    assert _state(world.store) == before


# ---------------------------------------------------------------------- researcher
_RECORD_CALLS = {
    **{k: v for k, v in _OTHER_PATIENT_CALLS.items() if "unknown" not in k},
    "own-looking patient P-1": lambda a, w: a.visits("P-1"),
    "timeline P-1": lambda a, w: a.timeline(w.p1),
    "original P-1": lambda a, w: a.original(w.p1_photos[0]),
    "overlay P-1": lambda a, w: a.overlay(w.p1_photos[0]),
    "roi P-1": lambda a, w: a.current_roi("P-1", "vertex"),
}


@pytest.mark.parametrize("call", list(_RECORD_CALLS), ids=list(_RECORD_CALLS))
def test_researcher_sees_no_patient_record(world, call):
    before = _state(world.store)
    with pytest.raises(AccessDenied, match="de-identified exports only"):
        _RECORD_CALLS[call](world.researcher, world)
    assert _state(world.store) == before


@pytest.mark.parametrize(
    "call", [k for k in _CHANGES if not k.startswith("export")], ids=str
)
def test_researcher_cannot_change_anything(world, call):
    before = _state(world.store)
    with pytest.raises(AccessDenied, match="a researcher account cannot do this"):
        _CHANGES[call](world.researcher, world)
    assert _state(world.store) == before


def test_researcher_exports_de_identified_measurements_only(world):
    table = world.researcher.export_table(deidentified=True)
    identified = world.clinician.export_table(deidentified=False)
    assert tuple(table.columns) == DEIDENTIFIED_COLUMNS
    assert "patient_code" not in table.columns and "patient_code" in identified.columns
    assert len(table) == len(identified) == len(world.data)  # one row per photo
    assert set(identified["patient_code"]) == {"P-1", "P-2"}
    assert table["subject_id"].nunique() == 2
    assert sorted(table["sha256"]) == sorted(
        hashlib.sha256(raw).hexdigest() for raw in world.data.values()
    )
    text = table.astype(str).to_csv()
    for identifying in ("P-1", "P-2", "Ann", "Bob", "2025-"):
        assert identifying not in text, identifying
    # the clinician's de-identified table is the same table
    assert world.clinician.export_table().equals(table)
    with pytest.raises(AccessDenied, match="de-identified measurements only"):
        world.researcher.export_table(deidentified=False)


# ---------------------------------------------------------------------- record_visit
def test_record_visit_adds_the_visit_with_its_photos(fresh):
    c, s = fresh.clinician, fresh.store
    items = [NewPhoto("vertex", png(20), name="a.png"), NewPhoto("Crown", png(21))]
    visit, added = c.record_visit("P-1", dt.date(2025, 7, 1), items, notes="n", events=["x"])
    assert s.visits("P-1")[-1] == visit and (visit.notes, visit.events) == ("n", ("x",))
    assert [a.duplicate for a in added] == [False, False]
    assert sorted(p.id for p in s.photos(visit_id=visit.id)) == sorted(a.photo.id for a in added)
    assert [s.read_original(a.photo.id) for a in added] == [png(20), png(21)]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (NewPhoto("vertex", b"not an image", name="broken.jpg"), PhotoError),
        (NewPhoto("forehead", png(31)), ValueError),
    ],
    ids=["undecodable", "unknown view"],
)
def test_record_visit_is_all_or_nothing(fresh, bad, error):
    c, s = fresh.clinician, fresh.store
    visits, photos = s.visits("P-1"), s.photos()
    files, last_audit = sorted(s.originals.files()), s.audit_log(limit=1)[0].id
    good = NewPhoto("vertex", png(30))
    with pytest.raises(error):
        c.record_visit("P-1", dt.date(2025, 8, 1), [good, bad], events=["photo card B"])
    assert s.visits("P-1") == visits  # no half-recorded visit remains
    assert s.photos() == photos
    assert sorted(s.originals.files()) == files
    assert hashlib.sha256(png(30)).hexdigest() not in {p.sha256 for p in s.photos()}
    # the visit is written only with its photos: nothing was written at all
    assert [e for e in s.audit_log() if e.id > last_audit] == []


def test_a_visit_of_photos_all_stored_already_is_not_added(fresh):
    c, s = fresh.clinician, fresh.store
    stored = s.photos()[0]
    visits = s.visits("P-1")
    with pytest.raises(StoreError, match="every photo of this visit is stored already"):
        c.record_visit("P-1", dt.date(2025, 9, 1), [NewPhoto(stored.view, s.read_original(stored.id))])
    assert s.visits("P-1") == visits


def test_a_recorded_visit_and_its_photos_are_written_together(fresh):
    c, s = fresh.clinician, fresh.store
    last_audit = s.audit_log(limit=1)[0].id
    visit, added = c.record_visit("P-1", dt.date(2025, 8, 2), [NewPhoto("vertex", png(32))], events=["photo card C"])
    assert visit in s.visits("P-1") and visit.events == ("photo card C",)
    assert [p.id for p in s.photos(visit_id=visit.id)] == [added[0].photo.id]
    entries = list(reversed([e for e in s.audit_log() if e.id > last_audit]))
    assert [(e.action, e.target, e.who) for e in entries] == [("add", "visit", "dr.a"), ("add", "photo", "dr.a")]
    assert entries[1].details["visit_id"] == visit.id


def test_record_visit_needs_photos_and_a_known_patient(fresh):
    c, s = fresh.clinician, fresh.store
    before = _state(s)
    with pytest.raises(ValueError, match="at least one photo"):
        c.record_visit("P-1", dt.date(2025, 8, 1), [])
    with pytest.raises(NotFoundError):
        c.record_visit("P-404", dt.date(2025, 8, 1), [NewPhoto("vertex", png(40))])
    assert _state(s) == before


# ---------------------------------------------------------------------- preview
def test_preview_matches_what_add_photos_stores(fresh):
    c, s = fresh.clinician, fresh.store
    visit = s.add_visit("P-1", dt.date(2025, 9, 1))
    first, again = moved_pngs(1)
    (baseline,) = s.add_photos(visit.id, [NewPhoto("closeup:crown", first)])
    s.set_roi("P-1", "closeup:crown", (20, 30, 200, 150), baseline_photo_id=baseline.photo.id)
    # the same scalp photographed again, moved: it registers to the baseline
    item = NewPhoto(
        "CloseUp: crown", again, name="b.png", px_per_mm=100.0, scale_source="magnification"
    )
    before = _state(s)
    preview = c.preview_photo("P-1", item)
    assert _state(s) == before  # a preview stores nothing
    assert preview.duplicate is None and preview.view == "closeup:crown"
    assert preview.photo.sha256 == hashlib.sha256(item.data).hexdigest()
    result = preview.analysis
    # the patient's current ROI of that view, carried over by the registration
    assert preview.registration.ok and preview.baseline_photo_id == baseline.photo.id
    assert result.roi_source == "registered" and result.placement["baseline_roi"] == [20, 30, 200, 150]
    assert result.hair_count and result.hair_count > 0  # a photo with hairs to compare

    (added,) = c.add_photos(visit.id, [item])
    stored = s.measurements(added.photo.id)[-1]
    assert added.photo.sha256 == preview.photo.sha256
    assert (added.photo.height, added.photo.width) == preview.photo.pixels.shape[:2]
    assert (
        stored.coverage_pct,
        stored.hair_count,
        stored.mean_width_px,
        stored.mean_width_um,
        stored.density_per_cm2,
        stored.thin_hair_pct,
        stored.mode,
        stored.roi,
        stored.px_per_mm,
        stored.scale_source,
        stored.quality_status,
        stored.algorithm_version,
    ) == (
        result.coverage_pct,
        result.hair_count,
        result.mean_width_px,
        result.mean_width_um,
        result.density_per_cm2,
        result.thin_hair_pct,
        result.mode,
        tuple(result.placement["photo_roi"]),
        result.parameters.get("photo_px_per_mm", result.scale.px_per_mm),  # the photo's own scale
        result.scale.source,
        result.quality.status,
        result.algorithm_version,
    )
    assert stored.density_per_cm2 is not None  # the typed scale was used

    again = c.preview_photo("P-1", item)
    assert again.duplicate == added.photo
    assert again.analysis.hair_count == result.hair_count


def test_preview_reports_a_duplicate_stored_for_any_visit(fresh):
    c = fresh.clinician
    first = fresh.p1_photos[0]
    preview = c.preview_photo("P-1", NewPhoto("crown", fresh.data[first]))
    assert preview.duplicate == fresh.store.photo(first)
    with pytest.raises(PhotoError):
        c.preview_photo("P-1", NewPhoto("vertex", b"\x89PNG broken"))
