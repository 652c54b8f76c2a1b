"""The clinician PDF report, read back with poppler (pdfinfo, pdftoppm, pdftotext).

The store is real (SQLite, generated close-ups analysed on the way in). The
numbers the text must show are worked out here from the store's raw
measurement rows, not from the report's own tables.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from _reportdata import (
    BANNED,
    DATES,
    NAME,
    PASSWORD,
    chart_line_pixels,
    closeup_png,
    noise_png,
    overlay_pixels,
    read_back,
)

from tracker.access import Access, AccessDenied
from tracker.analysis import ALGORITHM_VERSION
from tracker.report import STRIP_LENGTH, patient_report
from tracker.report.pdf import strip_picks
from tracker.store import NewPhoto, Store
from tracker.wording import OBSERVED_ONLY

GENERATED = dt.datetime(2025, 8, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def report(world, tmp_path_factory):
    pdf = patient_report(world.clinician, "P-1", generated_at=GENERATED)
    return pdf, read_back(pdf, tmp_path_factory.mktemp("pdf"))


def _content(image: np.ndarray) -> np.ndarray:
    """A page without its footer (the bottom 9 %), which every page has."""
    return image[: int(image.shape[0] * 0.91)]


def test_pages_render_and_none_is_blank(report):
    pdf, back = report
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert back.pages == len(back.images)
    assert back.pages >= 3  # the header page, and each of the two views starts a page
    for number, image in enumerate(back.images, start=1):
        inked_rows = np.count_nonzero((_content(image).min(axis=2) < 200).any(axis=1))
        # at 50 dpi a line of text inks about 6 rows: a page must hold more than a line or two
        assert inked_rows > 20, f"page {number} has next to nothing above its footer ({inked_rows} inked rows)"


def test_text_carries_the_observed_only_line_and_no_banned_word(report):
    _, back = report
    text = back.flat_text
    pages = [" ".join(page.split()) for page in back.text.split("\f") if page.strip()]
    assert len(pages) == back.pages
    for number, page in enumerate(pages, start=1):
        assert OBSERVED_ONLY in page, f"page {number} lacks the observed-only line"
    assert not BANNED.findall(back.text), BANNED.findall(back.text)
    for expected in ("Hair measurement report", "P-1", ALGORITHM_VERSION, "Close-up: vertex", "Vertex",
                     "Values and differences from baseline", "1 Aug 2025, 09:30 UTC by dr.a",
                     "3, from 6 Jan 2025 to 1 Jul 2025", "treatment started"):
        assert expected in text, expected


def test_report_is_pseudonymous_by_default(report, world):
    pdf, back = report
    assert NAME not in back.flat_text and "Ann" not in back.text and "1980" not in back.text
    assert "phoned [name removed]" in back.flat_text  # the name typed into an event marker
    assert "ann_example" not in back.text  # photo file names are never printed
    assert b"Ann Example" not in pdf and b"ann_example" not in pdf


def _wrapped(phrase: str) -> re.Pattern:
    """`phrase` as a table cell reads back when it wraps: pdftotext reads a table line by
    line across its columns, so a few words of the next cell may fall between its words."""
    return re.compile(r"\s+(?:\S+\s+){0,8}?".join(re.escape(word) for word in phrase.split()))


def test_values_and_differences_match_the_store(report, world):
    """The close-up hair count of each visit and its difference from baseline, from raw rows."""
    _, back = report
    rows = [r for r in world.store.timeline("P-1") if r.view == "closeup:vertex"]
    per_visit = {d: [r.hair_count for r in rows if r.visit_date == d] for d in DATES}
    assert [len(v) for v in per_visit.values()] == [1, 2, 1]
    means = {d: float(np.mean(v)) for d, v in per_visit.items()}
    text = back.flat_text
    base = means[DATES[0]]
    for d in DATES[1:]:
        diff = means[d] - base
        if round(diff) == 0:
            continue
        side = "higher" if diff > 0 else "lower"
        hairs = "hair" if f"{abs(diff):.0f}" == "1" else "hairs"
        phrase = f"{abs(diff):.0f} {hairs} {side} than baseline ({diff / base * 100:+.1f} %)"
        assert _wrapped(phrase).search(text), phrase
    # the noise band of the close-up comes from the repeat at visit 2: sample SD of its two counts
    sd = float(np.std(per_visit[DATES[1]], ddof=1))
    assert _wrapped(f"± {sd:.1f} (repeat photos at this visit)").search(text)
    coverage = np.mean([r.coverage_pct for r in rows if r.visit_date == DATES[2]])
    assert re.search(rf"Coverage \(%\) {coverage:.1f}\b", text) or f" {coverage:.1f} " in text


def test_view_pages_show_the_photo_strip_with_overlays_and_the_charts(report):
    _, back = report
    assert overlay_pixels(back.images[0]) == 0  # the header page has no photo
    assert chart_line_pixels(back.images[0]) == 0
    closeup = back.images[1]  # the first view's first page
    assert overlay_pixels(closeup) > 200, "no overlay tint in the photo strip"
    assert chart_line_pixels(closeup) > 50, "no chart line"  # pages without a chart have none
    # the strip is at the top: the overlay tint lies in the upper third of the page
    top = closeup[: closeup.shape[0] // 3]
    assert overlay_pixels(top) > 0.9 * overlay_pixels(closeup)


def test_clinician_may_add_the_name(world, tmp_path):
    back = read_back(world.clinician.report("P-1", include_name=True), tmp_path)
    assert NAME in back.flat_text and "17 May 1980" in back.flat_text
    assert f"phoned {NAME}" in back.flat_text


def test_the_patient_may_get_their_own_report_without_name(world, tmp_path):
    back = read_back(world.patient.report("P-1"), tmp_path)
    assert "P-1" in back.flat_text and NAME not in back.flat_text
    # the account's username may be the patient's name: the report says whose account it was
    assert "by the patient's own account" in back.flat_text and "pat.one" not in back.flat_text
    with pytest.raises(AccessDenied, match="only a clinician"):
        world.patient.report("P-1", include_name=True)


@pytest.mark.parametrize("who, patient", [("other_patient", "P-1"), ("patient", "P-2"), ("researcher", "P-1")])
def test_nobody_else_gets_a_report(world, who, patient):
    with pytest.raises(AccessDenied):
        getattr(world, who).report(patient)
    with pytest.raises(AccessDenied):
        patient_report(getattr(world, who), patient)


def _clinic(folder) -> tuple[Store, Access]:
    """A store of its own with one clinician account."""
    store = Store.open(folder, user="setup")
    store.add_account("dr.b", PASSWORD, "clinician")
    return store, Access(store, store.account("dr.b"))


def test_many_visits_are_spread_over_the_strip_and_the_table_keeps_every_visit(tmp_path):
    store, clinician = _clinic(tmp_path / "store")
    store.add_patient("P-9")
    visits = 9
    for i in range(visits):
        v = store.add_visit("P-9", dt.date(2025, 3, 1) + dt.timedelta(days=30 * i))
        store.add_photos(v.id, [NewPhoto("crown", noise_png(100 + i))])
    back = read_back(patient_report(clinician, "P-9"), tmp_path / "pdf")
    assert f"{STRIP_LENGTH} of {visits} visits shown, spread evenly" in back.flat_text
    view_rows = back.flat_text.split("Values and differences from baseline", 1)[1]
    assert view_rows.count("Coverage (%)") == visits  # every visit has its row in the table
    store.close()


def test_a_patient_without_measurements_gets_a_one_page_report(tmp_path):
    store, clinician = _clinic(tmp_path / "store")
    store.add_patient("P-3")
    back = read_back(patient_report(clinician, "P-3"), tmp_path / "pdf")
    assert back.pages == 1
    assert "No measurements yet" in back.flat_text and OBSERVED_ONLY in back.flat_text
    store.close()


@pytest.mark.parametrize("n, picks", [(1, [0]), (6, [0, 1, 2, 3, 4, 5]), (7, [0, 1, 2, 4, 5, 6]), (0, [])])
def test_strip_picks(n, picks):
    assert strip_picks(n) == picks


def test_without_a_unicode_font_the_core_font_writes_the_same_text(world, tmp_path, monkeypatch):
    """A machine without DejaVu Sans: the PDF core font (Latin-1) still writes µm, cm², ± and the line."""
    import tracker.report.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "_font_files", lambda: None)
    back = read_back(patient_report(world.clinician, "P-1"), tmp_path)
    for page in back.text.split("\f")[: back.pages]:
        assert OBSERVED_ONLY in " ".join(page.split())
    assert "Mean shaft width (µm)" in back.flat_text and "Density (hairs/cm²)" in back.flat_text
    assert "± " in back.flat_text


def test_a_value_whose_region_was_not_registered_is_marked_in_the_report(tmp_path):
    store, clinician = _clinic(tmp_path / "store")
    store.add_patient("P-4")
    first = store.add_visit("P-4", dt.date(2025, 1, 6))
    (base,) = store.add_photos(first.id, [NewPhoto("closeup:vertex", closeup_png(50, 200), "a.png")])
    store.set_roi("P-4", "closeup:vertex", (40, 30, 120, 90), baseline_photo_id=base.photo.id)
    store.reanalyse(patient="P-4")
    later = store.add_visit("P-4", dt.date(2025, 4, 1))
    # another scalp altogether: it cannot be registered to the baseline photo
    store.add_photos(later.id, [NewPhoto("closeup:vertex", closeup_png(77, 200), "b.png")])
    assert store.timeline("P-4")[-1].roi_source == "unregistered"
    back = read_back(patient_report(clinician, "P-4"), tmp_path / "pdf")
    # how to read it, the summary's latest values and the view's table (cells wrap: pdftotext
    # reads a wrapped cell's second line after the row)
    assert back.flat_text.count("region not") == 1 + 3 + 3
    assert re.search(r"\(1 Apr 2025\),.{0,40}region not registered", back.flat_text)
    assert "ringed in red on the charts" in back.flat_text
    store.close()


def test_a_report_without_the_name_redacts_the_free_text_it_prints(tmp_path):
    """Markers and close-up site names lose what a de-identified export takes out of them
    (tracker.export.redact); the clinician's copy with the name prints them as typed."""
    store, clinician = _clinic(tmp_path / "store")
    store.add_patient("P-5", name="Cleo Sample")
    marker = "phoned Cleo Sample on 555-123-4567 and wrote to cleo.sample@example.org"
    site = "closeup:scar ring 0612 345 678"
    for date, events in ((dt.date(2025, 1, 6), [marker]), (dt.date(2025, 4, 1), ["seen by Dr Lee on 2025-03-02"])):
        visit = store.add_visit("P-5", date, events=events)
        store.add_photos(visit.id, [NewPhoto(site, closeup_png(60 + date.month, 200), "a.png")])
    identifiers = ("555-123-4567", "4567", "example.org", "cleo.sample@", "Cleo", "Sample", "0612", "345 678",
                   "Lee", "2025-03-02")

    back = read_back(patient_report(clinician, "P-5"), tmp_path / "pdf")
    text = back.flat_text
    assert [i for i in identifiers if i in text] == []
    for phrase in ("phoned [name removed] on [phone removed] and wrote to [email removed]",
                   "seen by [name removed] on [date removed]"):
        assert _wrapped(phrase).search(text), phrase
    assert "Views Close-up: scar ring [phone removed]" in text

    named = read_back(patient_report(clinician, "P-5", include_name=True), tmp_path / "named").flat_text
    assert "Views Close-up: scar ring 0612 345 678" in named
    # a narrow cell may wrap inside the e-mail address: its start is enough
    assert [i for i in (*identifiers[:2], "cleo.sample@", *identifiers[4:]) if i not in named] == []
    store.close()
