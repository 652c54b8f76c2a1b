"""table_bytes / read_table round trips, and the data dictionary."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from _exportdata import CODE_A

from tracker.export import (
    DEIDENTIFIED_COLUMNS,
    EXPORT_FORMATS,
    MEASUREMENT_COLUMNS,
    data_dictionary,
    deidentify,
    measurement_table,
    read_table,
    table_bytes,
)
from tracker.wording import BANNED_WORDS

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def tables(store):
    identified = measurement_table(store)
    return {"identified": identified, "deidentified": deidentify(identified, key=KEY)}


def _awkward(table: pd.DataFrame) -> pd.DataFrame:
    """Text a CSV reader gets wrong when it guesses: NA, empty markers, quotes, commas, lines, µ."""
    out = table.copy()
    events = ['["NA"]', '["dose: 1,5 ml; \\"twice\\"\\nsecond line µm ✓"]', "[]"]
    out["visit_events"] = pd.array([events[i % 3] for i in range(len(out))], dtype="string")
    if "patient_code" in out:
        out["patient_code"] = pd.array(["NA"] + ["007"] * (len(out) - 1), dtype="string")
    return out


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize("which", ["identified", "deidentified"])
def test_round_trip(tables, fmt, which):
    for table in (tables[which], _awkward(tables[which])):
        back = read_table(table_bytes(table, fmt), fmt)
        pd.testing.assert_frame_equal(back, table)


@pytest.mark.parametrize("which", ["identified", "deidentified"])
def test_parquet_reads_back_equal_with_pyarrow_alone(tables, which):
    table = tables[which]
    back = pq.read_table(io.BytesIO(table_bytes(table, "parquet"))).to_pandas()
    pd.testing.assert_frame_equal(back, table)
    schema = pq.read_schema(io.BytesIO(table_bytes(table, "parquet")))
    assert str(schema.field("hair_count").type) == "int64"
    assert str(schema.field("coverage_pct").type) == "double"
    if which == "identified":
        assert str(schema.field("visit_date").type) == "date32[day]"
        assert str(schema.field("measured_at").type) == "timestamp[us, tz=UTC]"


def test_csv_is_plain_and_floats_are_exact(tables):
    table = tables["identified"]
    text = table_bytes(table, "csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(MEASUREMENT_COLUMNS)
    assert len(rows) == len(table)
    assert "\r" not in text
    first = rows[0]
    assert first["patient_code"] == CODE_A and first["visit_date"] == "2025-01-06"
    assert first["roi_id"] == "" and first["registration_score"] == ""  # missing: empty field
    assert float(first["coverage_pct"]) == table["coverage_pct"].iloc[0]
    assert first["measured_at"] == table["measured_at"].iloc[0].isoformat()
    assert "T" in first["measured_at"] and first["measured_at"].endswith("+00:00")


def test_json_is_an_array_of_row_objects_with_nulls(tables):
    table = tables["deidentified"]
    rows = json.loads(table_bytes(table, "json"))
    assert isinstance(rows, list) and len(rows) == len(table)
    assert all(list(r) == list(DEIDENTIFIED_COLUMNS) for r in rows)
    assert all((r["registration_score"] is None) == (r["roi_source"] == "baseline") for r in rows
               if r["roi_source"] in ("baseline", "unregistered"))
    assert {"baseline", "unregistered"} <= {r["roi_source"] for r in rows}
    no_scale = [r for r in rows if r["scale_source"] == "none"]
    assert no_scale and all(r["density_per_cm2"] is None and r["px_per_mm"] is None for r in no_scale)
    assert all(isinstance(r["hair_count"], int) for r in rows)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_empty_tables_can_be_written(tables, fmt):
    empty = tables["identified"].iloc[:0]
    data = table_bytes(empty, fmt)
    back = read_table(data, fmt)
    if fmt == "json":
        assert json.loads(data) == [] and back.empty
    else:
        pd.testing.assert_frame_equal(back, empty.reset_index(drop=True))


def test_unknown_format_is_refused(tables):
    with pytest.raises(ValueError, match="use one of csv, parquet, json"):
        table_bytes(tables["identified"], "xlsx")
    with pytest.raises(ValueError, match="use one of"):
        read_table(b"", "CSV")


@pytest.mark.parametrize("deidentified", [False, True])
def test_data_dictionary_covers_every_column_in_order(tables, deidentified):
    table = tables["deidentified" if deidentified else "identified"]
    rows = list(csv.reader(io.StringIO(data_dictionary(deidentified=deidentified))))
    assert rows[0] == ["column", "unit", "description"]
    assert [r[0] for r in rows[1:]] == list(table.columns)
    assert all(len(r) == 3 and len(r[2]) > 20 for r in rows[1:])
    units = {r[0]: r[1] for r in rows[1:]}
    assert units["coverage_pct"] == "%" and units["mean_width_um"] == "µm"
    assert units["density_per_cm2"] == "hairs/cm²" and units["px_per_mm"] == "px/mm"


def test_dictionaries_differ_where_the_tables_do():
    def names(deidentified: bool) -> set[str]:
        return {r[0] for r in csv.reader(io.StringIO(data_dictionary(deidentified=deidentified)))}

    assert names(False) - names(True) == {
        "patient_code", "baseline_date", "visit_date", "roi_id", "measurement_id", "measured_at"
    }
    assert names(True) - names(False) == {"subject_id", "days_since_baseline"}


@pytest.mark.parametrize("deidentified", [False, True])
def test_data_dictionary_wording(deidentified):
    text = data_dictionary(deidentified=deidentified).lower()
    for word in BANNED_WORDS:
        assert word not in text


def test_public_names_import_and_cli_parser_does_not_load_pandas():
    import subprocess
    import sys

    from tracker import export

    assert all(getattr(export, name) is not None for name in export.__all__)
    code = "import sys; from tracker.cli import build_parser; build_parser(); print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
