"""Patients, visits, photos and versioned measurements, kept safe.

A store is a folder: content-addressed originals (``originals/ab/abcd...``)
plus a database, SQLite inside the folder by default or PostgreSQL through
``DATABASE_URL``. The schema is created and migrated on :meth:`Store.open`.
Measurements are never overwritten; analysing again adds rows. Deletes are
explicit and written to the audit log.

Examples
--------
>>> import tempfile, datetime
>>> from tracker.store import Store, check
>>> store = Store.open(tempfile.mkdtemp(), user="dr.a")
>>> patient = store.add_patient("P-001")
>>> visit = store.add_visit("P-001", datetime.date(2025, 3, 1))
>>> check(store).ok
True
"""

from tracker.store.accounts import ROLES, AccountInfo, SignInError
from tracker.store.api import Store, default_location
from tracker.store.errors import NotFoundError, OriginalError, StoreError
from tracker.store.maintenance import CheckReport, backup, check, prune_leftovers, restore
from tracker.store.records import (
    VIEWS,
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
    normalize_view,
    view_mode,
)

__all__ = [
    "ROLES",
    "VIEWS",
    "AccountInfo",
    "AddedPhoto",
    "AuditInfo",
    "CheckReport",
    "Deleted",
    "Identity",
    "MeasurementRow",
    "NewPhoto",
    "NotFoundError",
    "OriginalError",
    "PatientInfo",
    "PhotoInfo",
    "PhotoPlacement",
    "PhotoPreview",
    "PhotoRoiInfo",
    "RegistrationInfo",
    "RoiInfo",
    "SignInError",
    "Store",
    "StoreError",
    "VisitInfo",
    "backup",
    "check",
    "default_location",
    "normalize_view",
    "view_mode",
    "prune_leftovers",
    "restore",
]
