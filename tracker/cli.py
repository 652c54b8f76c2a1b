"""The ``tracker`` command line.

``tracker analyze`` follows the evaluation contract in the design notes: one
JSON object per image and line with ``--json``, a readable table otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracker import __version__
from tracker.files import make_folder
from tracker.wording import OBSERVED_ONLY

#: Where ``tracker evaluate`` looks for the development sets when no folder is given.
DEFAULT_DATA = Path("../shared/data")


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0 or min(values[:2]) < 0:
        raise argparse.ArgumentTypeError(
            f"--roi takes X,Y,W,H in pixels: four whole numbers, X and Y 0 or more, W and H above 0 (got {text!r})"
        )
    return values  # type: ignore[return-value]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _analysis_row(path: str, photo: Any, analysis: Any) -> dict[str, Any]:
    record = analysis.to_record()
    return {"path": path, "sha256": photo.sha256, **record}


def _write_png(folder: Path, name: str, rgb_or_gray: Any) -> None:
    import cv2
    import numpy as np

    image = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise OSError(f"could not encode {name}")
    (folder / name).write_bytes(data.tobytes())


def _format(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cmd_analyze(args: argparse.Namespace) -> int:
    import numpy as np

    from tracker.analysis import analyze
    from tracker.imaging.overlay import draw_overlay
    from tracker.photo import PhotoError, read_photo

    folders = {"masks": args.mask_dir, "overlays": args.overlay_dir}
    for what, folder in folders.items():
        if folder is None:
            continue
        try:
            make_folder(folder)
        except OSError as err:
            print(f"tracker analyze: {what}: {err}; give a folder you may write to", file=sys.stderr)
            return 2
    clash = _shared_stems(args.images) if args.mask_dir or args.overlay_dir else None
    if clash:
        print(
            f"tracker analyze: {' and '.join(clash)} would write their masks and overlays to the same "
            "file names; rename one, or analyse them in separate runs with different folders",
            file=sys.stderr,
        )
        return 2
    failures = 0
    table: list[list[str]] = []
    remarks: list[tuple[str, str]] = []  # (photo, what the table cannot hold)
    for path in args.images:
        try:
            photo = read_photo(path)
            analysis = analyze(
                photo.pixels, roi=args.roi, px_per_mm=args.px_per_mm, field_width_mm=args.field_width_mm,
                mode=args.mode, **({} if args.thin_um is None else {"thin_um": args.thin_um}),
            )
        except (PhotoError, ValueError) as err:
            failures += 1
            print(f"tracker analyze: {err}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": path, "error": str(err)}), flush=True)
            continue
        stem = Path(path).stem
        try:
            if args.mask_dir:
                _write_png(Path(args.mask_dir), f"{stem}_mask.png", analysis.mask.astype(np.uint8) * 255)
            if args.overlay_dir:
                overlay = draw_overlay(photo.pixels, analysis.mask, roi=analysis.roi, groups=analysis.groups)
                _write_png(Path(args.overlay_dir), f"{stem}_overlay.png", overlay)
        except OSError as err:
            failures += 1
            message = (
                f"{path}: the mask or overlay could not be written ({err}); free some space or pick another folder"
            )
            print(f"tracker analyze: {message}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": path, "error": message}), flush=True)
            continue
        if args.json:
            print(json.dumps(_analysis_row(path, photo, analysis)), flush=True)
        else:
            r = analysis
            table.append([
                path, r.mode, _format(r.coverage_pct), _format(r.hair_count), _format(r.mean_width_px),
                _format(r.mean_width_um), _format(r.density_per_cm2, 0), _format(r.thin_hair_pct),
                r.quality.status,
            ])
            remarks += [(path, f"{c.name} {c.status}: {c.advice}") for c in r.quality.checks if c.status != "pass"]
            remarks += [(path, note) for note in r.notes]
    if table:
        header = ["photo", "mode", "coverage %", "hairs", "width px", "width µm", "per cm²", "thin %", "quality"]
        _print_table(header, table)
        _print_remarks(remarks, len({row[0] for row in table}))
        print(OBSERVED_ONLY)
    return 1 if failures else 0


def _shared_stems(paths: Sequence[str]) -> list[str] | None:
    """Two different photos whose file names differ only in folder or
    extension (so their masks and overlays would share a name), or None."""
    first: dict[str, str] = {}
    for path in paths:
        stem = Path(path).stem
        seen = first.setdefault(stem, path)
        if Path(seen).resolve() != Path(path).resolve():
            return [seen, path]
    return None


def _print_remarks(remarks: Sequence[tuple[str, str]], photos: int) -> None:
    """Quality advice and notes below the table, each once, with the photos it
    concerns (none named when it concerns every photo)."""
    by_text: dict[str, list[str]] = {}
    for photo, text in remarks:
        which = by_text.setdefault(text, [])
        if photo not in which:  # a photo named twice
            which.append(photo)
    if by_text:
        print()
    for text, which in by_text.items():
        print(f"- {text}" if len(which) == photos else f"- {', '.join(which)}: {text}")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_dict()), flush=True)
        return
    print(f"\n{summary.name} ({summary.n} images)")
    _print_table(["figure", "value"], [[k, _format(v, 3)] for k, v in summary.figures.items()])


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        return _evaluate(args)
    except ValueError as err:  # a data folder laid out otherwise than expected: the message says how
        print(f"tracker evaluate: {err}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    from tracker import evaluate

    counts = args.counts or DEFAULT_DATA / "fdu-trichoscopy-dev"
    masks = args.masks or DEFAULT_DATA / "trichoscopy-hair-masks"
    ran = 0
    if counts.is_dir() and not args.skip_counts:
        rows, summary = evaluate.evaluate_counts(counts, header_px=args.header_px, limit=args.limit, workers=args.workers)
        _save_rows(args, "counts", rows)
        _print_summary(summary, args.json)
        ran += 1
    elif args.counts:
        print(f"tracker evaluate: {counts} is not a folder", file=sys.stderr)
        return 2
    if masks.is_dir() and not args.skip_masks:
        rows, summary = evaluate.evaluate_masks(masks, workers=args.workers)
        _save_rows(args, "masks", rows)
        _print_summary(summary, args.json)
        ran += 1
    elif args.masks:
        print(f"tracker evaluate: {masks} is not a folder", file=sys.stderr)
        return 2
    if not args.skip_synthetic:
        rows, summary = evaluate.evaluate_synthetic(repeats=args.synthetic_repeats, workers=args.workers)
        _save_rows(args, "synthetic", rows)
        _print_summary(summary, args.json)
        ran += 1
    if args.retest:
        rows, summaries = evaluate.evaluate_retest(
            closeup_scenes=args.retest_closeups, overview_scenes=args.retest_overviews,
            full_size=args.retest_full_size, workers=args.workers,
        )
        _save_rows(args, "retest", [{k: str(v) for k, v in r.items()} for r in rows if r["kind"] != "card"])
        for summary in summaries:
            _print_summary(summary, args.json)
        ran += 1
    if args.series is not None:
        if not args.series.is_dir():
            print(f"tracker evaluate: {args.series} is not a folder", file=sys.stderr)
            return 2
        if not 0 < args.series_roi <= 1:
            print("tracker evaluate: --series-roi must be a share of the photo, above 0 and at most 1", file=sys.stderr)
            return 2
        rows, summary = evaluate.evaluate_real_series(
            args.series, roi_share=None if args.series_roi == 1 else args.series_roi, workers=args.workers
        )
        _save_rows(args, "series", rows)
        _print_summary(summary, args.json)
        ran += 1
    if not ran:
        print("tracker evaluate: nothing to evaluate; give --counts or --masks folders", file=sys.stderr)
        return 2
    return 0


def _save_rows(args: argparse.Namespace, name: str, rows: list[dict[str, Any]]) -> None:
    if not args.rows_dir:
        return
    import csv

    folder = Path(args.rows_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def cmd_samples(args: argparse.Namespace) -> int:
    import cv2

    from tracker.synth import make_demo_patient

    out = Path(args.out)
    try:
        make_folder(out)
    except OSError as err:
        print(f"tracker samples: {err}; give a folder you may write to", file=sys.stderr)
        return 2
    manifest = []
    for p in make_demo_patient(seed=args.seed):
        bgr = cv2.cvtColor(p.image.image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise OSError(f"could not encode {p.filename}")
        (out / p.filename).write_bytes(data.tobytes())
        s = p.image
        manifest.append({
            "file": p.filename, "view": p.view, "visit": p.visit, "visit_date": p.visit_date.isoformat(),
            "shot": p.shot, "kind": s.kind, "px_per_mm": s.px_per_mm,
            "truth": {
                "coverage_pct": s.coverage_pct(),
                "hair_count": s.hair_count() if s.kind == "closeup" else None,
                "density_per_cm2": s.density_per_cm2() if s.kind == "closeup" else None,
                "mean_width_px": s.mean_width_px() if s.kind == "closeup" else None,
            },
        })
    (out / "manifest.json").write_text(json.dumps({"seed": args.seed, "photos": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} photos and manifest.json to {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tracker.demo import DEMO_ACCOUNTS, add_demo_accounts, load_demo_patient
    from tracker.store import Store, StoreError

    manifest = Path(args.samples) / "manifest.json"
    if not manifest.is_file():  # before a store is made
        print(
            f"tracker demo: {manifest} not found; run 'tracker samples --out {args.samples}' first",
            file=sys.stderr,
        )
        return 2
    try:
        with Store.open(args.store, database_url=args.database_url) as store:
            patient = load_demo_patient(store, args.samples)
            print(f"demo patient {patient.code} is in the store at {store.location}")
            add_demo_accounts(store)
            for username, password, role in DEMO_ACCOUNTS:
                print(f"  demo {role} sign-in: {username} / {password}")
    except (StoreError, ValueError, OSError) as err:
        print(f"tracker demo: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from tracker.card import write_card

    try:
        pdf, png = write_card(args.out, dpi=args.dpi)
    except (ValueError, OSError) as err:
        print(f"tracker card: {err}", file=sys.stderr)
        return 2
    print(f"wrote {pdf} (A4, the card at exact size) and {png} ({args.dpi} dpi)")
    print("Print at 100 % (actual size, no 'fit to page') and check that the card's ruler measures 40 mm.")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from tracker.batch import run_batch

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # a job's time limit (SIGTERM) stops the batch as Ctrl-C does

    before = signal.signal(signal.SIGTERM, stop)
    try:
        summary = run_batch(
            args.input,
            args.out,
            fmt=args.format,
            workers=args.workers,
            scheduler=args.scheduler,
            retry_errors=args.retry_errors,
            progress=not args.quiet,
            roi=args.roi,
            px_per_mm=args.px_per_mm,
            mode=args.mode,
            thin_um=args.thin_um,
        )
    except KeyboardInterrupt:
        print(f"tracker batch: stopped; the rows written so far are kept in {args.out}. "
              "Run the same command again to go on.", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        print(f"tracker batch: {err}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, before)
    for _path, error in summary.failures[:10]:
        print(f"tracker batch: {error}", file=sys.stderr)
    for note in summary.mixed:
        print(f"tracker batch: note: {note}", file=sys.stderr)
    if summary.failed:
        print(f"tracker batch: {summary.failed} photos could not be analysed; their rows say why "
              "(column 'error')", file=sys.stderr)
    print(f"analysed {summary.analysed} photos, skipped {summary.skipped} already in {summary.out}, "
          f"in {summary.seconds:.1f} s ({summary.photos_per_second:.2f} photos/s)")
    return 1 if summary.failed else 0


class _Version(argparse.Action):
    """``--version``: the package's version and the analysis algorithm's, which
    every measurement records (the analysis is imported only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the package's and the analysis algorithm's versions and exit")
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        from tracker.analysis import ALGORITHM_VERSION

        print(f"{parser.prog} {__version__} (analysis algorithm {ALGORITHM_VERSION})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracker", description="Hair-density progress tracker: measure hair in scalp photos."
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyze", help="measure hair in photos")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image and line")
    p.add_argument("--roi", type=_roi, metavar="X,Y,W,H", help="region of interest in pixels")
    p.add_argument("--px-per-mm", type=_positive, metavar="F",
                   help="scale, pixels per millimetre (a calibration card in the photo takes precedence)")
    p.add_argument("--field-width-mm", type=_positive, metavar="MM",
                   help="width of the photo's field of view in mm: the scale when there is no card and no --px-per-mm")
    p.add_argument("--mode", choices=("auto", "closeup", "overview"), default="auto")
    p.add_argument("--thin-um", type=_positive, metavar="UM",
                   help="shafts thinner than this many µm count as thin (default 40, TrichoScan's vellus "
                   "bound; 30 is trichoscopy's 'thin' bound)")
    p.add_argument("--mask-dir", metavar="DIR", help="write DIR/<stem>_mask.png (hair 255, else 0)")
    p.add_argument("--overlay-dir", metavar="DIR", help="write DIR/<stem>_overlay.png to check what was counted")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("evaluate", help="score the pipeline against ground truth")
    p.add_argument("--counts", type=Path, metavar="DIR", help="folder with Images/ and Annotations/ (VOC XML)")
    p.add_argument(
        "--masks", type=Path, metavar="DIR",
        help="folder of SET/NN.jpg photos beside SET_target/NN_t.jpg masks, or one SET folder",
    )
    p.add_argument("--header-px", type=int, default=48, help="rows of burnt-in header left out of the ROI")
    p.add_argument("--limit", type=int, help="evaluate an even sample of this many count images")
    p.add_argument("--synthetic-repeats", type=int, default=2, help="generated photos per case")
    p.add_argument("--skip-counts", action="store_true")
    p.add_argument("--skip-masks", action="store_true")
    p.add_argument("--skip-synthetic", action="store_true")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--retest", action="store_true",
                   help="also the test-retest figures on generated series through the store: ROI placement error, "
                        "coverage/count/density test-retest CV, change against the truth, card scale error")
    p.add_argument("--retest-closeups", type=int, default=2, metavar="N", help="generated close-up series (default 2)")
    p.add_argument("--retest-overviews", type=int, default=2, metavar="N", help="generated overview series (default 2)")
    p.add_argument("--retest-full-size", action="store_true",
                   help="generated series at 1024x1280 (close-ups) and 1200x1600 (overviews) instead of about half")
    p.add_argument("--series", type=Path, metavar="DIR",
                   help="test-retest CV on real series laid out as DIR/<series>/<visit>/*.jpg: one view of one "
                        "person per series folder, one folder per visit (sorted by name), repeat photos of a visit "
                        "in the same folder; the first photo of the first visit is the baseline")
    p.add_argument("--series-roi", type=float, default=0.6, metavar="SHARE",
                   help="ROI of the real series: the baseline's centre SHARE of width and height (default 0.6; 1 = whole)")
    p.add_argument("--rows-dir", metavar="DIR", help="also write the per-image rows as CSV files here")
    p.add_argument("--json", action="store_true", help="summaries as JSON lines")
    p.set_defaults(func=cmd_evaluate)

    from tracker.store.cli import add_store_commands

    add_store_commands(sub)

    from tracker.export.cli import add_export_command

    add_export_command(sub)

    p = sub.add_parser("batch", help="analyse a folder or CSV manifest of photos into one CSV or Parquet file (resumable)")
    p.add_argument("input", metavar="FOLDER|MANIFEST.csv", help="a folder of photos, or a CSV with a path column "
                   "(and optional view, px_per_mm, scale_source, mode, roi or roi_x..roi_h)")
    p.add_argument("--out", required=True, metavar="FILE", help="results (.csv or .parquet); photos already in it are skipped")
    p.add_argument("--format", choices=("csv", "parquet"), help="default: from FILE's suffix, else csv")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="N", help="processes on this machine (default 1)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on the workers of this Dask cluster")
    p.add_argument("--roi", type=_roi, metavar="X,Y,W,H", help="region of interest for photos the manifest gives none")
    p.add_argument("--px-per-mm", type=_positive, metavar="F", help="scale for photos the manifest gives none")
    p.add_argument("--mode", choices=("auto", "closeup", "overview"), default="auto")
    p.add_argument("--thin-um", type=_positive, metavar="UM",
                   help="thin-hair bound in µm for photos the manifest gives none (default 40)")
    p.add_argument("--retry-errors", action="store_true", help="analyse again the photos whose rows have an error")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_batch)

    from tracker.report.cli import add_report_command

    add_report_command(sub)

    p = sub.add_parser("card", help="write the printable calibration card (card.pdf and card.png)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for card.pdf and card.png")
    p.add_argument("--dpi", type=int, default=600, help="resolution of card.png (default 600)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("samples", help="generate the demo patient's photos (sample_images/)")
    p.add_argument("--out", default="sample_images")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("demo", help="load the demo patient from sample_images/ into a store")
    p.add_argument("--samples", default="sample_images", help="folder written by 'tracker samples'")
    p.add_argument("--store", default=None, metavar="DIR", help="store folder (default: $TRACKER_STORE or ./tracker-data)")
    p.add_argument("--database-url", default=None, metavar="URL")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError  # only when something failed: commands start without it

        if isinstance(exc, DBAPIError):  # the database refused: a full disk, a lost server, a damaged file
            print(f"{parser.prog} {args.command}: {database_error(exc)}", file=sys.stderr)
            return 2
        raise


def database_error(exc: Exception) -> str:
    """What a database error means for the person running a command, and what to do.

    Examples
    --------
    >>> import sqlite3, sqlalchemy.exc
    >>> full = sqlite3.OperationalError("database or disk is full")
    >>> print(database_error(sqlalchemy.exc.OperationalError("INSERT ...", {}, full)))
    the database refused (database or disk is full): free disk space and run the command again; what the failed step was writing was not saved (tracker check lists any leftovers)
    """
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if "full" in reason:
        what = "free disk space and run the command again"
    elif "disk I/O" in reason:
        what = "check the disk: its free space, and the system log for errors; then run the command again"
    elif "locked" in reason:
        what = "another program holds the database: wait for it and run the command again"
    elif "connect" in reason or "server" in reason:
        what = "check that the database server runs and DATABASE_URL / --database-url points at it"
    else:
        what = "run tracker check, and restore the store from a backup if it reports damage"
    return (
        f"the database refused ({reason}): {what}; what the failed step was writing was not saved "
        "(tracker check lists any leftovers)"
    )


if __name__ == "__main__":
    sys.exit(main())
