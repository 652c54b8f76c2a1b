"""Content-addressed original photo files: ``originals/ab/abcdef...``.

Files are written atomically (temporary file in the same folder, fsync,
``os.replace``, fsync of the folder) and never modified afterwards. Reading
checks the sha256 every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tracker.store.errors import OriginalError

TEMP_PREFIX = ".tmp-"
#: An original a delete has set aside (:meth:`Originals.set_aside`) is named
#: this prefix plus its sha256 until the delete commits and removes it.
ASIDE_PREFIX = TEMP_PREFIX + "aside-"
_SHA = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Originals:
    """The folder of original files of one store.

    Examples
    --------
    >>> import tempfile
    >>> originals = Originals(tempfile.mkdtemp())
    >>> sha, new = originals.put(b"photo bytes")
    >>> new, originals.get(sha) == b"photo bytes", originals.put(b"photo bytes")[1]
    (True, True, False)
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store ``data`` durably; return its sha256 and whether a file was written.

        A file that already exists with the right bytes is left alone; one whose
        bytes no longer match (corrupted) is replaced by the good bytes.
        """
        sha = sha256_hex(data)
        target = self.path(sha)
        if self.status(sha) == "ok":
            os.utime(target)  # fresh again: prune_leftovers' age guard keeps it
            return sha, False
        if not self.root.is_dir():  # never made again here: a store folder taken away stays away
            raise OriginalError(f"the originals folder {self.root} is gone; nothing was stored")
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)
        return sha, True

    def _read(self, sha256: str) -> tuple[str, bytes | None]:
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return "missing", None
        return ("ok" if sha256_hex(data) == sha256 else "corrupted"), data

    def get(self, sha256: str) -> bytes:
        """The original bytes; raises :class:`OriginalError` if missing or changed."""
        status, data = self._read(sha256)
        if status == "missing":
            raise OriginalError(
                f"original {sha256} is missing from {self.path(sha256).parent}; restore it "
                "from a backup (tracker restore) or delete the photo"
            )
        if status == "corrupted":
            raise OriginalError(
                f"original {sha256} is corrupted (its bytes no longer match the sha256); "
                "restore it from a backup or upload the same photo again"
            )
        return data

    def status(self, sha256: str) -> str:
        """``'ok'``, ``'missing'`` or ``'corrupted'``."""
        return self._read(sha256)[0]

    def remove(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def set_aside(self, sha256: str) -> Path | None:
        """Rename an original to a temporary name beside it; return that path
        (None if there was no file).

        A delete sets its originals aside before its database commit and
        removes them after: a failed commit puts them back
        (:meth:`put_back`), and an add of the same bytes that commits after
        the delete finds its file gone and writes it again.
        """
        target = self.path(sha256)
        aside = target.with_name(ASIDE_PREFIX + sha256)
        try:
            os.replace(target, aside)
        except FileNotFoundError:
            return None
        return aside

    def put_back(self, aside: Path) -> None:
        """Undo :meth:`set_aside` (unless the original was written again meanwhile)."""
        sha = aside.name.removeprefix(ASIDE_PREFIX)
        if self.path(sha).exists():
            aside.unlink(missing_ok=True)
        else:
            os.replace(aside, self.path(sha))

    def files(self) -> Iterator[tuple[str | None, Path]]:
        """Every file under the folder: ``(sha256, path)``, sha256 None for stray files."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if not sub.is_dir():
                yield None, sub
                continue
            for path in sorted(sub.iterdir()):
                ok = _SHA.match(path.name) and path.name[:2] == sub.name
                yield (path.name if ok else None), path
