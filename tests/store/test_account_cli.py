"""``tracker account``: app sign-ins added, listed and given new passwords from the command line."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from tracker.store import SignInError
from tracker.store.cli import add_store_commands


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tracker")
    add_store_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def where(store, store_dir, database_url) -> list[str]:
    store.add_patient("P-001")
    return ["--store", str(store_dir), "--database-url", database_url]


def test_an_account_gets_a_password_made_and_shown_once(store, where, capsys):
    assert _run("account", "add", "Dr.New", "--role", "clinician", *where) == 0
    out = capsys.readouterr().out
    assert out.startswith("added the clinician account dr.new\n")
    password = re.search(r"password \(shown once; hand it to the person\): (\S+)", out).group(1)
    assert len(password) >= 16
    assert store.authenticate("dr.new", password).role == "clinician"
    assert password not in " ".join(str(e) for e in store.audit_log())  # the audit log keeps no password


def test_a_password_from_standard_input_is_used_and_not_printed(store, where, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    argv = ["account", "add", "pat.one", "--role", "patient", "--patient", "P-001", "--password-stdin"]
    assert _run(*argv, *where) == 0
    out = capsys.readouterr().out
    assert out == "added the patient account pat.one for patient P-001\n"
    assert store.authenticate("pat.one", "a long enough secret").patient_code == "P-001"


def test_a_new_password_replaces_the_old_one(store, where, capsys):
    store.add_account("res.a", "the first password", "researcher")
    assert _run("account", "password", "res.a", *where) == 0
    password = capsys.readouterr().out.split(": ")[-1].strip()
    assert store.authenticate("res.a", password).username == "res.a"
    with pytest.raises(SignInError):
        store.authenticate("res.a", "the first password")


def test_accounts_are_listed_without_passwords(store, where, capsys):
    store.add_account("dr.a", "a password long enough", "clinician")
    store.add_account("pat.b", "a password long enough", "patient", patient="P-001")
    assert _run("account", "list", *where) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [["dr.a", "clinician", ""], ["pat.b", "patient", "P-001"]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "pat.c", "--role", "patient"], "a patient account needs the patient it belongs to"),
        (["add", "dr.a", "--role", "clinician"], "the username 'dr.a' is taken; pick another"),
        (["password", "nobody"], "no account called 'nobody'"),
        (["add", "x", "--role", "clinician"], "username 'x' must be 3-64 characters"),
    ],
)
def test_misuse_says_what_to_do(store, where, capsys, argv, message):
    store.add_account("dr.a", "a password long enough", "clinician")
    assert _run("account", *argv, *where) == 2
    assert message in capsys.readouterr().err
