"""Many photos at once: a process pool on one machine, a Dask cluster beyond it.

:func:`run_batch` analyses every photo of a folder or of a CSV manifest with
:func:`tracker.analysis.analyze` and writes one row per photo, with its
provenance, to a CSV or Parquet file. ``tracker batch`` is its command line.

- **Resumable.** A photo is skipped when the output already holds a row for the
  same path and bytes (sha256) asked with the same settings (ROI, scale, mode;
  the ``requested`` column) and measured by the installed algorithm version.
  Run the same command again after a stop and only the photos still missing
  are analysed; after an upgrade every photo gets a row of the new version,
  and the run's summary says when the output mixes versions or settings
  (:attr:`BatchSummary.mixed`). Files with the same bytes under
  different paths each get their row (the same numbers); so do photos whose
  path is spelled otherwise in the next run (relative instead of absolute, a
  moved folder): name them as before to resume.
- **Written as it goes.** A CSV output gets each row appended (and flushed) as
  soon as its photo is done. A Parquet file cannot be appended to, so its rows
  go to a journal next to it (``<out>.partial.jsonl``) and the Parquet file is
  written whole, atomically, when the run ends or stops; the next run picks up
  a journal left by a killed one. A kill loses only the photos in flight.
- **Never stops on a bad photo.** A photo that cannot be read, decoded or
  measured becomes a row with an ``error`` message and no measurements.
- **Where it runs.** ``workers=1``: in this process. ``workers=N``: a pool of N
  processes (:mod:`concurrent.futures`). ``scheduler='tcp://host:port'`` (or a
  :class:`distributed.Client`): the workers of a Dask cluster. The main process
  reads and hashes each photo and sends its bytes to the worker, so cluster
  workers need the ``tracker`` package but no access to the photo files. At
  most two photos per worker are in flight, so memory stays flat however many
  photos there are.

Rows are written in the order photos finish, which differs between runs with
several workers; sort by ``path`` to compare runs.

Dask workers: the nanny starts them with ``MALLOC_TRIM_THRESHOLD_=65536``,
which switches off glibc's adaptive mmap threshold; the analysis's large
temporary arrays are then mapped and page-faulted afresh for every photo, and
a photo costs about 1.5 times the CPU (``benchmarks/batch_throughput.py``).
Start the workers with this in a Dask config file (e.g.
``~/.config/dask/tracker.yaml``)::

    distributed:
      nanny:
        pre-spawn-environ:
          MALLOC_TRIM_THRESHOLD_: null
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.analysis import ALGORITHM_VERSION, analyze, version_key
from tracker.export.schema import BY_NAME as EXPORT_COLUMNS
from tracker.export.schema import DICTIONARY_HEADER, Column
from tracker.files import make_parent, write_atomic
from tracker.imaging import parallel
from tracker.photo import PHOTO_EXTENSIONS, PhotoError, load_photo

#: Output formats of :func:`run_batch`.
BATCH_FORMATS = ("csv", "parquet")
#: Columns a manifest may have (``path`` is required).
MANIFEST_COLUMNS = (
    "path", "view", "px_per_mm", "scale_source", "mode", "thin_um", "roi", "roi_x", "roi_y", "roi_w", "roi_h"
)
#: Values of ``scale_source`` a manifest may give (with ``px_per_mm``).
#: Where a typed scale came from ('card' is only ever the card found in the photo itself).
SCALE_SOURCES = ("magnification", "field_width", "user")
MODES = ("auto", "closeup", "overview")
#: Photos in flight per worker: enough to keep every worker busy, few enough
#: that memory does not grow with the number of photos.
IN_FLIGHT_PER_WORKER = 2
#: Times a photo is sent again after the process analysing it died.
POOL_RETRIES = 1
#: Photos larger than this are scattered to the Dask cluster first instead of
#: travelling inside the task.
SCATTER_BYTES = 8 * 1024 * 1024
#: The newest row reaches the disk (fsync) at least this often, in seconds.
FSYNC_EVERY_S = 1.0

_PHOTO_SUFFIXES = {f".{e}" for e in PHOTO_EXTENSIONS}

if TYPE_CHECKING:
    import pandas as pd


def _column(name: str, type_: str, unit: str, description: str) -> Column:
    return Column(name, type_, unit, description)


def _shared(name: str) -> Column:
    """A column the export tables have too: same name, unit and description.

    Its type is the nullable one: a row with an error has no ROI.
    """
    column = EXPORT_COLUMNS[name]
    return dataclasses.replace(column, type="Int64") if column.type == "int64" else column


#: Every column of a batch output, in order.
BATCH_COLUMNS: tuple[Column, ...] = (
    _column("path", "string", "", "The photo's path as listed in the folder or manifest."),
    _column(
        "view", "string", "", "The view given in the manifest (free text), empty when none was given."
    ),
    _column(
        "sha256",
        "string",
        "",
        "SHA-256 (hex) of the photo file, byte for byte; identifies the exact image the numbers "
        "were measured on. Empty when the file could not be read.",
    ),
    _column("size_bytes", "Int64", "bytes", "Size of the photo file."),
    _column("format", "string", "", "Image format found in the file (JPEG, PNG, TIFF, WebP, HEIC)."),
    _column(
        "width", "Int64", "px", "Width of the photo after its EXIF orientation is applied."
    ),
    _column(
        "height", "Int64", "px", "Height of the photo after its EXIF orientation is applied."
    ),
    _column(
        "error",
        "string",
        "",
        "Why the photo could not be analysed, and what to do; empty when it was analysed. "
        "A row with an error has no measurements.",
    ),
    *(
        _shared(n)
        for n in (
            "mode",
            "coverage_pct",
            "hair_count",
            "mean_width_px",
            "mean_width_um",
            "density_per_cm2",
            "thin_hair_pct",
            "quality_status",
            "quality_checks",
            "roi_x",
            "roi_y",
            "roi_w",
            "roi_h",
            "px_per_mm",
            "scale_source",
        )
    ),
    _column(
        "notes",
        "string",
        "JSON list of text",
        "What could not be measured in this photo and why (e.g. no scale), as a JSON list.",
    ),
    _shared("algorithm_version"),
    _shared("parameters"),
    _column(
        "requested",
        "string",
        "JSON object",
        "The settings asked for this photo (roi, px_per_mm, scale_source, mode; null where "
        "not given; thin_um only when a thin-hair bound was asked for) as JSON text. With path, sha256 and algorithm_version it identifies the row "
        "when a batch is resumed: a run with other settings, or after an upgrade, adds rows.",
    ),
    _column("analysed_at", "timestamp", "UTC timestamp (ISO 8601)", "When the row was made (UTC)."),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in BATCH_COLUMNS)
_TYPES = {c.name: c.type for c in BATCH_COLUMNS}
#: pandas types of the column types (pandas is imported only where tables are read or
#: written, so that a worker process starts without it).
_PANDAS_TYPES: dict[str, str] = {
    "string": "string",
    "Int64": "Int64",
    "Float64": "Float64",
    "timestamp": "datetime64[us, UTC]",
}


@dataclass(frozen=True)
class BatchJob:
    """One photo to analyse and the settings asked for it.

    Attributes
    ----------
    path : str
        The photo file.
    view : str, optional
        Free text carried to the output (e.g. 'vertex').
    roi : (x, y, w, h), optional
        Region of interest in the photo's pixels; the whole photo if None.
    px_per_mm : float, optional
        Scale; without it only scale-free values are measured.
    scale_source : str, optional
        Where the scale came from (see :data:`SCALE_SOURCES`); 'user' if a
        scale is given without one.
    mode : {'auto', 'closeup', 'overview'}
    thin_um : float, optional
        Shafts thinner than this (µm) count as thin; None: the analysis's
        bound (:data:`tracker.analysis.THIN_HAIR_UM`).
    """

    path: str
    view: str | None = None
    roi: tuple[int, int, int, int] | None = None
    px_per_mm: float | None = None
    scale_source: str | None = None
    mode: str = "auto"
    thin_um: float | None = None

    @property
    def requested(self) -> str:
        """The asked settings as canonical JSON text (the ``requested`` column); a
        thin-hair bound only when one was asked for, so that rows made before it
        could be asked for are still found on resuming."""
        asked: dict[str, Any] = {
            "roi": None if self.roi is None else list(self.roi),
            "px_per_mm": self.px_per_mm,
            "scale_source": self.scale_source,
            "mode": self.mode,
        }
        if self.thin_um is not None:
            asked["thin_um"] = self.thin_um
        return json.dumps(asked, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class BatchSummary:
    """What one :func:`run_batch` call did.

    Attributes
    ----------
    out : Path
        The output file.
    total : int
        Photos listed.
    skipped : int
        Photos whose row was already in the output (or listed twice under the same path).
    analysed : int
        Rows written by this run, with or without an error.
    failed : int
        Rows of this run that carry an error.
    seconds : float
        Wall time of the run.
    mixed : tuple of str
        What the output now mixes, for whoever reads it: rows of several
        algorithm versions, or photos with rows made with different settings.
    """

    out: Path
    total: int
    skipped: int
    analysed: int
    failed: int
    seconds: float
    failures: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    mixed: tuple[str, ...] = ()

    @property
    def photos_per_second(self) -> float:
        return self.analysed / self.seconds if self.seconds > 0 else math.nan


# ---------------------------------------------------------------------- inputs
def _check_settings(where: str, job: BatchJob) -> BatchJob:
    if job.mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, not {job.mode!r}")
    if job.px_per_mm is not None and not (math.isfinite(job.px_per_mm) and job.px_per_mm > 0):
        raise ValueError(f"{where}: px_per_mm must be a positive number of pixels per millimetre")
    if job.thin_um is not None and not (math.isfinite(job.thin_um) and job.thin_um > 0):
        raise ValueError(f"{where}: thin_um must be a positive number of micrometres (40 is the usual bound)")
    if job.scale_source is not None:
        if job.scale_source == "card":
            raise ValueError(
                f"{where}: scale_source 'card' is given by a calibration card found in the photo itself, "
                f"not typed; give one of {', '.join(SCALE_SOURCES)} with px_per_mm, or leave both empty"
            )
        if job.scale_source not in SCALE_SOURCES:
            raise ValueError(
                f"{where}: scale_source must be one of {', '.join(SCALE_SOURCES)}, not {job.scale_source!r}"
            )
        if job.px_per_mm is None:
            raise ValueError(f"{where}: scale_source {job.scale_source!r} is given without px_per_mm; add the scale")
    if job.roi is not None:
        x, y, w, h = job.roi
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            raise ValueError(
                f"{where}: the ROI is X,Y,W,H in pixels with X,Y at least 0 and W,H above 0 (got {job.roi})"
            )
    return job


def jobs_from_folder(
    folder: str | os.PathLike,
    *,
    roi: tuple[int, int, int, int] | None = None,
    px_per_mm: float | None = None,
    scale_source: str | None = None,
    mode: str = "auto",
    thin_um: float | None = None,
) -> list[BatchJob]:
    """Every photo under ``folder`` (any depth), by path, with the same settings.

    Photos are files ending in one of :data:`tracker.photo.PHOTO_EXTENSIONS`
    (any case); hidden files and folders are left out.

    Parameters
    ----------
    folder : path
    roi, px_per_mm, scale_source, mode, thin_um
        Settings for every photo (see :class:`BatchJob`).

    Returns
    -------
    list of BatchJob
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder; give a folder of photos or a CSV manifest")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in _PHOTO_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    return [
        _check_settings(
            str(p),
            BatchJob(str(p), roi=roi, px_per_mm=px_per_mm, scale_source=scale_source, mode=mode, thin_um=thin_um),
        )
        for p in paths
    ]


