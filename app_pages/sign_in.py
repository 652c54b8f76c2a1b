"""Sign in with a username and password (argon2-hashed in the store)."""

import streamlit as st

from app_pages.common import store
from tracker.store import SignInError

st.title("Scalp hair tracker")
st.write("Sign in to see and record scalp measurements.")
with st.form("sign_in"):
    username = st.text_input("Username", key="sign_in_username")
    password = st.text_input("Password", type="password", key="sign_in_password")
    submitted = st.form_submit_button("Sign in")
if submitted:
    try:
        account = store().authenticate(username, password)
    except SignInError as err:
        st.error(f"Not signed in: {err}.")
    else:
        st.session_state["username"] = account.username
        st.rerun()
