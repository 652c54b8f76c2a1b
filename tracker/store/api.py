"""The :class:`Store`: patients, visits, photos and versioned measurements."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracker.store import models as m
from tracker.store import schema
from tracker.store.accounts import AccountsMixin
from tracker.store.errors import NotFoundError, StoreError
from tracker.store.originals import Originals, sha256_hex
from tracker.store.records import (
    AddedPhoto,
    AuditInfo,
    Deleted,
    Identity,
    MeasurementRow,
    NewPhoto,
    PatientInfo,
    PhotoInfo,
    PhotoPreview,
    RoiInfo,
    VisitInfo,
    as_utc,
    normalize_view,
)

if TYPE_CHECKING:
    from tracker.analysis import Analysis

DEFAULT_LOCATION = "tracker-data"
SQLITE_NAME = "tracker.sqlite"
#: The secret behind research pseudonyms (:func:`tracker.export.export_key`), kept in the store folder.
EXPORT_KEY_NAME = "export.key"
MARKER_NAME = "store.json"
_CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_USER_SCALE_SOURCES = ("magnification", "field_width", "user")


def default_location() -> str:
    """The store folder used when none is given: ``$TRACKER_STORE`` or ``./tracker-data``."""
    return os.environ.get("TRACKER_STORE") or DEFAULT_LOCATION


def _jsonable(value: Any) -> Any:
    """Plain JSON types for a JSON column: numpy values unwrapped, NaN and inf as None."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class _Prepared:
    item: NewPhoto
    view: str
    sha256: str
    width: int
    height: int
    metadata: dict[str, Any]
    measurement: dict[str, Any]


