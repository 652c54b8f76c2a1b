"""Export page (clinicians, researchers): CSV, Parquet and JSON downloads."""

from __future__ import annotations

import pytest
from _app_util import all_text, run_page

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
    assert downloads(at) == ["Download CSV", "Download PARQUET", "Download JSON", "Data dictionary"]


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


@pytest.mark.parametrize("username", ["pat.a"])
def test_not_for_patients(clinic, use_clinic, username):
    use_clinic(clinic)
    at = run_page("export", username)
    assert not at.dataframe and at.error[0].value.startswith("This page is not available")
