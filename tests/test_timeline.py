"""tracker.timeline: per-visit values, noise bands, change from baseline, chart.

Rows are built by hand, so every expected figure below is worked out from the
inputs written here (see the comments), not read back from the code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tracker.repeatability import visit_noise
from tracker.store import MeasurementRow, VisitInfo
from tracker.imaging.register import RETRY_HINT
from tracker.timeline import (
    COLUMNS,
    METRICS,
    NOISE_NONE,
    NOISE_POOLED,
    NOISE_REPEATS,
    LEFT_OUT,
    NOT_PLACED,
    PLACED,
    PLACED_BY_HAND,
    WEAKLY_PLACED,
    ROI_SOURCE_WORDS,
    algorithm_versions,
    describe_change,
    describe_placement,
    format_value,
    timeline_chart,
    timeline_table,
)
from tracker.wording import BANNED_WORDS, OBSERVED_ONLY

D1, D2, D3 = dt.date(2025, 1, 6), dt.date(2025, 4, 1), dt.date(2025, 7, 1)
_ids = iter(range(1, 10_000))


def mrow(visit_id: int, date: dt.date, view: str, **metrics) -> MeasurementRow:
    """A measurement row of one photo; metrics not given are None (not measured)."""
    values = dict.fromkeys(METRICS)
    values.update(metrics)
    n = next(_ids)
    return MeasurementRow(
        measurement_id=n,
        photo_id=n,
        visit_id=visit_id,
        visit_date=date,
        view=view,
        sha256=f"{n:064x}",
        roi_id=None,
        roi=(0, 0, 100, 100),
        mode="closeup",
        quality_status="pass",
        quality={},
        px_per_mm=None,
        scale_source="none",
        algorithm_version="test",
        parameters={},
        created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        **values,
    )


VISITS = [
    VisitInfo(1, 1, D1, "", ("treatment started",)),
    VisitInfo(2, 1, D2, "notes are not events", ()),
    VisitInfo(3, 1, D3, "", ("photo card B", "new camera")),
]

# vertex coverage: visit 1 repeats 10, 12; visit 2 one photo 13; visit 3 repeats 9, 10, 14
# vertex hair count: visit 1: 20, 24; visit 2: 18; visit 3: 21, (not measured), 27
# crown coverage: one photo at visits 1 and 3 only (no repeats anywhere)
ROWS = [
    mrow(3, D3, "vertex", coverage_pct=9.0, hair_count=21),
    mrow(1, D1, "vertex", coverage_pct=10.0, hair_count=20),
    mrow(2, D2, "vertex", coverage_pct=13.0, hair_count=18),
    mrow(1, D1, "vertex", coverage_pct=12.0, hair_count=24),
    mrow(3, D3, "vertex", coverage_pct=10.0, hair_count=None),
    mrow(3, D3, "vertex", coverage_pct=14.0, hair_count=27),
    mrow(1, D1, "crown", coverage_pct=40.0),
    mrow(3, D3, "crown", coverage_pct=44.0),
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return timeline_table(ROWS, VISITS)


def _series(table: pd.DataFrame, view: str, metric: str) -> pd.DataFrame:
    return table[(table["view"] == view) & (table["metric"] == metric)].reset_index(drop=True)


# ---------------------------------------------------------------------- table
def test_table_has_one_row_per_view_visit_and_measured_metric(table):
    assert list(table.columns) == COLUMNS
    keys = sorted(zip(table["view"], table["metric"], table["visit_id"], strict=True))
    assert keys == [
        ("crown", "coverage_pct", 1),
        ("crown", "coverage_pct", 3),
        ("vertex", "coverage_pct", 1),
        ("vertex", "coverage_pct", 2),
        ("vertex", "coverage_pct", 3),
        ("vertex", "hair_count", 1),
        ("vertex", "hair_count", 2),
        ("vertex", "hair_count", 3),
    ]  # metrics never measured (density, widths, thin share) get no rows


def test_values_are_visit_means_and_noise_is_the_sd_of_repeats(table):
    cov = _series(table, "vertex", "coverage_pct")
    assert list(cov["visit_date"]) == [D1, D2, D3]  # oldest first
    assert list(cov["n_photos"]) == [2, 1, 3]
    np.testing.assert_allclose(cov["value"], [11.0, 13.0, 11.0])
    # visit 1: (10, 12) -> SD sqrt(2); visit 3: (9, 10, 14), deviations -2, -1, 3 -> SD sqrt(14 / 2)
    # visit 2 has one photo: pooled SD sqrt((1 * 2 + 2 * 7) / (1 + 2)) = sqrt(16 / 3)
    np.testing.assert_allclose(cov["noise_sd"], [math.sqrt(2), math.sqrt(16 / 3), math.sqrt(7)])
    assert list(cov["noise_source"]) == [NOISE_REPEATS, NOISE_POOLED, NOISE_REPEATS]


def test_not_measured_photos_do_not_count(table):
    hairs = _series(table, "vertex", "hair_count")
    assert list(hairs["n_photos"]) == [2, 1, 2]  # the photo without a count is left out
    np.testing.assert_allclose(hairs["value"], [22.0, 18.0, 24.0])
    # visit 1: (20, 24) -> SD sqrt(8); visit 3: (21, 27) -> SD sqrt(18); pooled sqrt((8 + 18) / 2)
    np.testing.assert_allclose(hairs["noise_sd"], [math.sqrt(8), math.sqrt(13), math.sqrt(18)])
    assert hairs["label"].unique().tolist() == ["Hair count"]
    assert hairs["unit"].unique().tolist() == ["hairs"]


def test_pooled_sd_is_not_taken_from_another_view(table):
    crown = _series(table, "crown", "coverage_pct")
    assert list(crown["n_photos"]) == [1, 1]
    assert crown["noise_sd"].isna().all()
    assert list(crown["noise_source"]) == [NOISE_NONE, NOISE_NONE]


def test_baseline_value_is_the_first_visits(table):
    cov = _series(table, "vertex", "coverage_pct")
    assert cov["baseline_value"].tolist() == [11.0] * 3  # mean of 10 and 12
    hairs = _series(table, "vertex", "hair_count")
    assert hairs["baseline_value"].tolist() == [22.0] * 3  # mean of 20 and 24
    crown = _series(table, "crown", "coverage_pct")
    assert crown["baseline_value"].tolist() == [40.0, 40.0]


def test_baseline_is_the_first_visit_of_each_view():
    """A view first photographed later has its own, later baseline."""
    rows = [
        mrow(1, D1, "vertex", coverage_pct=10.0),
        mrow(2, D2, "crown", coverage_pct=30.0),
        mrow(3, D3, "crown", coverage_pct=33.0),
        mrow(3, D3, "vertex", coverage_pct=12.0),
    ]
    table = timeline_table(rows, VISITS)
    crown = _series(table, "crown", "coverage_pct")
    assert crown["baseline_value"].tolist() == [30.0, 30.0]
    vertex = _series(table, "vertex", "coverage_pct")
    assert vertex["baseline_value"].tolist() == [10.0, 10.0]


def test_events_are_mapped_to_their_visits(table):
    cov = _series(table, "vertex", "coverage_pct")
    assert cov["events"].tolist() == ["treatment started", "", "photo card B, new camera"]
    unknown = timeline_table([mrow(99, D1, "vertex", coverage_pct=1.0)], VISITS)
    assert unknown["events"].tolist() == [""]


def test_inputs_are_not_reordered_or_changed():
    rows = list(ROWS)
    timeline_table(rows, VISITS)
    assert rows == ROWS


def test_empty_table_has_the_columns():
    for rows in ([], [mrow(1, D1, "vertex")]):  # nothing measured at all
        empty = timeline_table(rows, VISITS)
        assert list(empty.columns) == COLUMNS and len(empty) == 0


# ---------------------------------------------------------------------- words
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((13.0, 11.0, "coverage_pct"), "2.0 percentage points higher than baseline (+18.2 %)"),
        ((18.0, 22.0, "hair_count"), "4 hairs lower than baseline (-18.2 %)"),
        ((262.6, 250.0, "density_per_cm2"), "13 hairs/cm² higher than baseline (+5.2 %)"),  # 263 and 250
        ((52.24, 52.5, "mean_width_px"), "0.3 px lower than baseline (-0.6 %)"),  # 52.2 and 52.5
        ((5.0, 0.0, "hair_count"), "5 hairs higher than baseline"),
        ((11.0, 11.0, "thin_hair_pct"), "same as baseline"),
        ((11.04, 11.0, "coverage_pct"), "same as baseline"),  # below the shown precision
        # the words follow the values as shown beside them (the report's and the app's)
        ((70.1, 69.9, "mean_width_um"), "same as baseline"),  # 70 and 70
        ((70.6, 69.9, "mean_width_um"), "1 µm higher than baseline (+1.4 %)"),  # 71 and 70
        ((17.54, 17.46, "mean_width_px"), "same as baseline"),  # 17.5 and 17.5
        ((14.26, 14.74, "coverage_pct"), "0.4 percentage points lower than baseline (-2.7 %)"),  # 14.3, 14.7
        ((2.78, 2.94, "coverage_pct"), "0.1 percentage points lower than baseline (-3.4 %)"),  # 2.8, 2.9
        ((1.0, 0.04, "coverage_pct"), "1.0 percentage points higher than baseline"),  # baseline shown as 0.0
        ((34.5, 34.0, "hair_count"), "0.5 hairs higher than baseline (+1.5 %)"),  # a mean of two photos
    ],
)
def test_describe_change(args, expected):
    assert describe_change(*args) == expected


_CHANGE = re.compile(r"([\d.]+) (.+) (higher|lower) than baseline(?: \(([+-][\d.]+) %\))?")


@pytest.mark.parametrize("metric", list(METRICS))
def test_a_change_agrees_with_the_values_as_shown(metric):
    """The difference and the % follow from the two values as shown beside them
    ("2.9 -> 2.8, -3.4 %"), never from the unrounded ones ("2.9 -> 2.8, -5.6 %")."""
    rng = np.random.default_rng(7)
    pairs = np.concatenate([rng.uniform(0.0, top, (200, 2)) for top in (4.0, 60.0, 300.0)])
    for value, baseline in pairs:
        text = describe_change(value, baseline, metric)
        shown_value, shown_base = float(format_value(value, metric)), float(format_value(baseline, metric))
        if text == "same as baseline":
            assert shown_value == shown_base
            continue
        amount, _, side, pct = _CHANGE.fullmatch(text).groups()
        difference = shown_value - shown_base
        assert float(amount) == pytest.approx(abs(difference), abs=1e-9), text
        assert side == ("higher" if difference > 0 else "lower")
        if shown_base == 0:
            assert pct is None, text
        else:
            # to the 0.1 % shown (a half way case, 0.3 of 1.6, may go either way)
            assert float(pct) == pytest.approx(difference / shown_base * 100, abs=0.05 + 1e-9), text


def _banned_in(text: str) -> list[str]:
    low = text.lower()
    return [w for w in BANNED_WORDS if w in low]


def test_change_descriptions_use_no_banned_words(table):
    texts = [
        describe_change(v, b, metric)
        for metric in METRICS
        for v, b in [(33.0, 30.0), (27.0, 30.0), (30.0, 30.0), (1.0, 0.0), (2.5, 252.5)]
    ]
    texts += [
        describe_change(v, b, metric)
        for v, b, metric in zip(table["value"], table["baseline_value"], table["metric"], strict=True)
    ]
    for text in texts:
        assert _banned_in(text) == [], text
        assert "higher than baseline" in text or "lower than baseline" in text or (
            text == "same as baseline"
        )


# ---------------------------------------------------------------------- chart
def _chart_dict(table: pd.DataFrame, view: str, metric: str) -> dict:
    return timeline_chart(table[table["view"] == view], metric).to_dict()


_FILTER = re.compile(r"""\(?\s*datum\.(\w+)\s*(!==|===|!=|==)\s*(['"])(.*?)\3\s*\)?""")


def _passes(expression: str, row: dict) -> bool:
    """Evaluate a Vega filter of the form ``(datum.field !== 'text')`` on one row."""
    match = _FILTER.fullmatch(expression.strip())
    if match is None:
        raise NotImplementedError(f"this test cannot evaluate the filter {expression!r}")
    field, operator, _, text = match.groups()
    return (row[field] == text) == operator.startswith("=")


def _layer_data(spec: dict, layer: dict) -> list[dict]:
    """The rows a layer draws: its own data or the chart's, after its filters."""
    source = layer.get("data", spec.get("data"))
    rows = spec["datasets"][source["name"]]
    for step in layer.get("transform", []):
        test = step.get("filter") if set(step) == {"filter"} else None
        if isinstance(test, str):
            rows = [r for r in rows if _passes(test, r)]
        elif isinstance(test, dict) and set(test) == {"field", "oneOf"}:
            rows = [r for r in rows if r[test["field"]] in test["oneOf"]]
        else:
            raise NotImplementedError(f"this test cannot apply the transform {step!r}")
    return rows


def test_chart_title_carries_the_observed_only_line(table):
    spec = _chart_dict(table, "vertex", "coverage_pct")
    assert spec["title"]["text"] == "Coverage (%)"
    assert " ".join(spec["title"]["subtitle"]) == OBSERVED_ONLY


def test_chart_layers_band_line_baseline_and_events(table):
    spec = _chart_dict(table, "vertex", "coverage_pct")
    band, line, baseline, events, event_text, unplaced = spec["layer"]
    assert unplaced["mark"]["type"] == "point" and _layer_data(spec, unplaced) == []  # every region placed

    assert band["mark"]["type"] == "rule"
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("low", "high")
    points = _layer_data(spec, band)
    np.testing.assert_allclose(
        [p["high"] - p["low"] for p in points],
        [2 * math.sqrt(2), 2 * math.sqrt(16 / 3), 2 * math.sqrt(7)],
    )  # plus and minus one noise SD

    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["field"] == "value"
    assert [p["value"] for p in _layer_data(spec, line)] == [11.0, 13.0, 11.0]
    tooltip = {t["title"]: t["field"] for t in line["encoding"]["tooltip"]}
    assert tooltip["Difference from baseline"] == "change"
    assert [p["change"] for p in _layer_data(spec, line)] == [
        "same as baseline",
        "2.0 percentage points higher than baseline (+18.2 %)",
        "same as baseline",
    ]
    assert [p["noise"].split(" (")[1] for p in _layer_data(spec, line)] == [
        NOISE_REPEATS + ")",
        NOISE_POOLED + ")",
        NOISE_REPEATS + ")",
    ]

    assert baseline["mark"]["type"] == "rule" and baseline["mark"]["strokeDash"]
    assert baseline["encoding"]["y"]["field"] == "baseline_value"
    assert baseline["encoding"]["y"].get("aggregate") in (None, "mean", "min", "max", "median")
    assert {p["baseline_value"] for p in _layer_data(spec, baseline)} == {11.0}  # one level

    assert events["mark"]["type"] == "rule" and events["encoding"]["x"]["field"] == "date"
    assert event_text["mark"]["type"] == "text"
    assert event_text["encoding"]["text"]["field"] == "events"
    marked = [(p["date"][:10], p["events"]) for p in _layer_data(spec, events)]
    assert marked == [("2025-01-06", "treatment started"), ("2025-07-01", "photo card B, new camera")]
    assert _layer_data(spec, event_text) == _layer_data(spec, events)


def test_every_chart_of_a_view_spans_all_its_visits():
    rows = [
        mrow(1, D1, "vertex", coverage_pct=10.0, hair_count=35),
        mrow(2, D2, "vertex", coverage_pct=11.0),  # no count at the second visit
        mrow(3, D3, "vertex", coverage_pct=12.0, hair_count=36),
    ]
    table = timeline_table(rows, VISITS)
    domains = []
    for metric in ("coverage_pct", "hair_count"):
        spec = timeline_chart(table, metric).to_dict()
        line = spec["layer"][1]
        domains.append(line["encoding"]["x"]["scale"]["domain"])
    assert domains[0] == domains[1] and domains[0][0][:10] == "2025-01-06" and domains[0][1][:10] == "2025-07-01"


def test_time_axis_ticks_are_the_visit_dates_as_vega_lite_datetimes():
    # plain numbers (ms since 1970) draw no tick in the browser's Vega-Lite: each visit's
    # tick is a DateTime, read in the viewer's local time as the chart's dates are
    rows = [mrow(1, D1, "vertex", coverage_pct=10.0), mrow(3, D3, "vertex", coverage_pct=12.0)]
    spec = timeline_chart(timeline_table(rows, VISITS), "coverage_pct").to_dict()
    axis = spec["layer"][1]["encoding"]["x"]["axis"]
    assert axis["values"] == [{"year": d.year, "month": d.month, "date": d.day} for d in (D1, D3)]
    assert axis["format"] == "%-d %b %Y" and spec["layer"][1]["encoding"]["x"]["title"] == "Visit date"


def test_chart_of_a_view_without_repeats_says_noise_not_measured(table):
    spec = _chart_dict(table, "crown", "coverage_pct")
    line = spec["layer"][1]
    assert [p["noise"] for p in _layer_data(spec, line)] == [NOISE_NONE, NOISE_NONE]
    assert [p["change"] for p in _layer_data(spec, line)] == [
        "same as baseline",
        "4.0 percentage points higher than baseline (+10.0 %)",
    ]


@pytest.mark.parametrize("metric", list(METRICS))
def test_chart_text_has_no_banned_words(metric):
    rows = [
        mrow(1, D1, "vertex", **{metric: 10.0}),
        mrow(1, D1, "vertex", **{metric: 12.0}),
        mrow(2, D2, "vertex", **{metric: 8.0}),
        mrow(3, D3, "vertex", **{metric: 15.0}),
    ]
    spec = timeline_chart(timeline_table(rows, VISITS), metric).to_dict()
    text = json.dumps(spec, ensure_ascii=False)
    assert _banned_in(text) == []
    label, unit, _ = METRICS[metric]
    assert spec["title"]["text"] == f"{label} ({unit})"
    changes = [p["change"] for p in _layer_data(spec, spec["layer"][1])]
    assert "lower than baseline" in changes[1] and "higher than baseline" in changes[2]


def test_chart_refuses_an_unknown_metric_or_several_views(table):
    with pytest.raises(ValueError, match="metric must be one of coverage_pct"):
        timeline_chart(table, "density")
    with pytest.raises(ValueError, match="one view; filter the table"):
        timeline_chart(table, "coverage_pct")  # vertex and crown
    # one view of the two: fine
    assert len(timeline_chart(table[table["view"] == "crown"], "coverage_pct").to_dict()["layer"]) == 6


def test_values_whose_region_was_not_registered_are_marked():
    rows = [
        mrow(1, D1, "vertex", coverage_pct=10.0),
        mrow(2, D2, "vertex", coverage_pct=12.0),
        mrow(2, D2, "vertex", coverage_pct=13.0),
        mrow(3, D3, "vertex", coverage_pct=30.0),
    ]
    rows[2] = dataclasses.replace(rows[2], roi_source="registered", registration_score=0.9)
    rows[3] = dataclasses.replace(rows[3], roi_source="unregistered")
    table = timeline_table(rows, VISITS)
    assert list(table["roi_placement"]) == [PLACED, PLACED, NOT_PLACED]
    assert list(table["unregistered_photos"]) == [0, 0, 1]
    # the noise band is tracker.repeatability's visit noise
    assert table["noise_sd"].iloc[1] == pytest.approx(visit_noise([12.0, 13.0]).sd)
    spec = timeline_chart(table, "coverage_pct").to_dict()
    unplaced = spec["layer"][-1]
    marked = [p["value"] for p in _layer_data(spec, unplaced)]
    assert marked == [30.0]


def test_photos_not_surely_on_the_baseline_region_are_left_out_of_a_visit_that_has_others():
    rows = [
        mrow(1, D1, "vertex", coverage_pct=10.0),  # the baseline photo ('whole_photo': no ROI set)
        mrow(1, D1, "vertex", coverage_pct=11.0),
        mrow(2, D2, "vertex", coverage_pct=12.0),
        mrow(2, D2, "vertex", coverage_pct=13.0),
        mrow(2, D2, "vertex", coverage_pct=40.0),  # the whole photo: not registered
        mrow(2, D2, "vertex", coverage_pct=2.0),  # weakly registered: the region half off the photo
        mrow(3, D3, "vertex", coverage_pct=30.0),  # weak only: kept, marked
    ]
    rows[3] = dataclasses.replace(rows[3], roi_source="manual")
    rows[4] = dataclasses.replace(rows[4], roi_source="unregistered")
    rows[5] = dataclasses.replace(rows[5], roi_source="registered", registration_score=0.3)
    rows[6] = dataclasses.replace(rows[6], roi_source="registered", registration_score=0.2)
    table = timeline_table(rows, VISITS)
    assert list(table["value"]) == [10.5, 12.5, 30.0]
    assert list(table["n_photos"]) == [2, 2, 1]
    assert list(table["roi_placement"]) == [PLACED, LEFT_OUT, WEAKLY_PLACED]
    assert list(table["unregistered_photos"]) == [0, 2, 1]
    # noise from the photos kept only, at the visit and pooled
    assert table["noise_sd"].iloc[1] == pytest.approx(visit_noise([12.0, 13.0]).sd)
    assert table["noise_sd"].iloc[2] == pytest.approx(math.sqrt((0.5 + 0.5) / 2))
    spec = timeline_chart(table, "coverage_pct").to_dict()
    assert [p["value"] for p in _layer_data(spec, spec["layer"][-1])] == [30.0]  # the weak one is ringed


def test_whole_photos_that_could_not_be_registered_are_not_called_the_same_region():
    """A view without a region compares whole photos: a follow-up of another patch of
    scalp (its registration failed or is weak) is marked, never 'same region'."""
    rows = [
        mrow(1, D1, "vertex", coverage_pct=10.0),  # the baseline: no registration
        mrow(2, D2, "vertex", coverage_pct=11.0),
        mrow(3, D3, "vertex", coverage_pct=30.0),
    ]
    placed = {"placement": {"baseline_roi": None, "registration_ok": True, "registration_score": 0.9}}
    failed = {"placement": {"baseline_roi": None, "registration_ok": False, "registration_score": 0.007}}
    rows[1] = dataclasses.replace(rows[1], registration_score=0.9, parameters=placed)
    rows[2] = dataclasses.replace(rows[2], registration_score=0.007, parameters=failed)
    table = timeline_table(rows, VISITS)
    assert list(table["roi_placement"]) == [PLACED, PLACED, NOT_PLACED]
    spec = timeline_chart(table, "coverage_pct").to_dict()
    assert [p["value"] for p in _layer_data(spec, spec["layer"][-1])] == [30.0]  # ringed


def test_a_value_from_a_region_placed_by_hand_says_so():
    rows = [mrow(1, D1, "vertex", coverage_pct=10.0), mrow(2, D2, "vertex", coverage_pct=11.0)]
    rows[1] = dataclasses.replace(rows[1], roi_source="manual")
    assert list(timeline_table(rows, VISITS)["roi_placement"]) == [PLACED, PLACED_BY_HAND]


def test_placement_words():
    assert describe_placement("registered", 0.9)[0] == "ok"
    assert describe_placement("registered", 0.1)[0] == "weak"
    level, words = describe_placement("unregistered", 0.0, "too few matching features")
    assert level == "failed" and "by hand" in words and "too few matching features" in words
    assert "(Region of interest page)" in words
    assert "(below)" in describe_placement("unregistered", 0.0, where="below")[1]
    # the registration's own advice is not repeated after the page's
    stored = "only 6 details line up with the baseline, at least 25 are needed; " + RETRY_HINT
    words = describe_placement("unregistered", 0.0, stored)[1]
    assert words.endswith("Why: only 6 details line up with the baseline, at least 25 are needed.")
    assert words.count("by hand") == 1 and "ROI" not in words
    text = " ".join(
        [*ROI_SOURCE_WORDS.values(), *(w for s in ROI_SOURCE_WORDS for w in describe_placement(s, 0.5, "why"))]
    )
    assert not re.search(r"\b(" + "|".join(BANNED_WORDS) + r")\b", text, re.IGNORECASE)


def test_algorithm_versions_are_in_version_order_per_view():
    rows = [
        SimpleNamespace(algorithm_version=v, view=view)
        for v, view in (("0.10.0", "crown"), ("0.9.0", "crown"), ("0.0.1", "vertex"), ("0.10.0", "vertex"))
    ]
    # as strings 0.10.0 sorts before 0.9.0, and a report would list the newer first
    assert algorithm_versions(rows) == ["0.0.1", "0.9.0", "0.10.0"]
    assert algorithm_versions(rows, "crown") == ["0.9.0", "0.10.0"]
    assert algorithm_versions(rows, "none") == []


def _svg(chart) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.properties(width=400, height=200).to_json())


def test_rendered_axes_never_repeat_a_label_and_each_visit_has_its_date_label():
    visits = [VisitInfo(1, 1, D1, "", ()), VisitInfo(2, 1, D2, "", ()), VisitInfo(3, 1, D3, "", ())]
    rows = [
        mrow(1, D1, "vertex", hair_count=35, coverage_pct=14.81),
        mrow(2, D2, "vertex", hair_count=36, coverage_pct=14.86),
        mrow(3, D3, "vertex", hair_count=36, coverage_pct=14.84),
    ]
    table = timeline_table(rows, visits)
    for metric in ("hair_count", "coverage_pct"):
        svg = _svg(timeline_chart(table, metric))
        labels = re.findall(r'aria-label="Y-axis[^"]*values? (?:from|of)?[^"]*"', svg)
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        numbers = [t for t in texts if re.fullmatch(r"[\d,]+(\.\d+)?", t)]
        assert numbers and len(numbers) == len(set(numbers)), (metric, numbers, labels)
        # a tick at each visit, labelled with its date: no visit is read under another month
        assert [t for t in texts if re.fullmatch(r"\d{1,2} \w{3} \d{4}", t)] == [
            f"{d.day} {d:%b %Y}" for d in (D1, D2, D3)
        ]


def test_a_noise_band_stops_at_what_the_metric_can_be():
    rows = [
        mrow(1, D1, "vertex", thin_hair_pct=0.0, coverage_pct=99.0),
        mrow(1, D1, "vertex", thin_hair_pct=4.0, coverage_pct=100.0),
        mrow(2, D2, "vertex", thin_hair_pct=0.0, coverage_pct=99.5),
    ]
    table = timeline_table(rows, VISITS)
    for metric, low, high in (("thin_hair_pct", 0.0, None), ("coverage_pct", None, 100.0)):
        spec = timeline_chart(table[table["metric"] == metric], metric).to_dict()
        points = _layer_data(spec, spec["layer"][0])
        assert all(p["low"] >= 0.0 for p in points) and all(p["high"] <= 100.0 for p in points)
        if low is not None:
            assert min(p["low"] for p in points) == low
        if high is not None:
            assert max(p["high"] for p in points) == high


def test_a_long_event_marker_is_drawn_cut_short():
    long = "started a new shampoo after the consultation, to be reviewed at the next visit"
    visits = [VisitInfo(1, 1, D1, "", ()), VisitInfo(2, 1, D2, "", (long,))]
    table = timeline_table([mrow(1, D1, "vertex", coverage_pct=10.0), mrow(2, D2, "vertex", coverage_pct=11.0)], visits)
    chart = timeline_chart(table, "coverage_pct")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", _svg(chart))
    drawn = [t for t in texts if t.startswith("started a new")]
    assert len(drawn) == 1 and drawn[0].endswith("…") and len(drawn[0]) < len(long)
    spec = chart.to_dict()  # whole in the tooltip
    assert [p["events"] for p in _layer_data(spec, spec["layer"][1])] == ["", long]