class Store(AccountsMixin):
    """A folder of original photos plus a database of everything about them.

    Open with :meth:`Store.open`; the schema is created or upgraded on open.
    Every change is written in one transaction and recorded in the audit log
    with the user who made it.

    Examples
    --------
    >>> import tempfile, datetime
    >>> with Store.open(tempfile.mkdtemp(), user="dr.a") as store:
    ...     patient = store.add_patient("P-001", name="Ann Example")
    ...     visit = store.add_visit(patient.id, datetime.date(2025, 1, 6),
    ...                             events=["treatment started"])
    ...     [v.events for v in store.visits("P-001")]
    [('treatment started',)]
    """

    def __init__(self, location: Path, database_url: str, engine: sa.Engine, user: str) -> None:
        self.location = location
        self.database_url = database_url
        self.originals = Originals(location / "originals")
        self.user = user
        self._engine = engine
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        location: str | os.PathLike | None = None,
        *,
        database_url: str | None = None,
        user: str | None = None,
    ) -> Store:
        """Open (creating if needed) the store in folder ``location``.

        Parameters
        ----------
        location : path, optional
            Folder holding the originals (and the SQLite database by default).
            Default: ``$TRACKER_STORE`` or ``./tracker-data``.
        database_url : str, optional
            SQLAlchemy URL of the database, e.g. ``postgresql+psycopg://...``.
            Default: ``$DATABASE_URL``, else ``<location>/tracker.sqlite``.
        user : str, optional
            Name written to the audit log for changes made through this object.
            Default: the operating-system user.
        """
        location = os.fspath(location) if location is not None else default_location()
        if "://" in location:
            raise ValueError(
                "location is the store folder (it holds the original photos); pass a "
                "database URL as database_url or in the DATABASE_URL environment variable"
            )
        location = Path(location)
        url = database_url or os.environ.get("DATABASE_URL")
        location.mkdir(parents=True, exist_ok=True)
        if url:
            url = schema.normalize_url(url)
        else:
            url = f"sqlite:///{(location / SQLITE_NAME).resolve()}"
        backend = sa.make_url(url).get_backend_name()
        _check_marker(location, backend)
        engine = schema.make_engine(url)
        try:
            schema.upgrade(engine, "head", lock_path=schema.sqlite_lock_path(url))
        except BaseException:
            engine.dispose()
            raise
        _write_marker(location, backend)
        (location / "originals").mkdir(exist_ok=True)
        return cls(location, url, engine, user or _os_user())

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    # ------------------------------------------------------------------ patients
    def add_patient(
        self,
        code: str | None = None,
        *,
        name: str | None = None,
        birth_date: dt.date | None = None,
        user: str | None = None,
    ) -> PatientInfo:
        """Add a patient under a pseudonymous ``code`` (generated when omitted).

        ``name`` and ``birth_date`` go to a separate identity table.
        """
        if code is None:
            code = "P-" + secrets.token_hex(4).upper()
        if not code or len(code) > 64 or not set(code) <= _CODE_CHARS:
            raise ValueError(
                f"patient code {code!r} must be 1-64 characters of letters, digits, '-', '_' "
                "or '.'; use a pseudonymous code, not the patient's name"
            )
        with self._write() as s, s.begin():
            if s.scalar(select(m.Patient.id).where(m.Patient.code == code)) is not None:
                raise StoreError(f"a patient with code {code!r} exists already; pick another code")
            patient = m.Patient(code=code)
            s.add(patient)
            s.flush()
            if name is not None or birth_date is not None:
                s.add(m.PatientIdentity(patient_id=patient.id, name=name, birth_date=birth_date))
            self._audit(s, user, "add", "patient", patient.id, code=code)
        return _patient_info(patient)

    def patients(self) -> list[PatientInfo]:
        with self._read() as s:
            return [_patient_info(p) for p in s.scalars(select(m.Patient).order_by(m.Patient.code))]

    def patient(self, patient: int | str) -> PatientInfo:
        """A patient by id or code."""
        with self._read() as s:
            return _patient_info(_get_patient(s, patient))

    def identity(self, patient: int | str) -> Identity | None:
        """Name and birth date of a patient, if recorded."""
        with self._read() as s:
            pid = _get_patient(s, patient).id
            row = s.get(m.PatientIdentity, pid)
            return None if row is None else Identity(pid, row.name, row.birth_date)

    # ------------------------------------------------------------------ visits
    def add_visit(
        self,
        patient: int | str,
        date: dt.date,
        *,
        notes: str = "",
        events: Iterable[str] = (),
        user: str | None = None,
    ) -> VisitInfo:
        """Add a visit. ``events`` are neutral markers such as ``"treatment started"``."""
        if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
            raise ValueError(f"date must be a datetime.date, got {date!r}")
        events = [" ".join(str(e).split()) for e in events]
        if any(not e for e in events):
            raise ValueError("event markers must be non-empty text, e.g. 'treatment started'")
        with self._write() as s, s.begin():
            pid = _get_patient(s, patient).id
            visit = m.Visit(patient_id=pid, date=date, notes=notes, events=events)
            s.add(visit)
            s.flush()
            self._audit(s, user, "add", "visit", visit.id, patient_id=pid, date=date.isoformat())
        return _visit_info(visit)

    def visits(self, patient: int | str) -> list[VisitInfo]:
        """Visits of a patient, oldest first."""
        with self._read() as s:
            pid = _get_patient(s, patient).id
            rows = s.scalars(
                select(m.Visit).where(m.Visit.patient_id == pid).order_by(m.Visit.date, m.Visit.id)
            )
            return [_visit_info(v) for v in rows]

    def visit(self, visit_id: int) -> VisitInfo:
        with self._read() as s:
            return _visit_info(_get(s, m.Visit, visit_id, "visit"))

    # ------------------------------------------------------------------ photos
    def add_photos(
        self, visit_id: int, photos: Iterable[NewPhoto], *, user: str | None = None
    ) -> list[AddedPhoto]:
        """Decode, analyse and store photos of one visit, all or nothing.

        Each photo is decoded with :func:`tracker.photo.load_photo` and analysed
        with :func:`tracker.analysis.analyze` (using the patient's ROI for that
        view, when set) before anything is written. The originals are then
        written durably, and the photo and measurement rows committed in one
        transaction. Bytes already in the store are not added again: their
        result has ``duplicate=True`` (and a damaged or missing original of
        theirs is rewritten from the good bytes).

        Raises
        ------
        tracker.photo.PhotoError
            A photo cannot be decoded; nothing is stored.
        """
        from tracker.photo import load_photo

        with self._read() as s:
            visit = s.get(m.Visit, visit_id)
            if visit is None:
                raise NotFoundError(f"no visit with id {visit_id}; add the visit first")
            rois = _current_rois(s, visit.patient_id)
        prepared: list[_Prepared] = []
        for item in photos:
            view = normalize_view(item.view)
            photo = load_photo(item.data, name=item.name)
            prepared.append(
                _Prepared(
                    item=item,
                    view=view,
                    sha256=sha256_hex(item.data),
                    width=int(photo.pixels.shape[1]),
                    height=int(photo.pixels.shape[0]),
                    metadata=_jsonable(photo.metadata.to_dict()),
                    measurement=_analyse(
                        photo.pixels, rois.get(view), item.px_per_mm, item.scale_source
                    ),
                )
            )
        for p in prepared:
            # durable before its row commits; also rewrites a stored original
            # that went missing or corrupted when the same bytes come again
            self.originals.put(p.item.data)
        for attempt in range(3):
            try:
                return self._commit_photos(visit_id, prepared, user)
            except IntegrityError:  # another process added the same bytes just now
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _commit_photos(
        self, visit_id: int, prepared: Sequence[_Prepared], user: str | None
    ) -> list[AddedPhoto]:
        results: dict[str, AddedPhoto] = {}
        with self._write() as s, s.begin():
            if s.get(m.Visit, visit_id) is None:
                raise NotFoundError(f"visit {visit_id} was deleted while the photos were analysed")
            shas = {p.sha256 for p in prepared}
            for row in s.scalars(select(m.Photo).where(m.Photo.sha256.in_(shas))):
                results[row.sha256] = AddedPhoto(_photo_info(row), True, None)
            for p in prepared:
                if p.sha256 in results:
                    continue
                photo = m.Photo(
                    visit_id=visit_id,
                    view=p.view,
                    sha256=p.sha256,
                    size_bytes=len(p.item.data),
                    name=p.item.name[:255],
                    width=p.width,
                    height=p.height,
                    capture_metadata=p.metadata,
                )
                s.add(photo)
                s.flush()
                meas = m.Measurement(photo_id=photo.id, **p.measurement)
                s.add(meas)
                s.flush()
                self._audit(
                    s,
                    user,
                    "add",
                    "photo",
                    photo.id,
                    sha256=p.sha256,
                    view=p.view,
                    visit_id=visit_id,
                    measurement_id=meas.id,
                )
                results[p.sha256] = AddedPhoto(_photo_info(photo), False, meas.id)
        out, seen = [], set()
        for p in prepared:  # a repeat within the batch is a duplicate of its first copy
            first = results[p.sha256]
            out.append(first if p.sha256 not in seen else AddedPhoto(first.photo, True, None))
            seen.add(p.sha256)
        return out

    def photos(
        self, *, visit_id: int | None = None, patient: int | str | None = None
    ) -> list[PhotoInfo]:
        """Photos of a visit, of a patient, or all; oldest visit first."""
        with self._read() as s:
            q = select(m.Photo).join(m.Visit, m.Visit.id == m.Photo.visit_id)
            if visit_id is not None:
                q = q.where(m.Photo.visit_id == visit_id)
            if patient is not None:
                q = q.where(m.Visit.patient_id == _get_patient(s, patient).id)
            q = q.order_by(m.Visit.date, m.Visit.id, m.Photo.view, m.Photo.id)
            return [_photo_info(p) for p in s.scalars(q)]

    def preview_photo(self, patient: int | str, item: NewPhoto) -> PhotoPreview:
        """Decode and analyse ``item`` exactly as :meth:`add_photos` would, storing nothing.

        Uses the patient's current ROI of the photo's view; ``duplicate`` is the
        stored photo with the same bytes, if any.

        Raises
        ------
        tracker.photo.PhotoError
            The bytes are not a usable photo.
        """
        from tracker.photo import load_photo

        view = normalize_view(item.view)
        roi = self.current_roi(patient, view)
        photo = load_photo(item.data, name=item.name)
        analysis = _analysis(photo.pixels, roi, item.px_per_mm, item.scale_source)
        with self._read() as s:
            same = s.scalar(select(m.Photo).where(m.Photo.sha256 == photo.sha256))
            duplicate = None if same is None else _photo_info(same)
        return PhotoPreview(photo, view, analysis, duplicate)

    def photo(self, photo_id: int) -> PhotoInfo:
        with self._read() as s:
            return _photo_info(_get(s, m.Photo, photo_id, "photo"))

    def read_original(self, photo_id: int) -> bytes:
        """The original bytes of a photo, checked against its sha256."""
        return self.originals.get(self.photo(photo_id).sha256)

    # ------------------------------------------------------------------ ROI
    def set_roi(
        self,
        patient: int | str,
        view: str,
        roi: tuple[int, int, int, int],
        *,
        baseline_photo_id: int,
        user: str | None = None,
    ) -> RoiInfo:
        """Set the ROI ``(x, y, w, h)`` of a patient's view, drawn on its baseline photo.

        The previous ROI is kept; later analyses use the new one. Existing
        measurements are not changed: call :meth:`reanalyse` to add new ones.
        """
        view = normalize_view(view)
        x, y, w, h = (int(v) for v in roi)
        with self._write() as s, s.begin():
            pid = _get_patient(s, patient).id
            base = _get(s, m.Photo, baseline_photo_id, "photo")
            base_visit = s.get(m.Visit, base.visit_id)
            if base_visit.patient_id != pid or base.view != view:
                raise ValueError(
                    f"baseline photo {baseline_photo_id} is not a {view} photo of this patient; "
                    "pick one of the patient's photos of that view"
                )
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > base.width or y + h > base.height:
                raise ValueError(
                    f"ROI {(x, y, w, h)} does not fit inside the baseline photo "
                    f"({base.width} x {base.height} px); give x, y, w, h inside it"
                )
            row = m.Roi(patient_id=pid, view=view, baseline_photo_id=base.id, x=x, y=y, w=w, h=h)
            s.add(row)
            s.flush()
            self._audit(
                s,
                user,
                "set_roi",
                "roi",
                row.id,
                patient_id=pid,
                view=view,
                roi=[x, y, w, h],
                baseline_photo_id=base.id,
            )
        return _roi_info(row)

    def current_roi(self, patient: int | str, view: str) -> RoiInfo | None:
        """The ROI in force for a patient's view, or None."""
        view = normalize_view(view)
        with self._read() as s:
            return _current_rois(s, _get_patient(s, patient).id).get(view)

    # ------------------------------------------------------------------ analysis
    def reanalyse(
        self,
        *,
        patient: int | str | None = None,
        photo_ids: Iterable[int] | None = None,
        user: str | None = None,
    ) -> list[int]:
        """Analyse photos again with the installed algorithm and current ROIs.

        Adds one measurement per photo (older ones stay); returns the new ids.
        A scale typed by the user when the photo was added is used again.
        """
        from tracker.photo import load_photo

        with self._read() as s:
            q = select(m.Photo, m.Visit.patient_id).join(m.Visit, m.Visit.id == m.Photo.visit_id)
            if patient is not None:
                q = q.where(m.Visit.patient_id == _get_patient(s, patient).id)
            if photo_ids is not None:
                ids = list(photo_ids)
                missing = set(ids) - set(s.scalars(select(m.Photo.id).where(m.Photo.id.in_(ids))))
                if missing:
                    raise NotFoundError(f"no photos with ids {sorted(missing)}")
                q = q.where(m.Photo.id.in_(ids))
            rows = s.execute(q.order_by(m.Photo.id)).all()
            scales = {}
            for photo, _ in rows:
                last = s.scalars(
                    select(m.Measurement)
                    .where(m.Measurement.photo_id == photo.id)
                    .order_by(m.Measurement.id.desc())
                    .limit(1)
                ).first()
                keep = last is not None and last.scale_source in _USER_SCALE_SOURCES
                scales[photo.id] = (last.px_per_mm, last.scale_source) if keep else (None, None)
            rois = {pid: _current_rois(s, pid) for pid in {pid for _, pid in rows}}
        new_rows = []
        for photo, pid in rows:
            pixels = load_photo(self.originals.get(photo.sha256), name=photo.name).pixels
            roi = rois[pid].get(photo.view)
            new_rows.append((photo.id, _analyse(pixels, roi, *scales[photo.id])))
        with self._write() as s, s.begin():
            created = []
            for photo_id, values in new_rows:
                meas = m.Measurement(photo_id=photo_id, **values)
                s.add(meas)
                s.flush()
                created.append(meas.id)
            if created:
                self._audit(
                    s,
                    user,
                    "reanalyse",
                    "photo",
                    None,
                    photo_ids=[p for p, _ in new_rows],
                    measurement_ids=created,
                )
        return created

    def timeline(
        self,
        patient: int | str,
        *,
        view: str | None = None,
        algorithm_version: str | None = None,
    ) -> list[MeasurementRow]:
        """Measurements of a patient per visit and view, oldest visit first.

        For each photo the newest measurement is returned; with
        ``algorithm_version`` the newest one made by that version (photos never
        analysed by it are left out). Repeat photos of a view at a visit each
        give a row.
        """
        with self._read() as s:
            pid = _get_patient(s, patient).id
            newest = (
                select(m.Measurement.photo_id, func.max(m.Measurement.id).label("mid"))
                .join(m.Photo, m.Photo.id == m.Measurement.photo_id)
                .join(m.Visit, m.Visit.id == m.Photo.visit_id)
                .where(m.Visit.patient_id == pid)
                .group_by(m.Measurement.photo_id)
            )
            if view is not None:
                newest = newest.where(m.Photo.view == normalize_view(view))
            if algorithm_version is not None:
                newest = newest.where(m.Measurement.algorithm_version == algorithm_version)
            sub = newest.subquery()
            q = (
                _measurement_select()
                .join(sub, sub.c.mid == m.Measurement.id)
                .order_by(m.Visit.date, m.Visit.id, m.Photo.view, m.Photo.id)
            )
            return [_measurement_row(row) for row in s.execute(q)]

    def measurements(self, photo_id: int) -> list[MeasurementRow]:
        """Every measurement of one photo, oldest first (the full history)."""
        with self._read() as s:
            q = _measurement_select().where(m.Measurement.photo_id == photo_id)
            return [_measurement_row(row) for row in s.execute(q.order_by(m.Measurement.id))]

    # ------------------------------------------------------------------ delete + audit
    def delete(
        self, target: str, target_id: int, *, user: str | None = None, reason: str = ""
    ) -> Deleted:
        """Delete a patient, visit or photo with everything under it.

        The audit log records who deleted what and when. Originals of deleted
        photos are removed after the database commit.
        """
        kinds = {"patient": m.Patient, "visit": m.Visit, "photo": m.Photo}
        if target not in kinds:
            raise ValueError(f"can delete a 'patient', 'visit' or 'photo', not {target!r}")
        with self._write() as s, s.begin():
            row = _get(s, kinds[target], target_id, target)
            photo_q = select(m.Photo.id, m.Photo.sha256).join(
                m.Visit, m.Visit.id == m.Photo.visit_id
            )
            if target == "patient":
                photo_q = photo_q.where(m.Visit.patient_id == target_id)
                visits = s.scalar(select(func.count()).where(m.Visit.patient_id == target_id))
            elif target == "visit":
                photo_q = photo_q.where(m.Photo.visit_id == target_id)
                visits = 1
            else:
                photo_q = photo_q.where(m.Photo.id == target_id)
                visits = 0
            photos = s.execute(photo_q).all()
            n_meas = s.scalar(
                select(func.count()).where(m.Measurement.photo_id.in_([p.id for p in photos]))
            )
            details = {
                "visits": visits,
                "photos": len(photos),
                "measurements": n_meas,
                "sha256": [p.sha256 for p in photos],
                "reason": reason,
            }
            if target == "patient":
                details["code"] = row.code
            s.execute(sa.delete(kinds[target]).where(kinds[target].id == target_id))
            self._audit(s, user, "delete", target, target_id, **details)
        for p in photos:
            self.originals.remove(p.sha256)
        return Deleted(
            target, target_id, visits, len(photos), n_meas, tuple(p.sha256 for p in photos)
        )

    def audit_log(self, *, limit: int | None = None) -> list[AuditInfo]:
        """Audit entries, newest first."""
        with self._read() as s:
            q = select(m.AuditEntry).order_by(m.AuditEntry.id.desc()).limit(limit)
            return [
                AuditInfo(a.id, as_utc(a.at), a.who, a.action, a.target, a.target_id, a.details)
                for a in s.scalars(q)
            ]

    def record_event(self, action: str, *, user: str | None = None, **details: Any) -> None:
        """Write an audit entry for a store-wide action such as ``"restore"``."""
        with self._write() as s, s.begin():
            self._audit(s, user, action, "store", None, **details)

    def _audit(
        self,
        s: Session,
        user: str | None,
        action: str,
        target: str,
        target_id: int | None,
        **details: Any,
    ) -> None:
        s.add(
            m.AuditEntry(
                who=user or self.user,
                action=action,
                target=target,
                target_id=target_id,
                details=_jsonable(details),
            )
        )

    # ------------------------------------------------------------------ helpers for check
    def referenced_originals(self) -> list[tuple[int, str, int]]:
        """``(photo_id, sha256, size_bytes)`` of every photo row."""
        with self._read() as s:
            rows = s.execute(
                select(m.Photo.id, m.Photo.sha256, m.Photo.size_bytes).order_by(m.Photo.id)
            )
            return [tuple(r) for r in rows]

    def orphan_rows(self) -> list[str]:
        """Rows that refer to a missing row, and photos without any measurement.

        Foreign keys prevent these; they appear only when the database was
        edited with foreign keys off, or copied back from a damaged file.
        """
        found = []
        with self._read() as s:
            for table in m.Base.metadata.sorted_tables:
                (key,) = table.primary_key.columns
                for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
                    col, parent = fk.parent, fk.column
                    q = (
                        select(key, col)
                        .select_from(table.outerjoin(parent.table, parent == col))
                        .where(col.is_not(None), parent.is_(None))
                        .order_by(key)
                    )
                    found += [
                        f"{table.name} {k}: {col.name}={ref} has no {parent.table.name} row"
                        for k, ref in s.execute(q)
                    ]
            bare = (
                select(m.Photo.id)
                .outerjoin(m.Measurement, m.Measurement.photo_id == m.Photo.id)
                .where(m.Measurement.id.is_(None))
                .order_by(m.Photo.id)
            )
            found += [f"photo {pid}: has no measurement" for pid in s.scalars(bare)]
        return found


