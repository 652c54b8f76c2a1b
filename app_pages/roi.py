"""Region of interest (clinicians): set it on a view's baseline photo, preview it on every visit."""

import streamlit as st

from app_pages.common import (
    choose_patient,
    flash,
    photo_thumbnail,
    require_access,
    show_flash,
    user_errors,
)
from tracker.imaging.compare import draw_roi

PREVIEW_SIDE = 900

access = require_access("clinician")
st.title("Region of interest")
show_flash()
patient = choose_patient(access, key="roi_patient")
if patient is None:
    st.stop()
views = access.views(patient)
if not views:
    st.info("This patient has no photos yet: record a visit first.")
    st.stop()
view = st.selectbox("View", views, key="roi_view")
baseline = access.baseline_photo(patient, view)
current = access.current_roi(patient, view)
W, H = baseline.width, baseline.height
x, y, w, h = current.box if current else (0, 0, W, H)

st.write(
    f"The region is drawn on the baseline photo of this view ({baseline.name}, {W} × {H} px) "
    "and measured at the same place in every photo of the view."
)
if current is None:
    st.caption("No region set yet: the whole photo is measured.")
left, right = st.slider("Left and right edge (px)", 0, W, (x, x + w), key=f"roi_x_{view}")
top, bottom = st.slider("Top and bottom edge (px)", 0, H, (y, y + h), key=f"roi_y_{view}")
roi = (left, top, max(right - left, 1), max(bottom - top, 1))

with user_errors():
    base = photo_thumbnail(access, baseline.id, max_side=PREVIEW_SIDE)
factor = base.shape[1] / W
st.image(
    draw_roi(base, tuple(round(v * factor) for v in roi)),
    caption=f"Baseline photo with the region {roi[2]} × {roi[3]} px at ({roi[0]}, {roi[1]})",
    width=720,
)

st.subheader("The region on every visit of this view")
photos = [p for p in access.photos(patient) if p.view == view]
dates = {v.id: v.date for v in access.visits(patient)}
columns = st.columns(4)
for i, photo in enumerate(photos):
    thumb = photo_thumbnail(access, photo.id)
    scale = thumb.shape[1] / photo.width  # the region is applied in each photo's own pixels
    columns[i % 4].image(
        draw_roi(thumb, tuple(round(v * scale) for v in roi)),
        caption=f"{dates[photo.visit_id]:%d %b %Y}",
    )

if st.button(
    f"Save the region and measure the {len(photos)} photos of this view again",
    type="primary",
    key="save_roi",
):
    with user_errors():
        access.set_roi(patient, view, roi, baseline_photo_id=baseline.id)
        bar = st.progress(0.0, text="Measuring again ...")
        for i, photo in enumerate(photos):
            access.reanalyse(patient, [photo.id])
            bar.progress((i + 1) / len(photos), text=f"Measured {i + 1} of {len(photos)} photos")
    flash(f"Saved the region of {view} and measured its {len(photos)} photos again.")
    st.rerun()
