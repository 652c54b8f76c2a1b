"""The secret key behind the pseudonyms of de-identified exports."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.export.table import MIN_KEY_BYTES
from tracker.store.api import EXPORT_KEY_NAME

if TYPE_CHECKING:
    from tracker.store import Store

#: Environment variable that holds the export key as text.
KEY_ENV = "TRACKER_EXPORT_KEY"
#: File in the store folder that holds the key when the variable is not set.
KEY_FILE = EXPORT_KEY_NAME


def key_path(store: Store) -> Path:
    """Where :func:`export_key` keeps the key of ``store``: ``<store folder>/export.key``."""
    return Path(store.location) / KEY_FILE


def _from_text(text: str, where: str) -> bytes:
    key = text.strip().encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"the export key in {where} has {len(key)} bytes; it needs at least "
            f"{MIN_KEY_BYTES} random characters, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return key


def export_key(store: Store) -> bytes:
    """The secret key for :func:`tracker.export.deidentify`.

    ``$TRACKER_EXPORT_KEY`` when it is set (and not empty), else the key in
    ``export.key`` in the store folder (``store.location``), which is created
    the first time with 64 random hex characters and mode 0600 and reused after.
    The key is the text's UTF-8 bytes, so putting the file's content into
    ``TRACKER_EXPORT_KEY`` elsewhere gives the same pseudonyms. The file is not
    part of ``tracker backup``: keep a copy of it to keep the pseudonyms.

    Parameters
    ----------
    store : tracker.store.Store
        An open store.

    Returns
    -------
    bytes
        At least 16 bytes.

    Raises
    ------
    ValueError
        The key is shorter than 16 bytes, or its file can be read by other users.
    OSError
        The key file cannot be read or created.
    """
    text = os.environ.get(KEY_ENV)
    if text:
        return _from_text(text, f"${KEY_ENV}")
    path = key_path(store)
    if not path.exists():
        _create(path)
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(
                f"the export key file {path} can be read by other users (mode {mode:o}); "
                f"run 'chmod 600 {path}', or delete it to make a new key (subject ids then change)"
            )
    return _from_text(path.read_text(encoding="utf-8"), str(path))


def _create(path: Path) -> None:
    """Write a new key file, complete or not at all; the first of concurrent writers wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
