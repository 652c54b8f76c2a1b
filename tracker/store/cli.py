"""``tracker backup``, ``restore``, ``check``, ``reanalyse`` and ``account``.

:func:`add_store_commands` registers them on the main parser's subparsers;
each sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import errno
import getpass
import json
import os
import secrets
import sys

from tracker.store.accounts import ROLES
from tracker.store.api import Store, default_location
from tracker.store.errors import StoreError
from tracker.store.maintenance import backup, check, prune_leftovers, restore


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="store folder (default: $TRACKER_STORE or ./tracker-data)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db "
        "(default: $DATABASE_URL, else the SQLite file in the store folder)",
    )


def add_store_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``backup``, ``restore``, ``check``, ``reanalyse`` and ``account`` on ``subparsers``."""
    p = subparsers.add_parser(
        "backup", help="write the database and all original photos to one archive"
    )
    p.add_argument("archive", help="archive file to write (.tar, or .tar.gz to compress)")
    _store_options(p)
    p.set_defaults(func=_cmd_backup)

    p = subparsers.add_parser("restore", help="rebuild a store from a backup archive")
    p.add_argument("archive", help="archive written by 'tracker backup'")
    _store_options(p)
    p.set_defaults(func=_cmd_restore)

    p = subparsers.add_parser(
        "check", help="find missing or corrupted originals, orphan rows and leftover files"
    )
    _store_options(p)
    p.add_argument(
        "--quick", action="store_true", help="compare file sizes instead of hashing every original"
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove leftover files of interrupted adds older than one hour",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_check)

    p = subparsers.add_parser(
        "reanalyse",
        help="measure stored photos again with the installed algorithm (earlier measurements stay)",
        description="Measure stored photos again with the installed algorithm, with their views' "
        "current ROIs and stored registrations. Each photo gets a new measurement; the earlier ones "
        "stay. By default only photos whose latest measurement is by another algorithm version; with "
        "--all also those measured by the installed version with other settings. Each patient's photos "
        "are stored together, so after a stop the same command goes on where it was: photos measured "
        "by the installed version with the settings in force are not measured again (unless --again).",
    )
    _store_options(p)
    p.add_argument("--patient", metavar="CODE", help="only this patient's photos")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--all",
        action="store_true",
        help="also photos measured by the installed version with another ROI or baseline photo of "
        "their view, or before the ROI placed by hand on them",
    )
    which.add_argument(
        "--again",
        action="store_true",
        help="every photo, even those measured by the installed version with the settings in force "
        "(each gets one more measurement); a stopped run starts over",
    )
    p.set_defaults(func=_cmd_reanalyse)

    p = subparsers.add_parser(
        "account",
        help="add app sign-ins, list them, or set a new password",
        description="App sign-ins. Without --password-stdin a strong password is made and printed once: "
        "hand it to the person; with it, the password is read from the first line of standard input.",
    )
    commands = p.add_subparsers(dest="account_command", required=True, metavar="{add,list,password}")
    add = commands.add_parser("add", help="add an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--patient", metavar="CODE", help="the patient a patient account belongs to")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _store_options(add)
    add.set_defaults(func=_cmd_account_add)
    listing = commands.add_parser("list", help="list the accounts (never their passwords)")
    _store_options(listing)
    listing.set_defaults(func=_cmd_account_list)
    password = commands.add_parser("password", help="set a new password for an account")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _store_options(password)
    password.set_defaults(func=_cmd_account_password)


