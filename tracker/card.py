"""The printable calibration card: a PDF at exact millimetre size and a PNG.

``tracker card --out DIR`` writes ``DIR/card.pdf`` (an A4 page with the card
drawn as vectors at its exact size, a cut line and printing instructions) and
``DIR/card.png`` (the card alone, with its resolution in the file so that it
prints at size). The card's layout is :data:`tracker.imaging.calibrate.CARD`;
:func:`tracker.imaging.calibrate.detect_card` finds it in photos.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from fpdf import FPDF
from PIL import Image

from tracker.imaging.calibrate import (
    CARD,
    TICK_LENGTHS_MM,
    TICK_WIDTH_MM,
    CardLayout,
    render_card,
)

__all__ = ["CHECK_LINE_MM", "PAGE_MM", "card_pdf_bytes", "card_png_bytes", "card_position_mm", "write_card"]

#: A4 portrait, in millimetres.
PAGE_MM = (210.0, 297.0)
#: Length of the line printed under the card to check the printer's scale.
CHECK_LINE_MM = 100.0
#: The card's top edge on the page, mm.
CARD_TOP_MM = 30.0

INSTRUCTIONS = (
    "Print this page at 100 % (actual size): switch off 'fit to page' or 'shrink to fit'.",
    f"Check with a ruler: the line above must measure {CHECK_LINE_MM:g} mm and the card's ruler 0 to 40 mm.",
    "Cut the card out along the grey line; matte paper avoids glare.",
    "In each photo, lay the card flat on the scalp next to the region you photograph,",
    "with all four black squares in view and not covered by hair.",
)


def card_position_mm(layout: CardLayout = CARD) -> tuple[float, float]:
    """Top-left corner of the card on the PDF page, mm from the page's top-left.

    Examples
    --------
    >>> card_position_mm()
    (65.0, 30.0)
    """
    return ((PAGE_MM[0] - layout.width_mm) / 2.0, CARD_TOP_MM)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-d bool array."""
    padded = np.r_[False, row, False].astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _draw_card(pdf: FPDF, x0: float, y0: float, layout: CardLayout) -> None:
    pdf.set_draw_color(160)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=1.0, gap=1.0)
    pdf.rect(x0, y0, layout.width_mm, layout.height_mm)  # cut line, on the card's edge
    pdf.set_dash_pattern()
    pdf.set_fill_color(0)
    for marker_id, (mx, my) in layout.markers.items():
        bits = layout.marker_bits(marker_id)
        cell = layout.marker_mm / bits.shape[0]
        for r, row in enumerate(bits):
            for start, length in _runs(row):
                pdf.rect(x0 + mx + start * cell, y0 + my + r * cell, length * cell, cell, style="F")
    gx, gy, gw, gh = layout.grey_patch
    pdf.set_fill_color(layout.grey_level)
    pdf.rect(x0 + gx, y0 + gy, gw, gh, style="F")
    pdf.set_fill_color(0)
    rx, ry = layout.ruler_origin
    tw = TICK_WIDTH_MM
    pdf.rect(x0 + rx - tw / 2, y0 + ry - tw / 2, layout.ruler_mm + tw, tw, style="F")
    for k in range(layout.ruler_mm + 1):
        length = TICK_LENGTHS_MM[2 if k % 10 == 0 else 1 if k % 5 == 0 else 0]
        pdf.rect(x0 + rx + k - tw / 2, y0 + ry, tw, length, style="F")
    pdf.set_text_color(0)
    pdf.set_font("helvetica", size=6)
    label_y = y0 + ry + TICK_LENGTHS_MM[2] + 3.0
    for k in range(0, layout.ruler_mm + 1, 10):
        text = str(k)
        pdf.text(x0 + rx + k - pdf.get_string_width(text) / 2, label_y, text)
    pdf.set_font("helvetica", size=5)
    pdf.text(x0 + rx + layout.ruler_mm - 5.0 - pdf.get_string_width("mm") / 2, label_y, "mm")
    pdf.set_font("helvetica", size=6.5)
    title = "scalp tracker calibration card"
    pdf.text(x0 + layout.width_mm / 2 - pdf.get_string_width(title) / 2, y0 + gy + gh + 5.0, title)
    pdf.set_font("helvetica", size=5)
    sub = f"{layout.width_mm:g} x {layout.height_mm:g} mm - print at actual size"
    pdf.text(x0 + layout.width_mm / 2 - pdf.get_string_width(sub) / 2, y0 + gy + gh + 9.0, sub)


def card_pdf_bytes(layout: CardLayout = CARD) -> bytes:
    """The A4 PDF page with the card at exact size (vector graphics), as bytes.

    Examples
    --------
    >>> card_pdf_bytes()[:5]
    b'%PDF-'
    """
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title("Calibration card")
    pdf.set_creator("scalp tracker")
    pdf.add_page()
    x0, y0 = card_position_mm(layout)
    _draw_card(pdf, x0, y0, layout)
    # the printer's scale check
    line_y = y0 + layout.height_mm + 15.0
    lx = (PAGE_MM[0] - CHECK_LINE_MM) / 2.0
    pdf.set_fill_color(0)
    pdf.rect(lx, line_y - 0.15, CHECK_LINE_MM, 0.3, style="F")
    for x in (lx, lx + CHECK_LINE_MM):
        pdf.rect(x - 0.15, line_y - 3.0, 0.3, 6.0, style="F")
    pdf.set_font("helvetica", size=8)
    label = f"{CHECK_LINE_MM:g} mm"
    pdf.text(PAGE_MM[0] / 2 - pdf.get_string_width(label) / 2, line_y - 2.0, label)
    pdf.set_font("helvetica", size=9)
    for i, line in enumerate(INSTRUCTIONS):
        pdf.text(20.0, line_y + 12.0 + 5.5 * i, line)
    return bytes(pdf.output())


def card_png_bytes(dpi: int = 600, layout: CardLayout = CARD) -> bytes:
    """The card alone as a PNG at ``dpi``, with the resolution stored in the file.

    Examples
    --------
    >>> from PIL import Image
    >>> im = Image.open(io.BytesIO(card_png_bytes(300)))
    >>> im.size, [round(v) for v in im.info["dpi"]]
    ((945, 531), [300, 300])
    """
    if not 100 <= dpi <= 2400:
        raise ValueError(f"dpi={dpi} must be within 100-2400; 600 suits most printers")
    pixels = render_card(dpi / 25.4, layout)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", dpi=(dpi, dpi), optimize=True)
    return buf.getvalue()


def write_card(out_dir: str | Path, *, dpi: int = 600, layout: CardLayout = CARD) -> tuple[Path, Path]:
    """Write ``card.pdf`` and ``card.png`` into ``out_dir`` (made if missing).

    Returns
    -------
    (Path, Path)
        The PDF and the PNG.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the card")
    png = card_png_bytes(dpi, layout)  # checks dpi before anything is written
    out.mkdir(parents=True, exist_ok=True)
    pdf_path, png_path = out / "card.pdf", out / "card.png"
    pdf_path.write_bytes(card_pdf_bytes(layout))
    png_path.write_bytes(png)
    return pdf_path, png_path
