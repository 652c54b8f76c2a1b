"""The Streamlit app driven in Chromium: sign-in, roles, a new visit, timeline, privacy, export.

Every test signs in through the form in a fresh browser session. Streamlit
renders asynchronously, so the tests wait for what should appear
(``expect(...)``), never for a fixed time. What the page should show is
worked out here from the store and the library, not typed in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _e2eapp import (
    CHROMIUM,
    OTHER_ACCOUNT,
    OTHER_CODE,
    ROLE_LOGIN,
    closeup_photo,
    save_screenshot,
    settle,
    sign_in,
)

from tracker.demo import DEMO_CODE
from tracker.store import NewPhoto
from tracker.timeline import METRICS
from tracker.wording import BANNED_WORDS

if not Path(CHROMIUM).exists() and os.environ.get("TRACKER_REQUIRE_BROWSER"):
    # scripts/test.sh installs Chromium: there, skipped browser tests are a failure
    raise pytest.UsageError(f"TRACKER_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"the browser tests need Debian's Chromium at {CHROMIUM}: run 'bash scripts/setup.sh --test' "
        "(it runs 'apt-get install chromium')",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need playwright: pip install -e '.[test]'"
)
expect = sync_api.expect
expect.set_options(timeout=30_000)  # ms; the server shares the machine with the browser and pytest


def shown(day: dt.date) -> str:
    """A date as the app writes it: "3 Feb 2026"."""
    return f"{day.day} {day:%b %Y}"


OBSERVED_ONLY = "Observed measurements only. They do not show that any treatment caused a change."
#: The pages each role must see in the sidebar (a single page shows no navigation at all).
NAV = {
    "clinician": ["Patients", "New visit", "Region of interest", "Timeline", "Export", "Analyse a photo"],
    "researcher": ["Export", "Analyse a photo"],
    "patient": [],
}
ALL_PAGES = NAV["clinician"]
#: The page each role opens first, by its heading.
FIRST_HEADING = {"clinician": "Patients", "researcher": "Export measurements", "patient": "Timeline"}
BANNED = re.compile(r"\b(" + "|".join(map(re.escape, BANNED_WORDS)) + r")\b", re.IGNORECASE)
SLOW = 90_000  # ms: a photo is decoded and measured on the server
#: True once the main container has kept its scroll position for 5 animation frames.
SCROLL_SETTLED = """() => {
    const el = document.querySelector('[data-testid=stMain]') || document.scrollingElement;
    const w = window.__e2eScroll || (window.__e2eScroll = {top: -1, frames: 0});
    if (el.scrollTop === w.top) { w.frames += 1; } else { w.top = el.scrollTop; w.frames = 0; }
    if (w.frames >= 5) { window.__e2eScroll = null; return true; }
    return false;
}"""


def main(page):
    return page.get_by_test_id("stMain")


def check_page_text(page, *, errors: bool = False) -> str:
    """The visible text of the page.

    Waits until the app's run has ended, then fails on a Python exception
    shown, on an error message unless ``errors``, and on a banned word.
    """
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    if not errors:
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    text = page.locator("body").inner_text()
    assert not BANNED.search(text), f"banned word on the page: {BANNED.search(text).group(0)!r}"
    return text


def nav_titles(page) -> list[str]:
    nav = page.get_by_test_id("stSidebarNav")
    if not nav.count():
        return []
    return [re.sub(r"^\S+\n+", "", t).strip() for t in nav.get_by_role("link").all_inner_texts()]


def open_page(page, title: str, heading: str | None = None) -> None:
    """Click ``title`` in the sidebar navigation and wait for the page's heading."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(main(page).get_by_role("heading", name=heading or title, exact=True)).to_be_visible(timeout=SLOW)


def choose(page, label: str, option: str, *, nth: int = 0) -> None:
    """Pick ``option`` in the ``nth`` Streamlit selectbox labelled ``label``.

    The option list closes when the page scrolls, so the box is scrolled into
    view and the scrolling allowed to end before it is opened; opening is
    tried again if the list closed all the same.
    """
    box = main(page).get_by_role("combobox", name=label, exact=True).nth(nth)
    choice = page.get_by_role("option", name=option, exact=True)
    for attempt in range(3):
        box.scroll_into_view_if_needed()
        page.wait_for_function(SCROLL_SETTLED, polling="raf")
        box.click()
        try:
            expect(choice).to_be_visible(timeout=5_000)
            choice.click(timeout=5_000)
            break
        except (AssertionError, sync_api.TimeoutError):
            if attempt == 2:
                raise
    expect(box).to_have_value(option)


