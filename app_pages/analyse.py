"""Analyse a photo (clinicians, researchers): measure uploads without storing anything.

:func:`tracker.photo.load_photo` decodes each upload, :func:`tracker.analysis.analyze`
measures it and :func:`tracker.imaging.overlay.draw_overlay` draws what was measured.
"""

from typing import Any

import numpy as np
import streamlit as st

from app_pages.common import require_access, show_measurements, show_quality
from tracker.analysis import analyze, detect_mode
from tracker.imaging.overlay import draw_overlay
from tracker.photo import PHOTO_EXTENSIONS, load_photo
from tracker.timeline import METRICS
from tracker.wording import OBSERVED_ONLY

MODES = {
    "auto": "Detect automatically",
    "closeup": "Close-up (trichoscope, dermatoscope, macro lens)",
    "overview": "Overview (phone or camera photo of a scalp region)",
}


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
    overlay = draw_overlay(photo.pixels, analysis.mask, roi=analysis.roi, groups=analysis.groups)
    return photo.pixels, overlay, {"sha256": photo.sha256, **analysis.to_record()}


def show_upload(name: str, data: bytes, **options: Any) -> dict[str, Any] | None:
    """Show one uploaded photo with its overlay, quality checks and measurements;
    its measurement record, or None when it could not be measured."""
    st.subheader(name)
    try:
        pixels, overlay, record = measure_photo(data, name, **options)
    except ValueError as err:  # PhotoError, or an ROI that does not fit the photo
        st.error(str(err))
        return None
    looks = detect_mode(pixels)
    if options["mode"] != "auto" and looks != options["mode"]:
        kinds = {"closeup": "a close-up", "overview": "an overview"}
        st.warning(
            f"This photo looks like {kinds[looks]}, but it was measured as {kinds[options['mode']]}, as "
            f"chosen: the numbers may not mean much. Choose '{MODES['auto']}' or the other type."
        )
    left, right = st.columns(2)
    left.image(pixels, caption="Photo", width="stretch")
    right.image(
        overlay,
        caption=(
            "What was measured: hair tinted, region framed, each counted shaft numbered; lines show how "
            "touching shafts were told apart (grey: a shaft or piece not counted)"
            if record["mode"] == "closeup"
            else "What was measured: hair tinted, region framed (an overview: hair mass, no shafts counted)"
        ),
        width="stretch",
    )
    show_quality(record["quality"])
    show_measurements(record)
    with st.expander("Provenance"):
        st.json(record, expanded=False)
    return record


def summary_row(name: str, record: dict[str, Any] | None) -> dict[str, Any]:
    """One photo's row of the table of all uploads: quality and each measure (None: not measured)."""
    quality = "not measured, see below" if record is None else record["quality"]["status"]
    row: dict[str, Any] = {"Photo": name, "Quality": quality}
    for key, (label, unit, decimals) in METRICS.items():
        value = None if record is None else record[key]
        row[f"{label} ({unit})"] = None if value is None else round(value, decimals)
    return row


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


require_access("clinician", "researcher")
st.title("Analyse a scalp photo")
st.write("Measures the photos you upload here without storing them.")
# on a phone the sidebar is folded away: say where its controls are
st.caption(
    "Photo type, scale and region of interest: set them in the sidebar (on a phone, open it with » at the top left)."
)
with st.sidebar:
    mode = st.selectbox("Photo type", list(MODES), format_func=MODES.get, key="mode")
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
    type=list(PHOTO_EXTENSIONS),
    accept_multiple_files=True,
    key="photos",
)
if isinstance(roi, str):
    st.error(roi)
elif not uploads:
    st.info("Upload one or more scalp photos to measure them.")
else:
    summary = st.container()  # filled once every photo is measured, shown above them
    options = {"roi": roi, "px_per_mm": px_per_mm, "mode": mode}
    rows = [summary_row(upload.name, show_upload(upload.name, upload.getvalue(), **options)) for upload in uploads]
    if len(rows) > 1:  # several photos: their numbers side by side, sortable and downloadable
        with summary:
            st.subheader("All photos")
            st.dataframe(rows, hide_index=True, width="stretch", placeholder="not measured")
            st.caption(OBSERVED_ONLY)