def _cell(row: dict[str, str | None], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def _manifest_roi(row: dict[str, str | None], where: str) -> tuple[int, int, int, int] | None:
    text = _cell(row, "roi")
    parts = [_cell(row, n) for n in ("roi_x", "roi_y", "roi_w", "roi_h")]
    if text is not None and any(parts):
        raise ValueError(f"{where}: give the ROI either as roi (X,Y,W,H) or as roi_x..roi_h, not both")
    if text is None and not any(parts):
        return None
    values = text.split(",") if text is not None else parts
    try:
        roi = tuple(int(str(v).strip()) for v in values)
    except (TypeError, ValueError):
        roi = ()
    if len(roi) != 4:
        raise ValueError(f"{where}: the ROI needs four whole numbers X,Y,W,H in pixels (got {text or parts})")
    return roi  # type: ignore[return-value]


def jobs_from_manifest(
    manifest: str | os.PathLike,
    *,
    roi: tuple[int, int, int, int] | None = None,
    px_per_mm: float | None = None,
    scale_source: str | None = None,
    mode: str = "auto",
    thin_um: float | None = None,
) -> list[BatchJob]:
    """The photos of a CSV manifest, in its order.

    The manifest has a header line and a ``path`` column; it may also have
    ``view``, ``px_per_mm``, ``scale_source``, ``mode``, ``thin_um``, and the ROI as ``roi``
    (``"X,Y,W,H"``, quoted) or as ``roi_x, roi_y, roi_w, roi_h``. An empty cell
    takes the setting given here. Relative paths are relative to the
    manifest's folder.

    Raises
    ------
    ValueError
        On an unknown column (so that a misspelt scale column is not silently
        ignored) or a bad value, naming the line.
    """
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{manifest}: the manifest cannot be read ({err}); give a UTF-8 CSV file") from err
    reader = csv.DictReader(io.StringIO(text))
    names = [n.strip() for n in (reader.fieldnames or [])]
    if "path" not in names:
        raise ValueError(f"{manifest}: a manifest needs a header line with a 'path' column")
    unknown = [n for n in names if n not in MANIFEST_COLUMNS]
    if unknown:
        raise ValueError(
            f"{manifest}: unknown column(s) {', '.join(unknown)}; a manifest may have "
            f"{', '.join(MANIFEST_COLUMNS)}"
        )
    reader.fieldnames = names
    jobs = []
    for line, row in enumerate(reader, start=2):
        where = f"{manifest} line {line}"
        if None in row:
            raise ValueError(f"{where}: more cells than header columns; quote a ROI written as X,Y,W,H")
        path = _cell(row, "path")
        if path is None:
            raise ValueError(f"{where}: the path is empty")
        full = Path(path) if Path(path).is_absolute() else manifest.parent / path
        scale, thin = _cell(row, "px_per_mm"), _cell(row, "thin_um")
        try:
            scale_value = float(scale) if scale is not None else px_per_mm
        except ValueError:
            raise ValueError(f"{where}: px_per_mm must be a number, got {scale!r}") from None
        try:
            thin_value = float(thin) if thin is not None else thin_um
        except ValueError:
            raise ValueError(f"{where}: thin_um must be a number, got {thin!r}") from None
        row_roi = _manifest_roi(row, where)
        job = BatchJob(
            str(full),
            view=_cell(row, "view"),
            roi=row_roi if row_roi is not None else roi,
            px_per_mm=scale_value,
            scale_source=_cell(row, "scale_source") or (scale_source if scale is None else None),
            mode=_cell(row, "mode") or mode,
            thin_um=thin_value,
        )
        jobs.append(_check_settings(where, job))
    return jobs


def read_jobs(source: str | os.PathLike, **settings: Any) -> list[BatchJob]:
    """:func:`jobs_from_folder` for a folder, :func:`jobs_from_manifest` for a file."""
    path = Path(source)
    if path.is_dir():
        return jobs_from_folder(path, **settings)
    if path.is_file():
        return jobs_from_manifest(path, **settings)
    raise ValueError(f"{path} does not exist; give a folder of photos or a CSV manifest")


# ---------------------------------------------------------------------- one photo
def _plain(value: Any) -> Any:
    """A JSON-able copy: numpy scalars and arrays as Python values, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _empty_row(job: BatchJob, sha256: str | None, size: int | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row.update(path=job.path, view=job.view, sha256=sha256, size_bytes=size, requested=job.requested)
    return row


def _error_row(job: BatchJob, sha256: str | None, size: int | None, message: str) -> dict[str, Any]:
    row = _empty_row(job, sha256, size)
    # one line per row: the CSV and the journal are recovered line by line
    row.update(error=" ".join(message.split()), algorithm_version=ALGORITHM_VERSION, analysed_at=_now())
    return row


def analyse_photo(job: BatchJob, data: bytes, sha256: str | None = None) -> dict[str, Any]:
    """One output row for the photo ``data`` (the bytes of ``job.path``).

    Never raises for a bad photo: a photo that cannot be decoded or measured
    gives a row whose ``error`` says why.

    Parameters
    ----------
    job : BatchJob
    data : bytes
        The photo file's content.
    sha256 : str, optional
        Its hex SHA-256, if already known.

    Returns
    -------
    dict
        One value per :data:`COLUMN_NAMES`, JSON-able.
    """
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    try:
        photo = load_photo(data, name=Path(job.path).name)
        result = analyze(
            photo.pixels, roi=job.roi, px_per_mm=job.px_per_mm, scale_source=job.scale_source, mode=job.mode,
            **({} if job.thin_um is None else {"thin_um": job.thin_um}),
        )
    except (PhotoError, ValueError) as err:
        return _error_row(job, sha256, len(data), str(err))
    except Exception as err:  # noqa: BLE001 - a bad photo must not stop thousands of others
        return _error_row(
            job,
            sha256,
            len(data),
            f"{Path(job.path).name}: the analysis failed ({type(err).__name__}: {err}). "
            "Check the photo; if it opens normally, report this message with the photo's sha256.",
        )
    record = result.to_record()
    row = _empty_row(job, sha256, len(data))
    x, y, w, h = (int(v) for v in result.roi)
    row.update(
        format=photo.metadata.format,
        width=int(photo.pixels.shape[1]),
        height=int(photo.pixels.shape[0]),
        mode=result.mode,
        coverage_pct=_plain(result.coverage_pct),
        hair_count=_plain(result.hair_count),
        mean_width_px=_plain(result.mean_width_px),
        mean_width_um=_plain(result.mean_width_um),
        density_per_cm2=_plain(result.density_per_cm2),
        thin_hair_pct=_plain(result.thin_hair_pct),
        quality_status=str(result.quality.status),
        quality_checks=_json(record["quality"]["checks"]),  # as in the export tables
        roi_x=x,
        roi_y=y,
        roi_w=w,
        roi_h=h,
        px_per_mm=_plain(result.scale.px_per_mm),
        scale_source=str(result.scale.source),
        notes=_json(record["notes"]),
        algorithm_version=result.algorithm_version,
        parameters=_json(record["parameters"]),
        analysed_at=_now(),
    )
    return row


def _row_key(sha256: str | None, path: str, requested: str, version: str) -> tuple[str, ...]:
    """What makes a row done: the path, its bytes, the settings and the algorithm's version
    (after an upgrade, a resumed run measures every photo again)."""
    return (path, sha256 or "", requested, version)


def _key_of(row: dict[str, Any]) -> tuple[str, ...]:
    """:func:`_row_key` of a written row."""
    return _row_key(row.get("sha256"), row.get("path") or "", row.get("requested") or "", row.get("algorithm_version") or "")


# ---------------------------------------------------------------------- output
def _format_of(out: Path, fmt: str | None) -> str:
    if fmt is None:
        fmt = "parquet" if out.suffix.lower() in {".parquet", ".pq"} else "csv"
    if fmt not in BATCH_FORMATS:
        raise ValueError(f"unknown batch output format {fmt!r}; use one of {', '.join(BATCH_FORMATS)}")
    return fmt


def journal_path(out: str | os.PathLike) -> Path:
    """Where the rows of a Parquet output wait until the Parquet file is written.

    Examples
    --------
    >>> journal_path("runs/results.parquet").as_posix()
    'runs/results.parquet.partial.jsonl'
    """
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # reads back to the same float
    return str(value)


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left half-written by a crash (the file must end in a newline)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.seek(data.rfind(b"\n") + 1)
        f.truncate()


def _read_csv_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            return []
        if list(reader.fieldnames) != list(COLUMN_NAMES):
            raise ValueError(
                f"{path} was not written by this version of tracker batch (its columns differ); "
                "give another --out file"
            )
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


def _read_journal(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.exists():
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line))
    return rows


def _typed(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with the column types of :data:`BATCH_COLUMNS`."""
    import pandas as pd

    data = {}
    for name in COLUMN_NAMES:
        kind = _TYPES[name]
        values = [r.get(name) for r in rows]
        if kind == "timestamp":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601").astype(
                _PANDAS_TYPES[kind]
            )
            continue
        if kind == "Int64":
            values = [None if v is None else int(v) for v in values]
        elif kind == "Float64":
            values = [None if v is None else float(v) for v in values]
        else:
            values = [None if v is None else str(v) for v in values]
        data[name] = pd.array(values, dtype=_PANDAS_TYPES[kind])
    return pd.DataFrame(data, columns=list(COLUMN_NAMES))


