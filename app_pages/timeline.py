"""Timeline (clinicians; patients for their own): each measure across visits, and photos compared."""

import datetime as dt

import numpy as np
import streamlit as st

from app_pages.common import (
    DATE_FORMAT,
    choose_patient,
    photo_overlay,
    photo_thumbnail,
    require_access,
    user_errors,
)
from tracker.imaging.compare import thumbnail, wipe
from tracker.timeline import (
    LEFT_OUT,
    METRICS,
    UNSURE,
    algorithm_versions,
    date_text,
    describe_change,
    format_value,
    noise_text,
    timeline_chart,
    timeline_table,
    view_title,
)
from tracker.wording import OBSERVED_ONLY

STRIP_LENGTH = 8


@st.cache_resource(max_entries=64, show_spinner=False)
def timeline_table_cached(measurements: tuple, visit_events: tuple, _rows, _visits):
    """:func:`timeline_table`, built again only when a measurement or a visit changes."""
    return timeline_table(_rows, _visits)


@st.cache_resource(max_entries=256, show_spinner=False)
def chart_cached(data, metric: str):
    """:func:`timeline_chart` of one view's rows (kept per content of the rows)."""
    return timeline_chart(data, metric)


access = require_access("clinician", "patient")
st.title("Timeline")
with user_errors():
    patient = choose_patient(access, key="timeline_patient")
    if patient is None:
        st.stop()
    visits = access.visits(patient)
    rows = access.timeline(patient)
table = timeline_table_cached(
    tuple(r.measurement_id for r in rows), tuple((v.id, v.date, v.events) for v in visits), rows, visits
)
if table.empty:
    st.info("No measurements yet: record a visit with photos first.")
    st.stop()
with st.container(horizontal=True, vertical_alignment="bottom"):
    with_name = access.role == "clinician" and st.checkbox(
        "Name and birth date on the report", value=False, key="report_name",
        help="Without it the report carries the patient code only.",
    )
    st.download_button(
        # the label says what the file will hold, as the checkbox was when the page was drawn
        "PDF report with name" if with_name else "PDF report",
        # made when clicked (charts and overlays of every visit take a few seconds)
        data=lambda: access.report(patient, include_name=with_name),
        file_name=f"report-{patient}-{dt.date.today():%Y%m%d}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key="report_pdf",
        on_click="ignore",
    )
views = list(dict.fromkeys(table["view"]))
view = st.selectbox("View", views, format_func=view_title, key="timeline_view")
data = table[table["view"] == view]
st.caption(OBSERVED_ONLY)
if data["roi_placement"].isin(UNSURE).any():
    fix = (
        "Place the region by hand on those photos (Region of interest page)."
        if access.role == "clinician"
        else "Your clinic can place the region on those photos by hand."
    )
    st.warning(
        "Values circled in red come from photos that could not be matched to the baseline photo, or "
        f"only weakly: they may not show the same patch of scalp. {fix}"
    )
if (data["roi_placement"] == LEFT_OUT).any():
    st.caption(
        "At some visits, photos whose region was not registered to the baseline photo, or only weakly, "
        "were left out of the value and the noise band (the Region column says where)."
    )
versions = algorithm_versions(rows, view)
if len(versions) > 1:
    # a difference across an algorithm change is not only the scalp's
    again = (
        "Measure the older photos again with the current version (`tracker reanalyse` on the server) "
        "to compare like with like."
        if access.role == "clinician"
        else "Your clinic can measure them again with the current version."
    )
    st.warning(
        f"The values of this view were measured by different versions of the analysis ({', '.join(versions)}): "
        f"part of a difference between visits can come from that. {again}"
    )

metrics = [m for m in METRICS if m in set(data["metric"])]
# two charts to a row, each row its own columns: on a phone, where columns stack, the charts
# come one below the other in the order of the measures
for i in range(0, len(metrics), 2):
    for column, metric in zip(st.columns(2), metrics[i : i + 2], strict=False):
        column.altair_chart(chart_cached(data, metric), width="stretch")
if data["noise_sd"].isna().all():
    how = (
        "take 2-3 photos of this view at one visit to measure it."
        if access.role == "clinician"
        else "it is measured once 2-3 photos of this view are taken at one visit."
    )
    st.caption(f"No noise band on these charts: this view has no repeat photos at one visit yet; {how}")