def selected(page, label: str):
    """The (first) selectbox labelled ``label``, for ``expect(...).to_have_value``."""
    return main(page).get_by_role("combobox", name=label, exact=True).first


# ---------------------------------------------------------------------- sign-in and roles


def check_navigation(page, role: str) -> None:
    """The sidebar shows who is signed in and exactly the pages of ``role``, none of the others."""
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"({role})")
    assert nav_titles(page) == NAV[role]
    for title in ALL_PAGES:
        if title not in NAV[role]:
            expect(sidebar.get_by_role("link", name=title, exact=True)).to_have_count(0)


def test_wrong_password_shows_an_error_and_stays_signed_out(app, page):
    page.goto(app.url)
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="Username").fill("demo.clinician")
    form.get_by_role("textbox", name="Password").fill("not-the-password")
    form.get_by_role("button", name="Sign in").click()
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_be_visible(timeout=SLOW)
    expect(error).to_contain_text("Not signed in")
    expect(page.get_by_text(re.compile("Signed in as"))).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(form.get_by_role("button", name="Sign in")).to_be_visible()
    check_page_text(page, errors=True)
    save_screenshot(page, "sign-in-wrong-password")


def test_clinician_sees_every_page_and_each_renders(app, page):
    """The clinician's navigation has every page; each opens without an error (a screenshot of each)."""
    sign_in(page, app.url, *ROLE_LOGIN["clinician"])
    expect(main(page).get_by_role("heading", name=FIRST_HEADING["clinician"], exact=True)).to_be_visible(timeout=SLOW)
    check_navigation(page, "clinician")
    headings = {"Export": "Export measurements", "Analyse a photo": "Analyse a scalp photo"}
    for title in ALL_PAGES:
        open_page(page, title, headings.get(title))
        check_page_text(page)
        if title == "Timeline":
            expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=SLOW)
        if title == "Region of interest":
            expect(main(page).get_by_test_id("stImage").first).to_be_visible(timeout=SLOW)
        save_screenshot(page, "clinician-" + title.lower().replace(" ", "-"))


# ---------------------------------------------------------------------- clinician: patients


def test_a_patient_just_added_is_the_one_opened(app, page, store):
    """The browser keeps a selectbox's choice: the page has to set "Open patient" to the new patient."""
    code = "ZZ-E2E-ADDED"
    sign_in(page, app.url, *ROLE_LOGIN["clinician"])
    expect(selected(page, "Open patient")).to_have_value(DEMO_CODE, timeout=SLOW)
    main(page).get_by_role("textbox", name=re.compile("^Pseudonymous code")).fill(code)
    main(page).get_by_role("button", name="Add patient").click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(f"Added patient {code}.", timeout=SLOW)
    expect(selected(page, "Open patient")).to_have_value(code)
    main(page).get_by_role("button", name="Timeline", exact=True).click()
    expect(main(page).get_by_role("heading", name="Timeline", exact=True)).to_be_visible(timeout=SLOW)
    expect(selected(page, "Patient")).to_have_value(code)
    expect(main(page)).to_contain_text("No measurements yet")
    assert store.patient(code).code == code
    check_page_text(page)


# ---------------------------------------------------------------------- clinician: a new visit


def expected_table(store, data: bytes, name: str, view: str) -> tuple[str, list[str]]:
    """Quality status and the Value column of the measurement table, measured by the library here.

    The page previews an upload of a view exactly as saving it would measure
    it (registered to the view's baseline photo, the view's mode and
    polarity); each value reads with the metric's decimals and unit, or
    "not measured".
    """
    preview = store.preview_photo(DEMO_CODE, NewPhoto(view=view, data=data, name=name))
    record = preview.analysis.to_record()
    values = [
        "not measured" if record[key] is None else f"{record[key]:.{decimals}f} {unit}"
        for key, (_label, unit, decimals) in METRICS.items()
    ]
    return record["quality"]["status"], values


def table_column(table, column: int) -> list[str]:
    """One column of a Streamlit table (st.table), row by row."""
    return [
        row.locator("td, th").nth(column).inner_text().strip()
        for row in table.locator("tbody tr").all()
    ]


