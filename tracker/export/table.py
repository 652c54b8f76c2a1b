"""Measurement tables with provenance, and their de-identified form."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from tracker.export.redact import redact_event, redact_names
from tracker.export.schema import BY_NAME, DEIDENTIFIED_COLUMNS, MEASUREMENT_COLUMNS

if TYPE_CHECKING:
    from tracker.store import Store
    from tracker.store.records import PatientInfo

#: Prefix of a pseudonymous subject id.
SUBJECT_PREFIX = "S-"
#: Hex digits of the HMAC kept in a subject id (64 bits).
SUBJECT_HEX_DIGITS = 16
#: Shortest export key accepted, in bytes.
MIN_KEY_BYTES = 16

_PANDAS_TYPES: dict[str, Any] = {
    "string": pd.StringDtype(),
    "Int64": "Int64",
    "Float64": "Float64",
    "int64": "int64",
    "date": pd.ArrowDtype(pa.date32()),
    "timestamp": "datetime64[us, UTC]",
}



def _json_text(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def typed_frame(data: dict[str, Sequence[Any]], names: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of ``names`` in order, each column converted to its schema type."""
    return pd.DataFrame(
        {name: pd.array(list(data[name]), dtype=_PANDAS_TYPES[BY_NAME[name].type]) for name in names}
    )


def _chosen_patients(store: Store, patients: Iterable[int | str] | None) -> list[PatientInfo]:
    if patients is None:
        return store.patients()
    if isinstance(patients, (str, bytes, int)):
        raise ValueError(
            f"patients must be a list of patient codes or ids, e.g. patients=[{patients!r}], "
            f"not a single {type(patients).__name__}"
        )
    found: dict[int, PatientInfo] = {}
    for p in patients:
        info = store.patient(p)  # NotFoundError names a code that is not in the store
        found[info.id] = info
    return sorted(found.values(), key=lambda p: p.code)


def measurement_table(store: Store, *, patients: Iterable[int | str] | None = None) -> pd.DataFrame:
    """One row per photo with its newest measurement and full provenance.

    The rows of each patient are those of :meth:`tracker.store.Store.timeline`
    (oldest visit first); patients follow in order of their code. Names, birth
    dates, photo file names, visit notes and capture metadata (EXIF) are never
    part of the table.

    Parameters
    ----------
    store : tracker.store.Store
        An open store.
    patients : iterable of int or str, optional
        Patient ids or codes to export. Default: every patient.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`tracker.export.MEASUREMENT_COLUMNS` in that order,
        typed as the data dictionary says (nullable ``Int64`` / ``Float64``
        where a value can be missing; dates as Arrow ``date32``;
        ``measured_at`` in UTC). ``quality_checks``, ``parameters`` and
        ``visit_events`` hold canonical JSON text.

    Raises
    ------
    tracker.store.NotFoundError
        A patient code or id is not in the store.
    ValueError
        ``patients`` is a single code or id instead of a list.

    Examples
    --------
    >>> import tempfile
    >>> from tracker.store import Store
    >>> with Store.open(tempfile.mkdtemp()) as store:
    ...     table = measurement_table(store)
    >>> list(table.columns[:3]), len(table)
    (['patient_code', 'baseline_date', 'visit_date'], 0)
    """
    data: dict[str, list[Any]] = {name: [] for name in MEASUREMENT_COLUMNS}
    for patient in _chosen_patients(store, patients):
        rows = store.timeline(patient.id)
        visits = store.visits(patient.id)  # read after the timeline: it holds all of its visits
        if not rows or not visits:
            continue
        # The name stays in the store's identity table, also where it was typed into an event marker.
        names = store.recorded_names(patient.id)
        events = {v.id: [redact_names(e, names) for e in v.events] for v in visits}
        baseline = visits[0].date
        for r in rows:
            if r.visit_id not in events:  # visit deleted between the two reads
                continue
            x, y, w, h = r.roi
            values = {
                "patient_code": patient.code,
                "baseline_date": baseline,
                "visit_date": r.visit_date,
                "visit_events": _json_text(list(events[r.visit_id])),
                "view": redact_names(r.view, names),
                "sha256": r.sha256,
                "roi_id": r.roi_id,
                "roi_x": x,
                "roi_y": y,
                "roi_w": w,
                "roi_h": h,
                "mode": r.mode,
                "coverage_pct": r.coverage_pct,
                "hair_count": r.hair_count,
                "mean_width_px": r.mean_width_px,
                "mean_width_um": r.mean_width_um,
                "density_per_cm2": r.density_per_cm2,
                "thin_hair_pct": r.thin_hair_pct,
                "quality_status": r.quality_status,
                "quality_checks": _json_text((r.quality or {}).get("checks", {})),
                "px_per_mm": r.px_per_mm,
                **_measured(r.parameters),
                "scale_source": r.scale_source,
                "roi_source": r.roi_source,
                "registration_score": r.registration_score,
                "algorithm_version": r.algorithm_version,
                "parameters": _json_text(r.parameters),
                "measurement_id": r.measurement_id,
                "measured_at": r.created_at,
            }
            for name in MEASUREMENT_COLUMNS:
                data[name].append(values[name])
    return typed_frame(data, MEASUREMENT_COLUMNS)


