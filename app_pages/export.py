"""Export (clinicians, researchers): measurements as CSV, Parquet or JSON.

A researcher's download is always de-identified; the library refuses them the
identified table.
"""

import datetime as dt

import streamlit as st

from app_pages.common import require_access, user_errors
from tracker.export import data_dictionary, table_bytes

MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json"}
NAMES = {"csv": "CSV", "parquet": "Parquet", "json": "JSON"}
#: Rows shown on the page; the downloads hold every row.
PREVIEW_ROWS = 50

access = require_access("clinician", "researcher")
st.title("Export measurements")
if access.role == "clinician":
    kind = st.radio(
        "Table",
        ["De-identified (for research)", "Identified by patient code (for the clinic's records)"],
        key="export_kind",
    )
    deidentified = kind.startswith("De-identified")
else:
    deidentified = True
    st.write(
        "Research exports are de-identified: pseudonymous subject IDs, days since baseline, no names, "
        "birth dates or photo metadata. Event markers are free text: the patient's recorded name and "
        "code, names after a title (Dr Lee), dates written with digits or a month's name, e-mail "
        "addresses and phone numbers are taken out of them, but other details typed into a marker are not."
    )

with st.spinner("Collecting the measurements ..."), user_errors():
    table = access.export_table(deidentified=deidentified)
if table.empty:
    st.info("No measurements to export yet: they appear here once visits with photos are recorded.")
    st.stop()
st.write(f"{len(table)} measurement{'s' if len(table) != 1 else ''}, one per photo (the newest analysis of each).")
st.dataframe(table.head(PREVIEW_ROWS), hide_index=True, width="stretch")
if len(table) > PREVIEW_ROWS:
    st.caption(f"The first {PREVIEW_ROWS} rows are shown here; the downloads hold all {len(table)}.")
stem = f"measurements-{'deidentified' if deidentified else 'identified'}-{dt.date.today():%Y%m%d}"
columns = st.columns(4)
for column, fmt in zip(columns, ("csv", "parquet", "json"), strict=False):
    column.download_button(
        f"Download {NAMES[fmt]}",
        data=table_bytes(table, fmt),
        file_name=f"{stem}.{fmt}",
        mime=MIME[fmt],
        key=f"download_{fmt}",
        width="stretch",
    )
columns[3].download_button(
    "Data dictionary",
    data=data_dictionary(deidentified=deidentified),
    file_name=f"{stem}.dictionary.csv",
    mime="text/csv",
    key="download_dictionary",
    width="stretch",
)
