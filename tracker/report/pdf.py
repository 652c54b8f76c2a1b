"""A patient's measurements across visits as a PDF for the record (fpdf2).

Page 1 is the header: patient code (the name and birth date only when a
clinician asks for them), visit dates, views, algorithm version, when and by
whom the report was made, and the observed-only line. Without the name, the
free text people typed that the report prints (event markers, close-up site
names) goes through the de-identified export's redaction
(:func:`tracker.export.redact.redact_event`): the name, dates, the code,
e-mail addresses and phone numbers written in it are taken out. Each view then starts
a page with

- a strip of the view's photos, one per visit, with the overlay of what was
  measured (at most :data:`STRIP_LENGTH`, spread evenly over the visits);
- one chart per measure across visits with each visit's noise band
  (:func:`tracker.timeline.timeline_chart`, rendered to PNG by vl-convert);
- the algorithm version(s) of the measurements and the observed-only line;
- a table of values, noise bands and differences from the baseline visit
  (:func:`tracker.timeline.describe_change`).

Every page's footer repeats the patient code, the algorithm version and the
observed-only line. Photo file names are never printed (they may hold a
name) and photos are re-encoded from their pixels, so no EXIF reaches the PDF.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from tracker.export.redact import redact_event
from tracker.imaging.compare import thumbnail
from tracker.store.records import view_mode
from tracker.timeline import (
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

if TYPE_CHECKING:
    from tracker.access import Access

#: Photos in a view's strip at most; with more visits they are spread evenly.
STRIP_LENGTH = 6
#: Longest side of a strip photo, in pixels (the PDF stays small).
STRIP_PIXELS = 640
#: Size of one chart in the PDF (mm) and as drawn by Vega-Lite (px, before scale 2).
CHART_MM = 88.0
CHART_PX = (330, 150)
TITLE = "Hair measurement report"

# Unicode fonts (µ, ², ±, and any name) when one is installed; the PDF core
# font (Latin-1 only) otherwise.
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)


def _font_files() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold, from the system or from matplotlib, if found."""
    dirs = list(_FONT_DIRS)
    try:
        import matplotlib

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for d in dirs:
        regular, bold = d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def _placement_mark(placement: str) -> str:
    """What follows a value whose region is not the baseline's for sure (see :mod:`tracker.timeline`)."""
    return f", {placement}" if placement in UNSURE else ""


def strip_picks(n: int, length: int = STRIP_LENGTH) -> list[int]:
    """Indices of the visits shown in a strip of at most ``length``, spread evenly.

    The first and the last visit are always shown.

    Examples
    --------
    >>> strip_picks(3), strip_picks(12, 6)
    ([0, 1, 2], [0, 2, 4, 7, 9, 11])
    """
    if n <= 0:
        return []
    return sorted({round(float(v)) for v in np.linspace(0, n - 1, min(length, n))})


