"""Accounts (argon2id passwords, roles, patient links) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from tracker.demo import DEMO_ACCOUNTS, DEMO_CODE, add_demo_accounts
from tracker.store import (
    ROLES,
    AccountInfo,
    NotFoundError,
    SignInError,
    Store,
    StoreError,
)
from tracker.store.accounts import MIN_PASSWORD_LENGTH, normalize_username
from tracker.store.schema import head_revision, make_engine, upgrade

PASSWORD = "correct horse battery"


def _raw_accounts(store: Store) -> dict[str, dict]:
    """Account rows as the database holds them, by username."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM account")).mappings().all()
    return {r["username"]: dict(r) for r in rows}


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# ---------------------------------------------------------------------- passwords
def test_only_an_argon2id_hash_of_the_password_is_stored(store):
    info = store.add_account("dr.a", PASSWORD, "clinician")
    raw = _raw_accounts(store)["dr.a"]
    digest = raw["password_hash"]
    assert digest.startswith("$argon2id$")
    assert PASSWORD not in digest
    assert PasswordHasher().verify(digest, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(digest, PASSWORD + "x")
    # no column of the row holds the password in clear
    assert not any(PASSWORD in str(value) for value in raw.values())
    # the record handed out carries no hash
    assert not any(f.startswith("password") for f in AccountInfo.__dataclass_fields__)
    assert PASSWORD not in repr(info) and "$argon2" not in repr(info)


def test_two_accounts_with_one_password_get_different_hashes(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    store.add_account("dr.b", PASSWORD, "clinician")
    raw = _raw_accounts(store)
    assert raw["dr.a"]["password_hash"] != raw["dr.b"]["password_hash"]  # salted


def test_account_record_fields(store):
    before = dt.datetime.now(dt.UTC)
    info = store.add_account("Dr.Smith", PASSWORD, "clinician")
    assert (info.username, info.role, info.patient_id, info.patient_code) == (
        "dr.smith",
        "clinician",
        None,
        None,
    )
    assert info.created_at.tzinfo is not None
    assert abs((info.created_at - before).total_seconds()) < 60
    assert store.account("DR.SMITH") == info
    store.add_account("amy", PASSWORD, "researcher")
    assert [a.username for a in store.accounts()] == ["amy", "dr.smith"]


# ---------------------------------------------------------------------- sign-in
def test_authenticate_ignores_username_case_but_not_password_case(store):
    store.add_account("Dr.Smith", PASSWORD, "clinician")
    for name in ("dr.smith", "DR.SMITH", "Dr.Smith", "  dr.smith "):
        assert store.authenticate(name, PASSWORD).username == "dr.smith"
    with pytest.raises(SignInError):
        store.authenticate("dr.smith", PASSWORD.upper())


def test_wrong_password_and_unknown_user_give_the_same_message(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    with pytest.raises(SignInError) as wrong_password:
        store.authenticate("dr.a", "not the password")
    with pytest.raises(SignInError) as unknown_user:
        store.authenticate("dr.nobody", PASSWORD)
    with pytest.raises(SignInError) as empty:
        store.authenticate("dr.a", "")
    messages = {str(e.value) for e in (wrong_password, unknown_user, empty)}
    assert len(messages) == 1
    (message,) = messages
    assert "dr.a" not in message and "nobody" not in message
    assert "try again" in message  # tells the person what to do


def test_unknown_user_costs_a_password_check_too(store):
    """A wrong username takes about as long as a wrong password (no timing leak)."""
    store.add_account("dr.a", PASSWORD, "clinician")

    def seconds(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(SignInError):
            store.authenticate(name, "not the password")
        return time.perf_counter() - start

    runs = [(seconds("dr.a"), seconds("dr.nobody")) for _ in range(3)]  # interleaved
    wrong_password = min(r[0] for r in runs)
    unknown_user = min(r[1] for r in runs)
    # argon2 verification dominates both; without the dummy hash an unknown
    # name would return after one database query, tens of times faster
    assert unknown_user > 0.3 * wrong_password, (unknown_user, wrong_password)


# ---------------------------------------------------------------------- rules
@pytest.mark.parametrize("password", ["", "x", "seven77", None, 12345678])
def test_weak_or_non_text_passwords_are_refused(store, password):
    with pytest.raises(ValueError, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
        store.add_account("dr.a", password, "clinician")
    assert store.accounts() == []


def test_password_of_the_minimum_length_is_accepted(store):
    assert MIN_PASSWORD_LENGTH == 8
    store.add_account("dr.a", "x" * MIN_PASSWORD_LENGTH, "clinician")
    assert store.authenticate("dr.a", "x" * MIN_PASSWORD_LENGTH).username == "dr.a"


@pytest.mark.parametrize(
    "username",
    ["", "ab", "x" * 65, "has space", "semi;colon", "quote'", "ünïcode", "tab\tname", "a/b"],
)
def test_bad_usernames_are_refused(store, username):
    with pytest.raises(ValueError, match="username .* must be 3-64 characters"):
        store.add_account(username, PASSWORD, "clinician")
    assert store.accounts() == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("abc", "abc"),
        ("x" * 64, "x" * 64),
        ("  Dr.A-b_c@Clinic.org ", "dr.a-b_c@clinic.org"),
        ("0123", "0123"),
    ],
)
def test_usernames_are_normalised(store, given, stored):
    assert normalize_username(given) == stored
    assert store.add_account(given, PASSWORD, "researcher").username == stored


@pytest.mark.parametrize("role", ["admin", "Clinician", "", "doctor", None])
def test_unknown_roles_are_refused(store, role):
    with pytest.raises(ValueError, match="role must be one of clinician, patient, researcher"):
        store.add_account("dr.a", PASSWORD, role)
    assert store.accounts() == []


def test_roles_are_the_designed_three():
    assert ROLES == ("clinician", "patient", "researcher")


# ---------------------------------------------------------------------- patient link
def test_patient_account_is_tied_to_its_patient(store):
    p1 = store.add_patient("P-1")
    p2 = store.add_patient("P-2")
    by_code = store.add_account("pat.one", PASSWORD, "patient", patient="P-1")
    by_id = store.add_account("pat.two", PASSWORD, "patient", patient=p2.id)
    assert (by_code.patient_id, by_code.patient_code) == (p1.id, "P-1")
    assert (by_id.patient_id, by_id.patient_code) == (p2.id, "P-2")
    assert store.authenticate("pat.one", PASSWORD).patient_code == "P-1"


def test_patient_account_needs_a_patient_and_others_must_not_have_one(store):
    store.add_patient("P-1")
    with pytest.raises(ValueError, match="needs the patient it belongs to"):
        store.add_account("pat.one", PASSWORD, "patient")
    for role in ("clinician", "researcher"):
        with pytest.raises(ValueError, match="take no patient"):
            store.add_account("someone", PASSWORD, role, patient="P-1")
    with pytest.raises(NotFoundError, match="P-404"):
        store.add_account("pat.one", PASSWORD, "patient", patient="P-404")
    assert store.accounts() == [] and _count(store, "account") == 0


def test_duplicate_username_is_refused_and_keeps_the_first_account(store):
    first = store.add_account("dr.a", PASSWORD, "clinician")
    for name in ("dr.a", "DR.A", " Dr.A "):
        with pytest.raises(StoreError, match="'dr.a' is taken; pick another") as caught:
            store.add_account(name, "another password", "researcher")
        assert not isinstance(caught.value, SignInError)
    assert store.accounts() == [first]
    assert store.authenticate("dr.a", PASSWORD).role == "clinician"
    with pytest.raises(SignInError):
        store.authenticate("dr.a", "another password")


def test_unknown_account_lookup_raises_sign_in_error(store):
    with pytest.raises(SignInError, match="no account called 'dr.x'"):
        store.account("DR.X")


def test_deleting_a_patient_deletes_their_account(store):
    p = store.add_patient("P-1")
    store.add_patient("P-2")
    store.add_account("pat.one", PASSWORD, "patient", patient="P-1")
    store.add_account("pat.two", PASSWORD, "patient", patient="P-2")
    store.add_account("dr.a", PASSWORD, "clinician")
    store.delete("patient", p.id, reason="asked to be removed")
    assert [a.username for a in store.accounts()] == ["dr.a", "pat.two"]
    assert set(_raw_accounts(store)) == {"dr.a", "pat.two"}
    with pytest.raises(SignInError):
        store.authenticate("pat.one", PASSWORD)
    assert store.authenticate("pat.two", PASSWORD).patient_code == "P-2"


# ---------------------------------------------------------------------- changes
def test_set_password_replaces_the_hash(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    old_hash = _raw_accounts(store)["dr.a"]["password_hash"]
    store.set_password("DR.A", "a new long password", user="dr.b")
    new_hash = _raw_accounts(store)["dr.a"]["password_hash"]
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert store.authenticate("dr.a", "a new long password").username == "dr.a"
    with pytest.raises(SignInError):
        store.authenticate("dr.a", PASSWORD)
    entry = store.audit_log(limit=1)[0]
    assert (entry.who, entry.action, entry.target, entry.target_id) == (
        "dr.b",
        "set_password",
        "account",
        store.account("dr.a").id,
    )


def test_set_password_checks_the_rules_and_the_account(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    with pytest.raises(ValueError, match="at least"):
        store.set_password("dr.a", "short")
    with pytest.raises(SignInError):
        store.set_password("dr.nobody", "a new long password")
    assert store.authenticate("dr.a", PASSWORD).username == "dr.a"  # unchanged


def test_ensure_admin_generates_a_password_once(store):
    generated = store.ensure_admin()
    assert isinstance(generated, str) and len(generated) >= MIN_PASSWORD_LENGTH
    (admin,) = store.accounts()
    assert (admin.username, admin.role) == ("admin", "clinician")
    assert store.authenticate("admin", generated) == admin
    assert store.audit_log(limit=1)[0].who == "setup"
    # a second call finds the clinician and neither adds nor changes anything
    assert store.ensure_admin() is None
    assert store.ensure_admin("a chosen password") is None
    assert store.accounts() == [admin]
    assert store.authenticate("admin", generated) == admin


def test_ensure_admin_with_a_password_returns_none(store):
    assert store.ensure_admin("a chosen password", username="Chief") is None
    (chief,) = store.accounts()
    assert (chief.username, chief.role) == ("chief", "clinician")
    assert store.authenticate("chief", "a chosen password") == chief


def test_ensure_admin_checks_the_password_it_is_given(store):
    with pytest.raises(ValueError, match="at least"):
        store.ensure_admin("short")
    assert store.accounts() == []


def test_ensure_admin_counts_only_clinicians(store):
    store.add_patient("P-1")
    store.add_account("res", PASSWORD, "researcher")
    store.add_account("pat", PASSWORD, "patient", patient="P-1")
    generated = store.ensure_admin()
    assert generated is not None
    assert store.authenticate("admin", generated).role == "clinician"
    assert store.ensure_admin() is None and len(store.accounts()) == 3


def test_ensure_admin_does_nothing_when_a_clinician_exists(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    assert store.ensure_admin() is None
    assert [a.username for a in store.accounts()] == ["dr.a"]


# ---------------------------------------------------------------------- audit
def test_audit_log_records_accounts_but_never_a_password_or_hash(store):
    store.add_patient("P-1")
    generated = store.ensure_admin()
    store.add_account("dr.a", PASSWORD, "clinician", user="dr.boss")
    store.add_account("pat.one", "patient password", "patient", patient="P-1")
    store.set_password("dr.a", "second password here")
    store.authenticate("dr.a", "second password here")
    adds = [e for e in store.audit_log() if (e.action, e.target) == ("add", "account")]
    assert [(e.who, e.details["username"], e.details["role"]) for e in adds] == [
        ("tester", "pat.one", "patient"),
        ("dr.boss", "dr.a", "clinician"),
        ("setup", "admin", "clinician"),
    ]
    ids = {a.username: a.id for a in store.accounts()}
    assert [e.target_id for e in adds] == [ids["pat.one"], ids["dr.a"], ids["admin"]]
    hashes = [r["password_hash"] for r in _raw_accounts(store).values()]
    with store.engine.connect() as conn:
        raw_log = json.dumps(
            [list(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM audit_log"))]
        )
    for secret in (PASSWORD, "patient password", "second password here", generated, *hashes):
        assert secret not in raw_log
    assert "$argon2" not in raw_log


# ---------------------------------------------------------------------- demo accounts
def test_demo_accounts_sign_in_and_are_added_once(store):
    store.add_patient(DEMO_CODE)
    added = add_demo_accounts(store)
    assert added == [name for name, _, _ in DEMO_ACCOUNTS]
    for username, password, role in DEMO_ACCOUNTS:
        info = store.authenticate(username, password)
        assert info.role == role
        assert info.patient_code == (DEMO_CODE if role == "patient" else None)
    assert add_demo_accounts(store) == []
    assert len(store.accounts()) == len(DEMO_ACCOUNTS)


# ---------------------------------------------------------------------- migration
def test_upgrade_from_0002_keeps_every_row_and_adds_accounts(store_dir, database_url):
    store_dir.mkdir()
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    now = dt.datetime(2024, 3, 1, 12, 0)
    with engine.begin() as conn:  # rows as release 0002 wrote them
        meta = sa.MetaData()
        meta.reflect(conn)
        assert "account" not in meta.tables and "audit_log" in meta.tables
        t = meta.tables
        conn.execute(
            t["patient"].insert(),
            [{"code": "OLD-1", "created_at": now}, {"code": "OLD-2", "created_at": now}],
        )
        conn.execute(
            t["patient_identity"].insert(),
            [{"patient_id": 1, "name": "B", "birth_date": dt.date(1970, 1, 2)}],
        )
        conn.execute(
            t["visit"].insert(),
            [
                {
                    "patient_id": 1,
                    "date": dt.date(2024, 3, 1),
                    "notes": "n",
                    "events": ["treatment started"],
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            t["audit_log"].insert(),
            [
                {
                    "at": now,
                    "who": "dr.old",
                    "action": "add",
                    "target": "patient",
                    "target_id": 1,
                    "details": {"code": "OLD-1"},
                }
            ],
        )
    engine.dispose()
    with Store.open(store_dir, database_url=database_url, user="tester") as store:
        with store.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert "account" in tables and revision == head_revision()
        assert [p.code for p in store.patients()] == ["OLD-1", "OLD-2"]
        assert store.identity("OLD-1").birth_date == dt.date(1970, 1, 2)
        assert store.visits("OLD-1")[0].events == ("treatment started",)
        (old_entry,) = store.audit_log()
        assert (old_entry.who, old_entry.details) == ("dr.old", {"code": "OLD-1"})
        assert store.accounts() == []
        # the new table works with the old rows: a patient account, and the cascade
        info = store.add_account("old.one", PASSWORD, "patient", patient="OLD-1")
        assert (info.patient_id, info.patient_code) == (1, "OLD-1")
        store.delete("patient", 1)
        assert store.accounts() == []
        assert [p.code for p in store.patients()] == ["OLD-2"]


def test_repeated_failed_sign_ins_lock_the_username_for_a_while(store, monkeypatch):
    from tracker.store import accounts

    clock = [dt.datetime(2026, 1, 5, 9, 0)]
    monkeypatch.setattr(accounts.m, "utcnow", lambda: clock[0])
    store.add_account("dr.a", PASSWORD, "clinician")
    store.add_account("dr.b", PASSWORD, "clinician")
    for name in ("dr.a", "dr.nobody"):  # known and unknown names alike
        for _ in range(accounts.MAX_FAILED_SIGN_INS):
            with pytest.raises(SignInError, match="username or password is wrong"):
                store.authenticate(name, "not the password")
        with pytest.raises(SignInError, match="too many failed sign-ins under this username from here; wait 5 minutes"):
            store.authenticate(name, PASSWORD if name == "dr.a" else "not the password")
    assert store.authenticate("dr.b", PASSWORD).username == "dr.b"  # other names are not affected
    clock[0] += dt.timedelta(seconds=accounts.FAILURE_WINDOW_S)
    assert store.authenticate("dr.a", PASSWORD).username == "dr.a"


def _lock_out(store, name: str, place: str | None = None) -> None:
    from tracker.store import accounts

    for _ in range(accounts.MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError, match="wrong"):
            store.authenticate(name, "not the password", place=place)


def test_a_username_locked_from_one_place_still_signs_in_from_another(store):
    """Someone who knows a username cannot keep its owner out: the lockout holds where the failures came from."""
    store.add_account("dr.a", PASSWORD, "clinician")
    _lock_out(store, "dr.a", place="198.51.100.9")
    with pytest.raises(SignInError, match="too many failed sign-ins under this username from here"):
        store.authenticate("dr.a", PASSWORD, place="198.51.100.9")
    assert store.authenticate("dr.a", PASSWORD, place="192.0.2.7").username == "dr.a"
    assert store.authenticate("dr.a", PASSWORD).username == "dr.a"  # from the app's own machine
    with pytest.raises(SignInError, match="from here"):  # the success elsewhere lifted nothing there
        store.authenticate("dr.a", PASSWORD, place="198.51.100.9")


def test_failures_from_many_places_lock_the_username_everywhere(store):
    from tracker.store import accounts

    store.add_account("dr.a", PASSWORD, "clinician")
    places = [f"203.0.113.{i}" for i in range(accounts.MAX_FAILED_SIGN_INS_ANYWHERE // accounts.MAX_FAILED_SIGN_INS)]
    for place in places:
        _lock_out(store, "dr.a", place=place)
    for place in ("192.0.2.7", None):
        with pytest.raises(SignInError, match="too many failed sign-ins under this username from several places"):
            store.authenticate("dr.a", PASSWORD, place=place)
    store.set_password("dr.a", "a new password 1", user="admin")  # lifts it everywhere
    assert store.authenticate("dr.a", "a new password 1", place=places[0]).username == "dr.a"


def test_an_ipv6_connection_is_one_place_whatever_address_of_its_network_it_uses(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    _lock_out(store, "dr.a", place="2001:db8:1:2::1")
    with pytest.raises(SignInError, match="from here"):
        store.authenticate("dr.a", PASSWORD, place="2001:db8:1:2:ffff::7")
    assert store.authenticate("dr.a", PASSWORD, place="2001:db8:1:3::1").username == "dr.a"
    _lock_out(store, "dr.a", place="192.0.2.7")
    with pytest.raises(SignInError, match="from here"):  # an IPv4 address on an IPv6 socket
        store.authenticate("dr.a", PASSWORD, place="::ffff:192.0.2.7")


def test_failures_kept_before_places_were_count_only_toward_the_limit_from_anywhere(store):
    """Rows from before revision 0007 have no place: they lock no place, but count everywhere."""
    from tracker.store import accounts
    from tracker.store import models as m

    store.add_account("dr.a", PASSWORD, "clinician")
    with store._write() as s, s.begin():
        s.add_all(
            m.SignInFailure(username_key=store._username_key("dr.a"), at=m.utcnow())
            for _ in range(accounts.MAX_FAILED_SIGN_INS_ANYWHERE - 1)
        )
    assert store.authenticate("dr.a", PASSWORD).username == "dr.a"  # kept: no place to forget them from
    with pytest.raises(SignInError, match="wrong"):
        store.authenticate("dr.a", "not the password", place="192.0.2.7")
    with pytest.raises(SignInError, match="from several places"):
        store.authenticate("dr.a", PASSWORD, place="198.51.100.9")


def test_a_lockout_holds_when_the_store_is_opened_again_and_in_another_process(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    _lock_out(store, "dr.a")
    location, url = store.location, store.database_url
    store.close()
    with Store.open(location, database_url=url) as again:  # the app started again
        with pytest.raises(SignInError, match="too many failed sign-ins"):
            again.authenticate("dr.a", PASSWORD)
    # a second app process on the same store sees it too
    code = (
        "import sys\n"
        "from tracker.store import Store, SignInError\n"
        "with Store.open(sys.argv[1], database_url=sys.argv[2]) as s:\n"
        "    try:\n"
        "        s.authenticate('dr.a', sys.argv[3])\n"
        "    except SignInError as e:\n"
        "        print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(location), url, PASSWORD],
                          capture_output=True, text=True, check=True)
    assert "too many failed sign-ins" in done.stdout


def test_a_new_password_lifts_the_lockout(store):
    store.add_account("dr.a", PASSWORD, "clinician")
    store.add_account("dr.b", PASSWORD, "clinician")
    _lock_out(store, "dr.a")
    _lock_out(store, "dr.b")
    store.set_password("dr.a", "a new password 1", user="admin")
    assert store.authenticate("dr.a", "a new password 1").username == "dr.a"
    with pytest.raises(SignInError, match="too many failed sign-ins"):
        store.authenticate("dr.b", PASSWORD)


def test_failures_past_the_window_are_dropped_and_names_are_kept_only_as_keyed_hashes(store, monkeypatch):
    from sqlalchemy import func, select

    from tracker.store import accounts
    from tracker.store import models as m

    clock = [dt.datetime(2026, 1, 5, 9, 0)]
    monkeypatch.setattr(accounts.m, "utcnow", lambda: clock[0])
    typed = "Correct Horse " + "x" * 200  # a password typed into the username box
    _lock_out(store, typed, place="192.0.2.77")
    store.add_account("dr.a", PASSWORD, "clinician")
    assert store.authenticate("dr.a", PASSWORD).username == "dr.a"
    with store._read() as s:
        rows = s.execute(select(m.SignInFailure.username_key, m.SignInFailure.place_key)).all()
    keys = [k for row in rows for k in row]
    assert len(rows) == accounts.MAX_FAILED_SIGN_INS and all(len(k) == 64 for k in keys)
    assert not any("192.0.2" in k for k in keys)  # the address is not kept either
    assert rows[0].place_key != store._username_key("192.0.2.77")  # nor hashed as a username would be
    assert not any("horse" in k or "xxx" in k for k in keys)
    key_file = store.location / accounts.SIGN_IN_KEY_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    clock[0] += dt.timedelta(seconds=accounts.FAILURE_WINDOW_S + 1)
    with pytest.raises(SignInError, match="wrong"):
        store.authenticate("dr.c", "not the password")
    with store._read() as s:  # the old ones went with the next attempt
        kept = s.execute(select(m.SignInFailure.username_key, func.count()).group_by(m.SignInFailure.username_key)).all()
    assert kept == [(store._username_key("dr.c"), 1)]


def test_sign_ins_at_the_same_time_cannot_pass_the_limit_together(store, monkeypatch):
    """Each attempt is counted before its password is checked: of many wrong attempts
    made at once, at most MAX_FAILED_SIGN_INS get as far as the check."""
    import threading

    from tracker.store import accounts

    store.add_account("dr.a", PASSWORD, "clinician")
    checked = []
    real = accounts._HASHER

    class SlowHasher:  # the real check, slowed so that the attempts overlap
        def verify(self, digest, password):
            checked.append(password)
            time.sleep(0.2)
            return real.verify(digest, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_HASHER", SlowHasher())
    start = threading.Barrier(12)
    outcomes = []

    def attempt():
        start.wait()
        try:
            store.authenticate("dr.a", "not the password")
        except SignInError as err:
            outcomes.append("too many" if "too many" in str(err) else "wrong")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == accounts.MAX_FAILED_SIGN_INS
    assert sorted(outcomes) == ["too many"] * (12 - accounts.MAX_FAILED_SIGN_INS) + ["wrong"] * accounts.MAX_FAILED_SIGN_INS


def test_a_successful_sign_in_forgets_the_failures_before_it(store):
    from tracker.store import accounts

    store.add_account("dr.a", PASSWORD, "clinician")
    for _ in range(2):
        for _ in range(accounts.MAX_FAILED_SIGN_INS - 1):
            with pytest.raises(SignInError, match="wrong"):
                store.authenticate("dr.a", "not the password")
        assert store.authenticate("dr.a", PASSWORD).username == "dr.a"
