"""Tests for tracker.card and `tracker card`: the printable card at exact size.

The PDF is rasterised with poppler's pdftoppm (Debian: poppler-utils) and the
card found in the picture must have the page's scale; the PNG must carry its
resolution and have the card's size at it.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tracker import card as card_module
from tracker.card import (
    CHECK_LINE_MM,
    INSTRUCTIONS,
    card_pdf_bytes,
    card_png_bytes,
    card_position_mm,
    write_card,
)
from tracker.cli import main
from tracker.imaging.calibrate import CARD, detect_card
from tracker.wording import BANNED_WORDS

A4_PT = (595.28, 841.89)


def test_pdf_page_is_a4():
    pdf = card_pdf_bytes()
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert boxes, "no MediaBox in the PDF"
    for w, h in boxes:
        assert float(w) == pytest.approx(A4_PT[0], abs=0.01) and float(h) == pytest.approx(A4_PT[1], abs=0.01)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
@pytest.mark.parametrize("dpi", [150, 300])
def test_pdf_card_has_exact_size(tmp_path, dpi):
    (tmp_path / "card.pdf").write_bytes(card_pdf_bytes())
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", "card.pdf", "page"], cwd=tmp_path, check=True)
    page = np.asarray(Image.open(tmp_path / "page.png").convert("RGB"))
    ppm = dpi / 25.4
    # A4 is 595.28 x 841.89 pt; pdftoppm rounds the page up to whole pixels
    assert abs(page.shape[0] - 297 * ppm) <= 1 and abs(page.shape[1] - 210 * ppm) <= 1
    d = detect_card(page)
    assert d is not None and d.ok and d.marker_ids == (0, 1, 2, 3)
    assert d.px_per_mm == pytest.approx(ppm, rel=0.002)  # the card is printed at its size
    x0, y0 = card_position_mm()
    expected = (CARD.outline_mm + [x0, y0]) * ppm - 0.5
    assert np.abs(d.corners - expected).max() < 1.0  # and where the layout says
    np.testing.assert_allclose(d.grey_rgb, CARD.grey_level, atol=2)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pdf_check_line_is_100_mm(tmp_path):
    (tmp_path / "card.pdf").write_bytes(card_pdf_bytes())
    dpi = 300
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-singlefile", "card.pdf", "page"], cwd=tmp_path, check=True)
    page = np.asarray(Image.open(tmp_path / "page.pgm"))
    ppm = dpi / 25.4
    y = round((card_position_mm()[1] + CARD.height_mm + 15.0) * ppm)
    dark = np.flatnonzero(page[y - 1 : y + 2].min(axis=0) < 128)
    assert (dark[-1] - dark[0] + 1) / ppm == pytest.approx(CHECK_LINE_MM + 0.3, abs=0.3)  # line plus end-tick width


@pytest.mark.parametrize("dpi", [300, 600])
def test_png_carries_its_resolution(dpi):
    im = Image.open(io.BytesIO(card_png_bytes(dpi)))
    ppm = dpi / 25.4
    assert im.size == (round(80 * ppm), round(45 * ppm))
    assert [round(v) for v in im.info["dpi"]] == [dpi, dpi]
    pixels = np.pad(np.asarray(im.convert("RGB")), ((30, 30), (30, 30), (0, 0)), constant_values=80)
    d = detect_card(pixels)
    assert d is not None and d.ok and d.px_per_mm == pytest.approx(ppm, rel=0.002)


def test_write_card(tmp_path):
    pdf, png = write_card(tmp_path / "new" / "folder", dpi=300)
    assert pdf.name == "card.pdf" and png.name == "card.png"
    assert pdf.read_bytes() == card_pdf_bytes()
    assert png.read_bytes() == card_png_bytes(300)


def test_write_card_refuses_a_file(tmp_path):
    f = tmp_path / "x"
    f.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        write_card(f)


@pytest.mark.parametrize("dpi", [50, 5000])
def test_bad_dpi_writes_nothing(tmp_path, dpi):
    with pytest.raises(ValueError, match="dpi"):
        write_card(tmp_path / "out", dpi=dpi)
    assert not (tmp_path / "out").exists()


def test_cli_card(tmp_path, capsys):
    assert main(["card", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "card.pdf").is_file() and (tmp_path / "card.png").is_file()
    out = capsys.readouterr().out
    assert "actual size" in out
    assert not any(word in out.lower() for word in BANNED_WORDS)


def test_cli_card_bad_dpi(tmp_path, capsys):
    assert main(["card", "--out", str(tmp_path), "--dpi", "10"]) == 2
    assert "dpi" in capsys.readouterr().err


def test_user_visible_text_has_no_banned_words():
    text = " ".join(INSTRUCTIONS).lower()
    source = Path(card_module.__file__).read_text(encoding="utf-8").lower()
    for word in BANNED_WORDS:
        assert word not in text
        assert word not in source
