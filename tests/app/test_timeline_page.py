"""Timeline page (clinicians; patients for their own record)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyarrow as pa
import pytest
from _app_util import BANNED, DATES, all_text, charts, closeup_png, run_page

from tracker.store import NewPhoto, Store
from tracker.timeline import NOISE_NONE, NOISE_REPEATS, NOT_PLACED, PLACED
from tracker.wording import OBSERVED_ONLY

METRIC_TITLES = [
    "Coverage (%)",
    "Hair count (hairs)",
    "Density (hairs/cm²)",
    "Mean shaft width (px)",
    "Mean shaft width (µm)",
    "Thin hairs (%)",
]


def chart_titles(at) -> list[tuple[str, str]]:
    out = []
    for chart in charts(at):
        title = json.loads(chart.proto.spec)["title"]
        out.append((title["text"], " ".join(title["subtitle"])))
    return out


def test_one_chart_per_metric_each_with_the_observed_only_line(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    assert at.selectbox(key="timeline_patient").value == "P-A"
    titles = chart_titles(at)
    assert sorted(t for t, _ in titles) == sorted(METRIC_TITLES)
    assert all(subtitle == OBSERVED_ONLY for _, subtitle in titles)
    assert OBSERVED_ONLY in [c.value for c in at.caption]


def test_charts_are_laid_out_row_by_row_in_the_order_of_the_measures(clinic, use_clinic):
    """Two charts to a row, each row its own columns: on a phone, where columns stack,
    the charts come one below the other in the order of the measures."""
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    assert [t for t, _ in chart_titles(at)] == METRIC_TITLES  # the order they stack in
    blocks = [node for node in at.main.children.values() if hasattr(node, "children")]
    per_row = [[len(charts(column)) for column in row.children.values()] for row in blocks if charts(row)]
    assert per_row == [[1, 1]] * 3


def test_chart_points_are_the_stored_visit_means(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    chart = next(c for c in charts(at) if json.loads(c.proto.spec)["title"]["text"] == "Hair count (hairs)")
    # the layers' data, as Streamlit sends it (Arrow); the first dataset holds every visit
    values = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas().to_dict("records")
    with Store.open(clinic.location) as store:
        rows = store.timeline("P-A")
    by_visit: dict = {}
    for r in rows:
        by_visit.setdefault(r.visit_date, []).append(r.hair_count)
    expected = [sum(v) / len(v) for _, v in sorted(by_visit.items())]
    assert [d["value"] for d in values] == pytest.approx(expected)
    assert values[0]["change"] == "same as baseline"
    for d, mean in zip(values[1:], expected[1:], strict=True):
        side = "higher" if mean > expected[0] else "lower"
        assert f"{side} than baseline" in d["change"] or d["change"] == "same as baseline"


def test_values_table_has_noise_and_difference_from_baseline(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    table = at.dataframe[0].value
    counts = table[table["Measure"] == "Hair count (hairs)"]
    bands = list(counts["Noise band (± SD)"])
    # P-A's photos are of different (generated) scalps: no follow-up matches the baseline photo,
    # so each is marked, and their spread is no measurement noise to pool for the other visits
    assert list(counts["Region"]) == [PLACED, NOT_PLACED, NOT_PLACED]
    assert bands[0] == bands[2] == NOISE_NONE
    assert re.fullmatch(rf"± \d+\.\d \({NOISE_REPEATS}\)", bands[1]), bands  # hairs: one decimal more
    assert counts["Difference from baseline"].iloc[0] == "same as baseline"
    assert list(counts["Events"]) == ["baseline", "", ""]
    # the difference comes right after the value: a narrow screen cuts off the columns on the right
    columns = list(table.columns)
    assert columns[columns.index("Value") + 1] == "Difference from baseline"
    assert columns.index("Difference from baseline") < columns.index("Noise band (± SD)")


CHANGE = re.compile(r"([\d.]+) .+ (higher|lower) than baseline(?: \(([+-][\d.]+) %\))?")


def test_each_difference_in_the_values_table_follows_from_the_values_shown(clinic, use_clinic):
    """A reader who works out a difference from the Value column by hand finds what is written
    beside it, the % too ("2.9 -> 2.8" is -3.4 %, not the -5.6 % of the unrounded values)."""
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    table = at.dataframe[0].value
    checked = 0
    for _, rows in table.groupby("Measure", sort=False):
        base = rows["Value"].iloc[0]
        for value, change in zip(rows["Value"].iloc[1:], rows["Difference from baseline"].iloc[1:], strict=True):
            if value == base:
                assert change == "same as baseline"
                continue
            amount, side, pct = CHANGE.fullmatch(change).groups()
            assert float(amount) == pytest.approx(abs(value - base)) and side == ("higher" if value > base else "lower")
            if base == 0:  # no % of nothing
                assert pct is None, change
            else:
                assert float(pct) == pytest.approx((value - base) / base * 100, abs=0.05 + 1e-9), (value, base, change)
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize(("login", "advice"), [("dr.test", "Region of interest page"), ("pat.a", "Your clinic can")])
def test_values_not_matched_to_the_baseline_are_pointed_out_with_advice_for_the_role(clinic, use_clinic, login, advice):
    use_clinic(clinic)
    at = run_page("timeline", login, query={"patient": "P-A"})
    (warning,) = [w.value for w in at.warning if "circled in red" in w.value]
    assert advice in warning and BANNED.findall(warning) == []


def test_photo_strip_and_two_visits_compared(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    captions = [c for im in at.image for c in im.captions]
    assert captions[:3] == ["10 Jan 2025 (baseline)", "10 Apr 2025", "10 Jul 2025"]  # the strip
    assert at.selectbox(key="timeline_view").options == ["Close-up: vertex"]  # not "closeup:vertex"
    assert captions[3:] == ["10 Jan 2025 (baseline)", "10 Jul 2025"]  # side by side
    at.radio(key="compare_how").set_value("Slider").run()
    assert at.image[-1].captions == [
        "Left of the line: 10 Jan 2025 (baseline). Right of the line: 10 Jul 2025."
    ]
    assert at.slider(key="compare_split").value == 50


def test_two_visits_chosen_the_other_way_round_are_shown_in_date_order(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    earlier, later = at.selectbox(key="compare_a"), at.selectbox(key="compare_b")
    first_id, last_id = earlier.value, later.value
    earlier.set_value(last_id)
    later.set_value(first_id).run()
    assert [c for im in at.image for c in im.captions][3:] == ["10 Jan 2025 (baseline)", "10 Jul 2025"]
    assert "Shown in date order: the earlier of the two visits on the left." in [c.value for c in at.caption]
    at.radio(key="compare_how").set_value("Slider").run()
    assert at.image[-1].captions == [
        "Left of the line: 10 Jan 2025 (baseline). Right of the line: 10 Jul 2025."
    ]


def test_the_same_visit_on_both_sides_asks_for_two_visits(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    at.selectbox(key="compare_b").set_value(at.selectbox(key="compare_a").value).run()
    assert [i.value for i in at.info] == [
        "Both visits chosen are 10 Jan 2025 (baseline): choose two different visits to compare them."
    ]
    assert len(at.image) == 3  # the strip only, no photo twice
    assert at.caption[-1].value == OBSERVED_ONLY


def test_a_patient_sees_their_own_timeline_without_choosing(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "pat.a")
    assert "timeline_patient" not in [s.key for s in at.selectbox]
    assert "Your own record: patient P-A." in [c.value for c in at.caption]  # says whose record it is
    assert len(charts(at)) == 6


@pytest.mark.parametrize("asked", ["P-B", "P-NONE"])
def test_a_patient_asking_for_another_record_gets_nothing_of_it(clinic, use_clinic, asked):
    use_clinic(clinic)
    at = run_page("timeline", "pat.a", query={"patient": asked})
    assert [e.value for e in at.error] == ["Not available: this account can see only its own record."]
    assert not charts(at) and not at.image and not at.dataframe
    text = all_text(at)
    assert "b900.png" not in text and "Bob" not in text
    at.button(key="back").click().run()  # back to their own record
    assert not at.error and charts(at)


@pytest.mark.parametrize(("login", "advice"), [("dr.test", "tracker reanalyse"), ("pat.a", "Your clinic can")])
def test_values_of_different_algorithm_versions_are_flagged(fresh_clinic, use_clinic, login, advice):
    import sqlalchemy as sa

    from tracker.analysis import ALGORITHM_VERSION
    from tracker.store import models as m

    use_clinic(fresh_clinic)
    at = run_page("timeline", login, query={"patient": "P-A"})
    assert not any("versions of the analysis" in w.value for w in at.warning)  # one version: no warning
    with fresh_clinic.open() as store:
        first = store.photos(patient="P-A")[0].id
        with store.engine.begin() as conn:  # the baseline as an earlier release measured it
            conn.execute(sa.update(m.Measurement).where(m.Measurement.photo_id == first).values(algorithm_version="0.0.1"))
    at = run_page("timeline", login, query={"patient": "P-A"})
    (warning,) = [w.value for w in at.warning if "versions of the analysis" in w.value]
    assert f"(0.0.1, {ALGORITHM_VERSION})" in warning and advice in warning
    assert BANNED.findall(warning) == []


def test_not_for_researchers(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "res.test", query={"patient": "P-A"})
    assert not charts(at) and at.error[0].value.startswith("This page is not available")


def test_no_banned_words_on_the_page(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    text = all_text(at)
    assert OBSERVED_ONLY in text
    assert BANNED.findall(text) == []


@pytest.mark.parametrize(("login", "name_choice"), [("dr.test", True), ("pat.a", False)])
def test_report_button_for_clinicians_and_the_patient_name_only_for_clinicians(clinic, use_clinic, login, name_choice):
    use_clinic(clinic)
    at = run_page("timeline", login, query={"patient": "P-A"})
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["PDF report"]
    assert ("report_name" in [c.key for c in at.checkbox]) is name_choice
    if name_choice:  # the button says when the name will be on it
        at.checkbox(key="report_name").check().run()
        assert [b.proto.label for b in at.get("download_button")] == ["PDF report with name"]


def test_a_view_with_one_visit_offers_no_comparison(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-B"})
    assert [i.value for i in at.info] == [
        "One visit of this view so far: the comparison opens once a second visit has photos of it."
    ]
    assert not [s for s in at.selectbox if s.key in ("compare_a", "compare_b")]


def test_two_visits_on_one_date_are_told_apart_in_the_comparison(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        visit = store.add_visit("P-A", DATES[2])
        store.add_photos(visit.id, [NewPhoto("closeup:vertex", closeup_png(777), "again.png")])
    use_clinic(fresh_clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    later = at.selectbox(key="compare_b")
    assert later.value is not None
    assert [o for o in later.options if o.startswith("10 Jul 2025")] == [
        "10 Jul 2025 (visit 1 that day)",
        "10 Jul 2025 (visit 2 that day)",
    ]


def test_dates_under_photos_are_written_as_elsewhere_without_a_leading_zero(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        visit = store.add_visit("P-A", dt.date(2025, 9, 3))
        store.add_photos(visit.id, [NewPhoto("closeup:vertex", closeup_png(778), "early-in-month.png")])
    use_clinic(fresh_clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    captions = [c for im in at.image for c in im.captions]
    assert "3 Sep 2025" in captions  # the strip: as "3 Feb 2026" elsewhere
    assert not [c for c in captions if c.startswith("03 ")]
    assert "3 Sep 2025" in at.selectbox(key="compare_b").options


def test_the_view_picker_shows_view_names_and_keeps_the_stored_view(fresh_clinic, use_clinic):
    with fresh_clinic.open() as store:
        # a date of its own: the page caches its table by measurement and visit ids, and fresh
        # clinics of other tests have the same ids
        visit = store.add_visit("P-A", dt.date(2025, 8, 20))
        store.add_photos(visit.id, [NewPhoto("frontal_hairline", closeup_png(779), "front.png")])
    use_clinic(fresh_clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})
    picker = at.selectbox(key="timeline_view")
    assert sorted(picker.options) == ["Close-up: vertex", "Frontal hairline"]
    picker.select("frontal_hairline").run()
    assert at.selectbox(key="timeline_view").value == "frontal_hairline"
    assert not at.exception and [c for im in at.image for c in im.captions][0] == "20 Aug 2025"


NO_BAND = "No noise band on these charts: this view has no repeat photos at one visit yet; "


@pytest.mark.parametrize(
    ("login", "how"),
    [
        ("dr.test", "take 2-3 photos of this view at one visit to measure it."),
        ("pat.b", "it is measured once 2-3 photos of this view are taken at one visit."),
    ],
)
def test_a_view_without_repeat_photos_says_why_it_has_no_noise_band(clinic, use_clinic, login, how):
    use_clinic(clinic)
    at = run_page("timeline", login, query={"patient": "P-B"})
    assert charts(at)
    assert f"{NO_BAND}{how}" in [c.value for c in at.caption]
    assert BANNED.findall(NO_BAND + how) == []


def test_a_view_with_repeat_photos_does_not_say_it_has_no_noise_band(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("timeline", "dr.test", query={"patient": "P-A"})  # a repeat photo at the second visit
    assert not [c.value for c in at.caption if c.value.startswith("No noise band")]
