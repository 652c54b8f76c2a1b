"""The clinician's PDF report of one patient (:func:`patient_report`).

``tracker report`` writes it from the command line; the app offers it through
:meth:`tracker.access.Access.report`. The PDF code (fpdf2, Altair, vl-convert)
is imported on first use, so that ``tracker``'s command line can register
``tracker report`` without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["STRIP_LENGTH", "patient_report"]

if TYPE_CHECKING:
    from tracker.report.pdf import STRIP_LENGTH, patient_report


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'tracker.report' has no attribute {name!r}")
    from tracker.report import pdf

    value = getattr(pdf, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