def _rows_of_frame(table: pd.DataFrame) -> list[dict[str, Any]]:
    import pandas as pd

    rows = []
    for record in table.to_dict("records"):
        row = {}
        for name in COLUMN_NAMES:
            value = record.get(name)
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                value = None
            elif isinstance(value, pd.Timestamp):
                value = value.isoformat()
            elif isinstance(value, np.generic):
                value = value.item()
            row[name] = value
        rows.append(row)
    return rows


def _parquet_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    _typed(rows).to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def _csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMN_NAMES)
    for row in rows:
        writer.writerow([_csv_text(row.get(n)) for n in COLUMN_NAMES])
    return buf.getvalue().encode("utf-8")


def _dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for row in rows:
        key = _key_of(row)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


class _Output:
    """Rows already done, and the appending of new ones (CSV or Parquet journal)."""

    def __init__(self, out: Path, fmt: str, *, retry_errors: bool) -> None:
        self.out, self.fmt = out, fmt
        self.journal = journal_path(out) if fmt == "parquet" else out
        make_parent(out)
        self._lock = _lock(out)
        try:
            self._open(retry_errors)
        except BaseException:
            self._lock.close()
            raise

    def _open(self, retry_errors: bool) -> None:
        out, fmt = self.out, self.fmt
        _drop_partial_line(self.journal)
        old: list[dict[str, Any]] = []
        if fmt == "parquet":
            old = _rows_of_frame(read_results(out, "parquet"))  # with a journal left by a stopped run
        elif out.exists() and out.stat().st_size:
            old = _read_csv_rows(out)
        kept = [r for r in old if not (retry_errors and r.get("error"))]
        deduped = _dedupe(kept)
        if fmt == "csv" and len(deduped) != len(old):
            write_atomic(out, _csv_bytes(deduped))
        elif fmt == "parquet" and (len(deduped) != len(old) or self.journal.exists()):
            self._snapshot(deduped)
        self.done = {_key_of(r) for r in deduped}
        new_csv = fmt == "csv" and (not out.exists() or out.stat().st_size == 0)
        self._file = open(self.journal, "a", encoding="utf-8", newline="")  # noqa: SIM115 - open for the run
        self._synced = time.monotonic()
        if new_csv:
            self._write_line(_csv_bytes([]).decode("utf-8"))

    def _snapshot(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write the Parquet file whole from ``rows``, then empty the journal."""
        write_atomic(self.out, _parquet_bytes(rows))
        self.journal.unlink(missing_ok=True)

    def _write_line(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if time.monotonic() - self._synced >= FSYNC_EVERY_S:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def write(self, row: dict[str, Any]) -> None:
        self.done.add(_key_of(row))
        if self.fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([_csv_text(row.get(n)) for n in COLUMN_NAMES])
            self._write_line(buf.getvalue())
        else:
            self._write_line(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Flush to disk; a Parquet output is written whole from its rows."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self.fmt == "parquet":
                self._snapshot(_rows_of_frame(read_results(self.out, "parquet")))
        finally:
            self._lock.close()


def _lock(out: Path) -> Any:
    """Hold a lock file next to ``out`` so that two runs never write the same output."""
    path = out.with_name(f".{out.name}.lock")
    handle = open(path, "a")  # noqa: SIM115 - held, locked, for the whole run
    try:
        import fcntl
    except ImportError:  # not on Linux or macOS: no lock
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(
            f"another tracker batch is writing {out}; wait for it to end or give another --out file"
        ) from None
    return handle


def read_results(out: str | os.PathLike, fmt: str | None = None) -> pd.DataFrame:
    """A batch output as a typed DataFrame (:data:`BATCH_COLUMNS`).

    For a Parquet output whose run was stopped, the rows waiting in its
    journal are included.
    """
    import pandas as pd

    out = Path(out)
    fmt = _format_of(out, fmt)
    if fmt == "csv":
        return _typed(_read_csv_rows(out))
    rows: list[dict[str, Any]] = []
    if out.exists():
        table = pd.read_parquet(out, engine="pyarrow")
        missing = set(COLUMN_NAMES) - set(table.columns)
        if missing:
            raise ValueError(
                f"{out} was not written by this version of tracker batch (missing {', '.join(sorted(missing))}); "
                "give another --out file"
            )
        if not journal_path(out).exists():
            return table[list(COLUMN_NAMES)]
        rows = _rows_of_frame(table)
    return _typed(_dedupe(rows + _read_journal(journal_path(out))))


def batch_dictionary() -> str:
    """The data dictionary of a batch output, as CSV text (``column,unit,description``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DICTIONARY_HEADER)
    for c in BATCH_COLUMNS:
        writer.writerow((c.name, c.unit, c.description))
    return buf.getvalue()


# ---------------------------------------------------------------------- running
@dataclass
class _Pending:
    job: BatchJob
    data: bytes = field(repr=False)
    sha256: str
    attempts: int = 0


def _worker_died(job: BatchJob, sha256: str, size: int, err: BaseException) -> dict[str, Any]:
    return _error_row(
        job,
        sha256,
        size,
        f"{Path(job.path).name}: the worker process analysing this photo stopped "
        f"({type(err).__name__}: {err}), e.g. out of memory. Run the batch again with "
        "--retry-errors to try it again, or with fewer workers.",
    )


def _run_serial(items: Iterator[_Pending], emit: Callable[[dict[str, Any]], None], task: Callable) -> None:
    for item in items:
        emit(task(item.job, item.data, item.sha256))


def _run_pool(
    items: Iterator[_Pending], emit: Callable[[dict[str, Any]], None], task: Callable, workers: int
) -> None:
    import multiprocessing

    # spawn: the workers start clean, whatever threads this process runs
    context = multiprocessing.get_context("spawn")
    window = IN_FLIGHT_PER_WORKER * workers

    def start_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(workers, os.getpid())
        )

    pool = start_pool()
    running: dict[Future, _Pending] = {}
    retry: list[_Pending] = []

    def submit(item: _Pending) -> bool:
        """Send `item` to the pool; False, with the item kept for a retry, if
        the pool broke before it could take it (a worker died meanwhile)."""
        try:
            running[pool.submit(task, item.job, item.data, item.sha256)] = item
        except BrokenProcessPool:
            retry.append(item)  # it never ran: no attempt is counted
            return False
        return True

    try:
        while True:
            while len(running) < window:
                if retry:
                    # a photo sent again runs alone, so a photo that kills its
                    # worker takes no other photo with it the second time
                    if not running:
                        submit(retry.pop())
                    break
                item = next(items, None)
                if item is None or not submit(item):
                    break
            if not running:
                if not retry:
                    return
                # the pool broke with nothing in flight: a new one for the retries
                pool.shutdown(wait=True, cancel_futures=True)
                pool = start_pool()
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                item = running.pop(fut)
                try:
                    emit(fut.result())
                except BrokenProcessPool as err:
                    broken = True
                    item.attempts += 1
                    if item.attempts > POOL_RETRIES:
                        emit(_worker_died(item.job, item.sha256, len(item.data), err))
                    else:
                        retry.append(item)
            if broken:
                # every photo in flight was lost with the pool: send them again to a new one
                for fut, item in list(running.items()):
                    item.attempts += 1
                    if item.attempts > POOL_RETRIES:
                        emit(_worker_died(item.job, item.sha256, len(item.data), BrokenProcessPool("pool stopped")))
                    else:
                        retry.append(item)
                running.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = start_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: How often (seconds) a pool worker looks whether the batch that started it still runs.