# ---------------------------------------------------------------------- helpers
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _check_marker(location: Path, backend: str) -> None:
    marker = location / MARKER_NAME
    if not marker.exists():
        return
    stored = json.loads(marker.read_text()).get("database")
    if stored != backend:
        raise StoreError(
            f"the store in {location} keeps its database in {stored}, not {backend}; "
            + (
                "set DATABASE_URL (or database_url) to that database"
                if stored != "sqlite"
                else "unset DATABASE_URL to use its SQLite file"
            )
        )


def _write_marker(location: Path, backend: str) -> None:
    """Record which kind of database holds this folder's rows (checked on open)."""
    marker = location / MARKER_NAME
    if marker.exists():
        return
    tmp = marker.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"format": 1, "database": backend}) + "\n")
    os.replace(tmp, marker)


def _analysis(
    pixels, roi: RoiInfo | None, px_per_mm: float | None, scale_source: str | None
) -> Analysis:
    """:func:`tracker.analysis.analyze` with the ROI clipped to the photo."""
    from tracker.analysis import analyze

    box = None
    if roi is not None:
        h, w = pixels.shape[:2]
        x0, y0 = min(roi.x, w - 1), min(roi.y, h - 1)
        box = (x0, y0, min(roi.w, w - x0), min(roi.h, h - y0))
    return analyze(pixels, roi=box, px_per_mm=px_per_mm, scale_source=scale_source)