def test_clinician_records_a_visit_and_sees_it_on_the_timeline(app, page, store):
    uploads = [
        {"name": "e2e-visit-1.png", "mimeType": "image/png", "buffer": closeup_photo(seed=4101, ext=".png")},
        {"name": "e2e-visit-2.jpg", "mimeType": "image/jpeg", "buffer": closeup_photo(seed=4102, ext=".jpg")},
    ]
    before = {v.id for v in store.visits(DEMO_CODE)}
    sign_in(page, app.url, *ROLE_LOGIN["clinician"])
    open_page(page, "New visit")
    expect(selected(page, "Patient")).to_have_value(DEMO_CODE)
    page.locator("input[type=file]").set_input_files(uploads)

    save = page.get_by_role("button", name=re.compile(r"^Save visit with"))
    expect(save).to_have_text("Save visit with 2 photos", timeout=SLOW)
    expect(save).to_be_enabled()
    # both photos are close-ups of the vertex; each is offered the patient's close-up views in turn
    choose(page, "View", "Close-up: vertex", nth=1)
    tables = main(page).get_by_test_id("stTable")
    expect(tables).to_have_count(2, timeout=SLOW)
    qualities = main(page).get_by_test_id("stMarkdownContainer").filter(has_text="Photo quality:")
    expect(qualities).to_have_count(2)
    for i, upload in enumerate(uploads):
        expect(main(page).get_by_role("heading", name=upload["name"], exact=True)).to_be_visible()
        status, values = expected_table(store, upload["buffer"], upload["name"], "closeup:vertex")
        expect(qualities.nth(i)).to_have_text(re.compile(rf"^Photo quality:(.*\s)?{status}$"))  # icon, then status
        assert table_column(tables.nth(i), 0)[:2] == ["Coverage", "Hair count"]
        assert table_column(tables.nth(i), 1) == values, upload["name"]
    expect(main(page).get_by_text(OBSERVED_ONLY, exact=True).first).to_be_visible()
    check_page_text(page)
    save_screenshot(page, "clinician-new-visit-uploaded")

    save.click()
    today = dt.date.today()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        f"Saved the visit of {shown(today)} with 2 photos for {DEMO_CODE}", timeout=SLOW
    )
    added = [v for v in store.visits(DEMO_CODE) if v.id not in before]
    assert [v.date for v in added] == [today]
    stored = store.photos(patient=DEMO_CODE)
    assert sorted(p.name for p in stored if p.visit_id == added[0].id) == sorted(u["name"] for u in uploads)

    open_page(page, "Timeline")
    expect(selected(page, "Patient")).to_have_value(DEMO_CODE)
    choose(page, "View", "Close-up: vertex")
    captions = main(page).get_by_test_id("stImage")
    expect(captions.filter(has_text=shown(today)).first).to_be_visible(timeout=SLOW)
    expect(selected(page, "Later visit")).to_have_value(shown(today))
    check_page_text(page)
    save_screenshot(page, "clinician-timeline-after-new-visit")


def test_timeline_shows_charts_and_the_observed_only_line(app, page, store):
    sign_in(page, app.url, *ROLE_LOGIN["clinician"])
    open_page(page, "Timeline")
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.first).to_be_visible(timeout=SLOW)
    choose(page, "View", "Close-up: vertex")
    # every metric measured for the demo close-ups has a chart, drawn by vega-embed
    expect(charts).to_have_count(len(METRICS), timeout=SLOW)
    for i in range(charts.count()):
        expect(charts.nth(i).locator("svg.marks, canvas").first).to_be_visible()
    expect(charts.first).to_contain_text("Coverage (%)")
    expect(main(page).get_by_text(OBSERVED_ONLY, exact=True).first).to_be_visible()
    # the baseline visit of the demo patient is labelled on the photo strip
    first = min(v.date for v in store.visits(DEMO_CODE))
    expect(main(page).get_by_test_id("stImage").filter(has_text=f"{shown(first)} (baseline)").first).to_be_visible()
    check_page_text(page)
    save_screenshot(page, "clinician-timeline")


#: The x-axis labels of each chart on the page. Streamlit has vega-embed draw its charts as SVG,
#: so each label is a <text> in the axis's label group (Vega's own class names and aria-label).
X_AXIS_LABELS = """() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(chart =>
    [...chart.querySelectorAll("svg g.role-axis[aria-label^='X-axis'] g.role-axis-label text")]
        .map(t => t.textContent))"""


