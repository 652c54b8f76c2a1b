"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path


def output_problem(path: str | os.PathLike) -> str | None:
    """Why a file cannot be written at `path` as things stand, or None: it is
    a folder, or something on the way to it is a file.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "notes.txt").write_text("x")
    1
    >>> output_problem(folder), output_problem(folder / "notes.txt" / "out.csv")
    ('it is a folder: give a file name', 'notes.txt is a file, not a folder')
    >>> output_problem(folder / "new" / "out.csv") is None
    True
    """
    path = Path(path)
    if path.is_dir():
        return "it is a folder: give a file name"
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent.name} is a file, not a folder"
    return None


def _refuse_unwritable(path: Path) -> None:
    """Raise the OSError :func:`output_problem` describes, naming `path`, if there is one."""
    problem = output_problem(path)
    if problem is not None:
        raise (IsADirectoryError if path.is_dir() else NotADirectoryError)(f"cannot write {path}: {problem}")


def make_folder(path: str | os.PathLike) -> None:
    """Make the folder `path` (and those above it); an OSError that says why
    and names the folder if that cannot be done.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "notes.txt").write_text("x")
    1
    >>> make_folder(folder / "masks" / "run-1")
    >>> make_folder(folder / "notes.txt")
    Traceback (most recent call last):
    ...
    FileExistsError: cannot write to .../notes.txt: it is a file, not a folder
    """
    path = Path(path)
    if path.is_file():
        raise FileExistsError(f"cannot write to {path}: it is a file, not a folder")
    problem = output_problem(path / "_")
    if problem is not None:
        raise NotADirectoryError(f"cannot write to {path}: {problem}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"cannot write to {path}: {err.strerror or err}") from None


def make_parent(path: str | os.PathLike) -> None:
    """Make the folders a file at `path` goes into; an OSError that names the
    problem (:func:`output_problem`) and the path if that cannot be done."""
    path = Path(path)
    _refuse_unwritable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"cannot write {path}: {err.strerror or err}") from None


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
    _refuse_unwritable(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # named by the file asked for, not the temporary one
        raise type(err)(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)


def work_prefix(path: str | os.PathLike, kind: str) -> str:
    """Name prefix of a temporary file or folder beside `path` that this process
    builds `path` in: hidden, and naming the machine and the process, so that
    :func:`remove_abandoned` can tell one a killed run left behind.

    Examples
    --------
    >>> work_prefix("/backups/store.tar.gz", "backup").startswith(".backup-store.tar.gz." + _host() + ".")
    True
    """
    return f".{kind}-{Path(path).name}.{_host()}.{os.getpid()}."


def remove_abandoned(path: str | os.PathLike, kind: str) -> list[Path]:
    """Remove the temporary files and folders that runs no longer alive on this
    machine left beside `path` (named by :func:`work_prefix`); return them.

    A backup or restore killed half-way leaves part of a store there, with
    patient data in it; the next run for the same `path` takes it away. What
    another machine sharing the folder is building is left alone.
    """
    path = Path(path)
    stem = f".{kind}-{path.name}.{_host()}."
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in sorted(path.parent.iterdir()):
        pid = entry.name[len(stem) :].split(".", 1)[0] if entry.name.startswith(stem) else ""
        if not pid.isdigit() or int(pid) == os.getpid() or _running(int(pid)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _host() -> str:
    """This machine's name, as a part of a file name (no dots)."""
    return socket.gethostname().replace(".", "-") or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
