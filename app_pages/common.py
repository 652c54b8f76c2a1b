"""What every page shares: the store, the signed-in account, errors, pictures.

Pages stay thin: they gather input and show what :class:`tracker.access.Access`
returns. Access rules live in the library, not here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import streamlit as st

from tracker.access import Access, AccessDenied
from tracker.analysis import NO_SCALE_NOTE
from tracker.imaging.compare import thumbnail
from tracker.imaging.register import reason_without_advice
from tracker.photo import load_photo
from tracker.store import SignInError, Store, StoreError, default_location
from tracker.timeline import METRICS
from tracker.wording import OBSERVED_ONLY

#: quality status -> (icon, colour); Material icons render in every browser, emoji fonts may be missing
STATUS_STYLE = {
    "pass": (":material/check_circle:", "green"),
    "warn": (":material/warning:", "orange"),
    "fail": (":material/cancel:", "red"),
}

#: How tables show a date (momentJS, for st.column_config.DateColumn): "15 Jul 2025",
#: as the rest of the app writes dates.
DATE_FORMAT = "D MMM YYYY"
#: How a date input shows its date: the day first, as the app writes dates (Streamlit's
#: date_input takes YYYY/MM/DD, DD/MM/YYYY or MM/DD/YYYY only, no month names).
DATE_INPUT_FORMAT = "DD/MM/YYYY"


@st.cache_resource(show_spinner=False)
def open_store(location: str, database_url: str | None) -> Store:
    """The store, opened once per server; makes the first clinician account if there is none.

    A generated admin password is printed once on the server's console.
    """
    store = Store.open(location, database_url=database_url, user="app")
    password = store.ensure_admin(os.environ.get("TRACKER_ADMIN_PASSWORD"))
    if password is not None:
        print(
            f"Created the first clinician account: username 'admin', password {password!r}. "
            "It is shown only this once; sign in and keep it safe.",
            file=sys.stderr,
            flush=True,
        )
    return store


def store() -> Store:
    return open_store(default_location(), os.environ.get("DATABASE_URL") or None)


def current_access() -> Access | None:
    """The signed-in account's access, or None when nobody is signed in."""
    clinic = store()  # opened on the first run: creates the first clinician account
    username = st.session_state.get("username")
    if not username:
        return None
    try:
        return Access(clinic, clinic.account(username))
    except SignInError:  # the account was removed meanwhile
        st.session_state.pop("username", None)
        return None


def sign_in_form() -> None:
    """The sign-in form; a correct username and password reruns the page signed in."""
    st.title("Scalp hair tracker")
    st.write("Sign in to see and record scalp measurements.")
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted and not (username.strip() and password):
        st.error("Not signed in: type your username and your password.")
    elif submitted:
        try:
            account = store().authenticate(username, password, place=st.context.ip_address)
        except SignInError as err:
            st.error(f"Not signed in: {err}.")
        else:
            st.session_state["username"] = account.username
            st.rerun()


def require_access(*roles: str) -> Access:
    """The signed-in account's access; otherwise the sign-in form (or a message) and stop.

    A link to a page opened while signed out shows the form, and the same page
    (with its query parameters) after signing in.
    """
    access = current_access()
    if access is None:
        sign_in_form()
        st.stop()
    if roles and access.role not in roles:
        st.error(f"This page is not available to a {access.role} account.")
        st.stop()
    return access


@contextmanager
def user_errors() -> Iterator[None]:
    """Show the library's errors as the sentences they are, never as tracebacks."""
    try:
        yield
    except AccessDenied as err:
        st.error(f"Not available: {err}.")
        # a link to someone else's record: the way back is the page without it
        if "patient" in st.query_params and st.button("Back to the record this account may open", key="back"):
            del st.query_params["patient"]
            st.rerun()
        st.stop()
    except (ValueError, StoreError) as err:
        st.error(str(err))
        st.stop()


def flash(message: str) -> None:
    """Show ``message`` as a success note after the next rerun."""
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


def choose_patient(access: Access, *, key: str) -> str | None:
    """The patient the page is about: a patient's own, else chosen (``?patient=`` first)."""
    wanted = st.query_params.get("patient")
    if access.own_patient is not None:
        if wanted and wanted != access.own_patient:
            access.patient(wanted)  # raises AccessDenied: a patient sees only their own record
        st.caption(f"Your own record: patient {access.own_patient}.")  # whose record it is, without a choice
        return access.own_patient
    codes = access.patient_codes()
    if not codes:
        st.info("No patients yet: add one on the Patients page.")
        return None
    wanted = wanted or st.session_state.get("patient")
    index = codes.index(wanted) if wanted in codes else 0
    code = st.selectbox("Patient", codes, index=index, key=key)
    st.session_state["patient"] = code
    return code


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(sha256: str, _data: bytes, name: str, max_side: int) -> np.ndarray:
    return thumbnail(load_photo(_data, name=name).pixels, max_side=max_side)


def photo_thumbnail(access: Access, photo_id: int, *, max_side: int = 320) -> np.ndarray:
    """A thumbnail of a stored photo (checked by ``access``; cached by content)."""
    photo = access.store.photo(photo_id)
    return _thumbnail(photo.sha256, access.original(photo_id), photo.name, max_side)


@st.cache_data(max_entries=64, show_spinner="Drawing what was measured ...")
def _overlay(sha256: str, measurement_id: int, _make: Callable[[], np.ndarray]) -> np.ndarray:
    return thumbnail(_make(), max_side=1200)


def photo_overlay(access: Access, photo_id: int) -> np.ndarray:
    """The photo with its newest measurement drawn on it (checked by ``access``; cached)."""
    access.original(photo_id)  # raises AccessDenied before anything is looked up
    photo = access.store.photo(photo_id)
    newest = access.store.measurements(photo_id)[-1].measurement_id
    return _overlay(photo.sha256, newest, lambda: access.overlay(photo_id))


