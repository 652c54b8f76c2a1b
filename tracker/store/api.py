"""The :class:`Store`: patients, visits, photos and versioned measurements."""

from __future__ import annotations

import copy
import datetime as dt
import getpass
import json
import math
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracker.store import models as m
from tracker.store import schema
from tracker.store.accounts import AccountsMixin
from tracker.store.errors import NotFoundError, OriginalError, StoreError
from tracker.store.originals import Originals
from tracker.store.records import (
    AddedPhoto,
    AuditInfo,
    Deleted,
    Identity,
    MeasurementRow,
    NewPhoto,
    PatientInfo,
    PhotoInfo,
    PhotoPlacement,
    PhotoPreview,
    PhotoRoiInfo,
    RegistrationInfo,
    RoiInfo,
    VisitInfo,
    as_utc,
    normalize_view,
    view_mode,
)

if TYPE_CHECKING:
    from tracker.analysis import Analysis, ViewSettings
    from tracker.imaging.register import PhotoFeatures, Registration
    from tracker.photo import Photo

DEFAULT_LOCATION = "tracker-data"
SQLITE_NAME = "tracker.sqlite"
#: The secret behind research pseudonyms (:func:`tracker.export.export_key`), kept in the store folder.
EXPORT_KEY_NAME = "export.key"
MARKER_NAME = "store.json"
#: Mode of a store folder the tracker makes (opened or restored into a new folder): patient
#: data, so its owner's only, as PostgreSQL keeps its data folder. A folder that exists
#: already keeps the mode it has, so a clinic can share one with a group on purpose.
STORE_FOLDER_MODE = 0o700
#: Baselines whose registration features a store keeps in memory (a few MB each).
BASELINE_FEATURES_KEPT = 8
#: Baselines whose decoded pixels a store keeps in memory (a 12 MP photo takes 36 MB): each
#: preview and save of a follow-up needs its view's baseline, which is decoded once.
BASELINE_PIXELS_KEPT = 4
#: Measurements of new photos (their values, a few kB each) a store keeps in memory, by
#: photo and everything they were made from (:meth:`Store._place`): the New visit page
#: measures each upload to show it, and saving the visit then stores those values instead
#: of measuring again (one not kept any more is measured again).
PLACEMENTS_KEPT = 64
_Kept = TypeVar("_Kept")
_Key = TypeVar("_Key", bound=Hashable)
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
    registration: Registration | None = None
    #: the baseline photo registered to: a stored photo id, or ("batch", sha256) for one in this batch
    baseline: int | tuple[str, str] | None = None


@dataclass
class _ViewContext:
    """What measuring one photo of a view needs: its ROI, baseline photo and settings."""

    roi: RoiInfo | None
    baseline_id: int | None
    baseline_sha: str | None
    pixels: np.ndarray | None
    settings: ViewSettings | None
    #: 'closeup' for a close-up view ('closeup:<site>'), 'overview' for the fixed
    #: overview views: the baseline photo is not left to guess it
    mode: str = "auto"


@dataclass(frozen=True)
class _NewVisit:
    """A visit to write (with its photos, or alone), its values checked."""

    date: dt.date
    notes: str
    events: tuple[str, ...]

    @classmethod
    def checked(cls, date: dt.date, notes: str, events: Iterable[str]) -> _NewVisit:
        if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
            raise ValueError(f"date must be a datetime.date, got {date!r}")
        events = tuple(" ".join(str(e).split()) for e in events)
        if any(not e for e in events):
            raise ValueError("event markers must be non-empty text, e.g. 'treatment started'")
        return cls(date, notes, events)


@dataclass(frozen=True)
class _Placed:
    """A photo measured in its view: the values to store, the analysis (None when the
    values were kept from an earlier measurement, see :meth:`Store._place`) and the
    registration to the baseline."""

    measurement: dict[str, Any]
    analysis: Analysis | None
    registration: Registration | None