def _analyse(
    pixels, roi: RoiInfo | None, px_per_mm: float | None, scale_source: str | None
) -> dict:
    """Run :func:`tracker.analysis.analyze`; return measurement column values."""
    result = _analysis(pixels, roi, px_per_mm, scale_source)
    roi_id = None if roi is None else roi.id
    record = _jsonable(result.to_record())
    x, y, w, h = (int(v) for v in result.roi)
    return {
        "roi_id": roi_id,
        "roi_x": x,
        "roi_y": y,
        "roi_w": w,
        "roi_h": h,
        "mode": result.mode,
        "coverage_pct": _opt_float(result.coverage_pct),
        "hair_count": None if result.hair_count is None else int(result.hair_count),
        "mean_width_px": _opt_float(result.mean_width_px),
        "mean_width_um": _opt_float(result.mean_width_um),
        "density_per_cm2": _opt_float(result.density_per_cm2),
        "thin_hair_pct": _opt_float(result.thin_hair_pct),
        "quality_status": str(result.quality.status),
        "quality": record["quality"],
        "px_per_mm": _opt_float(result.scale.px_per_mm),
        "scale_source": str(result.scale.source),
        "algorithm_version": str(result.algorithm_version),
        "parameters": record["parameters"],
    }


def _current_rois(s: Session, patient_id: int) -> dict[str, RoiInfo]:
    """The newest ROI of each view of a patient."""
    rows = s.scalars(select(m.Roi).where(m.Roi.patient_id == patient_id).order_by(m.Roi.id))
    return {r.view: _roi_info(r) for r in rows}


