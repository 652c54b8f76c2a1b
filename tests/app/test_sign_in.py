"""Signing in (app.py): argon2-checked passwords, and the pages each role gets."""

from __future__ import annotations

import pytest
from _app_util import ACCOUNTS, APP, PAGES, run_page

from tracker.store import Store

UNEXPECTED = (
    "Something went wrong on this page, and nothing was changed half-way. Try again; if it "
    "keeps happening, tell the person who runs this app (the details are in the server's log)."
)

#: Pages each role sees after signing in (the app's navigation).
ROLE_PAGES = {
    "clinician": {"patients", "new_visit", "roi", "timeline", "export", "analyse"},
    "patient": {"timeline"},
    "researcher": {"export", "analyse"},
}
FIRST_TITLE = {"clinician": "Patients", "patient": "Timeline", "researcher": "Export measurements"}


@pytest.fixture(autouse=True)
def _store(clinic, use_clinic):
    use_clinic(clinic)


def sign_in(username: str, password: str):
    at = run_page("app", None)
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def registered_pages(at) -> set[str]:
    """Pages the navigation offers now, by file stem (AppTest refuses to switch to any other)."""
    found = set()
    for path in sorted(PAGES.glob("*.py")):
        try:
            at.switch_page(str(path))
        except ValueError:
            continue
        found.add(path.stem)
    return found


PAGE_NAMES = sorted(p.stem for p in PAGES.glob("*.py") if p.stem != "common")


def shows_only_the_sign_in_form(at) -> bool:
    password = at.text_input(key="sign_in_password")
    return (
        [t.value for t in at.title] == ["Scalp hair tracker"]
        and password.proto.type == password.proto.PASSWORD
        and not (at.dataframe or at.image or at.table or at.get("vega_lite_chart") or at.error)
    )


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_signed_out_every_page_shows_only_the_sign_in_form(page):
    at = run_page("app", None, run=False)
    at.switch_page(str(PAGES / f"{page}.py"))
    at.run()
    assert not at.exception
    assert shows_only_the_sign_in_form(at)


def test_a_link_opened_signed_out_opens_after_signing_in():
    at = run_page("app", None, query={"patient": "P-B"}, run=False)
    at.switch_page(str(PAGES / "timeline.py"))
    at.run()
    assert shows_only_the_sign_in_form(at)
    at.text_input(key="sign_in_username").input("dr.test")
    at.text_input(key="sign_in_password").input("clinician-pass")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Timeline"]
    assert at.selectbox(key="timeline_patient").value == "P-B"


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_each_role_signs_in_to_its_own_pages(username):
    password, role = ACCOUNTS[username]
    at = sign_in(username.upper(), password)  # usernames are not case-sensitive
    assert [t.value for t in at.title] == [FIRST_TITLE[role]]
    assert registered_pages(at) == ROLE_PAGES[role]
    assert f"Signed in as **{username}** ({role})" in [c.value for c in at.sidebar.caption]


@pytest.mark.parametrize(
    ("username", "password"), [("dr.test", "wrong-password"), ("nobody", "clinician-pass")]
)
def test_wrong_password_or_unknown_user_gets_the_same_error(username, password):
    at = sign_in(username, password)
    assert [e.value for e in at.error] == [
        "Not signed in: the username or password is wrong; check both and try again."
    ]
    assert shows_only_the_sign_in_form(at) is False  # the error is shown with the form
    assert [t.value for t in at.title] == ["Scalp hair tracker"]
    assert "username" not in at.session_state


def test_sign_out_returns_to_the_sign_in_form():
    at = sign_in("dr.test", "clinician-pass")
    at.sidebar.button(key="sign_out").click().run()
    at.run()
    assert shows_only_the_sign_in_form(at)


def test_first_start_creates_the_admin_clinician_from_the_environment(tmp_path, use_clinic, monkeypatch):
    from _app_util import Clinic

    use_clinic(Clinic(tmp_path / "empty"))
    monkeypatch.setenv("TRACKER_ADMIN_PASSWORD", "first-admin-pass")
    at = sign_in("admin", "first-admin-pass")
    assert [t.value for t in at.title] == ["Patients"]
    with Store.open(tmp_path / "empty") as store:
        assert [(a.username, a.role) for a in store.accounts()] == [("admin", "clinician")]


def test_first_start_without_a_password_prints_one_once(tmp_path, use_clinic, monkeypatch, capfd):
    from _app_util import Clinic

    use_clinic(Clinic(tmp_path / "empty"))
    monkeypatch.delenv("TRACKER_ADMIN_PASSWORD")
    run_page("app", None)
    printed = capfd.readouterr().err
    password = printed.split("password '", 1)[1].split("'", 1)[0]
    assert len(password) >= 12
    at = sign_in("admin", password)
    assert [t.value for t in at.title] == ["Patients"]
    assert "password" not in capfd.readouterr().err  # shown only the once


def test_app_entry_holds_no_store_logic():
    source = APP.read_text()
    assert "Store" not in source and "authenticate" not in source


def test_an_unexpected_failure_is_a_sentence_not_a_traceback(tmp_path, use_clinic):
    from _app_util import Clinic

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tracker.sqlite").write_bytes(b"this is not a database" * 100)
    use_clinic(Clinic(broken))
    at = run_page("app", None)
    assert [e.value for e in at.error] == [UNEXPECTED]
    assert not at.exception


def test_empty_fields_are_asked_for(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("app", None)
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Not signed in: type your username and your password."]