@dataclass(frozen=True)
class _Made:
    """What a save needs of a new photo's measurement, kept by :meth:`Store._place`: the
    values, the registration, and the view settings it fixes when it is the baseline."""

    measurement: dict[str, Any]
    registration: Registration | None
    settings: ViewSettings


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
        sa.event.listen(self._write, "before_commit", self._refuse_if_gone)
        # the registration features and the decoded pixels of recent baselines, by sha256
        # (see _baseline_features and _view_context)
        self._features: OrderedDict[str, PhotoFeatures] = OrderedDict()
        self._pixels: OrderedDict[str, np.ndarray] = OrderedDict()
        self._placements: OrderedDict[tuple, _Made] = OrderedDict()
        self._kept_lock = threading.Lock()

    def _refuse_if_gone(self, session: Session) -> None:
        """Before each commit: the store folder is still there (a deleted one would take
        the commit's originals with it, or the database file would be written unlinked)."""
        if not (self.location / MARKER_NAME).exists():
            raise StoreError(
                f"the store folder {self.location} (or its {MARKER_NAME}) is gone: nothing was saved; "
                "restore the store from a backup, or open it where it now is"
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
            Default: ``$TRACKER_STORE`` or ``./tracker-data``. Made with
            :data:`STORE_FOLDER_MODE` if it does not exist.
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
        location.mkdir(mode=STORE_FOLDER_MODE, parents=True, exist_ok=True)
        if url:
            url = schema.normalize_url(url)
        else:
            url = f"sqlite:///{(location / SQLITE_NAME).resolve()}"
        backend = sa.make_url(url).get_backend_name()
        _check_marker(location, backend)
        _check_database_file(location, url)
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

    def recorded_names(self, patient: int | str) -> list[str]:
        """The patient's recorded name, as a list (empty when none is recorded):
        what is taken out of free text that leaves with the code only
        (:func:`tracker.export.redact.redact_names`)."""
        identity = self.identity(patient)
        return [identity.name] if identity is not None and identity.name else []

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
        new = _NewVisit.checked(date, notes, events)
        with self._write() as s, s.begin():
            visit = self._insert_visit(s, _get_patient(s, patient).id, new, user)
        return _visit_info(visit)

    def _insert_visit(self, s: Session, patient_id: int, new: _NewVisit, user: str | None) -> m.Visit:
        visit = m.Visit(patient_id=patient_id, date=new.date, notes=new.notes, events=list(new.events))
        s.add(visit)
        s.flush()
        self._audit(s, user, "add", "visit", visit.id, patient_id=patient_id, date=new.date.isoformat())
        return visit

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
        with self._read() as s:
            visit = s.get(m.Visit, visit_id)
            if visit is None:
                raise NotFoundError(f"no visit with id {visit_id}; add the visit first")
            patient_id, visit_date = visit.patient_id, visit.date
        return self._add_photos(patient_id, visit_date, visit_id, photos, user)[1]

    def add_visit_with_photos(
        self,
        patient: int | str,
        date: dt.date,
        photos: Iterable[NewPhoto],
        *,
        notes: str = "",
        events: Iterable[str] = (),
        user: str | None = None,
    ) -> tuple[VisitInfo, list[AddedPhoto]]:
        """Add a visit and its photos in one transaction (:meth:`add_visit`, :meth:`add_photos`).

        The photos are analysed first; the visit is written only with them, so
        no visit without its photos is left behind, even if the process dies.
        """
        new = _NewVisit.checked(date, notes, events)
        photos = list(photos)
        if not photos:
            raise ValueError("a visit needs at least one photo; upload the photos of this visit")
        patient_id = self.patient(patient).id
        visit_id, added = self._add_photos(patient_id, new.date, new, photos, user)
        return self.visit(visit_id), added

    def _add_photos(
        self,
        patient_id: int,
        visit_date: dt.date,
        visit: int | _NewVisit,
        photos: Iterable[NewPhoto],
        user: str | None,
    ) -> tuple[int, list[AddedPhoto]]:
        """:meth:`add_photos` to the visit ``visit`` (an id), or to a new one written with them."""
        from tracker.photo import load_photo

        with self._read() as s:
            rois = _current_rois(s, patient_id)
        decoded = []
        for item in photos:
            view = normalize_view(item.view)
            decoded.append((item, view, _measurable(load_photo(item.data, name=item.name), item.name)))
        # each view's baseline: the ROI's, else the first photo of the earliest visit of
        # the view (which may be in this batch); it is measured first, to fix the view's settings
        contexts: dict[str, _ViewContext] = {}
        for item, view, photo in decoded:
            if view not in contexts:
                contexts[view] = self._view_context(
                    patient_id, view, rois.get(view), batch=(visit_date, lambda photo=photo: photo)
                )
        order = sorted(
            range(len(decoded)),
            key=lambda k: decoded[k][2].sha256 != contexts[decoded[k][1]].baseline_sha,
        )
        placed: dict[int, _Placed] = {}
        for k in order:
            item, view, photo = decoded[k]
            ctx = contexts[view]
            placed[k] = self._place(photo.pixels, photo.sha256, ctx, item=item, reuse=True)
        prepared: list[_Prepared] = []
        for k, (item, view, photo) in enumerate(decoded):
            ctx = contexts[view]
            base: int | tuple[str, str] | None = ctx.baseline_id
            if base is None and ctx.baseline_sha is not None:
                base = ("batch", ctx.baseline_sha)
            prepared.append(
                _Prepared(
                    item=item,
                    view=view,
                    sha256=photo.sha256,
                    width=int(photo.pixels.shape[1]),
                    height=int(photo.pixels.shape[0]),
                    metadata=_jsonable(photo.metadata.to_dict()),
                    measurement=placed[k].measurement,
                    registration=placed[k].registration,
                    baseline=base,
                )
            )
        for p in prepared:
            # durable before its row commits; also rewrites a stored original
            # that went missing or corrupted when the same bytes come again
            self.originals.put(p.item.data)
        for attempt in range(3):
            try:
                visit_id, added = self._commit_photos(patient_id, visit, prepared, user)
                break
            except IntegrityError:  # another process added the same bytes just now
                if attempt == 2:
                    raise
        inserted = {a.photo.sha256 for a in added if not a.duplicate}
        for p in prepared:
            # a delete of an earlier photo of the same bytes, committed while this
            # add waited, removed the file: it is written again (for the photos this
            # add inserted only: a duplicate's photo may be deleted by now)
            if p.sha256 in inserted and not self.originals.path(p.sha256).exists():
                self.originals.put(p.item.data)
        return visit_id, added

    def _commit_photos(
        self, patient_id: int, visit: int | _NewVisit, prepared: Sequence[_Prepared], user: str | None
    ) -> tuple[int, list[AddedPhoto]]:
        results: dict[str, AddedPhoto] = {}
        with self._write() as s, s.begin():
            if isinstance(visit, _NewVisit):
                if s.get(m.Patient, patient_id) is None:
                    raise NotFoundError(f"patient {patient_id} was deleted while the photos were analysed")
                visit_id = self._insert_visit(s, patient_id, visit, user).id
            elif s.get(m.Visit, visit) is None:
                raise NotFoundError(f"visit {visit} was deleted while the photos were analysed")
            else:
                visit_id = visit
            shas = {p.sha256 for p in prepared}
            for row in s.scalars(select(m.Photo).where(m.Photo.sha256.in_(shas))):
                results[row.sha256] = AddedPhoto(_photo_info(row), True, None)
            batch_baselines = {p.baseline[1] for p in prepared if isinstance(p.baseline, tuple)}
            for p in sorted(prepared, key=lambda p: p.sha256 not in batch_baselines):
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
                results[p.sha256] = AddedPhoto(_photo_info(photo), False, None)
                values = dict(p.measurement)
                base_id = p.baseline
                if isinstance(base_id, tuple):  # the baseline came in this batch: now it has an id
                    base_id = results[base_id[1]].photo.id
                    values["parameters"] = {**values["parameters"], "baseline_photo_id": base_id}
                if p.registration is not None:
                    reg_row = _registration_row(photo.id, base_id, p.registration)
                    s.add(reg_row)
                    s.flush()
                    values["registration_id"] = reg_row.id
                meas = m.Measurement(photo_id=photo.id, **values)
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
            if isinstance(visit, _NewVisit) and all(r.measurement_id is None for r in results.values()):
                raise StoreError(
                    "every photo of this visit is stored already (see the duplicates): no visit was "
                    "added; upload the photos taken at this visit"
                )  # rolls the new visit back
        out, seen = [], set()
        for p in prepared:  # a repeat within the batch is a duplicate of its first copy
            first = results[p.sha256]
            out.append(first if p.sha256 not in seen else AddedPhoto(first.photo, True, None))
            seen.add(p.sha256)
        return visit_id, out

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

    def preview_photo(
        self,
        patient: int | str,
        item: NewPhoto,
        *,
        batch_first: NewPhoto | None = None,
        date: dt.date | None = None,
    ) -> PhotoPreview:
        """Decode and analyse ``item`` exactly as :meth:`add_photos` would, storing nothing.

        Uses the patient's current ROI of the photo's view; ``duplicate`` is the
        stored photo with the same bytes, if any. ``batch_first`` is the first
        photo of the same view in the same upload and ``date`` the visit's date:
        when the view has no stored photo yet, or (without an ROI) none from a
        visit dated before ``date``, the first photo is the baseline that
        ``item`` is registered to, as :meth:`add_photos` of both together would
        make it.

        Raises
        ------
        tracker.photo.PhotoError
            The bytes are not a usable photo.
        """
        from tracker.photo import load_photo

        view = normalize_view(item.view)
        roi = self.current_roi(patient, view)
        photo = _measurable(load_photo(item.data, name=item.name), item.name)
        pid = self.patient(patient).id
        def first() -> Photo:  # decoded only when it is the view's baseline
            if batch_first is None or normalize_view(batch_first.view) != view or batch_first.data == item.data:
                return photo
            return load_photo(batch_first.data, name=batch_first.name)

        ctx = self._view_context(pid, view, roi, batch=(date or dt.date.max, first))
        if ctx.settings is None and ctx.pixels is not None and photo.sha256 != ctx.baseline_sha:
            # the upload's first photo is the view's baseline: add_photos measures it
            # first, which fixes the view's settings for the others
            self._place(ctx.pixels, ctx.baseline_sha, ctx, item=batch_first, reuse=True)
        placed = self._place(photo.pixels, photo.sha256, ctx, item=item)  # measured: its analysis is shown
        with self._read() as s:
            same = s.scalar(select(m.Photo).where(m.Photo.sha256 == photo.sha256))
            duplicate = None if same is None else _photo_info(same)
        return PhotoPreview(photo, view, placed.analysis, duplicate, placed.registration, ctx.baseline_id)

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
            typed = {}
            for photo, _ in rows:
                last = s.scalars(
                    select(m.Measurement)
                    .where(m.Measurement.photo_id == photo.id)
                    .order_by(m.Measurement.id.desc())
                    .limit(1)
                ).first()
                typed[photo.id] = _typed_scale(last)
            rois = {pid: _current_rois(s, pid) for pid in {pid for _, pid in rows}}
        contexts: dict[tuple[int, str], _ViewContext] = {}
        new_rows = []
        for photo, pid in rows:
            key = (pid, photo.view)
            if key not in contexts:
                contexts[key] = self._view_context(pid, photo.view, rois[pid].get(photo.view))
            ctx = contexts[key]
            try:
                data = self.originals.get(photo.sha256)
            except OriginalError:
                if self._photo_exists(photo.id):
                    raise
                continue  # deleted while the others were measured
            pixels = load_photo(data, name=photo.name).pixels
            item = NewPhoto(photo.view, b"", photo.name, **typed[photo.id])
            reuse = None if photo.id == ctx.baseline_id else self._stored_registration(photo.id, ctx.baseline_id)
            placed = self._place(
                pixels, photo.sha256, ctx, item=item, photo_id=photo.id, registration=reuse
            )
            new_rows.append((photo.id, placed, reuse is not None))
        with self._write() as s, s.begin():
            # photos deleted while the others were measured (with their registrations) are left
            ids = {photo_id for photo_id, _, _ in new_rows}
            ids |= {p.measurement["parameters"].get("baseline_photo_id") for _, p, _ in new_rows} - {None}
            alive = set(s.scalars(select(m.Photo.id).where(m.Photo.id.in_(ids))))
            new_rows = [
                (photo_id, placed, reused)
                for photo_id, placed, reused in new_rows
                if photo_id in alive and placed.measurement["parameters"].get("baseline_photo_id", photo_id) in alive | {None}
            ]
            created = []
            for photo_id, placed, reused in new_rows:
                values = dict(placed.measurement)
                if placed.registration is not None:
                    if reused:
                        values["registration_id"] = placed.registration.details["store_id"]
                    else:
                        ctx_base = placed.measurement["parameters"].get("baseline_photo_id")
                        reg_row = _registration_row(photo_id, ctx_base, placed.registration)
                        s.add(reg_row)
                        s.flush()
                        values["registration_id"] = reg_row.id
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
                    photo_ids=[p for p, _, _ in new_rows],
                    measurement_ids=created,
                )
        return created

    def photos_to_reanalyse(self, patient: int | str, *, settings: bool = False) -> list[int]:
        """Ids of a patient's photos that :meth:`reanalyse` would measure differently now.

        Parameters
        ----------
        patient : int or str
            Patient id or code.
        settings : bool
            False: the photos whose newest measurement is by another algorithm
            version than the installed one (or that have none). True: also those
            whose newest measurement by the installed version was made with other
            settings than are in force now: another ROI or baseline photo of the
            view, or a hand-placed ROI set since (:meth:`set_photo_roi`).

        Returns
        -------
        list of int
            Photo ids, oldest visit first. A photo measured by the installed
            version with the settings in force is left out: measuring it again
            would add a measurement with the same values.
        """
        from tracker.analysis import ALGORITHM_VERSION

        with self._read() as s:
            pid = _get_patient(s, patient).id
            newest = (
                select(func.max(m.Measurement.id))
                .where(m.Measurement.photo_id == m.Photo.id)
                .correlate(m.Photo)
                .scalar_subquery()
            )
            q = (
                select(m.Photo, m.Measurement)
                .join(m.Visit, m.Visit.id == m.Photo.visit_id)
                .outerjoin(m.Measurement, m.Measurement.id == newest)
                .where(m.Visit.patient_id == pid)
                .order_by(m.Visit.date, m.Visit.id, m.Photo.view, m.Photo.id)
            )
            rois = _current_rois(s, pid)
            baselines: dict[str, int] = {}
            out = []
            for photo, last in s.execute(q):
                if last is None or last.algorithm_version != ALGORITHM_VERSION:
                    out.append(photo.id)
                    continue
                if not settings:
                    continue
                roi = rois.get(photo.view)
                if photo.view not in baselines:
                    baselines[photo.view] = _baseline_photo(s, pid, photo.view, roi).id
                manual = _current_photo_roi(s, photo.id, roi)
                same = (
                    last.roi_id == (None if roi is None else roi.id)
                    and last.parameters.get("baseline_photo_id") == baselines[photo.view]
                    and (last.roi_source == "manual") == (manual is not None)
                    and (manual is None or last.created_at >= manual.created_at)
                )
                if not same:
                    out.append(photo.id)
            return out

    def _photo_exists(self, photo_id: int) -> bool:
        with self._read() as s:
            return s.get(m.Photo, photo_id) is not None

    def replay(self, photo_id: int) -> Analysis:
        """Analyse a stored photo again exactly as :meth:`reanalyse` would, storing nothing.

        The result's ``image``, ``mask`` and ``roi`` show what was measured (for
        a registered photo, the ROI's patch on the baseline's grid).
        """
        from tracker.photo import load_photo

        with self._read() as s:
            photo = _get(s, m.Photo, photo_id, "photo")
            pid = s.get(m.Visit, photo.visit_id).patient_id
            last = s.scalars(
                select(m.Measurement)
                .where(m.Measurement.photo_id == photo_id)
                .order_by(m.Measurement.id.desc())
                .limit(1)
            ).first()
            typed = _typed_scale(last)
            roi = _current_rois(s, pid).get(photo.view)
        ctx = self._view_context(pid, photo.view, roi)
        pixels = load_photo(self.originals.get(photo.sha256), name=photo.name).pixels
        item = NewPhoto(photo.view, b"", photo.name, **typed)
        reuse = None if photo.id == ctx.baseline_id else self._stored_registration(photo.id, ctx.baseline_id)
        return self._place(pixels, photo.sha256, ctx, item=item, photo_id=photo.id, registration=reuse).analysis

    # ------------------------------------------------------------------ registration
    def _view_context(
        self,
        patient_id: int,
        view: str,
        roi: RoiInfo | None,
        *,
        batch: tuple[dt.date, Callable[[], Photo]] | None = None,
    ) -> _ViewContext:
        """The view's ROI, baseline photo (pixels) and settings.

        ``batch`` is ``(visit date, photo)`` of the first photo of the view
        being added (``photo()`` gives it, called only when needed): it is the
        baseline when the view has no ROI and no stored photo from an earlier
        visit. A stored baseline's original is decoded
        once for the last BASELINE_PIXELS_KEPT baselines (by sha256: the same
        bytes give the same pixels).
        """
        from tracker.photo import load_photo

        with self._read() as s:
            base = _baseline_photo(s, patient_id, view, roi)
            if base is not None and batch is not None and roi is None:
                base_date = s.get(m.Visit, base.visit_id).date
                if batch[0] < base_date:  # a visit recorded later but dated earlier
                    base = None
            cached = None if base is None else _stored_settings(s, base.id, roi)
        mode = view_mode(view)
        if base is None:
            if batch is None:
                return _ViewContext(roi, None, None, None, None, mode)
            photo = batch[1]()
            return _ViewContext(roi, None, photo.sha256, photo.pixels, None, mode)
        pixels = self._keep(
            self._pixels,
            base.sha256,
            lambda: _read_only(load_photo(self.originals.get(base.sha256), name=base.name).pixels),
            BASELINE_PIXELS_KEPT,
        )
        ctx = _ViewContext(roi, base.id, base.sha256, pixels, cached, mode)
        if ctx.settings is None:
            self._place(pixels, base.sha256, ctx, reuse=True)  # measuring the baseline fixes them
        return ctx

    def _place(
        self,
        pixels: np.ndarray,
        sha256: str,
        ctx: _ViewContext,
        *,
        item: NewPhoto | None = None,
        photo_id: int | None = None,
        registration: Registration | None = None,
        reuse: bool = False,
    ) -> _Placed:
        """Register a photo to its view's baseline and measure it there (:func:`analyze_in_view`).

        What a new photo's measurement (no ``photo_id``, no ``registration``
        given) needs to be stored is kept for the last PLACEMENTS_KEPT, by the
        photo's sha256 and everything in ``ctx`` and ``item`` it is made from.
        With ``reuse``, kept values are returned instead of measuring again
        (then without the analysis): the preview of an upload and the save
        after it measure it once. Measuring a view's baseline fixes the view's
        settings in ``ctx`` if it has none yet.
        """
        from tracker.analysis import view_settings

        key = _placement_key(sha256, ctx, item) if photo_id is None and registration is None else None
        if reuse and key is not None and (made := self._kept(self._placements, key)) is not None:
            if (ctx.pixels is None or sha256 == ctx.baseline_sha) and ctx.settings is None:
                ctx.settings = made.settings
            # the caller may change the values it stores; the kept ones stay as made
            return _Placed(copy.deepcopy(made.measurement), None, made.registration)
        placed = self._place_now(pixels, sha256, ctx, item=item, photo_id=photo_id, registration=registration)
        if key is not None:
            made = _Made(copy.deepcopy(placed.measurement), placed.registration, view_settings(placed.analysis))
            self._keep_new(self._placements, key, made, PLACEMENTS_KEPT)
        return placed

    def _place_now(
        self,
        pixels: np.ndarray,
        sha256: str,
        ctx: _ViewContext,
        *,
        item: NewPhoto | None = None,
        photo_id: int | None = None,
        registration: Registration | None = None,
    ) -> _Placed:
        """:meth:`_place`, measured now."""
        from tracker.analysis import (
            analyze_in_view,
            register_to_baseline,
            view_settings,
        )

        is_baseline = ctx.pixels is None or sha256 == ctx.baseline_sha
        if not is_baseline and registration is None:
            registration = register_to_baseline(pixels, self._baseline_features(ctx))
        manual = None
        if photo_id is not None:
            with self._read() as s:
                row = _current_photo_roi(s, photo_id, ctx.roi)
                manual = None if row is None else (row.x, row.y, row.w, row.h)
        px = item.px_per_mm if item else None
        source = item.scale_source if item else None
        fw = item.field_width_mm if item else None
        result = analyze_in_view(
            pixels,
            roi=None if ctx.roi is None else _clip_box(ctx.roi.box, ctx.pixels.shape if ctx.pixels is not None else pixels.shape),
            is_baseline=is_baseline,
            registration=None if is_baseline else registration,
            manual_roi=None if manual is None else _clip_box(manual, pixels.shape),
            settings=None if is_baseline else ctx.settings,
            mode=ctx.mode,  # type: ignore[arg-type]
            px_per_mm=px,
            scale_source=source,
            field_width_mm=fw,
        )
        if is_baseline and ctx.settings is None:
            ctx.settings = view_settings(result)
        values = _measurement_values(result, ctx.roi)
        values["parameters"]["typed_scale"] = {"px_per_mm": px, "scale_source": source, "field_width_mm": fw}
        values["parameters"]["baseline_photo_id"] = ctx.baseline_id
        if registration is not None and not is_baseline:
            values["registration_score"] = float(registration.score)
        return _Placed(values, result, None if is_baseline else registration)

    def _baseline_features(self, ctx: _ViewContext) -> PhotoFeatures | np.ndarray:
        """The registration features of the view's baseline photo, found once
        for the last BASELINE_FEATURES_KEPT baselines (each follow-up of a
        view, previewed and then saved, is registered to the same baseline)."""
        from tracker.imaging.register import MIN_SIDE, photo_features

        if min(ctx.pixels.shape[:2]) < MIN_SIDE:
            return ctx.pixels  # too small to match: register() says so, no features to keep
        return self._keep(self._features, ctx.baseline_sha, lambda: photo_features(ctx.pixels), BASELINE_FEATURES_KEPT)

    def _keep(self, kept: OrderedDict[_Key, _Kept], key: _Key, find: Callable[[], _Kept], most: int) -> _Kept:
        """``kept[key]``, found with ``find()`` (unlocked) and kept when it is not kept yet."""
        found = self._kept(kept, key)
        if found is None:
            found = find()
            self._keep_new(kept, key, found, most)
        return found

    def _kept(self, kept: OrderedDict[_Key, _Kept], key: _Key) -> _Kept | None:
        """``kept[key]``, now the newest, or None (safe across threads)."""
        with self._kept_lock:
            found = kept.get(key)
            if found is not None:
                kept.move_to_end(key)
            return found

    def _keep_new(self, kept: OrderedDict[_Key, _Kept], key: _Key, value: _Kept, most: int) -> None:
        """Keep ``value`` as ``kept[key]``, the newest; ``kept`` holds the ``most`` newest."""
        with self._kept_lock:
            kept[key] = value
            kept.move_to_end(key)
            while len(kept) > most:
                kept.popitem(last=False)

    @property
    def registration_features_kept(self) -> tuple[str, ...]:
        """The sha256 of the baselines whose registration features this store keeps, oldest first."""
        with self._kept_lock:
            return tuple(self._features)

    @property
    def baseline_pixels_kept(self) -> tuple[str, ...]:
        """The sha256 of the baselines whose decoded pixels this store keeps, oldest first."""
        with self._kept_lock:
            return tuple(self._pixels)

    @property
    def placements_kept(self) -> tuple[str, ...]:
        """The sha256 of the photos whose measurements' values this store keeps, oldest first."""
        with self._kept_lock:
            return tuple(key[1] for key in self._placements)

    def forget_kept(self) -> None:
        """Drop what this store keeps in memory: the registration features and decoded pixels
        of baselines, and the measurements of new photos (as after a restart: each is
        found or made again when next needed)."""
        with self._kept_lock:
            self._features.clear()
            self._pixels.clear()
            self._placements.clear()

    def _stored_registration(self, photo_id: int, baseline_id: int | None) -> Registration | None:
        """The newest stored registration of a photo to ``baseline_id``, made by this version."""
        from tracker.analysis import ALGORITHM_VERSION

        if baseline_id is None:
            return None
        with self._read() as s:
            row = s.scalars(
                select(m.PhotoRegistration)
                .where(
                    m.PhotoRegistration.photo_id == photo_id,
                    m.PhotoRegistration.baseline_photo_id == baseline_id,
                    m.PhotoRegistration.algorithm_version == ALGORITHM_VERSION,
                )
                .order_by(m.PhotoRegistration.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _registration_from_row(row)

    def registration(self, photo_id: int) -> RegistrationInfo | None:
        """The newest registration of a photo to its view's baseline, or None (a baseline photo)."""
        with self._read() as s:
            _get(s, m.Photo, photo_id, "photo")
            row = s.scalars(
                select(m.PhotoRegistration)
                .where(m.PhotoRegistration.photo_id == photo_id)
                .order_by(m.PhotoRegistration.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _registration_info(row)

    def set_photo_roi(
        self, photo_id: int, roi: tuple[int, int, int, int], *, user: str | None = None
    ) -> PhotoRoiInfo:
        """Place the ROI by hand on one photo ``(x, y, w, h)``, in that photo's pixels.

        For a photo whose registration to the baseline is weak or failed. It is
        in force until the view's ROI is set again. Existing measurements are
        not changed: call :meth:`reanalyse` for the photo.
        """
        x, y, w, h = (int(v) for v in roi)
        with self._write() as s, s.begin():
            photo = _get(s, m.Photo, photo_id, "photo")
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
                raise ValueError(
                    f"ROI {(x, y, w, h)} does not fit inside photo {photo_id} "
                    f"({photo.width} x {photo.height} px); give x, y, w, h inside it"
                )
            row = m.PhotoRoi(photo_id=photo_id, x=x, y=y, w=w, h=h)
            s.add(row)
            s.flush()
            self._audit(s, user, "set_photo_roi", "photo", photo_id, roi=[x, y, w, h], photo_roi_id=row.id)
        return _photo_roi_info(row)

    def photo_roi(self, photo_id: int) -> PhotoRoiInfo | None:
        """The ROI placed by hand on a photo that is in force (newer than the view's ROI), or None."""
        with self._read() as s:
            photo = _get(s, m.Photo, photo_id, "photo")
            pid = s.get(m.Visit, photo.visit_id).patient_id
            row = _current_photo_roi(s, photo_id, _current_rois(s, pid).get(photo.view))
            return None if row is None else _photo_roi_info(row)

    def placements(self, patient: int | str, view: str) -> list[PhotoPlacement]:
        """Where the view's ROI lands on each photo of the view, oldest visit first.

        From each photo's newest measurement, registration and hand-placed ROI;
        a photo whose ROI could not be placed has ``corners=None``.
        """
        from tracker.imaging.register import map_points

        view = normalize_view(view)
        photos = [p for p in self.photos(patient=patient) if p.view == view]
        roi = self.current_roi(patient, view)
        out = []
        for p in photos:
            reg = self.registration(p.id)
            manual = self.photo_roi(p.id)
            meas = self.measurements(p.id)
            last = meas[-1] if meas else None
            base_id = roi.baseline_photo_id if roi is not None else (
                last.parameters.get("baseline_photo_id") if last else None
            )
            is_base = base_id is None or base_id == p.id
            corners = None
            if manual is not None:
                source = "manual"
                x, y, w, h = manual.box
                corners = ((x - 0.5, y - 0.5), (x + w - 0.5, y - 0.5), (x + w - 0.5, y + h - 0.5), (x - 0.5, y + h - 0.5))
            elif roi is None:
                source = "whole_photo"
            elif is_base:
                source = "baseline"
                x, y, w, h = roi.box
                corners = ((x - 0.5, y - 0.5), (x + w - 0.5, y - 0.5), (x + w - 0.5, y + h - 0.5), (x - 0.5, y + h - 0.5))
            elif reg is not None and reg.ok and reg.baseline_photo_id == base_id:
                source = "registered"
                inv = np.linalg.inv(np.asarray(reg.matrix, float))
                x, y, w, h = roi.box
                pts = np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]])
                corners = tuple(tuple(float(v) for v in c) for c in map_points(inv / inv[2, 2], pts))
            else:
                source = "unregistered"
            out.append(PhotoPlacement(p.id, base_id, is_base, source, corners, reg, manual))
        return out

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
            # Set aside while the transaction holds the database (a photo's bytes are
            # stored once: no other row needs them now); an add of the same bytes that
            # commits after this finds its file gone and writes it again (add_photos).
            aside: list[Path] = []
            try:
                for sha in sorted({p.sha256 for p in photos}):
                    if (path := self.originals.set_aside(sha)) is not None:
                        aside.append(path)
                self._audit(s, user, "delete", target, target_id, **details)
                s.commit()
            except BaseException:
                for path in aside:
                    self.originals.put_back(path)
                raise
        for path in aside:
            path.unlink(missing_ok=True)
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


def _measurable(photo: Photo, name: str) -> Photo:
    """``photo``, or a PhotoError naming the file when it is too small to measure."""
    from tracker.analysis import size_problem
    from tracker.photo import PhotoError

    if (problem := size_problem(photo.pixels.shape)) is not None:
        raise PhotoError(f"{name}: {problem}")
    return photo


def _check_database_file(location: Path, url: str) -> None:
    """Refuse to start a new SQLite database beside originals that a lost one held.

    A fresh database would reference none of them: every photo would look
    like the leftover of an interrupted add, and pruning would delete them.
    """
    parsed = sa.make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or Path(path).exists():
        return
    held = sum(1 for sha, _ in Originals(location / "originals").files() if sha is not None)
    if held:
        raise StoreError(
            f"the database {path} is missing, but {location / 'originals'} holds {held} original "
            "photo(s): restore the store from a backup (tracker restore) into a new folder, or put "
            "the database file back; a new, empty database is not started beside them"
        )


def _write_marker(location: Path, backend: str) -> None:
    """Record which kind of database holds this folder's rows (checked on open)."""
    marker = location / MARKER_NAME
    if marker.exists():
        return
    tmp = marker.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"format": 1, "database": backend}) + "\n")
    os.replace(tmp, marker)


