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

    p = subparsers.add_parser(
        "recompute",
        help="measure the photos of an export again and check that every row comes out the same",
        description="Recompute each row of an export (identified or de-identified) from its original "
        "photo, found in DIR by its sha256, and the row's parameters; list the rows whose numbers "
        "differ. Exit 0 when every row checked comes out the same, 1 when one differs or none could "
        "be checked.",
    )
    p.add_argument("table", metavar="FILE", help="an export written by tracker export (.csv, .parquet or .json)")
    p.add_argument("--photos", required=True, metavar="DIR", help="folder holding the original photos (searched "
                   "with its subfolders; file names do not matter)")
    p.add_argument("--format", choices=_FORMATS, default=None, help="file format (default: from FILE's suffix, else csv)")
    p.set_defaults(func=_cmd_recompute)


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


def _format_of(args: argparse.Namespace, path: str | os.PathLike) -> str:
    if args.format:
        return args.format
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in _FORMATS else "csv"


def _photos_by_sha(folder: Path, wanted: set[str]) -> dict[str, Path]:
    """The files under `folder` whose sha256 is wanted, by sha256 (the search
    stops once every wanted one is found)."""
    from tracker.store.originals import sha256_hex

    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if len(found) == len(wanted):
            break
        if path.is_file() and (sha := sha256_hex(path.read_bytes())) in wanted:
            found[sha] = path
    return found


def _cmd_recompute(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tracker.export import read_table
    from tracker.export.verify import DIFFERENT, NO_PHOTO, OTHER_VERSION, SAME, UNREADABLE, iter_checks

    folder = Path(args.photos)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder; give the folder that holds the original photos", file=sys.stderr)
        return 2
    try:
        table = read_table(Path(args.table).read_bytes(), _format_of(args, args.table))
        photos = _photos_by_sha(folder, set(table["sha256"].astype(str)) if "sha256" in table.columns else set())
        found = iter_checks(table, lambda sha: photos[sha].read_bytes() if sha in photos else None)
        checks = list(tqdm(found, total=len(table), desc="recomputing", unit="row", disable=None))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    statuses = (SAME, DIFFERENT, NO_PHOTO, OTHER_VERSION, UNREADABLE)
    counts = {status: sum(c.status == status for c in checks) for status in statuses}
    for check in checks:
        if check.status in (DIFFERENT, UNREADABLE):
            print(f"row {check.row + 1} ({check.sha256[:12]}): " + "; ".join(check.differences))
    unreadable = f", {counts[UNREADABLE]} unreadable" if counts[UNREADABLE] else ""
    print(
        f"{len(checks)} rows: {counts[SAME]} recomputed the same, {counts[DIFFERENT]} differ{unreadable}, "
        f"{counts[NO_PHOTO]} without their photo in {folder}, {counts[OTHER_VERSION]} made by another "
        "algorithm version (recompute those with that version installed)"
    )
    return 0 if counts[SAME] and not (counts[DIFFERENT] or counts[UNREADABLE]) else 1


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

    fmt = _format_of(args, args.out)
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
