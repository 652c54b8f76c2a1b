"""Backup, restore and consistency check of a store.

A backup is one tar archive (gzip-compressed when its name ends in ``.gz`` or
``.tgz``) holding ``manifest.json``, one JSON-lines file per table under
``db/`` and the originals under ``originals/``. It does not depend on the
database kind: a SQLite store can be restored into PostgreSQL and back.

The manifest's ``ids_given`` records the highest id each table had given,
deleted rows included; a restored store gives new rows ids after those, so no
id names two rows in the audit log. A backup made before ids were recorded is
restored continuing after the highest ids its audit log names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tracker.files import make_parent, remove_abandoned, work_prefix
from tracker.store import ids, schema
from tracker.store.api import EXPORT_KEY_NAME, SQLITE_NAME, STORE_FOLDER_MODE, Store
from tracker.store.errors import OriginalError, StoreError
from tracker.store.originals import ASIDE_PREFIX, TEMP_PREFIX, Originals, sha256_hex

FORMAT = "tracker-store-backup"
FORMAT_VERSION = 1
#: Tables a backup leaves out: the schema revision (in the manifest), and failed sign-ins
#: (of the last minutes; a restored store starts without a lockout).
_SKIP_TABLES = {"alembic_version", "sign_in_failure"}


# ---------------------------------------------------------------------- check
#: Unreferenced originals and temporary files younger than this (seconds) may be
#: an add or delete still at work: they are not pruned, nor taken as a sign of a
#: wrong database.
LEFTOVER_AGE_S = 3600.0


@dataclass
class CheckReport:
    """Findings of :func:`check`. ``ok`` is False when anything stored is damaged.

    Unreferenced files (originals written by an add that was interrupted
    before its database commit) and temporary files do not make ``ok`` False:
    they hold no lost data and :func:`prune_leftovers` removes them.
    """

    photos: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)
    corrupted: list[tuple[int, str]] = field(default_factory=list)
    orphan_rows: list[str] = field(default_factory=list)
    unreferenced_files: list[Path] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    stray_files: list[Path] = field(default_factory=list)
    #: Unreferenced files older than LEFTOVER_AGE_S (an add still running has none).
    old_unreferenced: int = 0

    @property
    def foreign_database(self) -> bool:
        """More originals than photos are unreferenced, and not just written: more
        than interrupted adds leave; the database is most likely not this folder's."""
        return self.old_unreferenced > max(self.photos, 2)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupted or self.orphan_rows or self.foreign_database)

    def lines(self) -> list[str]:
        out = [f"photos checked: {self.photos}"]
        out += [f"MISSING original of photo {pid}: {sha}" for pid, sha in self.missing]
        out += [f"CORRUPTED original of photo {pid}: {sha}" for pid, sha in self.corrupted]
        out += [f"ORPHAN row: {text}" for text in self.orphan_rows]
        out += [
            f"unreferenced file (left by an interrupted add): {p}" for p in self.unreferenced_files
        ]
        out += [f"temporary file (left by an interrupted write): {p}" for p in self.temp_files]
        out += [f"unexpected file in originals: {p}" for p in self.stray_files]
        if self.foreign_database:
            out.append(
                f"WRONG DATABASE? {len(self.unreferenced_files)} originals are referenced by no photo of "
                f"this database ({self.photos} photos): check DATABASE_URL / --database-url and that "
                "the database file is the store's own; nothing is pruned while this is so"
            )
        elif self.ok:
            out.append("store OK: every photo's original is present and matches its sha256")
        else:
            out.append(
                "store DAMAGED: restore the listed originals from a backup, or delete "
                "the photos they belong to (tracker restore / Store.delete)"
            )
        return out

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "foreign_database": self.foreign_database,
            "photos": self.photos,
            "missing": [{"photo_id": p, "sha256": s} for p, s in self.missing],
            "corrupted": [{"photo_id": p, "sha256": s} for p, s in self.corrupted],
            "orphan_rows": list(self.orphan_rows),
            "unreferenced_files": [str(p) for p in self.unreferenced_files],
            "temp_files": [str(p) for p in self.temp_files],
            "stray_files": [str(p) for p in self.stray_files],
        }


