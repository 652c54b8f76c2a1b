"""Streamlit page: analyse scalp photos.

Run with ``streamlit run app.py``. The page only gathers input and shows what
the library returns: :func:`tracker.photo.load_photo` decodes each upload,
:func:`tracker.analysis.analyze` measures it and
:func:`tracker.imaging.overlay.draw_overlay` draws what was measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from tracker.analysis import analyze
from tracker.imaging.overlay import draw_overlay
from tracker.photo import load_photo
from tracker.wording import OBSERVED_ONLY

PHOTO_TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "webp", "heic", "heif"]
MODES = {
    "auto": "Detect automatically",
    "closeup": "Close-up (trichoscope, dermatoscope, macro lens)",
    "overview": "Overview (phone or camera photo of a scalp region)",
}
STATUS_STYLE = {"pass": ("✅", "green"), "warn": ("⚠️", "orange"), "fail": ("❌", "red")}
# (record key, label, unit, decimals)
MEASURES = (
    ("coverage_pct", "Coverage", "%", 1),
    ("hair_count", "Hair count", "hairs", 0),
    ("density_per_cm2", "Density", "hairs/cm²", 0),
    ("mean_width_px", "Mean shaft width", "px", 1),
    ("mean_width_um", "Mean shaft width", "µm", 0),
    ("thin_hair_pct", "Thin hairs", "%", 1),
)


@st.cache_data(max_entries=32, show_spinner="Measuring the photo ...")
def measure_photo(
    data: bytes,
    name: str,
    roi: tuple[int, int, int, int] | None,
    px_per_mm: float | None,
    mode: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Decode, measure and draw one photo: ``(pixels, overlay, record)``.

    Raises the library's ValueError (a :class:`tracker.photo.PhotoError` for
    bytes that are not a usable photo) with a message for the person uploading.
    """
    photo = load_photo(data, name=name)
    analysis = analyze(photo.pixels, roi=roi, px_per_mm=px_per_mm, mode=mode)
    overlay = draw_overlay(
        photo.pixels, analysis.mask, roi=analysis.roi, groups=analysis.groups
    )
    return photo.pixels, overlay, {"sha256": photo.sha256, **analysis.to_record()}


def measurement_rows(record: dict[str, Any]) -> list[dict[str, str]]:
    """Table rows of the measurements; a value that is None reads "not measured"."""
    reason = " ".join(record["notes"])
    thin_um = record["parameters"]["thin_um"]
    rows = []
    for key, label, unit, decimals in MEASURES:
        value = record[key]
        if key == "thin_hair_pct":
            label = f"{label} (under {thin_um:g} µm)"
        if value is None:
            rows.append({"Measure": label, "Value": "not measured", "Note": reason})
        else:
            rows.append(
                {"Measure": label, "Value": f"{value:.{decimals}f} {unit}", "Note": ""}
            )
    return rows


def show_quality(quality: dict[str, Any]) -> None:
    """One line per quality check: status icon, verdict and advice."""
    icon, colour = STATUS_STYLE[quality["status"]]
    st.markdown(f"**Photo quality:** {icon} :{colour}[{quality['status']}]")
    for name, check in quality["checks"].items():
        icon, colour = STATUS_STYLE[check["status"]]
        st.markdown(
            f"{icon} **{name.capitalize()}** :{colour}[{check['status']}]: {check['advice']}"
        )


def show_upload(
    name: str,
    data: bytes,
    *,
    roi: tuple[int, int, int, int] | None,
    px_per_mm: float | None,
    mode: str,
) -> None:
    """Show one uploaded photo with its overlay, quality checks and measurements."""
    st.subheader(name)
    try:
        pixels, overlay, record = measure_photo(data, name, roi, px_per_mm, mode)
    except ValueError as err:  # PhotoError, or an ROI that does not fit the photo
        st.error(str(err))
        return
    left, right = st.columns(2)
    left.image(pixels, caption="Photo", width="stretch")
    right.image(
        overlay,
        caption="What was measured: hair tinted, ROI framed, counted shafts numbered",
        width="stretch",
    )
    show_quality(record["quality"])
    st.markdown(
        f"**Measurements** (analysed as {record['mode']}, scale source: {record['scale']['source']})"
    )
    st.table(measurement_rows(record), hide_index=True)
    st.caption(OBSERVED_ONLY)
    with st.expander("Provenance"):
        st.json(record, expanded=False)


def read_roi() -> tuple[int, int, int, int] | None | str:
    """The ROI typed in the sidebar, None if none, or an error message if half given."""
    st.markdown("**Region of interest** (optional, in pixels)")
    left, right = st.columns(2)
    values = (
        left.number_input("x", min_value=0, value=None, step=1, key="roi_x"),
        right.number_input("y", min_value=0, value=None, step=1, key="roi_y"),
        left.number_input("width", min_value=1, value=None, step=1, key="roi_w"),
        right.number_input("height", min_value=1, value=None, step=1, key="roi_h"),
    )
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        return "Give all four region-of-interest values (x, y, width, height), or clear them all to measure the whole photo."
    return tuple(int(v) for v in values)


def main() -> None:
    st.set_page_config(page_title="Scalp hair tracker", layout="wide")
    st.title("Analyse a scalp photo")
    with st.sidebar:
        mode = st.selectbox(
            "Photo type", list(MODES), format_func=MODES.get, key="mode"
        )
        px_per_mm = st.number_input(
            "Scale (pixels per mm, optional)",
            min_value=0.01,
            value=None,
            key="px_per_mm",
            help="Needed for density, width in µm and thin-hair share.",
        )
        roi = read_roi()
    uploads = st.file_uploader(
        "Scalp photos (JPEG, PNG, TIFF, WebP or HEIC)",
        type=PHOTO_TYPES,
        accept_multiple_files=True,
        key="photos",
    )
    if isinstance(roi, str):
        st.error(roi)
        return
    if not uploads:
        st.info("Upload one or more scalp photos to measure them.")
        return
    for upload in uploads:
        show_upload(
            upload.name, upload.getvalue(), roi=roi, px_per_mm=px_per_mm, mode=mode
        )


if __name__ == "__main__":
    main()
