"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole, or leave ``path`` as it was.

    The bytes go to a hidden temporary file next to ``path``, reach the disk
    (fsync), and then replace ``path`` in one step; the temporary file is
    removed if anything fails.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> write_atomic(target, b"a,b\\n1,2\\n")
    >>> target.read_bytes()
    b'a,b\\n1,2\\n'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
