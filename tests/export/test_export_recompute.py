"""tracker recompute: every row of an export measured again from its original photo."""

from __future__ import annotations

import pandas as pd
import pytest

from tracker import cli
from tracker.export import deidentify, measurement_table, table_bytes
from tracker.export.verify import DIFFERENT, NO_PHOTO, OTHER_VERSION, SAME, iter_checks

KEY = b"k" * 16 + b"-recompute"


@pytest.fixture
def photos(store, tmp_path):
    """The store's originals as a researcher holds them: one folder, names of their own."""
    folder = tmp_path / "originals-copy" / "nested"
    folder.mkdir(parents=True)
    for i, photo in enumerate(store.photos()):
        (folder / f"photo-{i}.bin").write_bytes(store.read_original(photo.id))
    return folder.parent


def run(*args: object) -> int:
    return cli.main(["recompute", *map(str, args)])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_every_row_of_a_deidentified_export_comes_out_the_same(store, photos, tmp_path, capsys, fmt):
    out = tmp_path / f"study.{fmt}"
    out.write_bytes(table_bytes(deidentify(measurement_table(store), key=KEY), fmt))
    assert run(out, "--photos", photos) == 0
    assert capsys.readouterr().out.strip().endswith(
        "6 rows: 6 recomputed the same, 0 differ, 0 without their photo in "
        f"{photos}, 0 made by another algorithm version (recompute those with that version installed)"
    )


def test_a_changed_number_is_found_and_named(store, photos, tmp_path, capsys):
    table = measurement_table(store)
    table.loc[2, "hair_count"] += 1
    table.loc[2, "coverage_pct"] *= 1.001
    out = tmp_path / "edited.csv"
    out.write_bytes(table_bytes(table, "csv"))
    assert run(out, "--photos", photos) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"row 3 ({table.loc[2, 'sha256'][:12]}): coverage_pct: ")
    assert "hair_count: " in lines[0] and " exported, " in lines[0]
    assert "5 recomputed the same, 1 differ" in lines[-1]


def test_rows_without_their_photo_or_of_another_version_are_counted_not_checked(store, photos):
    table = measurement_table(store)
    table.loc[0, "algorithm_version"] = "0.0.1"
    wanted = set(table["sha256"][1:3])
    found = list(iter_checks(table, lambda sha: None if sha not in wanted else store.originals.get(sha)))
    assert [c.status for c in found] == [OTHER_VERSION, SAME, SAME, NO_PHOTO, NO_PHOTO, NO_PHOTO]
    assert DIFFERENT not in {c.status for c in found}


def test_bad_input_says_what_to_do(store, tmp_path, capsys):
    assert run(tmp_path / "none.csv", "--photos", tmp_path) == 2
    assert "none.csv" in capsys.readouterr().err
    assert run(tmp_path / "none.csv", "--photos", tmp_path / "missing") == 2
    assert "is not a folder" in capsys.readouterr().err
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b\n1,2\n")
    assert run(plain, "--photos", tmp_path) == 2
    assert "lacks the columns ['sha256', 'algorithm_version', 'parameters', 'roi_source']" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lacks the columns"):
        list(iter_checks(pd.DataFrame({"sha256": []}), lambda sha: None))


def test_a_damaged_row_is_reported_and_the_others_are_checked(store, photos, tmp_path, capsys):
    table = measurement_table(store)
    table.loc[1, "parameters"] = "{not json"
    out = tmp_path / "damaged.csv"
    out.write_bytes(table_bytes(table, "csv"))
    assert run(out, "--photos", photos) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"row 2 ({table.loc[1, 'sha256'][:12]}): JSONDecodeError")
    assert "5 recomputed the same, 0 differ, 1 unreadable" in lines[-1]