def _placement_key(sha256: str, ctx: _ViewContext, item: NewPhoto | None) -> tuple:
    """What a new photo's measurement in ``ctx`` is made from, besides its pixels
    (given by ``sha256``): the algorithm's version is part of it (a server that
    reloads changed code keeps its store)."""
    from tracker.analysis import ALGORITHM_VERSION

    roi = None if ctx.roi is None else (ctx.roi.id, ctx.roi.box)
    is_baseline = ctx.pixels is None or sha256 == ctx.baseline_sha  # measured without the view's settings
    settings = None if is_baseline or ctx.settings is None else tuple(sorted(ctx.settings.to_dict().items()))
    typed = (None, None, None) if item is None else (item.px_per_mm, item.scale_source, item.field_width_mm)
    baseline = (ctx.baseline_id, ctx.baseline_sha, ctx.pixels is None)
    return (ALGORITHM_VERSION, sha256, baseline, roi, settings, ctx.mode, typed)


def _read_only(array: np.ndarray) -> np.ndarray:
    """``array``, made read-only: kept pixels are shared, so nothing may write into them."""
    array.flags.writeable = False
    return array


def _clip_box(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """An ROI clipped to a photo of ``shape``."""
    h, w = shape[:2]
    x0, y0 = min(int(box[0]), w - 1), min(int(box[1]), h - 1)
    return (x0, y0, max(1, min(int(box[2]), w - x0)), max(1, min(int(box[3]), h - y0)))


def _measurement_values(result: Analysis, roi: RoiInfo | None) -> dict:
    """Measurement column values of an :func:`analyze_in_view` result."""
    record = _jsonable(result.to_record())
    params = record["parameters"]
    params["placement"] = record["placement"]
    if record["card"] is not None:
        params["card"] = record["card"]
    params["notes"] = record["notes"]
    x, y, w, h = (int(v) for v in result.placement.get("photo_roi", result.roi))
    photo_ppm = params.get("photo_px_per_mm", result.scale.px_per_mm)
    return {
        "roi_id": None if roi is None else roi.id,
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
        "px_per_mm": _opt_float(photo_ppm),
        "scale_source": str(result.scale.source),
        "algorithm_version": str(result.algorithm_version),
        "parameters": params,
        "roi_source": str(result.roi_source),
    }


def _typed_scale(last: m.Measurement | None) -> dict[str, Any]:
    """The scale typed when a photo was added (kept on reanalysis), from its newest measurement."""
    if last is None:
        return {}
    typed = (last.parameters or {}).get("typed_scale")
    if isinstance(typed, dict):
        return {k: typed.get(k) for k in ("px_per_mm", "scale_source", "field_width_mm")}
    if last.scale_source in _USER_SCALE_SOURCES:  # measured before 0.2.0
        return {"px_per_mm": last.px_per_mm, "scale_source": last.scale_source}
    return {}


def _stored_settings(s: Session, baseline_id: int, roi: RoiInfo | None) -> ViewSettings | None:
    """The view settings of the baseline's newest measurement by this version with this ROI."""
    from tracker.analysis import ALGORITHM_VERSION, ViewSettings

    q = select(m.Measurement).where(
        m.Measurement.photo_id == baseline_id,
        m.Measurement.algorithm_version == ALGORITHM_VERSION,
        m.Measurement.roi_source == ("whole_photo" if roi is None else "baseline"),
    )
    q = q.where(m.Measurement.roi_id.is_(None) if roi is None else m.Measurement.roi_id == roi.id)
    row = s.scalars(q.order_by(m.Measurement.id.desc()).limit(1)).first()
    if row is None or "polarity" not in (row.parameters or {}):
        return None
    return ViewSettings(row.mode, row.parameters["polarity"])


def _baseline_photo(s: Session, patient_id: int, view: str, roi: RoiInfo | None) -> m.Photo | None:
    """The stored baseline photo of a patient's view: its ROI's, else the view's first photo."""
    if roi is not None and roi.baseline_photo_id is not None:
        return s.get(m.Photo, roi.baseline_photo_id)
    return s.scalars(
        select(m.Photo)
        .join(m.Visit, m.Visit.id == m.Photo.visit_id)
        .where(m.Visit.patient_id == patient_id, m.Photo.view == view)
        .order_by(m.Visit.date, m.Visit.id, m.Photo.id)
        .limit(1)
    ).first()


def _current_photo_roi(s: Session, photo_id: int, roi: RoiInfo | None) -> m.PhotoRoi | None:
    """The newest hand-placed ROI of a photo, if set after the view's current ROI."""
    row = s.scalars(
        select(m.PhotoRoi).where(m.PhotoRoi.photo_id == photo_id).order_by(m.PhotoRoi.id.desc()).limit(1)
    ).first()
    if row is None or (roi is not None and as_utc(row.created_at) < roi.created_at):
        return None
    return row


def _registration_row(photo_id: int, baseline_id: int, reg: Registration) -> m.PhotoRegistration:
    from tracker.analysis import ALGORITHM_VERSION

    details = _jsonable(reg.to_dict())
    for key in ("matrix", "ok", "reason", "score", "n_inliers"):
        details.pop(key, None)
    return m.PhotoRegistration(
        photo_id=photo_id,
        baseline_photo_id=baseline_id,
        matrix=_jsonable(reg.matrix),
        ok=bool(reg.ok),
        score=float(reg.score),
        n_inliers=int(reg.n_inliers),
        reason=str(reg.reason),
        details=details,
        algorithm_version=ALGORITHM_VERSION,
    )


def _registration_from_row(row: m.PhotoRegistration) -> Registration:
    """The library's :class:`Registration` again, from a stored row."""
    from tracker.imaging.register import Registration

    d = row.details
    return Registration(
        matrix=np.asarray(row.matrix, float),
        ok=bool(row.ok),
        reason=row.reason,
        score=float(row.score),
        n_matches=int(d.get("n_matches", 0)),
        n_inliers=int(row.n_inliers),
        rms_px=float(d.get("rms_px") or 0.0),
        scale=float(d.get("scale") or 1.0),
        rotation_deg=float(d.get("rotation_deg") or 0.0),
        anisotropy=float(d.get("anisotropy") or 1.0),
        overlap=float(d.get("overlap") or 0.0),
        image_shape=tuple(d["image_shape"]),
        baseline_shape=tuple(d["baseline_shape"]),
        method=str(d.get("method", "")),
        details={"store_id": row.id},
    )


def _registration_info(r: m.PhotoRegistration) -> RegistrationInfo:
    return RegistrationInfo(
        r.id,
        r.photo_id,
        r.baseline_photo_id,
        tuple(tuple(float(v) for v in row) for row in r.matrix),
        bool(r.ok),
        float(r.score),
        int(r.n_inliers),
        r.reason,
        dict(r.details),
        r.algorithm_version,
        as_utc(r.created_at),
    )


def _photo_roi_info(r: m.PhotoRoi) -> PhotoRoiInfo:
    return PhotoRoiInfo(r.id, r.photo_id, r.x, r.y, r.w, r.h, as_utc(r.created_at))


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
    "roi_source",
    "registration_id",
    "registration_score",
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
        roi_source,
        reg_id,
        reg_score,
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
        roi_source,
        reg_id,
        reg_score,
    )