def operator() -> str:
    """Who runs a command, for the audit log: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def _location(args: argparse.Namespace) -> str:
    return args.store or default_location()


def _open(args: argparse.Namespace) -> Store:
    if not os.path.isdir(_location(args)):
        raise StoreError(f"no store at {_location(args)}; pass --store DIR or set TRACKER_STORE")
    try:
        return Store.open(_location(args), database_url=args.database_url)
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreError(
                f"the store at {_location(args)} cannot be written ({err.strerror}): tracker writes a lock file "
                "and its database journal even to read; copy the store to a place you may write to, or run "
                "the command as the user who owns it"
            ) from err
        raise


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _cmd_backup(args: argparse.Namespace) -> int:
    try:
        with _open(args) as store:
            manifest = backup(store, args.archive)
    except (StoreError, OSError) as exc:
        return _fail(exc)
    print(
        f"wrote {args.archive}: {len(manifest['originals'])} originals, "
        + ", ".join(f"{n} {t}" for t, n in manifest["tables"].items())
    )
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    try:
        manifest = restore(args.archive, _location(args), database_url=args.database_url)
    except (StoreError, OSError) as exc:
        return _fail(exc)
    print(
        f"restored {len(manifest['originals'])} originals and "
        f"{sum(manifest['tables'].values())} rows into {_location(args)}"
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        with _open(args) as store:
            report = check(store, verify=not args.quick)
            # a foreign database is reported below; nothing is pruned against it
            removed = prune_leftovers(store) if args.prune and not report.foreign_database else []
    except (StoreError, OSError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps({**report.to_dict(), "removed": [str(p) for p in removed]}, indent=1))
    else:
        print("\n".join(report.lines()))
        for path in removed:
            print(f"removed leftover {path}")
    return 0 if report.ok else 1


def _cmd_reanalyse(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tracker.analysis import ALGORITHM_VERSION

    try:
        with _open(args) as store:
            patients = [store.patient(args.patient)] if args.patient else store.patients()
            plan = []  # the photo ids to measure again, per patient with any
            for patient in patients:
                if args.again:
                    ids = [photo.id for photo in store.photos(patient=patient.id)]
                else:
                    ids = store.photos_to_reanalyse(patient.id, settings=args.all)
                if ids:
                    plan.append(ids)
            total = sum(len(ids) for ids in plan)
            if not total:
                settings = " with the settings in force" if args.all else ""
                print(
                    f"nothing to reanalyse: no photos are stored{f' for patient {args.patient}' if args.patient else ''}"
                    if args.again
                    else f"nothing to reanalyse: every photo's latest measurement is by algorithm "
                    f"{ALGORITHM_VERSION}{settings} (--again measures them all again)"
                )
                return 0
            with tqdm(total=total, unit="photo", disable=None, dynamic_ncols=True) as bar:
                for ids in plan:  # one transaction per patient
                    store.reanalyse(photo_ids=ids)
                    bar.update(len(ids))
    except (StoreError, OSError, ValueError) as exc:
        return _fail(exc)
    print(f"reanalysed {_count(total, 'photo')} of {_count(len(plan), 'patient')} with algorithm "
          f"{ALGORITHM_VERSION}; their earlier measurements are kept")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was made here (to be printed once)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ValueError("no password on standard input; pipe one line in, or leave out --password-stdin")
        return password, False
    return secrets.token_urlsafe(12), True


def _cmd_account_add(args: argparse.Namespace) -> int:
    try:
        password, made = _new_password(args)
        with _open(args) as store:
            account = store.add_account(args.username, password, args.role, patient=args.patient, user=operator())
    except (StoreError, ValueError, OSError) as exc:
        return _fail(exc)
    whose = f" for patient {account.patient_code}" if account.patient_code else ""
    print(f"added the {account.role} account {account.username}{whose}")
    if made:
        print(f"password (shown once; hand it to the person): {password}")
    return 0


def _cmd_account_list(args: argparse.Namespace) -> int:
    try:
        with _open(args) as store:
            accounts = store.accounts()
    except (StoreError, OSError) as exc:
        return _fail(exc)
    for a in accounts:
        print(f"{a.username}\t{a.role}\t{a.patient_code or ''}\t{a.created_at:%Y-%m-%d}")
    if not accounts:
        print("no accounts yet: the app makes the first clinician account when it starts", file=sys.stderr)
    return 0


def _cmd_account_password(args: argparse.Namespace) -> int:
    try:
        password, made = _new_password(args)
        with _open(args) as store:
            store.set_password(args.username, password, user=operator())
    except (StoreError, ValueError, OSError) as exc:
        return _fail(exc)
    print(f"set a new password for {args.username.strip().lower()}")
    if made:
        print(f"password (shown once; hand it to the person): {password}")
    return 0
