"""A patient's measurements across visits: values, noise bands, change from baseline.

:func:`timeline_table` turns the store's measurement rows into one row per
view, visit and metric; :func:`timeline_chart` draws one metric of one view
as an Altair chart. Both show observed values only (see
:mod:`tracker.wording`): a change is described as higher or lower than the
baseline, never judged.

The noise band of a visit is the standard deviation of repeat photos of that
view at that visit (:func:`tracker.repeatability.visit_noise`). A visit with a single photo takes the band pooled from the
repeat photos of that view at the patient's other visits; with no repeats at
all the band is not measured, and the table says so (pooling with
:func:`tracker.repeatability.pooled_sd`).

A photo whose ROI could not be registered to the view's baseline photo (so
the whole photo was measured), or was registered only weakly (score under
WEAK_REGISTRATION_SCORE), did not measure the same patch of scalp for sure;
nor did, in a view without a region (whole photos compared), a follow-up
whose registration to the baseline photo failed or is weak.
Such photos are left out of their visit's value and of every noise band when
the visit has other photos; a visit with no other photos keeps their value,
marked (``roi_placement``) so that it is never taken for the same region.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from tracker.analysis import version_key
from tracker.imaging.register import reason_without_advice
from tracker.repeatability import pooled_sd, visit_noise
from tracker.store import MeasurementRow, VisitInfo, view_mode
from tracker.wording import OBSERVED_ONLY

#: metric -> (label, unit, decimals), in the order of the design notes.
METRICS: dict[str, tuple[str, str, int]] = {
    "coverage_pct": ("Coverage", "%", 1),
    "hair_count": ("Hair count", "hairs", 0),
    "density_per_cm2": ("Density", "hairs/cm²", 0),
    "mean_width_px": ("Mean shaft width", "px", 1),
    "mean_width_um": ("Mean shaft width", "µm", 0),
    "thin_hair_pct": ("Thin hairs", "%", 1),
}

#: Longest event marker drawn on a chart, in pixels; longer ones end in an ellipsis.
EVENT_LABEL_PX = 110
NOISE_REPEATS = "repeat photos at this visit"
NOISE_POOLED = "pooled from repeat photos at other visits"
NOISE_NONE = "not measured: no repeat photos of this view"

COLUMNS = [
    "view",
    "visit_id",
    "visit_date",
    "events",
    "metric",
    "label",
    "unit",
    "value",
    "n_photos",
    "noise_sd",
    "noise_source",
    "baseline_value",
    "roi_placement",
    "unregistered_photos",
]

#: ``roi_placement`` of a visit whose photos all measured the baseline ROI's scalp.
PLACED = "same region"
#: ... of one whose value includes a region placed by hand,
PLACED_BY_HAND = "same region, placed by hand"
#: ... of one whose value leaves out photos whose region is not the baseline's,
LEFT_OUT = "same region; photos not registered to the baseline left out"
#: ... of one with only photos whose ROI could not be registered (whole photo measured),
NOT_PLACED = "region not registered"
#: ... and of one with only weakly registered photos (or those and unregistered ones).
WEAKLY_PLACED = "region weakly registered"
#: The placements whose values are not from the same patch of scalp for sure: marked on charts.
UNSURE = (NOT_PLACED, WEAKLY_PLACED)
#: A usable registration scoring below this is weak: its region may not cover the baseline's scalp.
WEAK_REGISTRATION_SCORE = 0.4


def placement(roi_source: str, registration_score: float | None, registration_ok: bool | None = None) -> str:
    """'same', 'hand', 'weak' or 'none': how surely a photo measured the baseline ROI's scalp
    ('same' and 'hand' surely; see the module notes).

    A view without a region measures whole photos: a follow-up is then
    compared with the baseline photo as a whole, and its registration (run
    all the same; `registration_ok`) tells whether it shows the same scalp.

    Examples
    --------
    >>> placement("registered", 0.9), placement("registered", 0.2), placement("unregistered", None)
    ('same', 'weak', 'none')
    >>> placement("whole_photo", None), placement("whole_photo", 0.01, False), placement("whole_photo", 0.3, True)
    ('same', 'none', 'weak')
    """
    if roi_source == "unregistered" or (roi_source == "whole_photo" and registration_ok is False):
        return "none"
    registered = roi_source == "registered" or (roi_source == "whole_photo" and registration_score is not None)
    if registered and (registration_score or 0.0) < WEAK_REGISTRATION_SCORE:
        return "weak"
    return "hand" if roi_source == "manual" else "same"


def row_placement(row: MeasurementRow) -> str:
    """:func:`placement` of a stored measurement row."""
    return placement(
        row.roi_source, row.registration_score, ((row.parameters or {}).get("placement") or {}).get("registration_ok")
    )


def kept_in_visit(placements: Sequence[str]) -> list[bool]:
    """Which photos of one visit make its value: those that surely measured the
    baseline ROI's scalp, or all of them when none did.

    Examples
    --------
    >>> kept_in_visit(["same", "none", "hand"]), kept_in_visit(["weak", "none"])
    ([True, False, True], [True, True])
    """
    sure = [p in ("same", "hand") for p in placements]
    return sure if any(sure) else [True] * len(placements)


def algorithm_versions(rows: Sequence[MeasurementRow], view: str | None = None) -> list[str]:
    """The algorithm versions that measured `rows` (of `view` only, if given), oldest first.

    Versions are compared part by part as numbers, so 0.10.0 follows 0.9.0.

    Examples
    --------
    >>> from types import SimpleNamespace as Row
    >>> algorithm_versions([Row(algorithm_version=v, view="crown") for v in ("0.10.0", "0.9.0", "0.9.0")])
    ['0.9.0', '0.10.0']
    """

    return sorted({r.algorithm_version for r in rows if view is None or r.view == view}, key=version_key)


def _visit_placement(kinds: Sequence[str]) -> str:
    """A visit's ``roi_placement`` from its photos' :func:`placement` kinds."""
    if not all(kept_in_visit(kinds)):
        return LEFT_OUT
    if "same" in kinds or "hand" in kinds:
        return PLACED_BY_HAND if "hand" in kinds else PLACED
    return NOT_PLACED if "none" in kinds else WEAKLY_PLACED


def timeline_table(rows: Sequence[MeasurementRow], visits: Sequence[VisitInfo]) -> pd.DataFrame:
    """One row per view, visit and metric that was measured.

    ``value`` is the mean over the visit's photos of that view that measured
    the baseline ROI's scalp (all of them, marked, when none did: see the
    module notes), ``noise_sd`` its noise band, ``baseline_value`` the value
    at the view's first visit (the baseline; :func:`describe_change` words the
    difference from it).
    ``unregistered_photos`` counts the photos whose region is not the
    baseline's for sure (not registered, or weakly).

    Examples
    --------
    >>> table = timeline_table([], [])
    >>> list(table.columns) == COLUMNS, len(table)
    (True, 0)
    """
    events = {v.id: ", ".join(v.events) for v in visits}
    records = []
    for row in rows:
        kind = row_placement(row)
        for metric in METRICS:
            value = getattr(row, metric)
            if value is not None:
                records.append((row.view, row.visit_id, row.visit_date, metric, float(value), kind))
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    raw = pd.DataFrame(records, columns=["view", "visit_id", "visit_date", "metric", "value", "placement"])
    keys = ["view", "metric", "visit_date", "visit_id"]
    # a visit's photos whose region is not the baseline's for sure count only when it has no others
    raw["used"] = raw.groupby(keys)["placement"].transform(lambda kinds: kept_in_visit(list(kinds))).astype(bool)
    used = raw[raw["used"]]
    per_visit = (
        used.groupby(keys, sort=True)
        .agg(value=("value", "mean"), n_photos=("value", "size"))
        .reset_index()
    )
    kinds_of_visit = raw.groupby(keys, sort=True)["placement"].apply(list)
    per_visit["unregistered_photos"] = [sum(k in ("weak", "none") for k in kinds) for kinds in kinds_of_visit]
    per_visit["roi_placement"] = [_visit_placement(kinds) for kinds in kinds_of_visit]
    # each visit's noise from its repeat photos (tracker.repeatability); NaN for a single photo
    values = used.groupby(keys, sort=True)["value"].apply(list)
    per_visit["sd"] = [visit_noise(v).sd if len(v) > 1 else math.nan for v in values]
    parts = []
    for (_, _), group in per_visit.groupby(["view", "metric"], sort=False):
        group = group.sort_values(["visit_date", "visit_id"]).copy()
        # pooled from visits that measured the baseline ROI's scalp
        sure = group[~group["roi_placement"].isin(UNSURE)]
        repeats = [values[tuple(k)] for k in sure[keys].itertuples(index=False) if len(values[tuple(k)]) > 1]
        pooled = pooled_sd(repeats) if repeats else math.nan
        has_own = group["n_photos"] > 1
        group["noise_sd"] = np.where(has_own, group["sd"], pooled)
        group["noise_source"] = np.where(
            has_own, NOISE_REPEATS, NOISE_NONE if math.isnan(pooled) else NOISE_POOLED
        )
        group["baseline_value"] = float(group["value"].iloc[0])
        parts.append(group)
    table = pd.concat(parts, ignore_index=True)
    table["events"] = table["visit_id"].map(events).fillna("")
    table["label"] = table["metric"].map({k: v[0] for k, v in METRICS.items()})
    table["unit"] = table["metric"].map({k: v[1] for k, v in METRICS.items()})
    return table[COLUMNS].reset_index(drop=True)


#: What each ROI source means, in words for the app and reports.
ROI_SOURCE_WORDS = {
    "baseline": "baseline photo: the region as drawn",
    "registered": "region placed by registration to the baseline photo",
    "manual": "region placed by hand on this photo",
    "unregistered": "not registered to the baseline photo: the whole photo was measured",
    "whole_photo": "no region set: the whole photo was measured",
}


def describe_placement(
    roi_source: str, score: float | None = None, reason: str = "", *, where: str = "Region of interest page"
) -> tuple[str, str]:
    """``(level, words)`` for how a photo's ROI was placed; level is 'ok', 'weak' or 'failed'.

    `where` says where the region is placed by hand: the page's name, or
    ``"below"`` on the page that holds the controls.

    Examples
    --------
    >>> describe_placement("registered", 0.93)
    ('ok', 'Registered to the baseline photo (score 0.93).')
    >>> describe_placement("registered", 0.2)[0]
    'weak'
    >>> describe_placement("unregistered", 0.0, "too few matching features")[1]
    'Place the region by hand for this photo (Region of interest page), or retake it from the same spot and distance as the baseline photo: it could not be registered to the baseline photo, so the whole photo was measured. Why: too few matching features.'
    >>> describe_placement("registered", 0.2, where="below")[1]
    'Check that the region covers the same scalp as on the baseline photo, or place it by hand (below): the registration to the baseline photo is weak (score 0.20).'
    """
    if roi_source == "baseline":
        return "ok", "Baseline photo: the region is drawn on it."
    if roi_source == "manual":
        return "ok", "Region placed by hand on this photo."
    if roi_source == "whole_photo":
        return "ok", "No region set: the whole photo is measured."
    if roi_source == "registered":
        if score is not None and score < WEAK_REGISTRATION_SCORE:
            return "weak", (
                "Check that the region covers the same scalp as on the baseline photo, or place it by hand "
                f"({where}): the registration to the baseline photo is weak (score {score:.2f})."
            )
        return "ok", f"Registered to the baseline photo (score {score:.2f})." if score is not None else (
            "Registered to the baseline photo."
        )
    reason = reason_without_advice(reason)
    why = f" Why: {reason}." if reason else ""
    return "failed", (
        f"Place the region by hand for this photo ({where}), or retake it from the same spot and distance "
        f"as the baseline photo: it could not be registered to the baseline photo, so the whole photo was "
        f"measured.{why}"
    )


def view_title(view: str) -> str:
    """A view's name for people: headings, pickers, messages.

    Examples
    --------
    >>> view_title("frontal_hairline"), view_title("closeup:vertex centre"), view_title("closeup:temporal_left")
    ('Frontal hairline', 'Close-up: vertex centre', 'Close-up: temporal left')
    """
    if view_mode(view) == "closeup":
        return "Close-up: " + view.split(":", 1)[1].replace("_", " ")
    return view.replace("_", " ").capitalize()


def date_text(day: dt.date) -> str:
    """A date as the product writes it in text: '3 Feb 2026'.

    Examples
    --------
    >>> date_text(dt.date(2026, 2, 3))
    '3 Feb 2026'
    """
    return f"{day.day} {day:%b %Y}"


def format_value(value: float, metric: str) -> str:
    """A measured value of `metric` as it is shown: the metric's decimals
    (:data:`METRICS`); a hair count, a whole number, gets one decimal when it is
    a visit's mean that is not whole (two photos of 34 and 35 hairs: 34.5).

    Examples
    --------
    >>> format_value(34.5, "hair_count"), format_value(34.0, "hair_count"), format_value(262.6, "density_per_cm2")
    ('34.5', '34', '263')
    """
    decimals = METRICS[metric][2]
    if metric == "hair_count" and not float(value).is_integer():
        decimals = 1
    return f"{value:.{decimals}f}"


def noise_text(sd: float, source: str, metric: str, *, unit: bool = False) -> str:
    """A visit's noise band as it is shown: ± one SD with a decimal more than the
    value (and the unit, if asked), and where it comes from; the source alone
    when it was not measured.

    Examples
    --------
    >>> noise_text(1.234, "repeat photos at this visit", "hair_count", unit=True)
    '± 1.2 hairs (repeat photos at this visit)'
    >>> noise_text(float("nan"), NOISE_NONE, "coverage_pct") == NOISE_NONE
    True
    """
    if math.isnan(sd):
        return source
    _, name, decimals = METRICS[metric]
    return f"± {sd:.{decimals + 1}f}{' ' + name if unit else ''} ({source})"


def describe_change(value: float, baseline: float, metric: str) -> str:
    """Neutral words for a change of `metric` from baseline, e.g.
    ``'12 hairs higher than baseline (+5.1 %)'``.

    The difference and the relative change are both worked out from the two
    values as :func:`format_value` shows them, so that the words never
    disagree with the numbers beside them: a reader who checks 2.9 and 2.8 by
    hand finds 0.1 and -3.4 %, as written (the stored values are not rounded).
    The relative change is left out when the baseline shows as zero.

    A difference of a percentage (coverage, thin-hair share) is given in
    percentage points, its relative change in %.

    Examples
    --------
    >>> describe_change(27.0, 30.0, "hair_count")
    '3 hairs lower than baseline (-10.0 %)'
    >>> describe_change(13.0, 11.0, "coverage_pct")
    '2.0 percentage points higher than baseline (+18.2 %)'
    >>> describe_change(2.78, 2.94, "coverage_pct")  # shown as 2.8 and 2.9: -0.1 is -3.4 % of 2.9
    '0.1 percentage points lower than baseline (-3.4 %)'
    >>> describe_change(17.54, 17.46, "mean_width_px"), describe_change(34.5, 34.0, "hair_count")
    ('same as baseline', '0.5 hairs higher than baseline (+1.5 %)')
    """
    unit = METRICS[metric][1]
    shown_value, shown_base = format_value(value, metric), format_value(baseline, metric)
    places = max(len(t.partition(".")[2]) for t in (shown_value, shown_base))
    difference = round(float(shown_value) - float(shown_base), places)
    if difference == 0:
        return "same as baseline"
    side = "higher" if difference > 0 else "lower"
    base = float(shown_base)
    pct = "" if base == 0 else f" ({difference / base * 100:+.1f} %)"
    amount = f"{abs(difference):.{places}f}"
    if unit == "%":  # a difference of percentages is in percentage points
        unit = "percentage points"
    elif unit == "hairs" and amount == "1":
        unit = "hair"
    return f"{amount} {unit} {side} than baseline{pct}"


def axis_ticks(low: float, high: float, decimals: int, *, most: int = 6) -> list[float]:
    """Tick values covering `low` to `high` a round step apart (1, 2 or 5
    times a power of ten), the step no finer than `decimals` allow, so that no
    two ticks read the same; at most `most` ticks, and two when the values
    are all equal.

    Examples
    --------
    >>> axis_ticks(35.0, 36.0, 0)
    [35.0, 36.0]
    >>> axis_ticks(14.81, 14.86, 1)
    [14.8, 14.9]
    >>> axis_ticks(3.0, 97.0, 1)
    [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    """
    k = 0
    while True:
        step = 10.0 ** (k // 3 - decimals) * (1, 2, 5)[k % 3]
        first, last = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
        if (last - first) / step <= most - 1:
            break
        k += 1
    count = max(int(round((last - first) / step)) + 1, 2)
    return [round(first + i * step, decimals) for i in range(count)]


def visit_ticks(dates: Sequence[dt.date] | pd.Series) -> list[alt.DateTime]:
    """The time axis's tick values: one per visit date, earliest first.

    Each is a Vega-Lite DateTime (year, month, day, in the viewer's local
    time, as the chart's dates are read): the browser's Vega-Lite draws no
    tick for plain numbers (milliseconds) on a time axis, and a date-only
    ISO string would be read as UTC midnight, the day before west of UTC.

    Examples
    --------
    >>> [t.to_dict() for t in visit_ticks([dt.date(2026, 2, 3), dt.date(2025, 11, 23), dt.date(2026, 2, 3)])]
    [{'date': 23, 'month': 11, 'year': 2025}, {'date': 3, 'month': 2, 'year': 2026}]
    """
    days = sorted({pd.Timestamp(d).date() for d in dates})
    return [alt.DateTime(year=d.year, month=d.month, date=d.day) for d in days]


def timeline_chart(table: pd.DataFrame, metric: str) -> alt.LayerChart:
    """Chart of one metric of one view's :func:`timeline_table` rows.

    Points joined by a line, each with its noise band (± one standard
    deviation), a dashed baseline, neutral event markers, and the observed-only
    line as subtitle. The tooltip gives the difference from baseline.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    label, unit, decimals = METRICS[metric]
    data = table[table["metric"] == metric].copy()
    if data["view"].nunique() > 1:
        raise ValueError("timeline_chart draws one view; filter the table to one view first")
    data["date"] = pd.to_datetime(data["visit_date"])
    # a band does not reach past what the metric can be: below 0, or above 100 %
    data["low"] = (data["value"] - data["noise_sd"]).clip(lower=0.0)
    data["high"] = (data["value"] + data["noise_sd"]).clip(upper=100.0 if unit == "%" else None)
    data["change"] = [
        describe_change(v, b, metric) for v, b in zip(data["value"], data["baseline_value"], strict=True)
    ]
    data["shown"] = [format_value(v, metric) for v in data["value"]]
    data["noise"] = [
        noise_text(sd, src, metric, unit=True) for sd, src in zip(data["noise_sd"], data["noise_source"], strict=True)
    ]
    # every chart of a view spans all of its visits, measured in this metric or not
    views = data["view"].unique() if len(data) else table["view"].unique()
    dates = pd.to_datetime(table[table["view"].isin(views)]["visit_date"])
    if "roi_placement" not in data:
        data["roi_placement"] = PLACED
    data = data[
        ["date", "value", "shown", "low", "high", "change", "noise", "n_photos", "events", "baseline_value", "roi_placement"]
    ]
    # the observed-only line, broken after its first sentence so it fits a narrow chart
    subtitle = [s if s.endswith(".") else s + "." for s in OBSERVED_ONLY.split(". ")]
    title = alt.TitleParams(f"{label} ({unit})", subtitle=subtitle, anchor="start")
    # one dataset for every layer: Streamlit serialises each layer's data separately
    span = [dates.min().isoformat(), dates.max().isoformat()] if len(dates) else None
    # a tick at each visit, labelled with its date (labels that would overlap are
    # left out, the ticks stay): a visit is never read under another month's label,
    # and every chart of a view has the same ticks
    visits = visit_ticks(dates)
    base = alt.Chart().encode(
        x=alt.X(
            "date:T",
            title="Visit date",
            axis=alt.Axis(format="%-d %b %Y", values=visits, labelOverlap=True, labelAngle=-30)
            if visits
            else alt.Axis(format="%-d %b %Y"),
            scale=alt.Scale(domain=span, padding=24) if span else alt.Undefined,
        )
    )
    # ticks no finer than the decimals shown, so that no two read the same; the
    # scale runs from the first tick to the last
    shown = pd.concat([data["value"], data["low"], data["high"]]).dropna()
    ticks = axis_ticks(float(shown.min()), float(shown.max()), decimals) if len(shown) else None
    axis = alt.Axis(format=f",.{decimals}f", values=ticks or alt.Undefined)
    scale = alt.Scale(zero=False, domain=[ticks[0], ticks[-1]], nice=False) if ticks else alt.Scale(zero=False)
    y = alt.Y("value:Q", title=f"{label} ({unit})", scale=scale, axis=axis)
    band = base.mark_rule(strokeWidth=3, opacity=0.35).encode(
        y=alt.Y("low:Q", title=f"{label} ({unit})", scale=scale, axis=axis), y2="high:Q"
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=60, filled=True)).encode(
        y=y,
        tooltip=[
            alt.Tooltip("date:T", title="Visit", format="%-d %b %Y"),
            alt.Tooltip("shown:N", title=f"{label} ({unit})"),
            alt.Tooltip("noise:N", title="Noise band"),
            alt.Tooltip("change:N", title="Difference from baseline"),
            alt.Tooltip("n_photos:Q", title="Photos"),
            alt.Tooltip("events:N", title="Events"),
            alt.Tooltip("roi_placement:N", title="Region"),
        ],
    )
    # values whose region is not the baseline's for sure (not registered, or weakly): hollow red rings
    unplaced = base.transform_filter(alt.FieldOneOfPredicate(field="roi_placement", oneOf=list(UNSURE))).mark_point(
        shape="circle", size=220, filled=False, color="#c0392b", strokeWidth=2
    ).encode(y=y, tooltip=[alt.Tooltip("roi_placement:N", title="Region")])
    baseline = alt.Chart().mark_rule(strokeDash=[6, 4], color="gray").encode(y="mean(baseline_value):Q")
    marked = base.transform_filter(alt.datum.events != "")
    events = marked.mark_rule(color="gray", opacity=0.5)
    # a long marker is cut short (the tooltip holds it whole): it must not squeeze the chart
    event_text = marked.mark_text(
        align="left", dx=3, dy=-5, color="gray", baseline="top", limit=EVENT_LABEL_PX
    ).encode(y=alt.value(0), text="events:N")
    return alt.layer(band, line, baseline, events, event_text, unplaced, data=data, title=title)
