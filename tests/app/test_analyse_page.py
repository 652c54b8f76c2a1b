"""The "Analyse a photo" page (app_pages/analyse.py), driven through AppTest."""

from __future__ import annotations

import functools
import re

import cv2
import numpy as np
import pytest
from _app_util import (  # also puts the app's folder on sys.path
    BANNED,
    PAGES,
    all_text,
    run_page,
)
from streamlit.testing.v1 import AppTest

from app_pages.common import STATUS_STYLE
from tracker.analysis import analyze
from tracker.photo import load_photo
from tracker.synth import render_closeup
from tracker.wording import OBSERVED_ONLY

PAGE = PAGES / "analyse.py"


@pytest.fixture(autouse=True)
def _signed_in_store(clinic, use_clinic):
    use_clinic(clinic)


@functools.cache
def closeup_png(seed: int = 1) -> bytes:
    """A generated close-up (512 x 384 pixels) as PNG bytes."""
    rgb = render_closeup(seed=seed, shape=(384, 512)).image
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def run_app(files=None, **inputs) -> AppTest:
    """Run the page signed in as a clinician, set sidebar inputs (by key) and uploads, run again."""
    at = run_page("analyse", "dr.test")
    for key, value in inputs.items():
        widget = at.selectbox(key=key) if key == "mode" else at.number_input(key=key)
        widget.set_value(value)
    if files is not None:
        at.file_uploader(key="photos").set_value(files)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table_values(at: AppTest, index: int = 0) -> dict[str, tuple[str, str]]:
    """Rows of a measurement table as {measure and unit: (value, note)}."""
    frame = at.table[index].value
    rows = {}
    for measure, value, note in frame[["Measure", "Value", "Note"]].itertuples(
        index=False
    ):
        unit = "" if value == "not measured" else value.split(" ", 1)[1]
        rows[f"{measure} [{unit}]" if unit else measure] = (value, note)
    return rows


def test_page_loads_and_asks_for_photos():
    at = run_app()
    assert [t.value for t in at.title] == ["Analyse a scalp photo"]
    uploader = at.file_uploader(key="photos")
    assert uploader.accept_multiple_files
    assert set(uploader.allowed_type) == {
        ".jpg",
        ".jpeg",
        ".png",
        ".tif",
        ".tiff",
        ".webp",
        ".heic",
        ".heif",
    }
    assert [i.value for i in at.info] == [
        "Upload one or more scalp photos to measure them."
    ]
    assert not at.error and not at.table


@pytest.mark.parametrize(
    ("inputs", "roi", "px_per_mm"),
    [
        ({}, None, None),
        ({"px_per_mm": 250.0}, None, 250.0),
        (
            {"roi_x": 40, "roi_y": 30, "roi_w": 400, "roi_h": 300, "px_per_mm": 250.0},
            (40, 30, 400, 300),
            250.0,
        ),
    ],
    ids=["whole-photo-no-scale", "with-scale", "roi-and-scale"],
)
def test_uploaded_photo_shows_the_library_measurements(inputs, roi, px_per_mm):
    data = closeup_png()
    expected = analyze(load_photo(data).pixels, roi=roi, px_per_mm=px_per_mm)
    assert expected.mode == "closeup" and expected.hair_count > 0

    at = run_app(("scalp.png", data, "image/png"), **inputs)

    assert not at.error
    assert [h.value for h in at.subheader] == ["scalp.png"]
    assert len(at.image) == 2  # the photo and its overlay
    rows = table_values(at)
    assert rows["Coverage [%]"][0] == f"{expected.coverage_pct:.1f} %"
    assert rows["Hair count [hairs]"][0] == f"{expected.hair_count} hairs"
    assert rows["Mean shaft width (px) [px]"][0] == f"{expected.mean_width_px:.1f} px"
    captions = [c.value for c in at.caption]
    assert OBSERVED_ONLY in captions
    markdown = [m.value for m in at.markdown]
    if px_per_mm is None:
        assert (
            "**Measurements** (measured as a close-up; no scale: density, width in µm and thin-hair share "
            "are not measured)"
        ) in markdown
        value, note = rows["Density"]
        assert value == "not measured"
        assert note == "No scale: needs the calibration card in the photo, or a typed scale."
        assert rows["Thin hairs (under 40 µm)"][0] == "not measured"
        assert rows["Mean shaft width (µm)"] == ("not measured", note)
    else:
        assert rows["Density [hairs/cm²]"] == (
            f"{expected.density_per_cm2:.0f} hairs/cm²",
            "",
        )
        assert (
            rows["Thin hairs (under 40 µm) [%]"][0] == f"{expected.thin_hair_pct:.1f} %"
        )
        assert "**Measurements** (measured as a close-up; scale as typed)" in markdown


