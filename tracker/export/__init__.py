"""Measurement tables with provenance, de-identification and export files.

A researcher's export is one row per photo with its newest measurement and
everything needed to recompute it (image sha256, ROI as applied, scale and its
source, quality, algorithm version and parameters), written as CSV, Parquet or
JSON with a data dictionary next to it.

Examples
--------
>>> import tempfile
>>> from tracker.store import Store
>>> from tracker.export import measurement_table, deidentify, table_bytes, export_key
>>> with Store.open(tempfile.mkdtemp()) as store:
...     table = deidentify(measurement_table(store), key=export_key(store))
>>> table_bytes(table, "csv").decode().split(",")[:2]
['subject_id', 'days_since_baseline']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each public name lives. Imported on first use, so that ``tracker``'s
#: command line can register ``tracker export`` without loading pandas.
_WHERE = {
    "EXPORT_FORMATS": "formats",
    "read_table": "formats",
    "table_bytes": "formats",
    "KEY_ENV": "keys",
    "KEY_FILE": "keys",
    "export_key": "keys",
    "key_path": "keys",
    "COLUMNS": "schema",
    "DEIDENTIFIED_COLUMNS": "schema",
    "MEASUREMENT_COLUMNS": "schema",
    "Column": "schema",
    "data_dictionary": "schema",
    "deidentify": "table",
    "measurement_table": "table",
    "redact_event": "redact",
    "subject_id": "table",
}

__all__ = [
    "COLUMNS",
    "DEIDENTIFIED_COLUMNS",
    "EXPORT_FORMATS",
    "KEY_ENV",
    "KEY_FILE",
    "MEASUREMENT_COLUMNS",
    "Column",
    "data_dictionary",
    "deidentify",
    "export_key",
    "key_path",
    "measurement_table",
    "read_table",
    "redact_event",
    "subject_id",
    "table_bytes",
]

if TYPE_CHECKING:
    from tracker.export.formats import EXPORT_FORMATS, read_table, table_bytes
    from tracker.export.keys import KEY_ENV, KEY_FILE, export_key, key_path
    from tracker.export.schema import (
        COLUMNS,
        DEIDENTIFIED_COLUMNS,
        MEASUREMENT_COLUMNS,
        Column,
        data_dictionary,
    )
    from tracker.export.redact import redact_event
    from tracker.export.table import deidentify, measurement_table, subject_id


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tracker.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tracker.export.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
