"""deidentify: keyed pseudonyms, days since baseline, nothing that points back to a person."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from _exportdata import (
    A_VISITS,
    B_VISITS,
    BIRTH,
    CAMERA_MAKE,
    CAMERA_SERIAL,
    CODE_A,
    CODE_B,
    EMAIL,
    NAME,
    PHONE,
    PHOTO_NAME,
    VISIT_NOTES,
)
from PIL import Image

from tracker.analysis import recompute
from tracker.export import (
    DEIDENTIFIED_COLUMNS,
    EXPORT_FORMATS,
    deidentify,
    measurement_table,
    redact_event,
    table_bytes,
)
from tracker.photo import load_photo

KEY = b"k" * 16 + b"-first-key"
OTHER_KEY = b"k" * 16 + b"-other-key"


def _date_forms(d: dt.date) -> list[str]:
    return [
        d.isoformat(),
        d.strftime("%Y:%m:%d"),
        d.strftime("%Y/%m/%d"),
        d.strftime("%d.%m.%Y"),
        d.strftime("%m/%d/%Y"),
        d.strftime("%d/%m/%Y"),
        d.strftime("%Y%m%d"),
    ]


def _secrets(store) -> list[str]:
    """Text that must not appear in a de-identified export of the shared store."""
    found = [CODE_A, CODE_B, NAME, "Example", PHONE, "7946", EMAIL, CAMERA_MAKE, CAMERA_SERIAL, PHOTO_NAME,
             "ann_example",
             VISIT_NOTES, "Hillside", "GPS", "latitude", "29.5179", "40.2,"]
    dates = {BIRTH, dt.date(2024, 5, 1), *A_VISITS, *B_VISITS}
    for row in measurement_table(store).itertuples():
        dates.add(row.measured_at.date())
    for d in dates:
        found += _date_forms(d)
    return found


def _texts(data: bytes, fmt: str) -> list[tuple[str, str]]:
    """The raw bytes and, for Parquet (compressed), the decoded cells and metadata."""
    out = [("bytes", data.decode("latin-1"))]
    if fmt == "parquet":
        t = pq.read_table(io.BytesIO(data))
        out.append(("cells", t.to_pandas().astype(str).to_csv(index=False)))
        out.append(("metadata", str(t.schema.metadata) + str(t.schema)))
    return out


@pytest.fixture(scope="module")
def identified(store):
    return measurement_table(store)


@pytest.fixture(scope="module")
def table(identified):
    return deidentify(identified, key=KEY)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_the_search_finds_identifying_text_in_the_identified_export(identified, fmt):
    """The scan below can fail: it finds the code and visit date where they are exported."""
    data = table_bytes(identified, fmt)
    texts = " ".join(t for _, t in _texts(data, fmt))
    assert CODE_A in texts and A_VISITS[1].isoformat() in texts
    assert PHONE in texts and EMAIL in texts


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_no_identifying_text_in_any_format(store, built, table, fmt):
    # the store really holds what is searched for
    gps_original = store.originals.get(built.gps_sha256)
    assert Image.open(io.BytesIO(gps_original)).getexif().get_ifd(0x8825)[2] == (48.0, 51.0, 29.5179)
    assert store.identity(CODE_A).birth_date == BIRTH
    data = table_bytes(table, fmt)
    for where, text in _texts(data, fmt):
        lowered = text.lower()
        for secret in _secrets(store):
            assert secret.lower() not in lowered, f"{secret!r} in the {fmt} export ({where})"


def test_columns_leave_out_dates_codes_and_database_ids(table):
    assert tuple(table.columns) == DEIDENTIFIED_COLUMNS
    for gone in ("patient_code", "baseline_date", "visit_date", "measured_at", "measurement_id", "roi_id",
                 "photo_id", "visit_id"):
        assert gone not in table.columns
    for dtype in table.dtypes:
        assert not isinstance(dtype, pd.DatetimeTZDtype) and "date" not in str(dtype)


def _expected_subject(code: str, key: bytes) -> str:
    return "S-" + hmac.new(key, code.encode(), hashlib.sha256).hexdigest()[:16]


def test_subject_id_is_a_keyed_hash_stable_per_key(identified, table):
    expected = identified["patient_code"].map(lambda c: _expected_subject(c, KEY))
    assert sorted(table["subject_id"]) == sorted(expected)
    assert table["subject_id"].nunique() == 2
    again = deidentify(identified, key=KEY)
    pd.testing.assert_frame_equal(again, table)
    other = deidentify(identified, key=OTHER_KEY)
    assert set(other["subject_id"]).isdisjoint(table["subject_id"])
    assert sorted(other["subject_id"]) == sorted(
        identified["patient_code"].map(lambda c: _expected_subject(c, OTHER_KEY))
    )


def test_one_patient_alone_gets_the_same_subject_id(store, table):
    alone = deidentify(measurement_table(store, patients=[CODE_B]), key=KEY)
    assert set(alone["subject_id"]) == {_expected_subject(CODE_B, KEY)}
    assert set(alone["subject_id"]) < set(table["subject_id"])


def test_days_since_baseline_count_from_the_first_visit_in_the_store(table):
    a = table[table["subject_id"] == _expected_subject(CODE_A, KEY)]
    b = table[table["subject_id"] == _expected_subject(CODE_B, KEY)]
    # A: first visit 2024-12-02 had no photos; photos on 2025-01-06 and 2025-03-03
    assert sorted(a["days_since_baseline"]) == [35, 35, 91, 91]
    assert sorted(b["days_since_baseline"]) == [0, 14]
    assert str(table["days_since_baseline"].dtype) == "int64"


def test_rows_follow_the_subject_ids_not_the_codes(table):
    keys = list(zip(table["subject_id"], table["days_since_baseline"], table["view"], table["sha256"]))
    assert keys == sorted(keys)
    assert list(table.index) == list(range(len(table)))


def test_provenance_is_kept_row_for_row(identified, table):
    ident = identified.set_index("sha256")
    deid = table.set_index("sha256")
    assert set(ident.index) == set(deid.index)
    kept = [c for c in DEIDENTIFIED_COLUMNS if c not in ("subject_id", "days_since_baseline",
                                                         "visit_events", "view", "sha256", "parameters")]
    pd.testing.assert_frame_equal(deid.loc[ident.index, kept], ident[kept])
    # the parameters less the database ids
    for sha in ident.index:
        full, shared = json.loads(ident.loc[sha, "parameters"]), json.loads(deid.loc[sha, "parameters"])
        assert "baseline_photo_id" in full and "baseline_photo_id" not in shared
        assert shared == {k: v for k, v in full.items() if k != "baseline_photo_id"}


def test_every_number_can_be_recomputed_from_the_export(store, table):
    """The original (found by sha256) plus the exported provenance gives the same numbers."""
    for row in table.to_dict("records"):
        photo = load_photo(store.originals.get(row["sha256"]))
        # the parameters hold the provenance: how the ROI was placed (through the registration
        # to the baseline photo), the view's settings and the typed scale
        params = json.loads(row["parameters"])
        result = recompute(photo.pixels, params)
        assert result.algorithm_version == row["algorithm_version"]
        assert result.roi_source == params["roi_source"]
        assert tuple(result.placement["photo_roi"]) == (row["roi_x"], row["roi_y"], row["roi_w"], row["roi_h"])
        again = json.loads(json.dumps(result.parameters))
        assert {k: params[k] for k in again} == again
        assert result.quality.status == row["quality_status"]
        for metric in ("coverage_pct", "hair_count", "mean_width_px", "mean_width_um",
                       "density_per_cm2", "thin_hair_pct"):
            got = getattr(result, metric)
            want = None if pd.isna(row[metric]) else row[metric]
            assert got == want, (row["sha256"][:8], metric)


def test_a_close_up_site_loses_the_name_and_the_date_typed_into_it(identified, table):
    assert "closeup:crown left of scar, [name removed] 15 July" in set(identified["view"])
    assert "closeup:crown left of scar, [name removed] [date removed]" in set(table["view"])


def test_density_and_width_follow_from_the_exported_columns(table):
    rows = table.dropna(subset=["density_per_cm2", "mean_width_um"])
    assert len(rows) >= 3
    for row in rows.itertuples():
        assert row.density_per_cm2 == pytest.approx(row.hair_count / row.roi_area_mm2 * 100, rel=1e-9)
        assert row.mean_width_um == pytest.approx(row.mean_width_px / row.measured_px_per_mm * 1000, rel=1e-9)


def test_dates_the_code_the_name_and_contacts_written_in_event_markers_are_removed(table):
    a = table[table["subject_id"] == _expected_subject(CODE_A, KEY)]
    events = {e for cell in a["visit_events"] for e in json.loads(cell)}
    assert events == {
        "treatment started [date removed]",
        "[code removed] seen",
        "follow-up call with [name removed] ([phone removed], [email removed]); [name removed], A. agreed",
    }
    b_events = {e for cell in table["visit_events"] for e in json.loads(cell)} - events
    assert b_events == {"baseline"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("treatment started 2025-01-06", "treatment started [date removed]"),
        ("photo 2025:01:06 and 06.01.2025", "photo [date removed] and [date removed]"),
        ("from 1/6/25 to 12/31/2025", "from [date removed] to [date removed]"),
        ("seen 20250106", "seen [date removed]"),
        ("started 6 Jan 2025", "started [date removed]"),
        ("started January 6, 2025", "started [date removed]"),
        ("since March 2025", "since [date removed]"),
        ("dose 5 mg twice daily, 2 x 1.5 ml", "dose 5 mg twice daily, 2 x 1.5 ml"),
        ("switched to version 1.2.3", "switched to version 1.2.3"),
        ("KLM-0042 seen; KLM-00421 is another code", "[code removed] seen; KLM-00421 is another code"),
        ("call 555-123-4567 or (020) 7946 0958", "call [phone removed] or [phone removed]"),
        ("ring +33 1 23 45 67 89 today", "ring [phone removed] today"),
        ("wrote to a.b+c@clinic.example.org", "wrote to [email removed]"),
        ("visit 3 of 12, 250 hairs/cm2, 0.5 mm", "visit 3 of 12, 250 hairs/cm2, 0.5 mm"),
        ("Ann Example seen", "[name removed] seen"),
        (
            "seen by Dr Jones, then Mrs. Ann Lee; doctor's note",
            "seen by [name removed], then [name removed]; doctor's note",
        ),
        ("Dr. O'Neil-Smith agreed", "[name removed] agreed"),
        (
            "ANN  EXAMPLE seen; ann asked; Annex B; Examples; Example's note",
            "[name removed] seen; ann asked; Annex B; Examples; [name removed]'s note",
        ),
        ("Jose Example-Nunez called", "Jose [name removed]-Nunez called"),
        ("Dr Élodie Martin and Dr. de Vries; Dr.Lee", "[name removed] and [name removed]; [name removed]"),
        ("Dr PRP session 1, dr appointment", "Dr PRP session 1, dr appointment"),
        ("Augmentin 1000 mg; minoxidil 0.5-1.25 mg; dose 2 decreased 10%", "Augmentin 1000 mg; minoxidil "
         "0.5-1.25 mg; dose 2 decreased 10%"),
        ("seen 3/2025, 03/2025 and 2025-01", "seen [date removed], [date removed] and [date removed]"),
    ],
)
def test_redact_event(text, expected):
    assert redact_event(text, CODE_A, [NAME]) == expected


def test_without_names_a_name_stays_and_initials_always_do():
    assert redact_event("Ann Example seen", CODE_A) == "Ann Example seen"
    assert redact_event("A. Example seen by A. B.", CODE_A, ["A. Example"]) == "A. [name removed] seen by A. B."
    assert redact_event("Example seen by A. B.", CODE_A, ["A. Example"]) == "[name removed] seen by A. B."


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("An Le", "started an oral course; le matin"),
        ("Grace Long", "long hair cut short"),
        ("May Rose", "may rise, rose by 2"),
        ("Ali bin Salman", "bin day"),
    ],
)
def test_a_name_made_of_ordinary_words_leaves_them_where_they_are_not_a_name(name, text):
    assert redact_event(text, CODE_A, [name]) == text
    assert redact_event(f"{name} phoned", CODE_A, [name]) == "[name removed] phoned"


def test_a_name_typed_without_its_accents_is_taken_out():
    assert redact_event("Jose Nunez phoned; Núñez again", CODE_A, ["José Núñez"]) == (
        "[name removed] phoned; [name removed] again"
    )


def test_bad_keys_and_tables_are_refused_with_advice(identified, table):
    with pytest.raises(ValueError, match="at least 16"):
        deidentify(identified, key=b"short")
    with pytest.raises(ValueError, match=r"bytes.*export_key"):
        deidentify(identified, key="a text key of enough length")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="de-identified already"):
        deidentify(table, key=KEY)
    with pytest.raises(ValueError, match="measurement_table"):
        deidentify(identified.drop(columns=["visit_date"]), key=KEY)
    broken = identified.copy()
    broken["visit_date"] = "not a date"
    with pytest.raises(ValueError, match="visit_date.*dates"):
        deidentify(broken, key=KEY)


def test_empty_table(identified):
    empty = deidentify(identified.iloc[:0], key=KEY)
    assert len(empty) == 0 and tuple(empty.columns) == DEIDENTIFIED_COLUMNS
