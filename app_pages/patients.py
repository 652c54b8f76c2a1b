"""Patients (clinicians): list, search, create, open."""

import datetime as dt

import streamlit as st

from app_pages.common import DATE_FORMAT, DATE_INPUT_FORMAT, flash, require_access, show_flash, user_errors

#: What the table shows for a birth date not recorded, or the last visit of a patient without
#: visits (Streamlit takes one placeholder for every column: the words fit both).
MISSING_DATE = "none recorded"

access = require_access("clinician")
st.title("Patients")
show_flash()

search = st.text_input("Search by code or name", key="patient_search")
with user_errors():
    patients = access.patients(search)
if patients:
    st.dataframe(
        [
            {
                "Code": p.code,
                "Name": p.name or "",
                # dates, not text: a click on the column's header sorts by date
                "Birth date": p.birth_date,
                "Visits": p.visits,
                "Last visit": p.last_visit,
            }
            for p in patients
        ],
        hide_index=True,
        width="stretch",
        column_config={
            column: st.column_config.DateColumn(format=DATE_FORMAT) for column in ("Birth date", "Last visit")
        },
        placeholder=MISSING_DATE,
    )
    codes = [p.code for p in patients]
    current = st.session_state.get("patient")
    # The selectbox's choice is set here, not by an index (the two together make Streamlit warn):
    if st.session_state.pop("open_added", False) and current in codes:
        # a patient was just added: the browser keeps a selectbox's choice unless it is set here
        st.session_state["open_code"] = current
    elif st.session_state.get("open_code") not in codes:  # first drawn, or the patient chosen is gone
        st.session_state["open_code"] = current if current in codes else codes[0]
    code = st.selectbox("Open patient", codes, key="open_code")
    left, middle, right = st.columns(3)
    for column, label, target in (
        (left, "Timeline", "app_pages/timeline.py"),
        (middle, "New visit", "app_pages/new_visit.py"),
        (right, "Region of interest", "app_pages/roi.py"),
    ):
        if column.button(label, key=f"open_{target}", width="stretch"):
            st.session_state["patient"] = code
            st.switch_page(target)
elif search:
    st.info(f"No patient's code or name contains {search!r}.")
else:
    st.info("No patients yet: add the first one below.")

st.subheader("Add a patient")
with st.form("add_patient", clear_on_submit=True):
    code = st.text_input(
        "Pseudonymous code (leave empty to generate one)",
        key="new_code",
        help="Letters, digits, '-', '_' or '.'; not the patient's name.",
    )
    name = st.text_input("Name (kept in the clinic's store, never exported)", key="new_name")
    birth = st.date_input(
        "Birth date (optional)",
        value=None,
        min_value=dt.date(1900, 1, 1),
        max_value=dt.date.today(),  # the date picker would offer ten years ahead
        key="new_birth",
        format=DATE_INPUT_FORMAT,
    )
    add = st.form_submit_button("Add patient")
if add:
    with user_errors():
        patient = access.add_patient(code.strip() or None, name=name.strip() or None, birth_date=birth)
    st.session_state["patient"] = patient.code
    st.session_state["open_added"] = True  # "Open patient" then offers the new patient
    flash(f"Added patient {patient.code}.")
    st.rerun()