def test_quality_verdict_per_check_with_advice():
    data = closeup_png()
    quality = analyze(load_photo(data).pixels).quality
    at = run_app(("scalp.png", data, "image/png"))
    lines = [m.value for m in at.markdown]
    icons = {status: icon for status, (icon, _) in STATUS_STYLE.items()}
    for check in quality.checks:
        line = next(line for line in lines if f"**{check.name.capitalize()}**" in line)
        assert line.startswith(icons[check.status])
        assert f"[{check.status}]" in line
        assert line.endswith(check.advice)
    assert any(
        line.startswith("**Photo quality:**") and f"[{quality.status}]" in line
        for line in lines
    )


def test_overview_mode_reports_coverage_only():
    at = run_app(("scalp.png", closeup_png(), "image/png"), mode="overview")
    assert [w.value for w in at.warning] == [
        "This photo looks like a close-up, but it was measured as an overview, as chosen: the numbers may "
        "not mean much. Choose 'Detect automatically' or the other type."
    ]
    rows = table_values(at)
    assert re.fullmatch(r"\d+\.\d %", rows["Coverage [%]"][0])
    value, note = rows["Hair count"]
    assert value == "not measured" and note == "Overview photo: single hairs are not resolved."
    assert rows["Mean shaft width (µm)"][1] == note  # the first reason that applies
    assert "**Measurements** (measured as an overview; no scale (coverage needs none))" in [
        m.value for m in at.markdown
    ]


def test_a_close_up_without_hair_says_so_where_width_is_not_measured():
    ok, data = cv2.imencode(".png", np.full((384, 512, 3), 190, np.uint8))
    at = run_app(("bare.png", data.tobytes(), "image/png"), mode="closeup", px_per_mm=250.0)
    rows = table_values(at)
    assert rows["Hair count [hairs]"][0] == "0 hairs"
    assert rows["Mean shaft width (px)"] == ("not measured", "No hair shafts found in the region.")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "note.jpg",
            b"This is a note, not a photo.\n" * 20,
            "note.jpg: the file contains text, not image data",
        ),
        (
            "empty.png",
            b"",
            "empty.png: the file is empty (0 bytes). Upload the original photo again.",
        ),
        (
            "cut.png",
            closeup_png()[:2000],
            "cut.png: the file ends before the image data does",
        ),
    ],
    ids=["text-as-jpg", "empty", "truncated"],
)
def test_undecodable_upload_shows_an_actionable_error(name, data, message):
    at = run_app((name, data, "image/jpeg"))
    assert [e.value[: len(message)] for e in at.error] == [message]
    assert "Upload" in at.error[0].value  # says what to do
    assert not at.table and not at.image


def test_roi_outside_the_photo_shows_an_error():
    at = run_app(
        ("scalp.png", closeup_png(), "image/png"),
        roi_x=400,
        roi_y=0,
        roi_w=200,
        roi_h=100,
    )
    assert len(at.error) == 1
    text = at.error[0].value
    assert (
        "(400, 0, 200, 100)" in text
        and "512x384" in text
        and "inside the image" in text
    )
    assert not at.table


def test_half_given_roi_asks_for_all_four_values():
    at = run_app(("scalp.png", closeup_png(), "image/png"), roi_x=10, roi_w=50)
    assert [e.value for e in at.error] == [
        (
            "Give all four region-of-interest values (x, y, width, height), "
            "or clear them all to measure the whole photo."
        )
    ]
    assert not at.table


