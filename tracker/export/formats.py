"""Export tables as CSV, Parquet or JSON bytes, and read them back."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from typing import Any

import pandas as pd

from tracker.export.schema import BY_NAME
from tracker.export.table import typed_frame

#: Formats :func:`table_bytes` writes.
EXPORT_FORMATS = ("csv", "parquet", "json")

_NOT_ROWS = "a JSON export is an array of row objects; pass bytes from table_bytes(table, 'json')"


def _check_format(fmt: object) -> str:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    return fmt  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    """A JSON value for one cell: missing as None, dates and times as ISO 8601 text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _timestamps_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with timestamp columns as ISO 8601 text (2025-01-06T10:00:00.123456+00:00)."""
    out = table.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = pd.array(
                [None if pd.isna(v) else v.isoformat() for v in out[name]], dtype=pd.StringDtype()
            )
    return out


def table_bytes(table: pd.DataFrame, fmt: str) -> bytes:
    """Encode an export table as a file's bytes.

    Parameters
    ----------
    table : pandas.DataFrame
        A table made by :func:`tracker.export.measurement_table` or
        :func:`tracker.export.deidentify`.
    fmt : {'csv', 'parquet', 'json'}
        ``csv``: UTF-8, a header line, ``\\n`` line ends, empty fields for
        missing values, floats written so they read back to the same value.
        ``parquet``: the typed columns as Parquet (pyarrow). ``json``: a UTF-8
        JSON array with one object per row, ``null`` for missing values, dates
        and times as ISO 8601 text.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import pandas as pd
    >>> table_bytes(pd.DataFrame({"view": ["vertex"], "hair_count": [12]}), "csv")
    b'view,hair_count\\nvertex,12\\n'
    """
    fmt = _check_format(fmt)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if fmt == "csv":
        return _timestamps_as_text(table).to_csv(index=False, lineterminator="\n").encode("utf-8")
    if fmt == "parquet":
        buf = io.BytesIO()
        table.to_parquet(buf, engine="pyarrow", index=False)
        return buf.getvalue()
    rows = [
        {name: _plain(value) for name, value in zip(table.columns, values)}
        for values in table.itertuples(index=False, name=None)
    ]
    return (json.dumps(rows, ensure_ascii=False, allow_nan=False, indent=1) + "\n").encode("utf-8")


def read_table(data: bytes, fmt: str) -> pd.DataFrame:
    """Read bytes written by :func:`table_bytes` back into a typed table.

    Columns named in the data dictionary get their dictionary types; other
    columns are left as the reader found them. An empty JSON export (``[]``)
    has no column names, so it reads back as a table without columns.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    fmt : {'csv', 'parquet', 'json'}

    Returns
    -------
    pandas.DataFrame
    """
    fmt = _check_format(fmt)
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    if fmt == "csv":
        known = [c for c in pd.read_csv(io.BytesIO(data), nrows=0).columns if c in BY_NAME]
        raw = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,  # a text value such as "NA" stays text
            encoding="utf-8",
        )
        records = {
            name: [_from_csv(v, BY_NAME[name].type) for v in raw[name]] for name in known
        }
    else:
        rows = json.loads(data.decode("utf-8"))
        if not isinstance(rows, list):
            raise ValueError(_NOT_ROWS)
        if not rows:
            return pd.DataFrame()
        if not all(isinstance(r, dict) for r in rows):
            raise ValueError(_NOT_ROWS)
        names = list(rows[0])
        raw = pd.DataFrame({name: [r.get(name) for r in rows] for name in names})
        known = [c for c in names if c in BY_NAME]
        records = {name: [_from_json(r.get(name), BY_NAME[name].type) for r in rows] for name in known}
    typed = typed_frame(records, known)
    for name in raw.columns:
        if name not in BY_NAME:
            typed[name] = raw[name]
    return typed[list(raw.columns)]


def _from_text(text: str, kind: str) -> Any:
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "timestamp":
        return dt.datetime.fromisoformat(text)
    if kind in ("Int64", "int64"):
        return int(text)
    if kind == "Float64":
        return float(text)
    return text


def _from_csv(value: str, kind: str) -> Any:
    if value == "" and kind != "string":
        return None
    return _from_text(value, kind)


def _from_json(value: Any, kind: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind in ("date", "timestamp"):
        return _from_text(value, kind)
    return value