PARENT_CHECK_S = 1.0


def _start_worker(workers: int, parent: int) -> None:
    """Initializer of a pool worker: its share of the cores for its analyses, and a
    watch on the batch that started it: a worker whose batch was killed (a job's
    time limit, kill -9) ends too, rather than waiting idle for work."""
    parallel.share_cores(workers)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="watch-batch", daemon=True).start()


def _malloc_trim_threshold() -> str | None:
    """``MALLOC_TRIM_THRESHOLD_`` of the process this runs in (a Dask worker)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _run_dask(
    items: Iterator[_Pending], emit: Callable[[dict[str, Any]], None], task: Callable, scheduler: Any
) -> None:
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise ValueError(f"the Dask cluster at {client.scheduler.address} has no workers; start some first")
        trims = {v for v in client.run(_malloc_trim_threshold).values() if v is not None}
        if trims:
            warnings.warn(
                f"the cluster's workers run with MALLOC_TRIM_THRESHOLD_={', '.join(sorted(trims))} (Dask's "
                "default), which makes each photo cost about 1.5 times the CPU; start them with "
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_ set to null (see tracker.batch)",
                RuntimeWarning,
                stacklevel=3,
            )
        window = IN_FLIGHT_PER_WORKER * threads
        pending: dict[Any, _Pending] = {}
        queue = as_completed()

        def submit(item: _Pending) -> None:
            data: Any = item.data
            if len(item.data) > SCATTER_BYTES:
                data = client.scatter(item.data, hash=False)
            fut = client.submit(task, item.job, data, item.sha256, pure=False, retries=POOL_RETRIES)
            pending[fut] = item
            queue.add(fut)

        for item in items:
            submit(item)
            if len(pending) >= window:
                break
        for fut in queue:
            item = pending.pop(fut)
            if fut.status == "finished":
                emit(fut.result())
            else:
                try:
                    err = fut.exception()
                except BaseException as exc:  # noqa: BLE001 - cancelled, or the cluster went away
                    err = exc
                emit(_worker_died(item.job, item.sha256, len(item.data), err))
            fut.release()
            nxt = next(items, None)
            if nxt is not None:
                submit(nxt)
    finally:
        if own:
            client.close()


def run_batch(
    source: str | os.PathLike | Sequence[BatchJob],
    out: str | os.PathLike,
    *,
    fmt: str | None = None,
    workers: int = 1,
    scheduler: Any = None,
    retry_errors: bool = False,
    progress: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    _task: Callable[[BatchJob, bytes, str | None], dict[str, Any]] = analyse_photo,
    **settings: Any,
) -> BatchSummary:
    """Analyse many photos into one CSV or Parquet file, resumably.

    Parameters
    ----------
    source : path or sequence of BatchJob
        A folder of photos (any depth), a CSV manifest (see
        :func:`jobs_from_manifest`), or the jobs themselves.
    out : path
        The output file; rows already in it are kept and their photos skipped.
    fmt : {'csv', 'parquet'}, optional
        Default: 'parquet' for a ``.parquet`` file, else 'csv'.
    workers : int
        1: analyse in this process; N > 1: a pool of N processes.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``'tcp://host:port'``) or client: analyse on
        that cluster's workers instead (``workers`` is then not used).
    retry_errors : bool
        Drop the rows with an error from the output and analyse their photos
        again.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    on_row : callable, optional
        Called with each row after it is written.
    **settings
        ``roi``, ``px_per_mm``, ``scale_source``, ``mode``, ``thin_um`` for a
        folder, or for the empty cells of a manifest.

    Returns
    -------
    BatchSummary

    Raises
    ------
    ValueError
        For a missing source, a bad manifest, an unknown format, ``workers``
        below 1, or an output written by something else.
    """
    start = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of processes, at least 1 (got {workers!r})")
    out = Path(out)
    fmt = _format_of(out, fmt)
    if isinstance(source, (str, os.PathLike)):
        jobs = read_jobs(source, **settings)
    else:
        if settings:
            raise ValueError("settings apply to a folder or manifest; put them in each BatchJob instead")
        jobs = [_check_settings(job.path, job) for job in source]
    output = _Output(out, fmt, retry_errors=retry_errors)
    counts = {"skipped": 0, "analysed": 0, "failed": 0}
    failures: list[tuple[str, str]] = []
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), unit="photo", disable=not progress, dynamic_ncols=True, smoothing=0.05)

    def emit(row: dict[str, Any]) -> None:
        output.write(row)
        counts["analysed"] += 1
        if row.get("error"):
            counts["failed"] += 1
            failures.append((row["path"], row["error"]))
            bar.set_postfix(errors=counts["failed"], refresh=False)
        bar.update(1)
        if on_row is not None:
            on_row(row)

    def pending() -> Iterator[_Pending]:
        for job in jobs:
            if _row_key(None, job.path, job.requested, ALGORITHM_VERSION) in output.done:
                counts["skipped"] += 1  # unreadable before; --retry-errors tries again
                bar.update(1)
                continue
            try:
                data = Path(job.path).read_bytes()
            except OSError as err:
                emit(
                    _error_row(
                        job,
                        None,
                        None,
                        f"{Path(job.path).name}: the file cannot be read ({err.strerror or err}). "
                        "Check the path and that you may read it, then run the batch again with --retry-errors.",
                    )
                )
                continue
            sha256 = hashlib.sha256(data).hexdigest()
            key = _row_key(sha256, job.path, job.requested, ALGORITHM_VERSION)
            if key in output.done:
                counts["skipped"] += 1
                bar.update(1)
                continue
            output.done.add(key)  # the same path listed twice is analysed once
            yield _Pending(job, data, sha256)

    try:
        if scheduler is not None:
            _run_dask(pending(), emit, _task, scheduler)
        elif workers > 1:
            _run_pool(pending(), emit, _task, workers)
        else:
            _run_serial(pending(), emit, _task)
    finally:
        bar.close()
        output.close()
    dictionary = out.with_name(
        (out.stem if out.suffix.lower() in {".csv", ".parquet", ".pq"} else out.name) + ".dictionary.csv"
    )
    write_atomic(dictionary, batch_dictionary().encode("utf-8"))
    return BatchSummary(
        out=out,
        total=len(jobs),
        skipped=counts["skipped"],
        analysed=counts["analysed"],
        failed=counts["failed"],
        seconds=time.perf_counter() - start,
        failures=tuple(failures),
        mixed=_mixed(output.done, out),
    )


def _mixed(done: Iterable[tuple[str, ...]], out: Path) -> tuple[str, ...]:
    """What the rows of an output (their :func:`_row_key`) mix: several versions, or settings per photo."""
    keys = list(done)
    notes = []
    versions = sorted({k[3] for k in keys if k[3]}, key=version_key)
    if len(versions) > 1:
        notes.append(
            f"{out.name} holds rows of the algorithm versions {', '.join(versions)}: compare rows of one "
            "version only (column algorithm_version)"
        )
    settings: dict[tuple[str, str, str], set[str]] = {}
    for path, sha, requested, version in keys:
        settings.setdefault((path, sha, version), set()).add(requested)
    photos = sum(len(s) > 1 for s in settings.values())
    if photos:
        notes.append(
            f"{photos} photo{'s' if photos != 1 else ''} in {out.name} have rows made with different settings: "
            "pick one per photo (column requested)"
        )
    return tuple(notes)