class _Pdf(FPDF):
    def __init__(self, code: str, versions: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.code, self.versions = code, versions
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=20)
        fonts = _font_files()
        if fonts is not None:
            self.add_font("Body", "", str(fonts[0]))
            self.add_font("Body", "B", str(fonts[1]))
            self.body_font, self.unicode_font = "Body", True
        else:
            self.body_font, self.unicode_font = "helvetica", False

    def text_of(self, text: str) -> str:
        """``text`` as the font can write it (a core font knows Latin-1 only)."""
        return text if self.unicode_font else text.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.body_font, "B" if bold else "", size)

    def line_text(self, text: str, size: float = 9, *, bold: bool = False, h: float = 5) -> None:
        self.font(size, bold)
        self.multi_cell(0, h, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def footer(self) -> None:
        self.set_y(-16)
        self.font(7)
        self.set_text_color(90, 90, 90)
        self.cell(
            0,
            4,
            self.text_of(f"Patient {self.code} · algorithm {self.versions} · page {self.page_no()} of {{nb}}"),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.cell(0, 4, self.text_of(OBSERVED_ONLY), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)


def _jpeg(rgb: np.ndarray) -> io.BytesIO:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("a strip photo could not be encoded as JPEG")
    return io.BytesIO(buf.tobytes())


def chart_png(data: pd.DataFrame, metric: str) -> bytes:
    """One view's chart of ``metric`` (with its noise bands) as PNG bytes."""
    import vl_convert

    chart = timeline_chart(data, metric).properties(width=CHART_PX[0], height=CHART_PX[1])
    return vl_convert.vegalite_to_png(chart.to_dict(), scale=2)


def generated_text(when: dt.datetime) -> str:
    """When a report was made, as the product writes dates, to the minute in UTC.

    Examples
    --------
    >>> generated_text(dt.datetime(2026, 11, 23, 8, 34, 51, tzinfo=dt.UTC))
    '23 Nov 2026, 08:34 UTC'
    >>> generated_text(dt.datetime(2026, 2, 3, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    '2 Feb 2026, 23:30 UTC'
    """
    when = when.astimezone(dt.UTC)
    return f"{date_text(when.date())}, {when:%H:%M} UTC"


def _site_shown(view: str, shown: Callable[[str], str]) -> str:
    """``view`` with a close-up's site (free text) as the report shows free text; the
    fixed views' names are the product's own."""
    if view_mode(view) != "closeup":
        return view
    return "closeup:" + shown(view.split(":", 1)[1])


def _as_typed(text: str) -> str:
    """Free text as it was typed: what a report that carries the name prints."""
    return text


def _header(
    pdf: _Pdf,
    access: Access,
    code: str,
    *,
    include_name: bool,
    visits,
    titles: Sequence[str],
    now: dt.datetime,
) -> None:
    pdf.add_page()
    pdf.line_text(TITLE, 18, bold=True, h=9)
    pdf.ln(2)
    lines = [("Patient code", code)]
    if include_name:
        ident = next((p for p in access.patients(code) if p.code == code), None)
        lines.append(("Name", ident.name if ident and ident.name else "not recorded"))
        lines.append(
            ("Birth date", date_text(ident.birth_date) if ident and ident.birth_date else "not recorded")
        )
    dates = [v.date for v in visits]
    if dates:
        lines.append(("Visits", f"{len(dates)}, from {date_text(min(dates))} to {date_text(max(dates))}"))
    else:
        lines.append(("Visits", "none recorded"))
    lines.append(("Views", ", ".join(titles) or "no measurements yet"))
    lines.append(("Algorithm version", pdf.versions))
    # a patient's username may be their name, which a report without it must not print
    by = "the patient's own account" if access.role == "patient" else access.account.username
    lines.append(("Generated", f"{generated_text(now)} by {by}"))
    for label, value in lines:
        pdf.font(10, bold=True)
        pdf.cell(45, 6, pdf.text_of(label))
        pdf.font(10)
        pdf.multi_cell(0, 6, pdf.text_of(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_fill_color(240, 240, 240)
    pdf.font(10, bold=True)
    pdf.multi_cell(0, 7, pdf.text_of(OBSERVED_ONLY), border=1, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.line_text(
        "How to read this report. Every number was measured on the photos by the algorithm "
        "version shown, in the region of interest drawn for each view, carried to each photo by "
        "registration to the view's baseline photo. A photo whose registration failed (the whole "
        "photo was measured) or was weak is left out of its visit's value when the visit has "
        "other photos; otherwise its value is marked 'region not registered' or 'region weakly "
        "registered', and ringed in red on the charts. For each view, the "
        "first visit with a photo is the baseline; differences are given from it, in the "
        "measure's unit and in %. The noise band of a visit (± one standard deviation) comes "
        "from repeat photos of the view at that visit, or is pooled from repeat photos at "
        "other visits; without repeat photos it is not measured. A difference smaller than "
        "the noise band is within the scatter of repeat photos. Events (for example a "
        "treatment start) are markers on the timeline only.",
        9,
    )
    if include_name:
        pdf.ln(2)
        pdf.line_text("This copy carries the patient's name: keep it with the patient record.", 9, bold=True)


def _strip(pdf: _Pdf, access: Access, view_visits, photo_of_visit: dict[int, int]) -> None:
    picks = strip_picks(len(view_visits))
    if not picks:
        return
    pdf.line_text("Photos with the overlay of what was measured", 11, bold=True, h=7)
    gap = 3.0
    cell_w = (pdf.epw - gap * (STRIP_LENGTH - 1)) / STRIP_LENGTH
    images = []
    for k in picks:
        visit = view_visits[k]
        picture = thumbnail(access.overlay(photo_of_visit[visit.id]), max_side=STRIP_PIXELS)
        images.append((visit, picture))
    cell_h = max(cell_w * p.shape[0] / p.shape[1] for _, p in images)
    if pdf.will_page_break(cell_h + 12):
        pdf.add_page()
    top = pdf.get_y()
    for i, (visit, picture) in enumerate(images):
        x = pdf.l_margin + i * (cell_w + gap)
        h = cell_w * picture.shape[0] / picture.shape[1]
        pdf.image(_jpeg(picture), x=x, y=top, w=cell_w, h=h)
        pdf.set_xy(x, top + cell_h + 1)
        pdf.font(7)
        caption = date_text(visit.date) + (f" ({', '.join(visit.events)})" if visit.events else "")
        pdf.multi_cell(cell_w, 3.2, pdf.text_of(caption), align="C")
    pdf.set_xy(pdf.l_margin, top + cell_h + 9)
    if len(view_visits) > len(picks):
        pdf.line_text(
            f"{len(picks)} of {len(view_visits)} visits shown, spread evenly from the first to the last.", 8
        )
    pdf.ln(2)


def _charts(pdf: _Pdf, data: pd.DataFrame, metrics: Sequence[str]) -> None:
    pdf.line_text("Measures across visits", 11, bold=True, h=7)
    gap = pdf.epw - 2 * CHART_MM
    for i in range(0, len(metrics), 2):
        row = [(m, chart_png(data, m)) for m in metrics[i : i + 2]]
        heights = []
        for _, png in row:
            w, h = _png_size(png)
            heights.append(CHART_MM * h / w)
        if pdf.will_page_break(max(heights) + 2):
            pdf.add_page()
        top = pdf.get_y()
        for j, (metric, png) in enumerate(row):
            label, unit, _ = METRICS[metric]
            pdf.image(
                io.BytesIO(png),
                x=pdf.l_margin + j * (CHART_MM + gap),
                y=top,
                w=CHART_MM,
                h=heights[j],
                alt_text=f"Chart of {label} ({unit}) across visits",
            )
        pdf.set_xy(pdf.l_margin, top + max(heights) + 2)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _summary(pdf: _Pdf, table: pd.DataFrame, titles: Mapping[str, str]) -> None:
    """Each view's and measure's latest visit next to its baseline (page 1); `titles`
    maps each view to its printed title, in the order of the views."""
    pdf.ln(3)
    pdf.line_text("Latest visit and baseline, per view", 11, bold=True, h=7)
    pdf.font(7.5)
    with pdf.table(
        col_widths=(36, 30, 30, 48, 36),
        width=pdf.epw,
        line_height=4,
        text_align=("LEFT", "RIGHT", "RIGHT", "LEFT", "LEFT"),
        repeat_headings=1,
    ) as out:
        heading = out.row()
        for text in ("Measure", "Baseline", "Latest", "Difference from baseline", "Noise band (± SD)"):
            heading.cell(pdf.text_of(text))
        for view, title in titles.items():
            data = table[table["view"] == view]
            pdf.font(7.5, bold=True)
            out.row().cell(pdf.text_of(title), colspan=5)
            pdf.font(7.5)
            for metric in [m for m in METRICS if m in set(data["metric"])]:
                label, unit, _ = METRICS[metric]
                rows = data[data["metric"] == metric].sort_values(["visit_date", "visit_id"])
                first, last = rows.iloc[0], rows.iloc[-1]
                change = (
                    "only one visit"
                    if len(rows) == 1
                    else describe_change(last.value, last.baseline_value, metric)
                )
                cells = out.row()
                for text in (
                    f"{label} ({unit})",
                    *(
                        f"{format_value(r.value, metric)} ({date_text(r.visit_date)}){_placement_mark(r.roi_placement)}"
                        for r in (first, last)
                    ),
                    change,
                    "" if len(rows) == 1 else noise_text(last.noise_sd, last.noise_source, metric),
                ):
                    cells.cell(pdf.text_of(text))
    pdf.ln(2)
    pdf.line_text(OBSERVED_ONLY, 9, bold=True)


def _table(pdf: _Pdf, data: pd.DataFrame, metrics: Sequence[str]) -> None:
    if pdf.will_page_break(40):
        pdf.add_page()
    pdf.line_text("Values and differences from baseline", 11, bold=True, h=7)
    pdf.font(7.5)
    widths = (20, 22, 30, 26, 41, 41)
    with pdf.table(
        col_widths=widths,
        width=pdf.epw,
        line_height=4,
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "LEFT", "LEFT"),
        first_row_as_headings=True,
        repeat_headings=1,
    ) as table:
        heading = table.row()
        for text in ("Visit", "Events", "Measure", "Value", "Noise band (± SD)", "Difference from baseline"):
            heading.cell(pdf.text_of(text))
        for metric in metrics:
            label, unit, _ = METRICS[metric]
            rows = data[data["metric"] == metric].sort_values(["visit_date", "visit_id"])
            first = True
            for r in rows.itertuples():
                cells = table.row()
                noise = noise_text(r.noise_sd, r.noise_source, metric)
                change = (
                    "baseline"
                    if first
                    else describe_change(r.value, r.baseline_value, metric)
                )
                first = False
                for text in (
                    date_text(r.visit_date),
                    r.events,
                    f"{label} ({unit})",
                    format_value(r.value, metric) + _placement_mark(r.roi_placement),
                    noise,
                    change,
                ):
                    cells.cell(pdf.text_of(str(text)))
    pdf.ln(2)


def patient_report(
    access: Access,
    patient: int | str,
    *,
    include_name: bool = False,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The PDF report of one patient's measurements across visits.

    Parameters
    ----------
    access : tracker.access.Access
        The signed-in account: a clinician, or the patient themself.
    patient : int or str
        Patient id or code.
    include_name : bool
        Print the patient's name and birth date in the header, and free text
        as typed. Only a clinician may; by default the report is
        pseudonymous (code only), and the event markers and close-up site
        names it prints are redacted as in a de-identified export
        (:func:`tracker.export.redact.redact_event`).
    generated_at : datetime, optional
        The time printed as 'Generated' (UTC); now by default.

    Returns
    -------
    bytes
        The PDF file.

    Raises
    ------
    tracker.access.AccessDenied
        If the account may not see this patient (a researcher, another
        patient), or a non-clinician asks for the name.
    """
    from tracker.access import AccessDenied

    info = access.patient(patient)  # raises AccessDenied for anyone else
    if include_name and access.role != "clinician":
        raise AccessDenied("only a clinician can put the patient's name on a report; ask without the name")
    now = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    # a report that carries the code only: free text loses what the de-identified export
    # takes out (but the code, which the report prints)
    shown: Callable[[str], str] = (
        _as_typed
        if include_name
        else partial(redact_event, patient_code="", names=access.store.recorded_names(info.id))
    )
    visits = [replace(v, events=tuple(shown(e) for e in v.events)) for v in access.visits(info.id)]
    rows = access.timeline(info.id)
    table = timeline_table(rows, visits)
    views = list(dict.fromkeys(table["view"])) if not table.empty else []
    # a view stays its own key (two sites may read the same once redacted); only its title is printed
    titles = {view: view_title(_site_shown(view, shown)) for view in views}
    versions = ", ".join(algorithm_versions(rows)) or "no measurements yet"

    pdf = _Pdf(info.code, versions)
    pdf.set_title(f"{TITLE}, patient {info.code}")
    pdf.set_creator("scalp-tracker")
    pdf.set_creation_date(now)
    _header(
        pdf, access, info.code, include_name=include_name, visits=visits, titles=list(titles.values()), now=now
    )
    if views:
        _summary(pdf, table, titles)
    else:
        pdf.ln(4)
        pdf.line_text("No measurements yet: record a visit with photos first.", 10)

    for view in views:
        pdf.add_page()
        data = table[table["view"] == view]
        pdf.line_text(titles[view], 15, bold=True, h=8)
        pdf.line_text(OBSERVED_ONLY, 9, bold=True)
        pdf.ln(2)
        photo_of_visit: dict[int, int] = {}
        for row in rows:
            if row.view == view:
                photo_of_visit.setdefault(row.visit_id, row.photo_id)  # the first photo of a visit
        view_visits = [v for v in visits if v.id in photo_of_visit]
        _strip(pdf, access, view_visits, photo_of_visit)
        metrics = [m for m in METRICS if m in set(data["metric"])]
        _charts(pdf, data, metrics)
        view_versions = algorithm_versions(rows, view)
        pdf.line_text(f"Measured with algorithm version {', '.join(view_versions)}.", 8)
        pdf.line_text(OBSERVED_ONLY, 9, bold=True)
        pdf.ln(2)
        _table(pdf, data, metrics)
    return bytes(pdf.output())