def subject_id(patient_code: str, key: bytes) -> str:
    """The pseudonym of a patient code under ``key``.

    ``'S-'`` followed by the first 16 hex digits of HMAC-SHA256(key, code).

    Examples
    --------
    >>> subject_id("P-001", b"0123456789abcdef")
    'S-6bae83c32139a4b2'
    """
    digest = hmac.new(key, patient_code.encode("utf-8"), hashlib.sha256).hexdigest()
    return SUBJECT_PREFIX + digest[:SUBJECT_HEX_DIGITS]


def _check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ValueError(
            f"key must be bytes, got {type(key).__name__}; use key=export_key(store) "
            "or encode your secret text with .encode()"
        )
    key = bytes(key)
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"key has {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes, "
            "e.g. key=export_key(store)"
        )
    return key


def _as_dates(column: pd.Series, name: str) -> list[dt.date]:
    """Calendar dates of a column of dates, timestamps or ISO 8601 text."""
    out = []
    for value in column.astype(object):
        date = value.date() if isinstance(value, dt.datetime) else value
        if isinstance(value, str):
            try:
                date = dt.date.fromisoformat(value[:10])
            except ValueError:
                pass
        if not isinstance(date, dt.date):
            raise ValueError(
                f"column {name!r} must hold dates (YYYY-MM-DD), found {value!r}; "
                "pass the table made by measurement_table()"
            )
        out.append(date)
    return out


def _measured(parameters: dict[str, Any]) -> dict[str, float | None]:
    """``measured_px_per_mm`` and ``roi_area_mm2`` of a measurement, from its parameters."""
    scale = parameters.get("measured_px_per_mm")
    area = parameters.get("measured_area_px")
    return {
        "measured_px_per_mm": scale,
        "roi_area_mm2": None if scale is None or area is None else area / scale**2,
    }


#: Keys of a measurement's parameters that are database ids: left out of a de-identified export.
DATABASE_ID_PARAMETERS = ("baseline_photo_id",)


def _without_database_ids(parameters_json: str) -> str:
    parameters = json.loads(parameters_json)
    for key in DATABASE_ID_PARAMETERS:
        parameters.pop(key, None)
    return _json_text(parameters)


def _redact_events(events_json: str, patient_code: str) -> str:
    try:
        events = json.loads(events_json)
    except (TypeError, json.JSONDecodeError):
        raise ValueError(
            f"visit_events must be JSON text of a list of strings, got {events_json!r}; "
            "pass the table made by measurement_table()"
        ) from None
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ValueError(
            f"visit_events must be a JSON list of strings, got {events_json!r}; "
            "pass the table made by measurement_table()"
        )
    return _json_text([redact_event(e, patient_code) for e in events])


