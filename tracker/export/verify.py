"""Recompute the rows of an export from the original photos, and compare.

A row of :func:`tracker.export.measurement_table` (or of its de-identified
form) names its photo by ``sha256`` and holds every parameter of the
analysis. :func:`iter_checks` measures each photo again with
:func:`tracker.analysis.recompute` and says, row by row, whether the numbers
come out the same: how a researcher shows that a published table follows
from the photos and the open code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: The measured columns compared.
METRICS = ("coverage_pct", "hair_count", "mean_width_px", "mean_width_um", "density_per_cm2", "thin_hair_pct")
#: Row outcomes of :func:`iter_checks`.
SAME, DIFFERENT, NO_PHOTO, OTHER_VERSION, UNREADABLE = "same", "different", "no photo", "other version", "unreadable"
#: Columns a table needs: those of an export, whose parameters say how each region was placed
#: (a batch output's rows are made again with tracker batch or tracker analyze, from their settings).
NEEDED = ("sha256", "algorithm_version", "parameters", "roi_source")
#: Relative tolerance of the comparison: only the rounding of a number written as text.
REL_TOLERANCE = 1e-12


@dataclass(frozen=True)
class RowCheck:
    """What recomputing one row gave.

    Attributes
    ----------
    row : int
        Position of the row in the table (0 for the first).
    sha256 : str
    status : str
        SAME, DIFFERENT, NO_PHOTO (no photo with that sha256 was given),
        OTHER_VERSION (made by another algorithm version than the installed
        one: recompute it with that version) or UNREADABLE (the row's
        parameters or its photo cannot be read).
    differences : tuple of str
        For DIFFERENT, each metric that differs, with both values; for
        UNREADABLE, what could not be read.
    """

    row: int
    sha256: str
    status: str
    differences: tuple[str, ...] = ()


def _value(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else float(value)


def compare(row: Mapping[str, Any], recomputed: Mapping[str, Any]) -> tuple[str, ...]:
    """The metrics of `row` that `recomputed` (metric -> value) does not give again.

    Examples
    --------
    >>> compare({"hair_count": 15, "coverage_pct": 12.5}, {"hair_count": 16, "coverage_pct": 12.5})
    ('hair_count: 15 exported, 16 recomputed',)
    """
    out = []
    for metric in METRICS:
        if metric not in row:
            continue
        want, got = _value(row[metric]), _value(recomputed.get(metric))
        same = want == got or (
            want is not None and got is not None and math.isclose(want, got, rel_tol=REL_TOLERANCE)
        )
        if not same:
            out.append(f"{metric}: {_text(want)} exported, {_text(got)} recomputed")
    return tuple(out)


def _text(value: float | None) -> str:
    return "empty" if value is None else f"{value:.10g}"


def iter_checks(table: pd.DataFrame, photo: Callable[[str], bytes | None]) -> Iterator[RowCheck]:
    """Recompute every row of an export and compare it with what the row says.

    Parameters
    ----------
    table : pandas.DataFrame
        An export (identified or de-identified), e.g. read back with
        :func:`tracker.export.read_table`: it needs ``sha256``,
        ``algorithm_version`` and ``parameters``.
    photo : callable
        ``photo(sha256)``: the original photo's bytes, or None when it is not at hand.

    Yields
    ------
    RowCheck
        One per row, in the table's order.

    Raises
    ------
    ValueError
        The table lacks one of the columns needed.
    """
    from tracker.analysis import ALGORITHM_VERSION, recompute
    from tracker.photo import load_photo

    missing = [c for c in NEEDED if c not in table.columns]
    if missing:  # checked before the first row is asked for
        raise ValueError(
            f"the table lacks the columns {missing}; pass a table written by tracker export (the rows "
            "of tracker batch are made again by running it with the same settings)"
        )
    for i, row in enumerate(table.to_dict("records")):
        sha = str(row["sha256"])
        if row["algorithm_version"] != ALGORITHM_VERSION:
            yield RowCheck(i, sha, OTHER_VERSION)
            continue
        data = photo(sha)
        if data is None:
            yield RowCheck(i, sha, NO_PHOTO)
            continue
        try:
            parameters = json.loads(row["parameters"])
            result = recompute(load_photo(data, name=sha[:12]).pixels, parameters)
        except (TypeError, ValueError, KeyError) as err:  # a damaged row or photo: the others go on
            yield RowCheck(i, sha, UNREADABLE, (f"{type(err).__name__}: {err}",))
            continue
        differences = compare(row, {m: getattr(result, m) for m in METRICS})
        yield RowCheck(i, sha, DIFFERENT if differences else SAME, differences)
