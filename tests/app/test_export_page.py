"""Export page (clinicians, researchers): CSV, Parquet and JSON downloads."""

from __future__ import annotations

import datetime as dt

import pytest
from _app_util import Clinic, all_text, closeup_png, run_page

from tracker.store import NewPhoto, Store

IDENTIFIED = "Identified by patient code (for the clinic's records)"


def downloads(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_a_researcher_gets_de_identified_measurements_only(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("export", "res.test")
    assert not at.radio  # no choice of table
    table = at.dataframe[0].value
    assert "subject_id" in table.columns and "patient_code" not in table.columns
    assert len(table) == 5  # one row per photo: P-A 4, P-B 1
    text = all_text(at)
    for secret in ("P-A", "P-B", "Alice", "Bob", "2025-01-10"):
        assert secret not in text
    assert downloads(at) == ["Download CSV", "Download Parquet", "Download JSON", "Data dictionary"]


def test_a_clinician_may_choose_the_identified_table(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("export", "dr.test")
    assert at.radio(key="export_kind").value.startswith("De-identified")
    assert "patient_code" not in at.dataframe[0].value.columns
    at.radio(key="export_kind").set_value(IDENTIFIED).run()
    table = at.dataframe[0].value
    assert sorted(set(table["patient_code"])) == ["P-A", "P-B"]
    assert "Alice" not in all_text(at)  # names never leave the store
    assert len(downloads(at)) == 4


def test_a_long_table_says_that_the_page_shows_its_first_rows_only(fresh_clinic, use_clinic):
    with Store.open(fresh_clinic.location, user="test") as store:
        visit = store.add_visit("P-B", dt.date(2025, 2, 1))
        photos = [NewPhoto("closeup:vertex", closeup_png(3000 + i, (96, 128)), f"x{i}.png") for i in range(50)]
        store.add_photos(visit.id, photos)
    use_clinic(fresh_clinic)
    at = run_page("export", "res.test")
    assert at.markdown[0].value.startswith("Research exports are de-identified")
    assert [m.value for m in at.markdown][1] == "55 measurements, one per photo (the newest analysis of each)."
    assert len(at.dataframe[0].value) == 50
    assert [c.value for c in at.caption] == ["The first 50 rows are shown here; the downloads hold all 55."]


def test_an_empty_store_says_there_is_nothing_to_export_yet(tmp_path, use_clinic):
    with Store.open(tmp_path / "empty", user="test") as store:
        store.add_account("res.test", "researcher-pass", "researcher")
    use_clinic(Clinic(tmp_path / "empty"))
    at = run_page("export", "res.test")
    assert [i.value for i in at.info] == [
        "No measurements to export yet: they appear here once visits with photos are recorded."
    ]
    assert not at.dataframe and not at.get("download_button")


@pytest.mark.parametrize("username", ["pat.a"])
def test_not_for_patients(clinic, use_clinic, username):
    use_clinic(clinic)
    at = run_page("export", username)
    assert not at.dataframe and at.error[0].value.startswith("This page is not available")
