"""Patients page (clinicians): list, search, create, open."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from _app_util import run_page

from app_pages.common import DATE_FORMAT

DATE_COLUMNS = ("Birth date", "Last visit")


def rows(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def test_lists_every_patient_with_visits(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    table = {r["Code"]: r for r in rows(at)}
    assert set(table) == {"P-A", "P-B"}
    assert table["P-A"]["Name"] == "Alice Example" and table["P-A"]["Visits"] == 3
    assert table["P-A"]["Birth date"] == dt.date(1980, 2, 3)
    assert table["P-A"]["Last visit"] == dt.date(2025, 7, 10)


def test_dates_are_dates_so_that_a_click_on_the_header_sorts_them_by_date(clinic, use_clinic):
    """Text would sort '15 Dec 2025' before '3 Feb 2026' (and '10 Jul 2025' before '3 Feb 1980')."""
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    proto = at.dataframe[0].proto
    schema = pa.ipc.open_stream(proto.arrow_data.data).schema
    assert [str(schema.field(c).type) for c in DATE_COLUMNS] == ["date32[day]"] * 2
    config = json.loads(proto.columns)
    for column in DATE_COLUMNS:  # shown as the app writes dates: "3 Feb 1980"
        assert config[column]["type_config"] == {"type": "date", "format": DATE_FORMAT}


def test_a_missing_birth_date_or_visit_is_said_in_words(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        store.add_patient("P-EMPTY")
    use_clinic(fresh_clinic)
    at = run_page("patients", "dr.test")
    empty = {r["Code"]: r for r in rows(at)}["P-EMPTY"]
    assert (empty["Birth date"], empty["Visits"], empty["Last visit"]) == (None, 0, None)
    # what a missing value shows: one placeholder for every column (Streamlit's), so words that
    # fit both; "not recorded" read as if a visit had taken place without its date being written down
    assert at.dataframe[0].proto.placeholder == "none recorded"


@pytest.mark.parametrize(("search", "codes"), [("alice", ["P-A"]), ("p-b", ["P-B"]), ("P-", ["P-A", "P-B"])])
def test_search_by_name_or_code(clinic, use_clinic, search, codes):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    at.text_input(key="patient_search").input(search).run()
    assert [r["Code"] for r in rows(at)] == codes


def test_search_without_match_says_so(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    at.text_input(key="patient_search").input("zzz").run()
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No patient's code or name contains 'zzz'."]


def test_add_a_patient(fresh_clinic, use_clinic):
    use_clinic(fresh_clinic)
    at = run_page("patients", "dr.test")
    at.text_input(key="new_code").input("P-NEW")
    at.text_input(key="new_name").input("Carol New")
    at.button(key="FormSubmitter:add_patient-Add patient").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Added patient P-NEW."]
    assert "P-NEW" in [r["Code"] for r in rows(at)]
    # the new patient is the one offered to open, not the one chosen before
    assert at.selectbox(key="open_code").value == "P-NEW"
    with fresh_clinic.open() as store:
        assert store.identity("P-NEW").name == "Carol New"
        assert store.audit_log(limit=1)[0].who == "dr.test"


def test_adding_a_patient_after_choosing_another_opens_the_new_one(fresh_clinic, use_clinic):
    use_clinic(fresh_clinic)
    at = run_page("patients", "dr.test")
    at.selectbox(key="open_code").select("P-B").run()
    at.text_input(key="new_code").input("P-NEW")
    at.button(key="FormSubmitter:add_patient-Add patient").click().run()
    assert at.selectbox(key="open_code").value == "P-NEW"
    at.button(key="open_app_pages/timeline.py").click().run()
    assert at.session_state["patient"] == "P-NEW"


def test_dates_are_typed_day_first_as_the_app_writes_them(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    assert at.date_input(key="new_birth").proto.format == "DD/MM/YYYY"


def test_a_birth_date_cannot_be_in_the_future(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    assert at.date_input(key="new_birth").max == dt.date.today()


def test_a_code_that_exists_gets_an_actionable_error(fresh_clinic, use_clinic):
    use_clinic(fresh_clinic)
    at = run_page("patients", "dr.test")
    at.text_input(key="new_code").input("P-A")
    at.button(key="FormSubmitter:add_patient-Add patient").click().run()
    assert [e.value for e in at.error] == ["a patient with code 'P-A' exists already; pick another code"]


def test_opening_a_patient_goes_to_their_timeline(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("patients", "dr.test")
    at.selectbox(key="open_code").select("P-B").run()
    at.button(key="open_app_pages/timeline.py").click().run()
    assert at.session_state["patient"] == "P-B"


@pytest.mark.parametrize("username", ["pat.a", "res.test"])
def test_not_for_patients_or_researchers(clinic, use_clinic, username):
    use_clinic(clinic)
    at = run_page("patients", username)
    assert not at.dataframe
    assert at.error[0].value.startswith("This page is not available")
