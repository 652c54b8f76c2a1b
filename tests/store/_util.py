"""Helpers shared by the store tests and their worker processes."""

from __future__ import annotations

import cv2
import numpy as np


def png_bytes(seed: int, *, size: tuple[int, int] = (40, 48)) -> bytes:
    """A small noisy RGB PNG; a different seed gives different bytes."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()