@pytest.mark.parametrize("page", ["America/New_York"], indirect=True)
def test_timeline_charts_show_the_visit_dates_on_their_time_axis(app, page, store):
    """Every chart's time axis is labelled with visit dates, the first visit's among them.

    The labels are read from the DOM: Streamlit has vega-embed draw its charts as
    SVG, so each tick label is a ``<text>`` in the axis's label group (found by
    Vega's class names and the axis's aria-label). Were the charts drawn on a
    canvas, no label would be found and the test would fail, not pass unseen.
    The browser runs west of UTC (New York), where a date read as UTC midnight
    would be labelled with the day before: each label must be a visit's date as
    the app writes it.
    """
    sign_in(page, app.url, *ROLE_LOGIN["clinician"], path=f"timeline?patient={DEMO_CODE}")
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.first).to_be_visible(timeout=SLOW)
    choose(page, "View", "Close-up: vertex")
    expect(charts).to_have_count(len(METRICS), timeout=SLOW)
    settle(page)
    rows = store.timeline(store.patient(DEMO_CODE).id)
    dates = sorted({r.visit_date for r in rows if r.view == "closeup:vertex"})
    # vega-embed draws after the script run: wait until every chart has drawn its time axis
    expect(charts.locator("svg g.role-axis[aria-label^='X-axis']")).to_have_count(len(METRICS), timeout=SLOW)
    labels = page.evaluate(X_AXIS_LABELS)
    assert len(labels) == len(METRICS)
    for chart_labels in labels:
        assert shown(dates[0]) in chart_labels, chart_labels
        assert set(chart_labels) <= {shown(d) for d in dates}, chart_labels
    save_screenshot(page, "clinician-timeline-dates")


# ---------------------------------------------------------------------- patients: own record only


def measured_values(store, code: str) -> list[str]:
    """Strings a page would show for the patient's measurements (several roundings)."""
    out = set()
    for row in store.timeline(store.patient(code).id):
        for metric in METRICS:
            value = getattr(row, metric)
            if value is None:
                continue
            if metric == "hair_count":
                out.add(rf"\b{int(value)} hairs")
            else:
                out.update(re.escape(f"{value:.{d}f}") for d in (1, 2, 3))
    return sorted(out)


@pytest.mark.parametrize(
    ("login", "own", "other"),
    [(ROLE_LOGIN["patient"], DEMO_CODE, OTHER_CODE), (OTHER_ACCOUNT, OTHER_CODE, DEMO_CODE)],
    ids=["demo-patient", "other-patient"],
)
def test_patient_sees_only_own_timeline(app, page, store, login, own, other):
    sign_in(page, app.url, *login)
    expect(main(page).get_by_role("heading", name=FIRST_HEADING["patient"], exact=True)).to_be_visible(timeout=SLOW)
    check_navigation(page, "patient")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=SLOW)
    first = min(v.date for v in store.visits(own))
    expect(main(page).get_by_test_id("stImage").filter(has_text=shown(first)).first).to_be_visible()
    expect(main(page).get_by_text(OBSERVED_ONLY, exact=True).first).to_be_visible()
    # no patient list to pick from: a patient account has one record
    expect(main(page).get_by_role("combobox", name="Patient")).to_have_count(0)
    text = check_page_text(page)
    other_dates = {shown(v.date) for v in store.visits(other)} - {
        shown(v.date) for v in store.visits(own)
    }
    # "3 Feb 2026" is inside "13 Feb 2026": a date counts only as a whole
    assert other not in text and not any(re.search(rf"(?<!\d){re.escape(d)}", text) for d in other_dates)
    save_screenshot(page, f"patient-{login[0]}-own-timeline")


@pytest.mark.parametrize(
    ("login", "other"),
    [(ROLE_LOGIN["patient"], OTHER_CODE), (OTHER_ACCOUNT, DEMO_CODE)],
    ids=["demo-patient", "other-patient"],
)
def test_patient_asking_for_another_record_gets_an_error_and_none_of_it(app, page, store, login, other):
    sign_in(page, app.url, *login, path=f"timeline?patient={other}")
    expect(page).to_have_url(re.compile(rf"\?patient={re.escape(other)}$"))
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_be_visible(timeout=SLOW)
    expect(error).to_contain_text("only its own record")
    text = check_page_text(page, errors=True)  # waits until the run has ended: nothing more is drawn
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)
    expect(page.get_by_test_id("stImage")).to_have_count(0)
    expect(page.locator("[data-testid=stMain] img, [data-testid=stMain] canvas")).to_have_count(0)
    html = main(page).inner_html()
    info = store.patient(other)
    identity = store.identity(info.id)
    secrets = [other, *(p.sha256[:16] for p in store.photos(patient=other))]
    secrets += [v.date.isoformat() for v in store.visits(other)]
    if identity is not None and identity.name:
        secrets.append(identity.name)
    for secret in secrets:
        assert secret not in text and secret not in html, secret
    for date in (shown(v.date) for v in store.visits(other)):  # "3 Feb 2026", not inside "13 Feb 2026"
        assert not re.search(rf"(?<!\d){re.escape(date)}", text + html), date
    values = measured_values(store, other)
    assert values, f"{other} has measurements to hide"
    for pattern in values:
        assert not re.search(pattern, text), pattern
    save_screenshot(page, f"patient-{login[0]}-denied-{other}")