def deidentify(table: pd.DataFrame, *, key: bytes) -> pd.DataFrame:
    """The de-identified form of a :func:`measurement_table` for research.

    - ``patient_code`` becomes ``subject_id``, a keyed hash (see
      :func:`subject_id`): the same key gives the same subject ids in every
      export, another key gives unrelated ones, and without the key a
      subject id cannot be traced back to a patient code.
    - ``visit_date`` becomes ``days_since_baseline``: days since the patient's
      first visit in the store (``baseline_date``).
    - Absolute dates and timestamps (``baseline_date``, ``visit_date``,
      ``measured_at``) and database ids (``measurement_id``, ``roi_id``, and
      ``baseline_photo_id`` in ``parameters``) are left out. Written inside
      visit event markers and close-up site names, dates, the patient code,
      e-mail addresses and phone numbers are replaced by ``[date removed]``,
      ``[code removed]``, ``[email removed]`` and ``[phone removed]``
      (:func:`tracker.export.redact.redact_event`); :func:`measurement_table`
      has already taken the patient's name out of them.
    - Kept: ``sha256`` of the original and all provenance needed to recompute
      each number (view, ROI as applied, mode, scale and its source, quality,
      algorithm version and parameters).

    Rows are sorted by subject id, days since baseline, view and sha256, so
    the row order does not reveal the order of the patient codes.

    Parameters
    ----------
    table : pandas.DataFrame
        A table made by :func:`measurement_table` (rows may be filtered).
    key : bytes
        Secret key of at least 16 bytes, e.g. :func:`tracker.export.export_key`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`tracker.export.DEIDENTIFIED_COLUMNS` in that order.

    Raises
    ------
    ValueError
        The key is too short or not bytes, or the table lacks columns of
        :func:`measurement_table` or holds values of the wrong kind.
    """
    key = _check_key(key)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"table must be a pandas DataFrame made by measurement_table(), got {type(table).__name__}"
        )
    missing = [c for c in MEASUREMENT_COLUMNS if c not in table.columns]
    if missing:
        hint = " (it looks de-identified already)" if "subject_id" in table.columns else ""
        raise ValueError(
            f"table lacks the columns {missing}{hint}; pass the table made by measurement_table()"
        )
    codes = table["patient_code"].astype(object).tolist()
    if any(not isinstance(c, str) or not c for c in codes):
        raise ValueError("every row needs a patient_code; pass the table made by measurement_table()")
    subject = {c: subject_id(c, key) for c in set(codes)}
    if len(set(subject.values())) != len(subject):  # 64 bits: not expected to happen
        raise ValueError("two patient codes share a subject id under this key; use another key")
    visit = _as_dates(table["visit_date"], "visit_date")
    baseline = _as_dates(table["baseline_date"], "baseline_date")
    data: dict[str, list[Any]] = {
        "subject_id": [subject[c] for c in codes],
        "days_since_baseline": [(v - b).days for v, b in zip(visit, baseline)],
        "visit_events": [
            _redact_events(e, c) for e, c in zip(table["visit_events"].astype(object), codes)
        ],
        # a close-up's site is typed freely ('closeup:<site>'): the same rules as for markers
        "view": [redact_event(v, c) for v, c in zip(table["view"].astype(object), codes)],
        "parameters": [_without_database_ids(p) for p in table["parameters"].astype(object)],
    }
    for name in DEIDENTIFIED_COLUMNS:
        if name not in data:
            data[name] = table[name].tolist()
    out = typed_frame(data, DEIDENTIFIED_COLUMNS)
    out = out.sort_values(["subject_id", "days_since_baseline", "view", "sha256"], kind="stable")
    return out.reset_index(drop=True)