def _get(s: Session, model: type, ident: int, what: str):
    row = s.get(model, ident)
    if row is None:
        raise NotFoundError(f"no {what} with id {ident}")
    return row


def _get_patient(s: Session, patient: int | str) -> m.Patient:
    if isinstance(patient, str):
        row = s.scalars(select(m.Patient).where(m.Patient.code == patient)).first()
        if row is None:
            raise NotFoundError(f"no patient with code {patient!r}")
        return row
    return _get(s, m.Patient, patient, "patient")


def _patient_info(p: m.Patient) -> PatientInfo:
    return PatientInfo(p.id, p.code, as_utc(p.created_at))


def _visit_info(v: m.Visit) -> VisitInfo:
    return VisitInfo(v.id, v.patient_id, v.date, v.notes, tuple(v.events))


def _photo_info(p: m.Photo) -> PhotoInfo:
    return PhotoInfo(
        p.id,
        p.visit_id,
        p.view,
        p.sha256,
        p.size_bytes,
        p.name,
        p.width,
        p.height,
        dict(p.capture_metadata),
        as_utc(p.created_at),
    )


def _roi_info(r: m.Roi) -> RoiInfo:
    return RoiInfo(
        r.id, r.patient_id, r.view, r.baseline_photo_id, r.x, r.y, r.w, r.h, as_utc(r.created_at)
    )


