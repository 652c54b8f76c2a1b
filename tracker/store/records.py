"""Plain, immutable records the store hands out (no live database objects)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.analysis import Analysis
    from tracker.imaging.register import Registration
    from tracker.photo import Photo

#: Fixed overview views. A close-up site is written ``"closeup:<site>"``.
VIEWS = (
    "vertex",
    "crown",
    "frontal_hairline",
    "part_line",
    "temporal_left",
    "temporal_right",
    "occipital",
)
CLOSEUP_PREFIX = "closeup:"


def view_mode(view: str) -> str:
    """The kind of photo a view holds: 'closeup' for ``closeup:<site>`` views,
    'overview' for the others.

    Examples
    --------
    >>> view_mode("closeup:vertex"), view_mode("crown")
    ('closeup', 'overview')
    """
    return "closeup" if view.startswith(CLOSEUP_PREFIX) else "overview"


def normalize_view(view: str) -> str:
    """Canonical name of a view, or ValueError.

    Examples
    --------
    >>> normalize_view("Frontal hairline"), normalize_view("closeup: left temple 2")
    ('frontal_hairline', 'closeup:left temple 2')
    """
    if not isinstance(view, str):
        raise ValueError(f"view must be a string, got {type(view).__name__}")
    text = view.strip()
    if text.lower().startswith(CLOSEUP_PREFIX):
        site = " ".join(text[len(CLOSEUP_PREFIX) :].split())
        if not site or len(site) > 80:
            raise ValueError(
                "a close-up view needs a site name of 1 to 80 characters, "
                "e.g. 'closeup:vertex centre'"
            )
        return CLOSEUP_PREFIX + site
    name = "_".join(text.lower().replace("-", " ").split())
    if name not in VIEWS:
        raise ValueError(
            f"unknown view {view!r}; use one of {', '.join(VIEWS)} or 'closeup:<site name>'"
        )
    return name


def as_utc(value: dt.datetime) -> dt.datetime:
    """Attach UTC to a naive UTC timestamp read from the database."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class PatientInfo:
    id: int
    code: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Identity:
    """Identifying fields of a patient; never part of a research export."""

    patient_id: int
    name: str | None
    birth_date: dt.date | None


@dataclass(frozen=True)
class VisitInfo:
    id: int
    patient_id: int
    date: dt.date
    notes: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class PhotoInfo:
    id: int
    visit_id: int
    view: str
    sha256: str
    size_bytes: int
    name: str
    width: int
    height: int
    capture_metadata: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class NewPhoto:
    """One photo to add: its view and original bytes, with an optional known scale.

    ``px_per_mm`` with ``scale_source`` (``'magnification'``, ``'field_width'`` or
    ``'user'``), else ``field_width_mm``, is used when the photo holds no usable
    calibration card.
    """

    view: str
    data: bytes = field(repr=False)
    name: str = "upload"
    px_per_mm: float | None = None
    scale_source: str | None = None
    #: Width of the photo's field of view in mm: the scale fallback when neither a
    #: calibration card nor ``px_per_mm`` gives one.
    field_width_mm: float | None = None


@dataclass(frozen=True)
class AddedPhoto:
    """Result of adding one photo. ``duplicate`` is True when the same bytes were
    already stored: nothing was added and ``photo`` is the stored one."""

    photo: PhotoInfo
    duplicate: bool
    measurement_id: int | None


@dataclass(frozen=True)
class PhotoPreview:
    """A photo decoded and analysed as it would be stored, with nothing stored.

    ``duplicate`` is the stored photo with the same bytes, if there is one.
    """

    photo: Photo = field(repr=False)
    view: str
    analysis: Analysis = field(repr=False)
    duplicate: PhotoInfo | None
    #: The photo registered to the view's baseline photo (None for the first photo of a view).
    registration: Registration | None = field(default=None, repr=False)
    baseline_photo_id: int | None = None


@dataclass(frozen=True)
class RoiInfo:
    id: int
    patient_id: int
    view: str
    baseline_photo_id: int | None
    x: int
    y: int
    w: int
    h: int
    created_at: dt.datetime

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement with the photo and visit it belongs to."""

    measurement_id: int
    photo_id: int
    visit_id: int
    visit_date: dt.date
    view: str
    sha256: str
    roi_id: int | None
    roi: tuple[int, int, int, int]
    mode: str
    coverage_pct: float | None
    hair_count: int | None
    mean_width_px: float | None
    mean_width_um: float | None
    density_per_cm2: float | None
    thin_hair_pct: float | None
    quality_status: str
    quality: dict[str, Any]
    px_per_mm: float | None
    scale_source: str
    algorithm_version: str
    parameters: dict[str, Any]
    created_at: dt.datetime
    #: How the ROI was placed: 'baseline', 'registered', 'manual', 'unregistered' or 'whole_photo'.
    roi_source: str = "whole_photo"
    registration_id: int | None = None
    registration_score: float | None = None

    @property
    def roi_registered(self) -> bool:
        """True when the ROI covers the baseline ROI's scalp: the baseline itself, a usable
        registration, or an ROI placed by hand."""
        return self.roi_source in ("baseline", "registered", "manual")


@dataclass(frozen=True)
class RegistrationInfo:
    """A photo registered to its view's baseline photo (the newest registration in force).

    ``matrix`` maps this photo's pixels onto the baseline's; when ``ok`` is
    False, ``reason`` says why in words and the ROI must be placed by hand.
    """

    id: int
    photo_id: int
    baseline_photo_id: int
    matrix: tuple[tuple[float, float, float], ...]
    ok: bool
    score: float
    n_inliers: int
    reason: str
    details: dict[str, Any]
    algorithm_version: str
    created_at: dt.datetime


@dataclass(frozen=True)
class PhotoRoiInfo:
    """An ROI placed by hand on one photo, in that photo's pixels."""

    id: int
    photo_id: int
    x: int
    y: int
    w: int
    h: int
    created_at: dt.datetime

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class PhotoPlacement:
    """Where a view's ROI lands on one photo, and how it got there.

    Attributes
    ----------
    photo_id, baseline_photo_id : int
    is_baseline : bool
        The photo is the view's baseline photo.
    roi_source : str
        'baseline', 'registered', 'manual', 'unregistered' or 'whole_photo'
        (of the photo's newest measurement, or what the next one would use).
    corners : tuple of (x, y), or None
        The ROI's four corners in this photo's pixels (pixel-area corners), None
        when the ROI cannot be placed (no ROI set, or the registration is not usable).
    registration : RegistrationInfo or None
    manual_roi : PhotoRoiInfo or None
    """

    photo_id: int
    baseline_photo_id: int | None
    is_baseline: bool
    roi_source: str
    corners: tuple[tuple[float, float], ...] | None
    registration: RegistrationInfo | None
    manual_roi: PhotoRoiInfo | None


@dataclass(frozen=True)
class AuditInfo:
    id: int
    at: dt.datetime
    who: str
    action: str
    target: str
    target_id: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Deleted:
    """What an explicit delete removed."""

    target: str
    target_id: int
    visits: int
    photos: int
    measurements: int
    originals_removed: tuple[str, ...]
