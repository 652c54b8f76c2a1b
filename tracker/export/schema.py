"""The columns of the export tables: names, types, units and what each one means.

One list, :data:`COLUMNS`, drives the column order and types of both tables
(:func:`tracker.export.measurement_table` and :func:`tracker.export.deidentify`),
reading an export back (:func:`tracker.export.read_table`) and the data
dictionary written next to every export (:func:`data_dictionary`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

#: Column types. ``"string"``, ``"Int64"`` and ``"Float64"`` are pandas' nullable
#: types; ``"int64"`` never holds a missing value; ``"date"`` is a calendar date
#: (Arrow ``date32``); ``"timestamp"`` a UTC time with microseconds.
TYPES = ("string", "Int64", "Float64", "int64", "date", "timestamp")


@dataclass(frozen=True)
class Column:
    """One column of an export table.

    Attributes
    ----------
    name : str
        Column name.
    type : str
        One of :data:`TYPES`.
    unit : str
        Unit of the values, or ``""`` for text and codes.
    description : str
        What the value is and how it was measured (the data dictionary text).
    identified : bool
        Part of the table of :func:`tracker.export.measurement_table`.
    deidentified : bool
        Part of the table of :func:`tracker.export.deidentify`.
    """

    name: str
    type: str
    unit: str
    description: str
    identified: bool = True
    deidentified: bool = True


_ONLY_IDENTIFIED = {"identified": True, "deidentified": False}
_ONLY_DEIDENTIFIED = {"identified": False, "deidentified": True}

#: Every column of both tables, in table order.
COLUMNS: tuple[Column, ...] = (
    Column(
        "patient_code",
        "string",
        "",
        "The patient's pseudonymous code in this store (links back to the patient inside "
        "the clinic; never part of a de-identified export).",
        **_ONLY_IDENTIFIED,
    ),
    Column(
        "subject_id",
        "string",
        "",
        "Pseudonym of the patient: 'S-' and the first 16 hex digits of HMAC-SHA256 of the "
        "patient code under the export key. The same key gives the same subject_id in every "
        "export; without the key it cannot be traced back to the patient code.",
        **_ONLY_DEIDENTIFIED,
    ),
    Column(
        "baseline_date",
        "date",
        "date (YYYY-MM-DD)",
        "Date of the patient's first visit in the store (with or without photos): the "
        "baseline that days_since_baseline counts from.",
        **_ONLY_IDENTIFIED,
    ),
    Column(
        "visit_date",
        "date",
        "date (YYYY-MM-DD)",
        "Date of the visit at which the photo was taken, as entered by the clinic.",
        **_ONLY_IDENTIFIED,
    ),
    Column(
        "days_since_baseline",
        "int64",
        "days",
        "Days from the patient's first visit in the store (baseline, day 0) to this visit. "
        "Replaces absolute dates in a de-identified export.",
        **_ONLY_DEIDENTIFIED,
    ),
    Column(
        "visit_events",
        "string",
        "JSON list of text",
        "Neutral markers recorded at the visit, e.g. [\"treatment started\"], as a JSON "
        "list of strings. Markers only: they say nothing about what caused a measured "
        "change. The patient's recorded name written inside a marker is replaced by "
        "'[name removed]'; in a de-identified export, so are names after a title (Dr Lee), and "
        "dates written with digits or a month's name, the patient's code, e-mail addresses and "
        "phone numbers are replaced by '[date removed]', '[code removed]', '[email removed]' and "
        "'[phone removed]'. Free text can hold what no pattern finds: record neutral markers only.",
    ),
    Column(
        "view",
        "string",
        "",
        "Scalp region photographed: an overview view (vertex, crown, frontal_hairline, "
        "part_line, temporal_left, temporal_right, occipital) or 'closeup:<site>' for a "
        "trichoscope or macro close-up. The site is typed by the clinic: what visit_events "
        "loses is taken out of it too.",
    ),
    Column(
        "sha256",
        "string",
        "",
        "SHA-256 (hex) of the original photo file, byte for byte as received; identifies "
        "the exact image the numbers were measured on. It reveals nothing of the photo, but "
        "whoever holds the original file can find its row: share originals with the same "
        "care as the record.",
    ),
    Column(
        "roi_id",
        "Int64",
        "",
        "Database id of the region of interest drawn for this patient and view; empty when "
        "the whole photo was measured.",
        **_ONLY_IDENTIFIED,
    ),
    Column(
        "roi_x",
        "int64",
        "px",
        "Left edge of the region of interest as applied to this photo, in pixels of the "
        "photo after its EXIF orientation is applied.",
    ),
    Column("roi_y", "int64", "px", "Top edge of the region of interest as applied, in pixels."),
    Column("roi_w", "int64", "px", "Width of the region of interest as applied, in pixels."),
    Column("roi_h", "int64", "px", "Height of the region of interest as applied, in pixels."),
    Column(
        "mode",
        "string",
        "",
        "'closeup' (single shafts resolved: count, density, width and thin share are "
        "measured) or 'overview' (hair mass: coverage only).",
    ),
    Column(
        "coverage_pct",
        "Float64",
        "%",
        "Share of ROI pixels segmented as hair: shafts in close-ups, hair mass in overviews.",
    ),
    Column(
        "hair_count",
        "Int64",
        "hairs",
        "Distinct hair shafts whose midpoint lies inside the ROI (crossing hairs are "
        "separate hairs); empty for overviews.",
    ),
    Column(
        "mean_width_px",
        "Float64",
        "px",
        "Length-weighted mean shaft diameter, in the pixels the region was measured in: the "
        "photo's own, or for a registered region (roi_source 'registered') the baseline photo's, "
        "onto which the region is resampled; empty for overviews.",
    ),
    Column(
        "mean_width_um",
        "Float64",
        "µm",
        "Length-weighted mean shaft diameter: mean_width_px / measured_px_per_mm * 1000; empty "
        "without a scale.",
    ),
    Column(
        "density_per_cm2",
        "Float64",
        "hairs/cm²",
        "hair_count divided by the area of the region measured: hair_count / roi_area_mm2 * 100; "
        "empty without a scale.",
    ),
    Column(
        "thin_hair_pct",
        "Float64",
        "%",
        "Share of counted hairs thinner than the thin-hair bound (parameters.thin_um, 40 µm "
        "by default); empty without a scale.",
    ),
    Column(
        "quality_status",
        "string",
        "",
        "Overall photo quality verdict, 'pass', 'warn' or 'fail': the worst of the checks "
        "in quality_checks.",
    ),
    Column(
        "quality_checks",
        "string",
        "JSON object",
        "Each quality check (sharpness, exposure, glare, resolution) with its status, "
        "measured value and advice, as JSON text.",
    ),
    Column(
        "px_per_mm",
        "Float64",
        "px/mm",
        "Scale of the photo itself, pixels per millimetre (from its card, or typed); empty "
        "when the photo had no scale (then only scale-free values are reported).",
    ),
    Column(
        "measured_px_per_mm",
        "Float64",
        "px/mm",
        "Scale of the pixels the region was measured in: px_per_mm, or for a registered region "
        "(measured on the baseline photo's grid) px_per_mm divided by how far the photo is "
        "stretched onto that grid at the region's centre. Empty without a scale, and for "
        "measurements made before it was recorded (tracker reanalyse --again).",
    ),
    Column(
        "roi_area_mm2",
        "Float64",
        "mm²",
        "Area of the region the hairs were counted in: the region as measured (for a registered "
        "photo the baseline region, on the baseline photo's grid), less any part outside the "
        "photo or under a calibration card. Empty without a scale, and for measurements made "
        "before it was recorded (tracker reanalyse --again).",
    ),
    Column(
        "scale_source",
        "string",
        "",
        "Where the scale came from: e.g. 'card' (calibration card in the photo), "
        "'magnification', 'field_width', 'user', or 'none'.",
    ),
    Column(
        "roi_source",
        "string",
        "",
        "How the region of interest was placed on this photo: 'baseline' (the baseline photo "
        "it was drawn on), 'registered' (carried over by registration to the baseline photo; "
        "roi_x/y/w/h are then the bounding box of the region as placed), 'manual' (placed by "
        "hand), 'unregistered' (registration failed: the whole photo was measured) or "
        "'whole_photo' (no region set for the view).",
    ),
    Column(
        "registration_score",
        "Float64",
        "0-1",
        "How well the photo was aligned to the baseline photo of its view: the share of matched "
        "features consistent with the alignment, lowered when few features match (below 0.4 "
        "is weak); empty where no registration was tried (the baseline photo itself, the first "
        "photo of a view).",
    ),
    Column(
        "algorithm_version",
        "string",
        "",
        "Version of the analysis algorithm that made the measurement.",
    ),
    Column(
        "parameters",
        "string",
        "JSON object",
        "Every parameter of the analysis as JSON text, including how the region was placed "
        "(placement: for a registered photo the registration's matrix onto the baseline photo). "
        "With the original photo (sha256) and the same algorithm_version they give the numbers "
        "again, bit for bit: tracker recompute EXPORT --photos DIR checks every row.",
    ),
    Column(
        "measurement_id",
        "int64",
        "",
        "Database id of the measurement (each analysis of a photo adds one; the newest is "
        "exported).",
        **_ONLY_IDENTIFIED,
    ),
    Column(
        "measured_at",
        "timestamp",
        "UTC timestamp (ISO 8601)",
        "When the measurement was made (UTC).",
        **_ONLY_IDENTIFIED,
    ),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}

#: Column names of :func:`tracker.export.measurement_table`, in order.
MEASUREMENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.identified)
#: Column names of :func:`tracker.export.deidentify`, in order.
DEIDENTIFIED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.deidentified)

#: Header of the data dictionary.
DICTIONARY_HEADER = ("column", "unit", "description")


def columns(*, deidentified: bool) -> tuple[Column, ...]:
    """The columns of one of the two tables, in order."""
    return tuple(c for c in COLUMNS if (c.deidentified if deidentified else c.identified))


def data_dictionary(*, deidentified: bool) -> str:
    """The data dictionary of an export table as CSV text.

    Parameters
    ----------
    deidentified : bool
        True for the columns of :func:`tracker.export.deidentify`, False for
        those of :func:`tracker.export.measurement_table`.

    Returns
    -------
    str
        CSV with a header ``column,unit,description`` and one line per column,
        in table order.

    Examples
    --------
    >>> text = data_dictionary(deidentified=True)
    >>> text.splitlines()[0]
    'column,unit,description'
    >>> "patient_code" in text
    False
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DICTIONARY_HEADER)
    for c in columns(deidentified=deidentified):
        writer.writerow((c.name, c.unit, c.description))
    return out.getvalue()
