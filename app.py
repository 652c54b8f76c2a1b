"""The Streamlit app: sign-in, then the pages the account's role may use.

Run with ``streamlit run app.py`` (``bash scripts/app.sh`` also loads the demo
patient). The store is ``$TRACKER_STORE`` (default ``./tracker-data``) with
SQLite, or PostgreSQL through ``$DATABASE_URL``. On the first start a clinician
account ``admin`` is created, its password taken from
``$TRACKER_ADMIN_PASSWORD`` or printed once on the console.

Pages only gather input and show what the library returns; what each role may
see is enforced by :class:`tracker.access.Access`.
"""

from __future__ import annotations

import logging

import streamlit as st

from app_pages.common import current_access

PAGES = {
    "patients": st.Page("app_pages/patients.py", title="Patients", icon=":material/group:"),
    "new_visit": st.Page("app_pages/new_visit.py", title="New visit", icon=":material/add_a_photo:"),
    "roi": st.Page("app_pages/roi.py", title="Region of interest", icon=":material/crop_free:"),
    "timeline": st.Page("app_pages/timeline.py", title="Timeline", icon=":material/timeline:"),
    "export": st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
    "analyse": st.Page("app_pages/analyse.py", title="Analyse a photo", icon=":material/biotech:"),
}
#: Pages of each role, the first one opening after sign-in.
ROLE_PAGES = {
    "clinician": ["patients", "new_visit", "roi", "timeline", "export", "analyse"],
    "patient": ["timeline"],
    "researcher": ["export", "analyse"],
}

LOG = logging.getLogger("tracker.app")
UNEXPECTED = (
    "Something went wrong on this page, and nothing was changed half-way. Try again; if it "
    "keeps happening, tell the person who runs this app (the details are in the server's log)."
)


def main() -> None:
    access = current_access()
    if access is None:
        # every page is reachable by its link, and asks for sign-in first (require_access)
        sign_in = st.Page("app_pages/sign_in.py", title="Sign in", icon=":material/login:", default=True)
        page = st.navigation([sign_in, *PAGES.values()], position="hidden")
    else:
        page = st.navigation([PAGES[name] for name in ROLE_PAGES[access.role]])
        with st.sidebar:
            st.caption(f"Signed in as **{access.account.username}** ({access.role})")
            if st.button("Sign out", key="sign_out"):
                st.session_state.clear()
                st.rerun()
    page.run()


st.set_page_config(page_title="Scalp hair tracker", page_icon=":material/timeline:", layout="wide")
try:
    main()
except Exception:  # a sentence for the person, the traceback for the log
    LOG.exception("the page failed")
    st.error(UNEXPECTED)