with st.expander("Values and differences from baseline", expanded=False):
    st.dataframe(
        [
            {
                "Visit": r.visit_date,
                "Events": r.events,
                "Measure": f"{r.label} ({r.unit})",
                "Value": float(format_value(r.value, r.metric)),
                # right after the value: on a narrow screen the columns on the right are cut off
                "Difference from baseline": describe_change(r.value, r.baseline_value, r.metric),
                "Noise band (± SD)": noise_text(r.noise_sd, r.noise_source, r.metric),
                "Region": r.roi_placement,
            }
            for r in data.itertuples()
        ],
        hide_index=True,
        width="stretch",
        column_config={"Visit": st.column_config.DateColumn(format=DATE_FORMAT)},
    )
    st.caption(OBSERVED_ONLY)

# one photo of this view per visit (the first, when a visit has repeats)
photo_of_visit: dict[int, int] = {}
for row in rows:
    if row.view == view:
        photo_of_visit.setdefault(row.visit_id, row.photo_id)
view_visits = [v for v in visits if v.id in photo_of_visit]
# visits on the same date are told apart by their order that day
same_day = {v.id: sum(w.date == v.date for w in view_visits[: i + 1]) for i, v in enumerate(view_visits)}
label = {
    v.id: date_text(v.date)
    + (f" (visit {same_day[v.id]} that day)" if sum(w.date == v.date for w in view_visits) > 1 else "")
    + (f" ({', '.join(v.events)})" if v.events else "")
    for v in view_visits
}

st.subheader("Photos")
picks = np.unique(np.linspace(0, len(view_visits) - 1, min(STRIP_LENGTH, len(view_visits))).round().astype(int))
strip = st.columns(len(picks))
with user_errors():
    for column, k in zip(strip, picks, strict=True):
        v = view_visits[k]
        column.image(photo_thumbnail(access, photo_of_visit[v.id], max_side=240), caption=label[v.id])
if len(view_visits) > len(picks):
    st.caption(f"{len(picks)} of {len(view_visits)} visits shown, spread evenly; compare any two below.")

st.subheader("Compare two visits")
if len(view_visits) < 2:
    st.info("One visit of this view so far: the comparison opens once a second visit has photos of it.")
    st.caption(OBSERVED_ONLY)
    st.stop()
ids = [v.id for v in view_visits]
left_pick, right_pick, how_pick = st.columns(3)
first = left_pick.selectbox("Earlier visit", ids, index=0, format_func=label.get, key="compare_a")
second = right_pick.selectbox("Later visit", ids, index=len(ids) - 1, format_func=label.get, key="compare_b")
how = how_pick.radio("Show", ["Side by side", "Slider"], horizontal=True, key="compare_how")
# drawn before any stop below: a widget left out of a run forgets its choice
with_overlay = st.checkbox("Show the hair overlay (what was measured)", value=True, key="compare_overlay")
position = st.slider("Split", 0, 100, 50, format="%d%%", key="compare_split") if how == "Slider" else 50
if first == second:
    st.info(f"Both visits chosen are {label[first]}: choose two different visits to compare them.")
    st.caption(OBSERVED_ONLY)
    st.stop()
if ids.index(first) > ids.index(second):  # chosen the other way round: the earlier visit still goes left
    first, second = second, first
    st.caption("Shown in date order: the earlier of the two visits on the left.")
with user_errors():
    pictures = [
        photo_overlay(access, photo_of_visit[v]) if with_overlay else photo_thumbnail(access, photo_of_visit[v], max_side=1200)
        for v in (first, second)
    ]
if how == "Side by side":
    a, b = st.columns(2)
    a.image(pictures[0], caption=label[first], width="stretch")
    b.image(pictures[1], caption=label[second], width="stretch")
else:
    st.image(
        wipe(thumbnail(pictures[0], max_side=1200), pictures[1], position=position / 100),
        caption=f"Left of the line: {label[first]}. Right of the line: {label[second]}.",
        width="stretch",
    )
st.caption(OBSERVED_ONLY)
