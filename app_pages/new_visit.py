"""New visit (clinicians): upload a visit's photos, check each one, then save them."""

import datetime as dt

import streamlit as st

from app_pages.common import (
    DATE_INPUT_FORMAT,
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
from tracker.analysis import detect_mode
from tracker.imaging.compare import ghost, thumbnail
from tracker.photo import PHOTO_EXTENSIONS, PhotoError, load_photo
from tracker.store import VIEWS, NewPhoto, PhotoPreview, view_mode
from tracker.store.originals import sha256_hex
from tracker.timeline import date_text, view_title

VIEW_CHOICES = [*VIEWS, *(f"closeup:{v}" for v in VIEWS)]


@st.cache_resource(max_entries=32, show_spinner=False)
def preview(
    patient: str,
    view: str,
    sha256: str,
    roi: tuple[int, int, int, int] | None,
    date: dt.date,
    px_per_mm: float | None,
    field_width_mm: float | None,
    first_sha256: str | None,
    _access: Access,
    _item: NewPhoto,
    _first: NewPhoto | None,
) -> PhotoPreview:
    """The photo analysed as it would be stored (cached by content, view, ROI, visit date,
    scale and the upload's first photo of the view, its baseline when the view has no
    stored photo from before the visit's date)."""
    return _access.preview_photo(patient, _item, batch_first=_first, date=date)


#: What to say when a photo looks like the other kind than its view holds.
MISFILED = {
    "closeup": (
        "This photo looks like a close-up (single hairs resolved), but the view '{view}' is for "
        "overview photos: it would be measured as an overview, without a hair count. Choose a close-up view."
    ),
    "overview": (
        "This photo looks like an overview (hair mass, no single hairs resolved), but the view "
        "'{view}' is for close-ups: it would be measured as a close-up, counting hairs it cannot resolve. "
        "Choose an overview view."
    ),
}


@st.cache_data(max_entries=64, show_spinner=False)
def looks_like(sha256: str, _data: bytes, name: str) -> tuple[str | None, str | None]:
    """``(kind, None)``, kind 'closeup' or 'overview' as the photo looks (cached by content),
    or ``(None, why)`` when the file cannot be read as a photo."""
    try:
        return detect_mode(load_photo(_data, name=name).pixels), None
    except PhotoError as err:
        return None, str(err)


def default_view(choices: list[str], known: list[str], looks: str | None, seen: dict[str, int]) -> int:
    """The view offered first for an upload: of the kind the photo looks like,
    the patient's own views of that kind first, taken in turn by the uploads
    of that kind (several close-ups of one visit go to the known close-up
    sites in order)."""
    if looks is None:
        return 0
    mine = [v for v in known if view_mode(v) == looks]
    if mine:
        return choices.index(mine[seen[looks] % len(mine)])
    return next(k for k, v in enumerate(choices) if view_mode(v) == looks)


access = require_access("clinician")
st.title("New visit")
show_flash()
patient = choose_patient(access, key="visit_patient")
if patient is None:
    st.stop()

left, right = st.columns(2)
# archived photos may be older than the ten years the date picker offers by default
date = left.date_input(
    "Visit date", value=dt.date.today(), min_value=dt.date(1900, 1, 1), key="visit_date", format=DATE_INPUT_FORMAT
)
recorded = access.visits(patient)
# a day of slack: the clinic's today may be the server's tomorrow
if date > dt.date.today() + dt.timedelta(days=1):
    left.warning(f"{date_text(date)} is in the future. Check the date: a visit is saved with the day it took place.")
if any(v.date == date for v in recorded):
    left.warning(
        f"A visit on {date_text(date)} is already on record: saving makes a second visit that day. "
        "Repeat photos of one visit belong in one upload."
    )
if recorded and date < recorded[0].date:
    left.warning(
        f"This date is before the first visit on record ({date_text(recorded[0].date)}). Saved with it, "
        "this visit becomes the baseline: later photos are compared with its photos, and each view's "
        "region of interest has to be drawn again on them. Check the date."
    )
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
first_of_view: dict[str, NewPhoto] = {}  # each view's first photo in this upload
seen_of_kind = {"closeup": 0, "overview": 0}  # uploads so far that look like each kind
left_out: list[str] = []  # uploads that cannot be read or measured: not saved
progress = st.progress(0.0, text="Measuring the photos ...")
for i, upload in enumerate(uploads):
    data = upload.getvalue()
    st.divider()
    st.subheader(upload.name)
    looks, unreadable = looks_like(sha256_hex(data), data, upload.name)
    if looks is None:  # no view to choose for a file that is not a photo
        st.error(unreadable)
        left_out.append(upload.name)
        progress.progress((i + 1) / len(uploads), text=f"Measured {i + 1} of {len(uploads)} photos")
        continue
    view = st.selectbox(
        "View",
        choices,
        index=default_view(choices, known_views, looks, seen_of_kind),
        format_func=view_title,
        key=f"view_{round_no}_{i}",
    )
    seen_of_kind[looks] += 1
    if looks != view_mode(view):
        st.warning(MISFILED[looks].format(view=view_title(view)))
    item = NewPhoto(
        view=view,
        data=data,
        name=upload.name,
        px_per_mm=px_per_mm,
        scale_source="magnification" if px_per_mm else None,
        field_width_mm=field_width_mm,
    )
    roi = access.current_roi(patient, view)
    first = first_of_view.get(view)  # the view's baseline if it has none from before the date
    try:
        result = preview(
            patient, view, sha256_hex(data), roi and roi.box, date, px_per_mm, field_width_mm,
            first and sha256_hex(first.data), access, item, first,
        )
    except PhotoError as err:
        st.error(str(err))
        left_out.append(upload.name)
        continue
    finally:
        progress.progress((i + 1) / len(uploads), text=f"Measured {i + 1} of {len(uploads)} photos")
    if result.duplicate is not None:
        stored = access.store.visit(result.duplicate.visit_id)
        owner = access.store.patient(stored.patient_id).code
        st.warning(
            f"Duplicate: this exact photo is already stored (patient {owner}, visit of {date_text(stored.date)}, "
            f"view {view_title(result.duplicate.view)}). It will not be added again."
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
if left_out:
    st.warning(
        f"Saving leaves out {len(left_out)} file{'s' if len(left_out) != 1 else ''} that could not be measured "
        f"(see why above): {', '.join(left_out)}. To include one, upload a usable copy of it."
    )
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
    flash(
        f"Saved the visit of {date_text(visit.date)} with {len(added)} photo{'s' if len(added) != 1 else ''} "
        f"for {patient}."
    )
    st.rerun()