def check(store: Store, *, verify: bool = True) -> CheckReport:
    """Look for missing or corrupted originals, orphan rows and leftover files.

    Parameters
    ----------
    store : Store
        An open store.
    verify : bool
        Hash every original (slow on a large store). False compares sizes only.

    Examples
    --------
    >>> import tempfile
    >>> check(Store.open(tempfile.mkdtemp())).ok
    True
    """
    report = CheckReport()
    referenced = store.referenced_originals()
    report.photos = len(referenced)
    for photo_id, sha, size in referenced:
        path = store.originals.path(sha)
        if verify:
            status = store.originals.status(sha)
        elif not path.exists():
            status = "missing"
        else:
            status = "ok" if path.stat().st_size == size else "corrupted"
        if status == "missing":
            report.missing.append((photo_id, sha))
        elif status == "corrupted":
            report.corrupted.append((photo_id, sha))
    report.orphan_rows = store.orphan_rows()
    known = {sha for _, sha, _ in referenced}
    for sha, path in store.originals.files():
        if path.name.startswith(TEMP_PREFIX):
            report.temp_files.append(path)
        elif sha is None:
            report.stray_files.append(path)
        elif sha not in known:
            report.unreferenced_files.append(path)
            with contextlib.suppress(FileNotFoundError):
                report.old_unreferenced += time.time() - path.stat().st_mtime >= LEFTOVER_AGE_S
    return report


def prune_leftovers(store: Store, *, min_age_s: float = LEFTOVER_AGE_S) -> list[Path]:
    """Remove unreferenced originals and temporary files older than ``min_age_s``.

    An original a delete set aside but never committed (the process died) is
    put back where its photo still refers to it.

    The age guard keeps files that a running add has written but not yet
    committed. Returns the removed paths.

    Raises
    ------
    StoreError
        More originals are unreferenced than photos are stored
        (:attr:`CheckReport.foreign_database`): the database is most likely
        not this store's, and nothing is removed.
    """
    report = check(store, verify=False)
    if report.foreign_database:
        raise StoreError(
            f"{len(report.unreferenced_files)} originals are referenced by no photo of this database "
            f"({report.photos} photos): it does not look like this store's database, so nothing was "
            "removed; check DATABASE_URL / --database-url"
        )
    known = {sha for _, sha, _ in store.referenced_originals()}  # re-read: adds may have landed
    now = time.time()
    removed = []
    for path in report.unreferenced_files + report.temp_files:
        try:
            if path.name.removeprefix(ASIDE_PREFIX) in known:
                # set aside by a delete that never committed (a running one commits in
                # moments: only one set aside before the age guard is put back)
                if now - path.stat().st_ctime >= min_age_s:
                    store.originals.put_back(path)
                continue
            if path.name in known or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


