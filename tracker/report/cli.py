"""``tracker report``: write a patient's PDF report.

:func:`add_report_command` registers the command on the main parser's
subparsers; it sets ``func(args) -> int`` (the exit code). Whoever runs the
command has the store folder itself, so the report is made as a clinician of
that store (``cli:<operating-system user>``, the name printed under
'Generated').
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from tracker.files import make_parent, write_atomic
from tracker.store.cli import _open, _store_options, operator
from tracker.store.errors import StoreError


def add_report_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report`` on ``subparsers``."""
    p = subparsers.add_parser(
        "report",
        help="write a patient's PDF report: photos with overlays, charts with noise bands, values",
        description="Write one patient's measurements across visits as a PDF for the record. "
        "The report carries the patient code only, unless --name is given.",
    )
    _store_options(p)
    p.add_argument("--patient", required=True, metavar="CODE", help="the patient's code")
    p.add_argument("--out", required=True, metavar="FILE.pdf", help="PDF file to write")
    p.add_argument(
        "--name", action="store_true", help="also print the patient's name and birth date in the header"
    )
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from tracker.access import Access
    from tracker.store import AccountInfo

    out = Path(args.out)
    try:
        with _open(args) as store:
            account = AccountInfo(
                id=0,
                username=operator(),
                role="clinician",
                patient_id=None,
                patient_code=None,
                created_at=dt.datetime.now(dt.UTC),
            )
            data = Access(store, account).report(args.patient, include_name=args.name)
        make_parent(out)
        write_atomic(out, data)
    except (StoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the report of {args.patient} to {out} ({len(data) // 1024} KB)")
    return 0