def show_quality(quality: dict[str, Any]) -> None:
    """One line per quality check: status icon, verdict and advice."""
    icon, colour = STATUS_STYLE[quality["status"]]
    st.markdown(f"**Photo quality:** {icon} :{colour}[{quality['status']}]")
    for name, check in quality["checks"].items():
        icon, colour = STATUS_STYLE[check["status"]]
        st.markdown(f"{icon} **{name.capitalize()}** :{colour}[{check['status']}]: {check['advice']}")


#: Measures that need single shafts resolved (close-ups), and those that also need a scale.
_SHAFT_MEASURES = {"hair_count", "density_per_cm2", "mean_width_px", "mean_width_um", "thin_hair_pct"}
_SCALED_MEASURES = {"density_per_cm2", "mean_width_um", "thin_hair_pct"}


def _not_measured_because(key: str, record: dict[str, Any]) -> str:
    if record["mode"] == "overview" and key in _SHAFT_MEASURES:
        return "Overview photo: single hairs are not resolved."
    if key in _SCALED_MEASURES and not record["scale"]["px_per_mm"]:
        return "No scale: needs the calibration card in the photo, or a typed scale."
    return "No hair shafts found in the region."


def measurement_rows(record: dict[str, Any]) -> list[dict[str, str]]:
    """Table rows of a measurement record; a value that is None reads "not
    measured", with why in a few words. A measure shown in two units (shaft
    width) names the unit."""
    thin_um = record["parameters"]["thin_um"]
    labels = [label for label, _, _ in METRICS.values()]
    rows = []
    for key, (label, unit, decimals) in METRICS.items():
        value = record[key]
        if labels.count(label) > 1:
            label = f"{label} ({unit})"
        if key == "thin_hair_pct":
            label = f"{label} (under {thin_um:g} µm)"
        if value is None:
            rows.append({"Measure": label, "Value": "not measured", "Note": _not_measured_because(key, record)})
        else:
            rows.append({"Measure": label, "Value": f"{value:.{decimals}f} {unit}", "Note": ""})
    return rows


#: How a photo was measured, and where its scale came from, in plain words.
MEASURED_AS = {"closeup": "measured as a close-up", "overview": "measured as an overview"}
SCALE_WORDS = {
    "card": "scale from the calibration card",
    "magnification": "scale as typed",
    "user": "scale as typed",
    "field_width": "scale from the typed field-of-view width",
}
NO_SCALE = {
    "closeup": "no scale: density, width in µm and thin-hair share are not measured",
    "overview": "no scale (coverage needs none)",
}


def how_measured(record: dict[str, Any]) -> str:
    """How a measurement was made, in words: "measured as a close-up; scale as typed"."""
    mode, scale = record["mode"], record["scale"]
    if scale["px_per_mm"]:
        words = SCALE_WORDS.get(scale["source"], "scale as given")
    else:
        words = NO_SCALE[mode]
    return f"{MEASURED_AS[mode]}; {words}"


def show_measurements(record: dict[str, Any]) -> None:
    """The measurement table of one analysis, with how it was made."""
    st.markdown(f"**Measurements** ({how_measured(record)})")
    st.table(measurement_rows(record), hide_index=True)
    st.caption(OBSERVED_ONLY)


#: What a photo without a scale says (once: it stands for the analysis's own "No scale" note).
NO_SCALE_FOUND = "No scale: no calibration card found and none typed."
#: ... and a close-up, whose density, width in µm and thin-hair share need one.
NO_SCALE_CLOSEUP = (
    "No scale: no calibration card found and none typed, so density, width in µm and thin-hair share "
    "are not measured. To measure them, keep the calibration card in the photo, or type the scale or "
    "the field-of-view width for this visit."
)


def show_scale(analysis: Any) -> None:
    """Where the photo's scale came from, in words; without one, what to do, said once."""
    source = analysis.scale.source
    # the photo's own scale (a registered photo is measured on the baseline's grid)
    ppm = analysis.parameters.get("photo_px_per_mm", analysis.scale.px_per_mm)
    if source == "card":
        st.success(f"Scale from the calibration card in the photo: {ppm:.2f} px/mm.")
    elif source == "field_width":
        st.caption(f"Scale from the typed field-of-view width: {ppm:.2f} px/mm.")
    elif source in ("magnification", "user"):
        st.caption(f"Scale as typed: {ppm:.2f} px/mm.")
    else:
        st.caption(NO_SCALE_CLOSEUP if analysis.mode == "closeup" else NO_SCALE_FOUND)
    for note in analysis.notes:
        # the analysis's own "No scale" note is what the line above says
        if "calibration card" in note.lower() and note != NO_SCALE_NOTE:
            st.caption(note)


def show_registration(preview: Any) -> None:
    """The registration of an uploaded photo to its view's baseline photo, in words."""
    from tracker.timeline import describe_placement

    reg = preview.registration
    if reg is None:
        st.caption("First photo of this view: it becomes the baseline photo the others are registered to.")
        return
    level, words = describe_placement(preview.analysis.roi_source, reg.score, reg.reason)
    if preview.analysis.roi_source == "whole_photo":
        words = (
            f"Registered to the baseline photo (score {reg.score:.2f}); no region set yet."
            if reg.ok
            else (
                "Retake this photo from the same spot and distance as the baseline photo: it could not be "
                "registered to the baseline photo. No region is set for this view yet, so the whole photo "
                f"is measured. Why: {reason_without_advice(reg.reason)}."
            )
        )
        level = "ok" if reg.ok else "failed"
    if level == "ok":
        st.caption(words)
    else:
        st.warning(words)