_MEASUREMENT_COLUMNS = (
    "id",
    "photo_id",
    "roi_id",
    "roi_x",
    "roi_y",
    "roi_w",
    "roi_h",
    "mode",
    *m.METRICS,
    "quality_status",
    "quality",
    "px_per_mm",
    "scale_source",
    "algorithm_version",
    "parameters",
    "created_at",
)


def _measurement_select() -> sa.Select:
    """Measurement columns with their photo's view and sha256 and their visit (no ORM objects)."""
    cols = [getattr(m.Measurement, c) for c in _MEASUREMENT_COLUMNS]
    return (
        select(
            *cols,
            m.Photo.view,
            m.Photo.sha256,
            m.Visit.id.label("visit_id"),
            m.Visit.date.label("visit_date"),
        )
        .join(m.Photo, m.Photo.id == m.Measurement.photo_id)
        .join(m.Visit, m.Visit.id == m.Photo.visit_id)
    )


def _measurement_row(row: sa.Row) -> MeasurementRow:
    (
        mid,
        photo_id,
        roi_id,
        x,
        y,
        w,
        h,
        mode,
        cov,
        count,
        wpx,
        wum,
        dens,
        thin,
        qstatus,
        quality,
        px_per_mm,
        source,
        version,
        params,
        created,
        view,
        sha,
        visit_id,
        visit_date,
    ) = row
    return MeasurementRow(
        mid,
        photo_id,
        visit_id,
        visit_date,
        view,
        sha,
        roi_id,
        (x, y, w, h),
        mode,
        cov,
        count,
        wpx,
        wum,
        dens,
        thin,
        qstatus,
        quality,
        px_per_mm,
        source,
        version,
        params,
        as_utc(created),
    )
