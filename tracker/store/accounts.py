"""Accounts that sign in: clinicians, researchers and patients.

Passwords are kept only as argon2id hashes (``argon2-cffi``). A patient's
account is tied to that patient's record; what each role may see is enforced
by :class:`tracker.access.Access`, which the app's pages call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from tracker.store import models as m
from tracker.store.errors import StoreError
from tracker.store.records import as_utc

#: Roles an account can have.
ROLES = ("clinician", "patient", "researcher")
MIN_PASSWORD_LENGTH = 8
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.@")
_HASHER = PasswordHasher()
# verified against when the username is unknown, so a wrong name costs as much time as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))
# Failed sign-ins are kept in the database under keyed hashes of the username and
# of the place (network address) they came from, so a restart of the app does not
# clear them and every process of one store sees them; they are dropped once older
# than FAILURE_WINDOW_S seconds. Known and unknown usernames are counted alike, so
# a refusal tells nothing about them.

#: After this many failed sign-ins under one username from one place within
#: FAILURE_WINDOW_S seconds, that username's sign-ins from there are refused for
#: the rest of the window: someone who knows a username locks it where they are,
#: not for its owner elsewhere ...
MAX_FAILED_SIGN_INS = 5
#: ... unless they fail from several places: after this many under one username
#: from anywhere, its sign-ins are refused everywhere. So at most this many
#: guesses per username per window, however many addresses (IPv6 networks are
#: easy to get many of) they come from; failing from four places locks everyone.
MAX_FAILED_SIGN_INS_ANYWHERE = 20
FAILURE_WINDOW_S = 300.0
#: File in the store folder holding the secret of the failed sign-ins' hashes.
SIGN_IN_KEY_NAME = "sign-in.key"


class SignInError(StoreError):
    """The username or password is wrong. Deliberately does not say which."""


@dataclass(frozen=True)
class AccountInfo:
    """An account, without its password hash."""

    id: int
    username: str
    role: str
    patient_id: int | None
    patient_code: str | None
    created_at: dt.datetime


def check_password_rules(password: str) -> None:
    """Raise ValueError, saying what to change, if ``password`` is too weak to store."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters; choose a longer one"
        )


