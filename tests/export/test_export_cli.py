"""``tracker export`` end to end: a real subprocess on the shared store."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _exportdata import CODE_A, CODE_B

from tracker import cli
from tracker.export import (
    data_dictionary,
    deidentify,
    export_key,
    measurement_table,
    read_table,
    subject_id,
)
from tracker.export.cli import dictionary_path

REPO = Path(__file__).resolve().parents[2]


def tracker(*args: object) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "TRACKER_STORE", "TRACKER_EXPORT_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "export", *map(str, args)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        cwd=REPO,
        env=base,
    )


def test_deidentified_parquet_export(store, tmp_path):
    out = tmp_path / "exports" / "study.parquet"
    done = tracker("--store", store.location, "--deidentify", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "wrote 6 de-identified rows (2 patients) as parquet" in done.stdout
    assert "export.key" in done.stdout
    expected = deidentify(measurement_table(store), key=export_key(store))
    pd.testing.assert_frame_equal(read_table(out.read_bytes(), "parquet"), expected)
    dictionary = tmp_path / "exports" / "study.dictionary.csv"
    assert dictionary.read_text(encoding="utf-8") == data_dictionary(deidentified=True)
    assert CODE_A.encode() not in out.read_bytes()


def run(*args: object) -> int:
    """The same command in this process (faster; the parser and code are the same)."""
    return cli.main(["export", *map(str, args)])


def test_identified_csv_of_chosen_patients(store, tmp_path, capsys):
    out = tmp_path / "measurements.csv"
    assert run("--store", store.location, "--patient", CODE_B, "--out", out) == 0
    assert "wrote 2 rows (1 patients) as csv" in capsys.readouterr().out
    expected = measurement_table(store, patients=[CODE_B])
    pd.testing.assert_frame_equal(read_table(out.read_bytes(), "csv"), expected)
    header = next(csv.reader(io.StringIO((tmp_path / "measurements.dictionary.csv").read_text())))
    assert header == ["column", "unit", "description"]


def test_format_option_and_environment_key(store, tmp_path, monkeypatch, capsys):
    out = tmp_path / "rows.txt"
    key = "a study key shared by two clinics"
    monkeypatch.setenv("TRACKER_EXPORT_KEY", key)
    assert run(
        "--store", store.location, "--patient", CODE_A, "--patient", CODE_B, "--deidentify",
        "--format", "json", "--out", out,
    ) == 0
    assert "$TRACKER_EXPORT_KEY" in capsys.readouterr().out
    table = read_table(out.read_bytes(), "json")
    assert set(table["subject_id"]) == {subject_id(CODE_A, key.encode()), subject_id(CODE_B, key.encode())}
    assert (tmp_path / "rows.txt.dictionary.csv").exists()


def test_unknown_patient_and_missing_store_fail_with_a_message(store, tmp_path):
    done = tracker("--store", store.location, "--patient", "NOPE-9", "--out", tmp_path / "x.csv")
    assert done.returncode == 2
    assert "NOPE-9" in done.stderr and not (tmp_path / "x.csv").exists()


def test_missing_store_fails_with_a_message(tmp_path, capsys):
    assert run("--store", tmp_path / "nowhere", "--out", tmp_path / "x.csv") == 2
    assert "--store" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()


def test_out_is_required_and_format_is_checked(capsys):
    with pytest.raises(SystemExit):
        cli.main(["export"])
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["export", "--out", "x.csv", "--format", "xlsx"])


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("measurements.csv", "measurements.dictionary.csv"),
        ("a/b/study.PARQUET", "a/b/study.dictionary.csv"),
        ("rows.json", "rows.dictionary.csv"),
        ("table", "table.dictionary.csv"),
        ("data.tsv", "data.tsv.dictionary.csv"),
    ],
)
def test_dictionary_path(out, expected):
    assert dictionary_path(out).as_posix() == expected


def test_empty_export_in_process(tmp_path, capsys):
    from tracker.store import Store

    folder = tmp_path / "empty"
    Store.open(folder, database_url=f"sqlite:///{folder / 'tracker.sqlite'}").close()
    out = tmp_path / "none.csv"
    assert run("--store", folder, "--out", out) == 0
    captured = capsys.readouterr()
    assert "wrote 0 rows (0 patients)" in captured.out and "header only" in captured.err
    assert out.read_text().startswith("patient_code,baseline_date,")
