"""A canonical orientation among an image's eight quarter turns and flips.

Some steps of the analysis are not symmetric: thinning, Hough bins counted
from a corner, ties going to the first, and floating-point sums taken in a
different order all give a turned or flipped photo slightly different
results, which thresholds can make a hair or a few per cent of width.
Run on the input turned to its canonical orientation, such a step gives
every turned or flipped copy of a photo the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np


@dataclass(frozen=True)
class Turn:
    """One of the eight quarter turns and flips of an (H, W, ...) array:
    rows and columns swapped first, then flipped top to bottom and left to
    right as the flags say.

    Examples
    --------
    >>> a = np.arange(6).reshape(2, 3)
    >>> Turn((2, 3), transpose=True, flip_y=False, flip_x=True).array(a).tolist()
    [[3, 0], [4, 1], [5, 2]]
    """

    shape: tuple[int, int]
    transpose: bool
    flip_y: bool
    flip_x: bool

    @property
    def turned_shape(self) -> tuple[int, int]:
        """(H, W) once turned."""
        return (self.shape[1], self.shape[0]) if self.transpose else self.shape

    def view(self, a: np.ndarray) -> np.ndarray:
        """`a` (of `shape`, with any trailing axes) turned, as a view (no copy)."""
        if self.transpose:
            a = np.swapaxes(a, 0, 1)
        if self.flip_y:
            a = a[::-1]
        if self.flip_x:
            a = a[:, ::-1]
        return a

    def array(self, a: np.ndarray) -> np.ndarray:
        """`a` turned, as a contiguous copy (`a` itself when the turn is none)."""
        return np.ascontiguousarray(self.view(a))

    def roi(self, roi: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A rectangle ``(x, y, w, h)`` turned."""
        x, y, w, h = roi
        if self.transpose:
            x, y, w, h = y, x, h, w
        height, width = self.turned_shape
        if self.flip_x:
            x = width - x - w
        if self.flip_y:
            y = height - y - h
        return x, y, w, h

    def point_back(self, px: float, py: float) -> tuple[float, float]:
        """A point ``(x, y)`` of the turned array, in the array as it was."""
        height, width = self.turned_shape
        if self.flip_x:
            px = width - 1 - px
        if self.flip_y:
            py = height - 1 - py
        return (py, px) if self.transpose else (px, py)

    def box_back(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box ``(x0, y0, x1, y1)`` (x1, y1 exclusive) of the turned array, in the array as it was."""
        x0, y0, x1, y1 = box
        height, width = self.turned_shape
        if self.flip_x:
            x0, x1 = width - x1, width - x0
        if self.flip_y:
            y0, y1 = height - y1, height - y0
        return (y0, x0, y1, x1) if self.transpose else (x0, y0, x1, y1)


def canonical_turn(
    weights: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    unknown: np.ndarray | None = None,
) -> Turn:
    """The quarter turn or flip that brings an image to its canonical orientation.

    Of the eight turned and flipped copies of ``(weights, roi, unknown)`` the
    canonical one is the least in a fixed order: landscape before portrait,
    then the least weighted sums of the column and row indices (the weight's
    centre nearest the top left), then, in the rare tie, the copies' bytes.
    The sums are exact integers, so every turned or flipped copy of the input
    has the same canonical copy.

    Parameters
    ----------
    weights : (H, W) bool or unsigned integer array
        A mask, or one grey plane of an image.
    roi : (x, y, w, h), optional
        A rectangle that turns with the image.
    unknown : (H, W) array, optional
        A second array that turns with it.

    Returns
    -------
    Turn

    Examples
    --------
    >>> m = np.zeros((4, 6), bool); m[3, 5] = True
    >>> np.argwhere(canonical_turn(m).array(m)).tolist()
    [[0, 0]]
    >>> [np.argwhere(canonical_turn(c).array(c)).tolist() for c in (m[::-1], m[:, ::-1], m.T)]
    [[[0, 0]], [[0, 0]], [[0, 0]]]
    """
    if weights.ndim != 2 or not (weights.dtype == bool or np.issubdtype(weights.dtype, np.unsignedinteger)):
        raise ValueError(
            f"weights must be a 2-D bool or unsigned integer array, not {weights.ndim}-D {weights.dtype}; "
            "pass a mask or one grey plane"
        )
    height, width = weights.shape
    columns = weights.sum(axis=0, dtype=np.int64)
    rows = weights.sum(axis=1, dtype=np.int64)
    n = int(columns.sum())
    sum_x = int(columns @ np.arange(width, dtype=np.int64))
    sum_y = int(rows @ np.arange(height, dtype=np.int64))
    keyed = []
    for transpose, flip_y, flip_x in product((False, True), repeat=3):
        turn = Turn((height, width), transpose, flip_y, flip_x)
        h, w = turn.turned_shape
        sx, sy = (sum_y, sum_x) if transpose else (sum_x, sum_y)
        if flip_x:
            sx = (w - 1) * n - sx
        if flip_y:
            sy = (h - 1) * n - sy
        keyed.append(((h, w, sx, sy), turn))
    least = min(key for key, _ in keyed)
    tied = [turn for key, turn in keyed if key == least]
    if len(tied) == 1:
        return tied[0]

    def contents(turn: Turn) -> tuple:
        return (
            turn.roi(roi) if roi is not None else (),
            turn.array(weights).tobytes(),
            turn.array(unknown).tobytes() if unknown is not None else b"",
        )

    return min(tied, key=contents)