def sign_in_place(address: str | None) -> str:
    """The place a sign-in from network `address` counts as: an IPv4 address
    itself, an IPv6 address's /64 network (one connection is usually given a
    whole /64, so its addresses are one place), '' when unknown.

    Examples
    --------
    >>> sign_in_place("192.0.2.7"), sign_in_place("2001:db8::1"), sign_in_place(None)
    ('192.0.2.7', '2001:db8::/64', '')
    """
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return str(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 address on an IPv6 socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def normalize_username(username: str) -> str:
    """Lower-case ``username`` and check it; raise ValueError saying what is allowed."""
    name = str(username).strip().lower()
    if not 3 <= len(name) <= 64 or not set(name) <= _USERNAME_CHARS:
        raise ValueError(
            f"username {username!r} must be 3-64 characters of letters, digits, '.', '-', '_' or '@'"
        )
    return name


class AccountsMixin:
    """Account methods of :class:`tracker.store.Store`."""

    def add_account(
        self,
        username: str,
        password: str,
        role: str,
        *,
        patient: int | str | None = None,
        user: str | None = None,
    ) -> AccountInfo:
        """Add an account. A ``'patient'`` account needs the ``patient`` it belongs to.

        Examples
        --------
        >>> import tempfile
        >>> from tracker.store import Store
        >>> store = Store.open(tempfile.mkdtemp(), user="admin")
        >>> store.add_account("dr.a", "correct horse", "clinician").role
        'clinician'
        >>> store.authenticate("DR.A", "correct horse").username
        'dr.a'
        """
        from tracker.store.api import _get_patient

        name = normalize_username(username)
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if (role == "patient") != (patient is not None):
            raise ValueError(
                "a patient account needs the patient it belongs to (patient=code); "
                "clinician and researcher accounts take no patient"
            )
        check_password_rules(password)
        digest = _HASHER.hash(password)
        try:
            with self._write() as s, s.begin():
                pid = None if patient is None else _get_patient(s, patient).id
                row = m.Account(username=name, role=role, password_hash=digest, patient_id=pid)
                s.add(row)
                s.flush()
                self._audit(s, user, "add", "account", row.id, username=name, role=role)
        except IntegrityError:
            raise StoreError(f"the username {name!r} is taken; pick another") from None
        return self.account(name)

    def account(self, username: str) -> AccountInfo:
        """The account called ``username``; raise :class:`SignInError` if there is none."""
        name = str(username).strip().lower()
        with self._read() as s:
            row = s.execute(_account_select().where(m.Account.username == name)).first()
        if row is None:
            raise SignInError(f"no account called {name!r}")
        return _account_info(row)

    def accounts(self) -> list[AccountInfo]:
        """All accounts, by username."""
        with self._read() as s:
            return [
                _account_info(r)
                for r in s.execute(_account_select().order_by(m.Account.username))
            ]

    def authenticate(self, username: str, password: str, *, place: str | None = None) -> AccountInfo:
        """The account whose username and password these are.

        Each attempt is counted as a failure before the password is checked (and
        forgotten with the earlier failures from the same place when it is
        right), so attempts made at the same time cannot pass the limit together.

        Parameters
        ----------
        username, password : str
        place : str, optional
            Where the attempt comes from: the network address of the person
            signing in (the app passes its connection's), None when unknown or
            local. Failures lock a username only at the place they came from
            (MAX_FAILED_SIGN_INS), and everywhere only when they come from
            several places (MAX_FAILED_SIGN_INS_ANYWHERE). Behind a reverse
            proxy the place is what the app's server takes the address to be
            (see the README).

        Raises
        ------
        SignInError
            Unknown username or wrong password (the message does not say which),
            or too many failures under the username in the last
            FAILURE_WINDOW_S seconds (from `place`, or from anywhere).
        """
        name = str(username).strip().lower()
        key, place_key = self._username_key(name), self._place_key(place)
        refused = self._attempt_counted(key, place_key)
        if refused is not None:
            raise SignInError(
                f"too many failed sign-ins under this username {refused}; wait {FAILURE_WINDOW_S / 60:.0f} "
                "minutes and try again, or ask a clinician of the clinic for a new password"
            )
        with self._read() as s:
            row = s.scalar(select(m.Account).where(m.Account.username == name))
        stored = _DUMMY_HASH if row is None else row.password_hash
        try:
            _HASHER.verify(stored, password)
            ok = row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise SignInError("the username or password is wrong; check both and try again")
        with self._write() as s, s.begin():
            s.execute(
                delete(m.SignInFailure).where(
                    m.SignInFailure.username_key == key, m.SignInFailure.place_key == place_key
                )
            )
        if _HASHER.check_needs_rehash(row.password_hash):
            self._store_hash(row.id, _HASHER.hash(password), user=name)
        return self.account(name)

    def set_password(self, username: str, password: str, *, user: str | None = None) -> None:
        """Replace an account's password."""
        check_password_rules(password)
        self._store_hash(self.account(username).id, _HASHER.hash(password), user=user)

    def ensure_admin(self, password: str | None = None, *, username: str = "admin") -> str | None:
        """Create the first clinician account if the store has no clinician yet.

        Returns the generated password when one was made (``password`` None),
        so the caller can show it once; otherwise None.
        """
        if any(a.role == "clinician" for a in self.accounts()):
            return None
        generated = None
        if not password:
            password = generated = secrets.token_urlsafe(12)
        self.add_account(username, password, "clinician", user="setup")
        return generated

    def _attempt_counted(self, key: str, place_key: str) -> str | None:
        """Count a sign-in attempt under username ``key`` from ``place_key`` as a
        failure; failures older than FAILURE_WINDOW_S seconds are dropped first.
        One transaction, taken one at a time.

        Returns None when counted; when the limit is reached instead, where the
        failures came from ('from here' for MAX_FAILED_SIGN_INS from this place,
        'from several places' for MAX_FAILED_SIGN_INS_ANYWHERE)."""
        now = m.utcnow()
        since = now - dt.timedelta(seconds=FAILURE_WINDOW_S)
        with self._write() as s, s.begin():
            if s.get_bind().dialect.name == "postgresql":  # SQLite's write transactions take turns already
                s.execute(text("LOCK TABLE sign_in_failure IN SHARE ROW EXCLUSIVE MODE"))
            s.execute(delete(m.SignInFailure).where(m.SignInFailure.at <= since))
            failed = (
                select(func.count()).select_from(m.SignInFailure).where(m.SignInFailure.username_key == key)
            )
            if s.scalar(failed.where(m.SignInFailure.place_key == place_key)) >= MAX_FAILED_SIGN_INS:
                return "from here"
            if s.scalar(failed) >= MAX_FAILED_SIGN_INS_ANYWHERE:
                return "from several places"
            s.add(m.SignInFailure(username_key=key, place_key=place_key, at=now))
        return None

    def _username_key(self, name: str) -> str:
        """The keyed hash (HMAC-SHA256, hex) a username's failed sign-ins are kept under."""
        return hmac.new(self._sign_in_secret, name.encode(), hashlib.sha256).hexdigest()

    def _place_key(self, place: str | None) -> str:
        """The keyed hash (HMAC-SHA256, hex) of the place a sign-in comes from
        (:func:`sign_in_place`); one for all unknown places."""
        # prefixed: a username that reads like an address gets another hash
        return hmac.new(self._sign_in_secret, b"place:" + sign_in_place(place).encode(), hashlib.sha256).hexdigest()

    @cached_property
    def _sign_in_secret(self) -> bytes:
        """The store's secret for :meth:`_username_key` and :meth:`_place_key` (``sign-in.key``
        in the store folder, made on first use, readable by its owner only)."""
        path = self.location / SIGN_IN_KEY_NAME
        if not path.exists():
            # written whole under another name, then linked: a process reading it
            # never sees it half-written, and the first of two writers wins
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                fh.write(secrets.token_bytes(32))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        secret = path.read_bytes()
        if len(secret) < 32:
            raise StoreError(
                f"the sign-in key {path} is damaged ({len(secret)} bytes): delete it, and a new one is "
                "made (only the failed sign-ins of the last minutes are forgotten)"
            )
        return secret

    def _store_hash(self, account_id: int, digest: str, *, user: str | None) -> None:
        """Store an account's new password hash; a new password also lifts the lockout of its username."""
        with self._write() as s, s.begin():
            account = s.get(m.Account, account_id)
            account.password_hash = digest
            key = self._username_key(account.username)
            s.execute(delete(m.SignInFailure).where(m.SignInFailure.username_key == key))
            self._audit(s, user, "set_password", "account", account_id)


def _account_select():
    return select(m.Account, m.Patient.code).outerjoin(
        m.Patient, m.Patient.id == m.Account.patient_id
    )


def _account_info(row) -> AccountInfo:
    a, code = row
    return AccountInfo(a.id, a.username, a.role, a.patient_id, code, as_utc(a.created_at))