# ---------------------------------------------------------------------- researcher: de-identified export


def test_researcher_sees_export_and_analyse_and_the_export_is_deidentified(app, page, store):
    sign_in(page, app.url, *ROLE_LOGIN["researcher"])
    expect(main(page).get_by_role("heading", name=FIRST_HEADING["researcher"], exact=True)).to_be_visible(timeout=SLOW)
    check_navigation(page, "researcher")
    for label in ("Download CSV", "Download Parquet"):
        expect(page.get_by_role("button", name=label)).to_be_visible()
    n_photos = len(store.photos())
    expect(main(page)).to_contain_text(f"{n_photos} measurements")
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible(timeout=SLOW)
    # the grid is drawn on a canvas; its accessible copy fills in once the grid is ready
    expect(table.locator("[role=columnheader]").filter(has_text="subject_id")).to_have_count(1, timeout=SLOW)
    expect(table.locator("[role=gridcell]").first).to_have_text(re.compile(r"^S-"), timeout=SLOW)
    headers = table.locator("[role=columnheader]").all_text_contents()
    cells = table.locator("[role=gridcell]").all_text_contents()
    assert "subject_id" in headers and not any("patient" in h.lower() for h in headers), headers
    codes = [p.code for p in store.patients()]
    text = check_page_text(page)
    for code in codes:
        assert code not in text and all(code not in c for c in cells), code

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    raw = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert len(rows) == n_photos
    assert all(r["subject_id"].startswith("S-") for r in rows)
    for code in codes:
        assert code not in raw, code
    for patient in store.patients():
        identity = store.identity(patient.id)
        if identity is not None and identity.name:
            assert identity.name not in raw

    with page.expect_download() as download:
        page.get_by_role("button", name="Download Parquet").click()
    frame = pd.read_parquet(download.value.path())
    assert len(frame) == n_photos and set(frame["subject_id"]) == {r["subject_id"] for r in rows}
    assert not frame.astype(str).apply(lambda col: col.str.contains("|".join(codes))).any().any()
    save_screenshot(page, "researcher-export")


# ---------------------------------------------------------------------- the PDF report from the timeline


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_patient_downloads_own_report_from_the_timeline(app, page, store):
    sign_in(page, app.url, *ROLE_LOGIN["patient"])
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=SLOW)
    expect(main(page).get_by_role("checkbox", name="Name and birth date on the report")).to_have_count(0)
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="PDF report").click()
    assert download.value.suggested_filename.startswith(f"report-{DEMO_CODE}-")
    path = download.value.path()
    assert path.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(path)
    assert DEMO_CODE in text and OTHER_CODE not in text
    assert " ".join(OBSERVED_ONLY.split()) in " ".join(text.split())
    identity = store.identity(store.patient(DEMO_CODE).id)
    assert identity is not None and identity.name and identity.name not in text


def test_clinician_report_carries_the_name_only_when_asked(app, page, store):
    identity = store.identity(store.patient(DEMO_CODE).id)
    sign_in(page, app.url, *ROLE_LOGIN["clinician"], path=f"timeline?patient={DEMO_CODE}")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=SLOW)
    texts = []
    for with_name in (False, True):
        if with_name:
            main(page).get_by_text("Name and birth date on the report").click()
            expect(main(page).get_by_role("checkbox", name="Name and birth date on the report")).to_be_checked()
            # the button drawn by the rerun that took the choice (before it, a click gets the old file)
            expect(page.get_by_role("button", name="PDF report with name")).to_be_visible(timeout=SLOW)
            check_page_text(page)  # the rerun has ended
        with page.expect_download(timeout=SLOW) as download:
            page.get_by_role("button", name="PDF report with name" if with_name else "PDF report").click()
        texts.append(pdf_text(download.value.path()))
    assert DEMO_CODE in texts[0] and identity.name not in texts[0]
    assert identity.name in texts[1]