# ---------------------------------------------------------------------- backup
def _encode(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a backup")


#: Times :func:`backup` starts again when photos are deleted while it runs.
BACKUP_TRIES = 3


def backup(store: Store, archive_path: str | os.PathLike) -> dict:
    """Write the database and every original of ``store`` to one archive.

    The rows are read in one snapshot; each original is verified against its
    sha256 on the way in, so a backup never carries a damaged photo. The
    archive is written to a temporary file and renamed when complete. A photo
    deleted while the archive is written takes its original with it: the
    backup then starts again from a new snapshot (up to BACKUP_TRIES times).

    Returns
    -------
    dict
        The archive's manifest (row counts per table, the highest id each
        table has given, originals, revision).

    Raises
    ------
    OriginalError
        An original is missing or corrupted; run ``tracker check``.
    """
    tries = 1
    while True:
        try:
            return _backup_once(store, Path(archive_path))
        except OriginalError:
            # an original of a photo still stored is missing: damage, not a deletion meanwhile
            damaged = any(not store.originals.path(sha).exists() for _, sha, _ in store.referenced_originals())
            if damaged or tries == BACKUP_TRIES:
                raise
            tries += 1


def _backup_once(store: Store, archive_path: Path) -> dict:
    """One attempt of :func:`backup`."""
    tables = [t for t in _current_tables(store.engine) if t.name not in _SKIP_TABLES]
    engine = store.engine
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    dumps: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    with engine.connect() as conn, conn.begin():
        revision = _revision(conn)
        for table in tables:
            pk = list(table.primary_key.columns)
            rows = conn.execute(sa.select(table).order_by(*pk)).mappings().all()
            dumps[table.name] = b"".join(
                json.dumps(dict(r), default=_encode, sort_keys=True).encode() + b"\n" for r in rows
            )
            counts[table.name] = len(rows)
        ids_given = ids.highest_given_ids(conn, ids.id_tables(conn))
        shas = sorted(conn.execute(sa.text("SELECT sha256 FROM photo")).scalars())
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "schema_revision": revision,
        "database": store.engine.dialect.name,
        "tables": counts,
        "ids_given": ids_given,
        "table_sha256": {name: sha256_hex(data) for name, data in dumps.items()},
        "originals": shas,
        "export_key": (store.location / EXPORT_KEY_NAME).exists(),
    }
    make_parent(archive_path)
    remove_abandoned(archive_path, "backup")  # what a killed backup to the same file left
    fd, tmp = tempfile.mkstemp(prefix=work_prefix(archive_path, "backup"), dir=archive_path.parent)
    os.close(fd)
    mode = "w:gz" if archive_path.name.endswith((".gz", ".tgz")) else "w"
    try:
        with tarfile.open(tmp, mode) as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
            for name, data in dumps.items():
                _add_bytes(tar, f"db/{name}.jsonl", data)
            for sha in shas:
                _add_bytes(tar, f"originals/{sha[:2]}/{sha}", store.originals.get(sha))
            if manifest["export_key"]:  # research pseudonyms stay the same after a restore
                key = (store.location / EXPORT_KEY_NAME).read_bytes()
                _add_bytes(tar, EXPORT_KEY_NAME, key, mode=0o600)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, archive_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, *, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _revision(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _current_tables(engine: sa.Engine) -> list[sa.Table]:
    meta = sa.MetaData()
    meta.reflect(engine)
    return list(meta.sorted_tables)


# ---------------------------------------------------------------------- restore
def restore(
    archive_path: str | os.PathLike,
    target: str | os.PathLike,
    *,
    database_url: str | None = None,
) -> dict:
    """Rebuild a store in folder ``target`` from a :func:`backup` archive.

    ``target`` must not hold a store yet. The database is SQLite inside
    ``target`` unless ``database_url`` names an empty database. Every original
    is checked against its sha256 and every table's row count against the
    manifest. An archive from an older schema is restored at that schema and
    then upgraded. A SQLite store is built in a temporary folder beside
    ``target``, readable by its owner only, and renamed into place only when
    complete. ``target`` then has the mode of a new store folder
    (:data:`~tracker.store.api.STORE_FOLDER_MODE`, its owner's only), or,
    when it existed (empty), the mode it had.

    The restored store gives no id the backed-up one had given: each table's
    ids go on after the highest the manifest records (``ids_given``), or, in
    an archive made before they were recorded, after the highest its audit
    log names.

    Returns
    -------
    dict
        The archive's manifest.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise StoreError(f"{target} is not empty; restore into a new folder")
    name = os.path.basename(archive_path)
    advice = "restore from a complete copy of the archive `tracker backup` wrote"
    damaged = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)
    try:
        tar = tarfile.open(archive_path, "r:*")
    except tarfile.ReadError:
        raise StoreError(f"{name} is not a tracker backup archive; {advice}") from None
    except damaged:  # a compressed archive cut before its first file
        raise StoreError(f"{name} was cut short or is damaged; {advice}") from None
    try:
        with tar:
            manifest = _restore_archive(tar, target, database_url)
    except (*damaged, KeyError):  # KeyError: a file the manifest lists is not in the archive
        raise StoreError(f"{name} was cut short or is damaged; {advice}") from None
    final_url = database_url or f"sqlite:///{(target / SQLITE_NAME).resolve()}"
    with Store.open(target, database_url=final_url) as store:  # at head: _restore_rows upgraded it
        counts = _counts(store.engine, manifest["tables"])
        if counts != manifest["tables"]:
            raise StoreError(
                f"restored row counts {counts} differ from the backup's {manifest['tables']}"
            )
        store.record_event(
            "restore",
            archive=os.path.basename(archive_path),
            backup_created_at=manifest["created_at"],
            schema_revision=manifest["schema_revision"],
        )
    return manifest


def _restore_archive(tar: tarfile.TarFile, target: Path, database_url: str | None) -> dict:
    """:func:`restore` up to the store in place: the archive read, checked and
    written to a temporary folder renamed to ``target`` when complete (removed
    if anything fails). Returns the manifest."""
    manifest = _read_manifest(tar)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target, "restoring")  # what a killed restore to the same place left
    # private (0700) while it holds part of the data; given its final mode when complete
    build = Path(tempfile.mkdtemp(prefix=work_prefix(target, "restoring"), dir=target.parent))
    try:
        url = database_url or f"sqlite:///{(build / SQLITE_NAME).resolve()}"
        tables = _load_tables(tar, manifest)
        (build / "originals").mkdir()
        _restore_originals(tar, manifest, Originals(build / "originals"))
        _restore_rows(url, manifest, tables)
        if manifest.get("export_key"):
            key = build / EXPORT_KEY_NAME
            key.touch(mode=0o600)
            key.write_bytes(tar.extractfile(EXPORT_KEY_NAME).read())
        # the mode of the empty folder given, else that of a new store folder
        os.chmod(build, stat.S_IMODE(target.stat().st_mode) if target.exists() else STORE_FOLDER_MODE)
        if target.exists():
            target.rmdir()
        os.replace(build, target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return manifest


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    except (KeyError, ValueError):
        raise StoreError("not a tracker backup: manifest.json is missing or unreadable") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise StoreError(
            f"unsupported backup format {manifest.get('format')!r} v{manifest.get('version')}; "
            "restore it with the tracker version that wrote it"
        )
    return manifest


def _load_tables(tar: tarfile.TarFile, manifest: dict) -> dict[str, list[dict]]:
    tables = {}
    for name, expected in manifest["table_sha256"].items():
        data = tar.extractfile(f"db/{name}.jsonl").read()
        if sha256_hex(data) != expected:
            raise StoreError(f"the backup's table {name} is damaged (sha256 mismatch)")
        tables[name] = [json.loads(line) for line in data.splitlines() if line]
    return tables


def _restore_originals(tar: tarfile.TarFile, manifest: dict, originals: Originals) -> None:
    wanted = set(manifest["originals"])
    found = set()
    for member in tar:
        if not member.name.startswith("originals/") or not member.isfile():
            continue
        sha = member.name.rsplit("/", 1)[-1]
        data = tar.extractfile(member).read()
        if sha not in wanted or sha256_hex(data) != sha:
            raise OriginalError(f"the backup's original {member.name} is damaged or unexpected")
        originals.put(data)
        found.add(sha)
    if found != wanted:
        raise OriginalError(
            f"the backup lacks {len(wanted - found)} originals listed in its manifest"
        )


def _restore_rows(url: str, manifest: dict, tables: dict[str, list[dict]]) -> None:
    engine = schema.make_engine(url)
    try:
        existing = [t for t in _current_tables(engine) if t.name not in _SKIP_TABLES]
        if any(_counts(engine, {t.name: 0 for t in existing}).values()):
            raise StoreError("the target database holds data already; restore into an empty one")
        schema.upgrade(engine, manifest["schema_revision"], lock_path=schema.sqlite_lock_path(url))
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            for table in _current_tables(engine):
                rows = tables.get(table.name)
                if table.name in _SKIP_TABLES or not rows:
                    continue
                conn.execute(table.insert(), [_decode(table, r) for r in rows])
            # rows that migrations from the archive's revision on add come after these
            ids.continue_after(conn, dict.fromkeys(ids.id_tables(conn), 0))
        # at head every SQLite table whose ids the database gives heeds sqlite_sequence
        schema.upgrade(engine, "head", lock_path=schema.sqlite_lock_path(url))
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            ids.continue_after(conn, _ids_given(conn, manifest))
    finally:
        engine.dispose()


def _ids_given(conn: sa.Connection, manifest: dict) -> dict[str, int]:
    """The highest id each table of the restored database had given in the backed-up store.

    From the manifest's ``ids_given``; for an archive written before they were
    recorded, the highest ids its audit log names (rows deleted before the
    backup included).
    """
    tables = ids.id_tables(conn)
    recorded = manifest.get("ids_given")
    if recorded is None:
        recorded = ids.highest_audited_ids(conn, tables)
    return {table: int(recorded.get(table, 0)) for table in tables}


def _decode(table: sa.Table, row: dict) -> dict:
    out = dict(row)
    for col in table.columns:
        value = out.get(col.name)
        if isinstance(value, str) and isinstance(col.type, sa.DateTime):
            out[col.name] = dt.datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(col.type, sa.Date):
            out[col.name] = dt.date.fromisoformat(value)
    return out


def _counts(engine: sa.Engine, names: dict[str, int]) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in names
        }