def test_several_uploads_are_shown_one_by_one():
    files = [
        ("first.png", closeup_png(1), "image/png"),
        ("broken.jpg", b"not a photo", "image/jpeg"),
        ("second.png", closeup_png(2), "image/png"),
    ]
    at = run_app(files)
    assert [h.value for h in at.subheader] == ["All photos", "first.png", "broken.jpg", "second.png"]
    assert len(at.table) == 2 and len(at.image) == 4
    assert len(at.error) == 1 and at.error[0].value.startswith("broken.jpg:")
    assert [c.value for c in at.caption].count(OBSERVED_ONLY) == 3  # each table, and the one of all photos
    counts = [table_values(at, i)["Hair count [hairs]"][0] for i in range(2)]
    assert counts == [
        f"{analyze(load_photo(closeup_png(s)).pixels).hair_count} hairs" for s in (1, 2)
    ]


def test_several_uploads_are_summed_up_in_one_table_above_them():
    files = [
        ("first.png", closeup_png(1), "image/png"),
        ("broken.jpg", b"not a photo", "image/jpeg"),
        ("second.png", closeup_png(2), "image/png"),
    ]
    at = run_app(files, px_per_mm=200.0)
    summary = at.dataframe[0]
    rows = summary.value.to_dict("records")
    assert [r["Photo"] for r in rows] == ["first.png", "broken.jpg", "second.png"]
    assert list(rows[0])[2:] == [
        "Coverage (%)", "Hair count (hairs)", "Density (hairs/cm²)", "Mean shaft width (px)",
        "Mean shaft width (µm)", "Thin hairs (%)",
    ]
    for row, seed in ((rows[0], 1), (rows[2], 2)):
        analysis = analyze(load_photo(closeup_png(seed)).pixels, px_per_mm=200.0)
        assert row["Quality"] == analysis.quality.status
        assert row["Hair count (hairs)"] == analysis.hair_count
        assert row["Coverage (%)"] == round(analysis.coverage_pct, 1)
    assert rows[1]["Quality"] == "not measured, see below"
    assert np.isnan(rows[1]["Hair count (hairs)"])
    assert summary.proto.placeholder == "not measured"


def test_one_upload_has_no_table_of_all_photos():
    at = run_app(("scalp.png", closeup_png(), "image/png"))
    assert not at.dataframe and "All photos" not in [h.value for h in at.subheader]


def test_no_banned_words_on_the_page_or_in_the_source():
    files = [
        ("scalp.png", closeup_png(), "image/png"),
        ("note.jpg", b"hello", "image/jpeg"),
    ]
    at = run_app(files, px_per_mm=250.0)
    text = all_text(at)
    assert (
        OBSERVED_ONLY in text and "Hair count" in text
    )  # the walk reaches rendered content
    assert BANNED.findall(text) == []
    assert BANNED.findall(PAGE.read_text(encoding="utf-8")) == []


def test_the_page_speaks_plainly_of_what_was_measured():
    """No internal names on the page: the overlay frames the "region", the table says how the
    photo was measured in words ("measured as a close-up"), not "analysed as closeup, scale source"."""
    at = run_app(("scalp.png", closeup_png(), "image/png"))
    (overlay,) = [c for im in at.image for c in im.captions if c.startswith("What was measured")]
    assert "region framed" in overlay
    shown = " ".join([*(m.value for m in at.markdown), *(c.value for c in at.caption), overlay])
    for jargon in ("ROI", "analysed as", "scale source", "closeup"):
        assert jargon not in shown, jargon


def test_the_page_says_where_the_sidebar_settings_are():
    """On a phone the sidebar is folded away: the page itself points to its settings."""
    at = run_app()
    assert (
        "Photo type, scale and region of interest: set them in the sidebar "
        "(on a phone, open it with » at the top left)."
        in [c.value for c in at.main.caption]
    )
