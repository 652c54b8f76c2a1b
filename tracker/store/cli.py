"""``tracker backup``, ``tracker restore``, ``tracker check`` and ``tracker reanalyse``.

:func:`add_store_commands` registers them on the main parser's subparsers;
each sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

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
    """Register ``backup``, ``restore``, ``check`` and ``reanalyse`` on ``subparsers``."""
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
        "stay. By default only photos whose latest measurement is by another algorithm version; each "
        "patient's photos are stored together, so after a stop the same command goes on where it was.",
    )
    _store_options(p)
    p.add_argument("--patient", metavar="CODE", help="only this patient's photos")
    p.add_argument(
        "--all", action="store_true", help="also photos already measured by the installed version"
    )
    p.set_defaults(func=_cmd_reanalyse)


def _location(args: argparse.Namespace) -> str:
    return args.store or default_location()


def _open(args: argparse.Namespace) -> Store:
    if not os.path.isdir(_location(args)):
        raise StoreError(f"no store at {_location(args)}; pass --store DIR or set TRACKER_STORE")
    return Store.open(_location(args), database_url=args.database_url)


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
            removed = prune_leftovers(store) if args.prune else []
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
                newest = {row.photo_id: row.algorithm_version for row in store.timeline(patient.id)}
                photos = store.photos(patient=patient.id)
                ids = [photo.id for photo in photos if args.all or newest.get(photo.id) != ALGORITHM_VERSION]
                if ids:
                    plan.append(ids)
            total = sum(len(ids) for ids in plan)
            if not total:
                print(f"nothing to reanalyse: every photo's latest measurement is by algorithm {ALGORITHM_VERSION}")
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
