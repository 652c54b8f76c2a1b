"""Region of interest (clinicians): set it on a view's baseline photo, see where it lands on every photo."""

import streamlit as st

from app_pages.common import (
    choose_patient,
    flash,
    photo_thumbnail,
    require_access,
    show_flash,
    user_errors,
)
from tracker.imaging.compare import draw_quad, draw_roi, roi_quad
from tracker.timeline import date_text, describe_placement, view_title

PREVIEW_SIDE = 900
#: A region placed by hand with an area more than this many times the baseline region's,
#: or less than its inverse, is pointed out: the same patch of scalp is about the same size.
MANUAL_AREA_RATIO = 1.25

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
view = st.selectbox("View", views, format_func=view_title, key="roi_view")
current = access.current_roi(patient, view)
if current and current.baseline_photo_id:
    baseline = access.photo(current.baseline_photo_id)
else:
    baseline = access.baseline_photo(patient, view)
W, H = baseline.width, baseline.height
x, y, w, h = current.box if current else (0, 0, W, H)

st.write(
    f"The region is drawn on the baseline photo of this view ({baseline.name}, {W} × {H} px). "
    "Every other photo of the view is registered to the baseline photo, so the region lands on the "
    "same scalp at every visit."
)
if current is None:
    st.caption(
        "No region set yet: the whole photo is measured until a smaller region is drawn. "
        "Move the edges below to draw one."
    )
left, right = st.slider("Left and right edge (px)", 0, W, (x, x + w), key=f"roi_x_{view}")
top, bottom = st.slider("Top and bottom edge (px)", 0, H, (y, y + h), key=f"roi_y_{view}")
roi = (left, top, max(right - left, 1), max(bottom - top, 1))
# nothing drawn yet: a whole-photo region is not offered for saving as if it were drawn
nothing_drawn = current is None and roi == (0, 0, W, H)

with user_errors():
    base = photo_thumbnail(access, baseline.id, max_side=PREVIEW_SIDE)
factor = base.shape[1] / W
st.image(
    draw_roi(base, tuple(round(v * factor) for v in roi)),
    caption=f"Baseline photo with the region {roi[2]} × {roi[3]} px at ({roi[0]}, {roi[1]})",
    width="stretch",
)

st.subheader("The region on every photo of this view")
photos = {p.id: p for p in access.photos(patient) if p.view == view}
dates = {v.id: v.date for v in access.visits(patient)}
with user_errors():
    placements = access.placements(patient, view)
to_fix = []
for i, place in enumerate(placements):
    if i % 4 == 0:  # a row of its own for every four: a long note under one photo pushes no other down
        columns = st.columns(4)
    photo = photos[place.photo_id]
    thumb = photo_thumbnail(access, photo.id)
    scale = thumb.shape[1] / photo.width
    reg = place.registration
    if place.manual_roi is not None:
        source, quad = "manual", roi_quad(place.manual_roi.box)
    elif photo.id == baseline.id:
        source, quad = "baseline", roi_quad(roi)
    elif reg is not None and reg.ok and reg.baseline_photo_id == baseline.id:
        source, quad = "registered", roi_quad(roi, reg.matrix)
    else:
        source, quad = "unregistered", None
    if current is None and source in ("baseline", "registered") and roi == (0, 0, W, H):
        source = "whole_photo" if source == "baseline" else source
    level, words = describe_placement(
        source, None if reg is None else reg.score, "" if reg is None else reg.reason, where="below"
    )
    column = columns[i % 4]
    picture = draw_quad(thumb, quad * scale + (scale - 1) / 2) if quad is not None else thumb
    column.image(picture, caption=f"{date_text(dates[photo.visit_id])} · {photo.name}")
    if level == "ok":
        column.caption(words)
    else:
        column.warning(words)
    if level != "ok" or source == "manual":  # placed by hand: it can be moved again
        to_fix.append((photo, None if place.manual_roi is None else place.manual_roi.box))

if to_fix:
    st.subheader("Place the region by hand")
    st.write(
        "These photos could not be registered reliably to the baseline photo, or have a region placed by "
        "hand. Place the region on each by hand, on the same scalp as on the baseline photo and of the same "
        "size; its values are then marked as placed by hand."
    )
    for photo, placed in to_fix:
        label = f"{date_text(dates[photo.visit_id])} · {photo.name}" + (" (placed by hand)" if placed else "")
        with st.expander(label, expanded=False):
            pw, ph = photo.width, photo.height
            # start from the hand-placed region, or from the baseline's region (its size and place)
            bx, by, bw, bh = placed or (min(x, max(pw - w, 0)), min(y, max(ph - h, 0)), min(w, pw), min(h, ph))
            gx = st.slider("Left and right edge (px)", 0, pw, (bx, bx + bw), key=f"manual_x_{photo.id}")
            gy = st.slider("Top and bottom edge (px)", 0, ph, (by, by + bh), key=f"manual_y_{photo.id}")
            box = (gx[0], gy[0], max(gx[1] - gx[0], 1), max(gy[1] - gy[0], 1))
            thumb = photo_thumbnail(access, photo.id, max_side=640)
            f = thumb.shape[1] / pw
            st.image(
                draw_roi(thumb, tuple(round(v * f) for v in box)),
                caption=f"Region {box[2]} × {box[3]} px at ({box[0]}, {box[1]}); on the baseline photo {w} × {h} px",
                width="stretch",
            )
            ratio = box[2] * box[3] / max(w * h, 1)
            if current is not None and not 1 / MANUAL_AREA_RATIO <= ratio <= MANUAL_AREA_RATIO:
                st.warning(
                    f"This region covers {ratio:.0%} of the baseline region's area: at the same magnification "
                    "the same patch of scalp is about the same size. Check the edges before placing it."
                )
            if st.button("Place the region here and measure this photo again", key=f"manual_save_{photo.id}"):
                with user_errors():
                    access.set_photo_roi(photo.id, box)
                flash(f"Placed the region by hand on {photo.name} and measured it again.")
                st.rerun()

by_hand = sum(1 for p in placements if p.manual_roi is not None)
if by_hand:
    st.caption(
        f"Saving a new region returns the {by_hand} photo{'s' if by_hand != 1 else ''} placed by hand to "
        "registration: place them again afterwards if needed."
    )
if nothing_drawn:
    st.caption("Nothing to save yet: move the edges above to draw a region smaller than the whole photo.")
if st.button(
    f"Save the region and measure the {len(photos)} photos of this view again",
    type="primary",
    key="save_roi",
    disabled=nothing_drawn,
):
    with user_errors():
        access.set_roi(patient, view, roi, baseline_photo_id=baseline.id)
        bar = st.progress(0.0, text="Measuring again ...")
        for i, photo_id in enumerate(photos):
            access.reanalyse(patient, [photo_id])
            bar.progress((i + 1) / len(photos), text=f"Measured {i + 1} of {len(photos)} photos")
    again = f" {by_hand} placed by hand went back to registration." if by_hand else ""
    flash(f"Saved the region of {view_title(view)} and measured its {len(photos)} photos again.{again}")
    st.rerun()
