"""``tracker export``: write a measurement table and its data dictionary.

:func:`add_export_command` registers the command on the main parser's
subparsers; it sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tracker.files import make_parent, write_atomic
from tracker.store.cli import _open, _store_options
from tracker.store.errors import StoreError

_FORMATS = ("csv", "parquet", "json")  # tracker.export.EXPORT_FORMATS, without importing pandas


def add_export_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export`` on ``subparsers``."""
    p = subparsers.add_parser(
        "export",
        help="write a table of measurements with provenance (optionally de-identified)",
        description="Write one row per photo with its newest measurement and its provenance, "
        "and the table's data dictionary next to it (FILE's name with .dictionary.csv).",
    )
    _store_options(p)
    p.add_argument(
        "--patient",
        action="extend",
        nargs="+",
        metavar="CODE",
        help="export only these patients (codes; may be repeated). Default: every patient",
    )
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="replace patient codes by keyed pseudonyms and dates by days since baseline "
        "(key: $TRACKER_EXPORT_KEY, else export.key in the store folder)",
    )
    p.add_argument(
        "--format",
        choices=_FORMATS,
        default=None,
        help="file format (default: from FILE's suffix, else csv)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.set_defaults(func=_cmd_export)


def dictionary_path(out: str | os.PathLike) -> Path:
    """Where the data dictionary of export file ``out`` goes.

    Examples
    --------
    >>> dictionary_path("exports/measurements.parquet").as_posix()
    'exports/measurements.dictionary.csv'
    """
    out = Path(out)
    stem = out.stem if out.suffix.lower() in {f".{f}" for f in _FORMATS} else out.name
    return out.with_name(f"{stem}.dictionary.csv")


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.out).suffix.lower().lstrip(".")
    return suffix if suffix in _FORMATS else "csv"


def _cmd_export(args: argparse.Namespace) -> int:
    from tracker.export import (
        KEY_ENV,
        data_dictionary,
        deidentify,
        export_key,
        key_path,
        measurement_table,
        table_bytes,
    )

    fmt = _format_of(args)
    out = Path(args.out)
    dictionary = dictionary_path(out)
    if out.resolve() == dictionary.resolve():
        print(f"error: {out} is the data dictionary's own name; pick another --out", file=sys.stderr)
        return 2
    try:
        with _open(args) as store:
            table = measurement_table(store, patients=args.patient)
            patients = table["patient_code"].nunique()
            if args.deidentify:
                from_env = bool(os.environ.get(KEY_ENV))
                table = deidentify(table, key=export_key(store))
                key_note = (
                    f"pseudonyms keyed by ${KEY_ENV}"
                    if from_env
                    else f"pseudonyms keyed by {key_path(store)} (keep it secret and keep a copy: "
                    "the same key gives the same subject ids)"
                )
        data = table_bytes(table, fmt)
        make_parent(out)
        write_atomic(out, data)
        write_atomic(dictionary, data_dictionary(deidentified=args.deidentify).encode("utf-8"))
    except (StoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kind = "de-identified " if args.deidentify else ""
    print(
        f"wrote {len(table)} {kind}rows ({patients} patients) as {fmt} to {out} "
        f"and the data dictionary to {dictionary}"
    )
    if args.deidentify:
        print(key_note)
    if table.empty:
        print("no measurements matched: the table has a header only", file=sys.stderr)
    return 0
