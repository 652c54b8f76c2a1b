"""SQLAlchemy models of the store.

The Alembic migrations in :mod:`tracker.store.migrations` create exactly these
tables; a test compares the two. Timestamps are naive UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Metric columns of a measurement, in the order of the design notes.
METRICS = (
    "coverage_pct",
    "hair_count",
    "mean_width_px",
    "mean_width_um",
    "density_per_cm2",
    "thin_hair_pct",
)


def utcnow() -> dt.datetime:
    """Current time as naive UTC, the form every timestamp column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: SQLite gives a new row an id never used before in its table (AUTOINCREMENT), as
#: PostgreSQL's sequences do; otherwise it reuses the id of the deleted newest row.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Patient(Base):
    """A patient known only by a pseudonymous code."""

    __tablename__ = "patient"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PatientIdentity(Base):
    """Identifying fields, kept apart so a research export can leave them out."""

    __tablename__ = "patient_identity"
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)


class Visit(Base):
    """One visit: a date, free notes and neutral event markers."""

    __tablename__ = "visit"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    events: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Photo(Base):
    """A photo of one view; its original bytes live in the store's originals."""

    __tablename__ = "photo"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    view: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    capture_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Roi(Base):
    """A region of interest for one patient and view, drawn on a baseline photo.

    Setting a new ROI adds a row; the newest row is the one in force.
    """

    __tablename__ = "roi"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    view: Mapped[str] = mapped_column(String(100))
    baseline_photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photo.id", ondelete="SET NULL")
    )
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_roi_patient_view", "patient_id", "view"), NEVER_REUSE_IDS)


class Measurement(Base):
    """One analysis of one photo. Rows are never updated: analysing again adds one."""

    __tablename__ = "measurement"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    roi_id: Mapped[int | None] = mapped_column(ForeignKey("roi.id", ondelete="SET NULL"))
    roi_x: Mapped[int] = mapped_column(Integer)
    roi_y: Mapped[int] = mapped_column(Integer)
    roi_w: Mapped[int] = mapped_column(Integer)
    roi_h: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(20))
    coverage_pct: Mapped[float | None] = mapped_column(Float)
    hair_count: Mapped[int | None] = mapped_column(Integer)
    mean_width_px: Mapped[float | None] = mapped_column(Float)
    mean_width_um: Mapped[float | None] = mapped_column(Float)
    density_per_cm2: Mapped[float | None] = mapped_column(Float)
    thin_hair_pct: Mapped[float | None] = mapped_column(Float)
    quality_status: Mapped[str] = mapped_column(String(10))
    quality: Mapped[dict] = mapped_column(JSON)
    px_per_mm: Mapped[float | None] = mapped_column(Float)
    scale_source: Mapped[str] = mapped_column(String(20))
    algorithm_version: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: How the ROI was placed on this photo: 'baseline', 'registered', 'manual',
    #: 'unregistered' (registration not usable: whole photo, flagged) or 'whole_photo'.
    roi_source: Mapped[str] = mapped_column(String(20), server_default="whole_photo")
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("photo_registration.id", ondelete="SET NULL")
    )
    registration_score: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_measurement_photo_id_id", "photo_id", "id"), NEVER_REUSE_IDS)


class PhotoRegistration(Base):
    """A photo aligned to its view's baseline photo. The newest row of a photo is in force."""

    __tablename__ = "photo_registration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    baseline_photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    #: 3x3 homography from this photo's pixels to the baseline photo's pixels.
    matrix: Mapped[list] = mapped_column(JSON)
    ok: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    n_inliers: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON)
    algorithm_version: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_photo_registration_photo_id_id", "photo_id", "id"), NEVER_REUSE_IDS)


class PhotoRoi(Base):
    """An ROI placed by hand on one photo (its own pixels), for when registration is weak
    or failed. The newest row of a photo is in force."""

    __tablename__ = "photo_roi"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_photo_roi_photo_id_id", "photo_id", "id"), NEVER_REUSE_IDS)


class Account(Base):
    """A person who signs in: a clinician, a researcher, or a patient tied to their record."""

    __tablename__ = "account"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SignInFailure(Base):
    """A failed sign-in under a username, known or not, kept (until the first attempt
    after it is FAILURE_WINDOW_S old, see :mod:`tracker.store.accounts`) so that the
    lockout holds across restarts and among the processes of one store. The username
    and the place the attempt came from (its network address) are kept only as keyed
    hashes: what was typed (a password in the wrong box, a name) and the address are
    not stored."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_username_key_at", "username_key", "at"), NEVER_REUSE_IDS)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username_key: Mapped[str] = mapped_column(String(64))
    # None for failures kept before places were (revision 0007)
    place_key: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """Who changed what, and when. Holds no foreign keys so it outlives deletes."""

    __tablename__ = "audit_log"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    who: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
