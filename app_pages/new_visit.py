"""New visit (clinicians): upload a visit's photos, check each one, then save them."""

import datetime as dt

import streamlit as st

from app_pages.common import (
    choose_patient,
    flash,
    photo_thumbnail,
    require_access,
    show_flash,
    show_measurements,
    show_quality,
    show_registration,
    show_scale,
    user_errors,
)
from tracker.access import Access
from tracker.imaging.compare import ghost, thumbnail
from tracker.photo import PHOTO_EXTENSIONS, PhotoError
from tracker.store import VIEWS, NewPhoto, PhotoPreview
from tracker.store.originals import sha256_hex

VIEW_CHOICES = [*VIEWS, *(f"closeup:{v}" for v in VIEWS)]


@st.cache_resource(max_entries=32, show_spinner=False)
def preview(
    patient: str,
    view: str,
    sha256: str,
    roi: tuple[int, int, int, int] | None,
    px_per_mm: float | None,
    field_width_mm: float | None,
    first_sha256: str | None,
    _access: Access,
    _item: NewPhoto,
    _first: NewPhoto | None,
) -> PhotoPreview:
    """The photo analysed as it would be stored (cached by content, view, ROI, scale and the
    upload's first photo of the view, its baseline when the view has no stored photo yet)."""
    return _access.preview_photo(patient, _item, batch_first=_first)


access = require_access("clinician")
st.title("New visit")
show_flash()
patient = choose_patient(access, key="visit_patient")
if patient is None:
    st.stop()

left, right = st.columns(2)
date = left.date_input("Visit date", value=dt.date.today(), key="visit_date")
events_text = right.text_input(
    "Event markers (optional, comma-separated)",
    key="visit_events",
    help=(
        "Neutral markers shown on the timeline, e.g. 'treatment started', 'dose changed'. "
        "Leave out names and contact details: markers go into exports and reports."
    ),
)
notes = st.text_area("Notes (optional)", key="visit_notes", height=68)
st.caption(
    "Scale: with the calibration card (Tracker card) in the photo, the card gives the scale. "
    "Without it, type the device's scale or the width of the field of view as a fallback; "
    "without any, density, width in µm and thin-hair share are not measured."
)
scale_left, scale_right = st.columns(2)
px_per_mm = scale_left.number_input(
    "Scale of close-ups in pixels per mm (optional)",
    min_value=0.01,
    value=None,
    key="visit_scale",
    help="From the device's known magnification. Used for photos without the calibration card.",
)
field_width_mm = scale_right.number_input(
    "Width of the field of view in mm (optional)",
    min_value=0.1,
    value=None,
    key="visit_field_width",
    help="How wide the photographed patch of scalp is, e.g. from the dermatoscope's specification. "
    "Used for photos without the calibration card when no scale in pixels per mm is given.",
)
round_no = st.session_state.setdefault("upload_round", 0)
uploads = st.file_uploader(
    "Photos of this visit (JPEG, PNG, TIFF, WebP or HEIC)",
    type=list(PHOTO_EXTENSIONS),
    accept_multiple_files=True,
    key=f"visit_photos_{round_no}",
)
if not uploads:
    st.info("Upload the photos of this visit; each is checked and measured before you save.")
    st.stop()

known_views = access.views(patient)
choices = [*known_views, *(v for v in VIEW_CHOICES if v not in known_views)]
to_save: list[NewPhoto] = []
first_of_view: dict[str, NewPhoto] = {}  # the baseline of a view new in this upload
progress = st.progress(0.0, text="Measuring the photos ...")
for i, upload in enumerate(uploads):
    data = upload.getvalue()
    st.divider()
    st.subheader(upload.name)
    view = st.selectbox(
        "View", choices, index=i % len(known_views) if known_views else 0, key=f"view_{round_no}_{i}"
    )
    item = NewPhoto(
        view=view,
        data=data,
        name=upload.name,
        px_per_mm=px_per_mm,
        scale_source="magnification" if px_per_mm else None,
        field_width_mm=field_width_mm,
    )
    roi = access.current_roi(patient, view)
    first = None if view in known_views else first_of_view.get(view)
    try:
        result = preview(
            patient, view, sha256_hex(data), roi and roi.box, px_per_mm, field_width_mm,
            first and sha256_hex(first.data), access, item, first,
        )
    except PhotoError as err:
        st.error(str(err))
        continue
    finally:
        progress.progress((i + 1) / len(uploads), text=f"Measured {i + 1} of {len(uploads)} photos")
    if result.duplicate is not None:
        stored = access.store.visit(result.duplicate.visit_id)
        st.warning(
            f"Duplicate: this exact photo is already stored (visit of {stored.date:%d %b %Y}, "
            f"view {result.duplicate.view}). It will not be added again."
        )
    else:
        to_save.append(item)
        first_of_view.setdefault(view, item)
    photo_col, quality_col, numbers_col = st.columns([2, 2, 3])
    photo_col.image(thumbnail(result.photo.pixels), caption="Photo", width="stretch")
    baseline = access.baseline_photo(patient, view)
    if baseline is not None and result.duplicate is None:
        with user_errors():
            base = photo_thumbnail(access, baseline.id, max_side=640)
        photo_col.image(
            ghost(thumbnail(result.photo.pixels, max_side=640), base),
            caption="Baseline photo of this view laid faintly over it, to compare framing",
            width="stretch",
        )
    with quality_col:
        show_quality(result.analysis.quality.to_dict())
        show_scale(result.analysis)
        if result.duplicate is None:
            show_registration(result)
    with numbers_col:
        show_measurements(result.analysis.to_record())
progress.empty()

st.divider()
if st.button(
    f"Save visit with {len(to_save)} photo{'s' if len(to_save) != 1 else ''}",
    disabled=not to_save,
    type="primary",
    key="save_visit",
):
    events = [e.strip() for e in events_text.split(",") if e.strip()]
    with st.spinner("Storing the photos and their measurements ..."), user_errors():
        visit, added = access.record_visit(patient, date, to_save, notes=notes, events=events)
    preview.clear()  # what is stored changed: a preview's duplicate note may be out of date
    st.session_state["upload_round"] = round_no + 1
    flash(f"Saved the visit of {visit.date:%d %b %Y} with {len(added)} photos for {patient}.")
    st.rerun()
