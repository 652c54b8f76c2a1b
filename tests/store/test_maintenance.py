"""Backup, restore, check and schema migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from _util import png_bytes
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import BACKENDS, PG_URL, reset_postgres

from tracker.store import (
    NewPhoto,
    OriginalError,
    SignInError,
    Store,
    StoreError,
    backup,
    check,
    prune_leftovers,
    restore,
)
from tracker.store.accounts import MAX_FAILED_SIGN_INS
from tracker.store.cli import add_store_commands
from tracker.store.originals import Originals
from tracker.files import work_prefix
from tracker.store import models as m
from tracker.store.models import Base
from tracker.store import schema
from tracker.store.schema import current_revision, head_revision, make_engine, upgrade


def _fill(store: Store) -> None:
    p = store.add_patient("P-001", name="Ann Example", birth_date=dt.date(1980, 5, 17))
    v1 = store.add_visit(p.id, dt.date(2025, 1, 6), notes="baseline", events=["treatment started"])
    v2 = store.add_visit(p.id, dt.date(2025, 4, 2))
    (a,) = store.add_photos(v1.id, [NewPhoto("vertex", png_bytes(1), name="v1.png")])
    store.add_photos(
        v2.id, [NewPhoto("vertex", png_bytes(2)), NewPhoto("closeup:crown", png_bytes(3))]
    )
    store.set_roi(p.id, "vertex", (2, 2, 20, 20), baseline_photo_id=a.photo.id)
    store.reanalyse(patient=p.id)
    store.add_patient("P-002")


def _snapshot(store: Store) -> dict:
    """Everything a user can read back, for comparing two stores."""
    out = {"patients": store.patients(), "audit": store.audit_log(), "originals": {}}
    for p in store.patients():
        out[p.code] = (
            store.identity(p.id),
            store.visits(p.id),
            store.timeline(p.id),
            store.photos(patient=p.id),
        )
        for photo in store.photos(patient=p.id):
            out["originals"][photo.sha256] = store.read_original(photo.id)
            out[photo.id] = store.measurements(photo.id)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker")
    add_store_commands(parser.add_subparsers(dest="command"))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_migrations_create_exactly_the_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_upgrade_from_first_revision_keeps_every_row(store_dir, database_url):
    store_dir.mkdir()
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    now = dt.datetime(2024, 3, 1, 12, 0)
    with engine.begin() as conn:  # rows as release 0001 wrote them (ids from the database)
        meta = sa.MetaData()
        meta.reflect(conn)
        assert "audit_log" not in meta.tables
        t = meta.tables
        conn.execute(t["patient"].insert(), [{"code": "OLD-1", "created_at": now}])
        conn.execute(
            t["patient_identity"].insert(),
            [{"patient_id": 1, "name": "B", "birth_date": dt.date(1970, 1, 2)}],
        )
        conn.execute(
            t["visit"].insert(),
            [
                {
                    "patient_id": 1,
                    "date": dt.date(2024, 3, 1),
                    "notes": "n",
                    "events": ["treatment started"],
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            t["photo"].insert(),
            [
                {
                    "visit_id": 1,
                    "view": "vertex",
                    "sha256": "ab" * 32,
                    "size_bytes": 3,
                    "name": "x.jpg",
                    "width": 4,
                    "height": 3,
                    "capture_metadata": {"camera_make": "X"},
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            t["roi"].insert(),
            [
                {
                    "patient_id": 1,
                    "view": "vertex",
                    "baseline_photo_id": 1,
                    "x": 0,
                    "y": 0,
                    "w": 2,
                    "h": 2,
                    "created_at": now,
                }
            ],
        )
        conn.execute(
            t["measurement"].insert(),
            [
                {
                    "photo_id": 1,
                    "roi_id": 1,
                    "roi_x": 0,
                    "roi_y": 0,
                    "roi_w": 2,
                    "roi_h": 2,
                    "mode": "closeup",
                    "coverage_pct": 12.5,
                    "hair_count": 4,
                    "mean_width_px": 3.0,
                    "mean_width_um": None,
                    "density_per_cm2": None,
                    "thin_hair_pct": None,
                    "quality_status": "pass",
                    "quality": {"status": "pass"},
                    "px_per_mm": None,
                    "scale_source": "none",
                    "algorithm_version": "0.1",
                    "parameters": {"k": 1},
                    "created_at": now,
                }
            ],
        )
    engine.dispose()
    with Store.open(store_dir, database_url=database_url) as store:
        (row,) = store.timeline("OLD-1")
        assert (row.coverage_pct, row.hair_count, row.roi_id, row.parameters) == (
            12.5,
            4,
            1,
            {"k": 1},
        )
        assert store.identity("OLD-1").birth_date == dt.date(1970, 1, 2)
        assert store.visits("OLD-1")[0].events == ("treatment started",)
        assert store.photo(1).capture_metadata == {"camera_make": "X"}
        assert store.current_roi("OLD-1", "vertex").box == (0, 0, 2, 2)
        new = store.add_patient("NEW-1")  # the new tables work and ids continue
        assert new.id == 2 and store.audit_log()[0].target_id == 2


def _rows_and_links(conn: sa.Connection) -> dict:
    """Every row of every table (by primary key), with each table's foreign keys and indexes."""
    meta = sa.MetaData()
    meta.reflect(conn)
    inspector = sa.inspect(conn)
    out = {}
    for name, table in meta.tables.items():
        if name == "alembic_version":
            continue
        rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        foreign_keys = sorted(
            (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
            for fk in inspector.get_foreign_keys(name)
        )
        indexes = sorted((ix["name"], tuple(ix["column_names"])) for ix in inspector.get_indexes(name))
        out[name] = ([tuple(r) for r in rows], foreign_keys, indexes)
    return out


def test_a_deleted_rows_id_is_never_given_again(store):
    p1 = store.add_patient("P-001")
    v1 = store.add_visit(p1.id, dt.date(2025, 1, 6))
    a, b = store.add_photos(v1.id, [NewPhoto("vertex", png_bytes(1)), NewPhoto("closeup:crown", png_bytes(2))])
    store.delete("photo", b.photo.id)  # the newest photo, its measurement and the newest visit and patient
    v2 = store.add_visit(p1.id, dt.date(2025, 2, 3))
    store.delete("visit", v2.id)
    p2 = store.add_patient("P-002")
    store.delete("patient", p2.id)
    (c,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", png_bytes(3))])
    assert c.photo.id == b.photo.id + 1 and c.measurement_id == b.measurement_id + 1
    assert store.add_visit(p1.id, dt.date(2025, 3, 3)).id == v2.id + 1
    assert store.add_patient("P-003").id == p2.id + 1
    photo_entries = [(e.action, e.target_id) for e in reversed(store.audit_log()) if e.target == "photo"]
    assert photo_entries == [("add", a.photo.id), ("add", b.photo.id), ("delete", b.photo.id), ("add", c.photo.id)]


def test_upgrade_to_ids_never_given_again_keeps_every_row_id_and_link(store_dir, database_url):
    store_dir.mkdir()
    engine = make_engine(database_url)
    upgrade(engine, "0005")  # the revision before ids were never reused
    now = dt.datetime(2024, 3, 1, 12, 0)
    with engine.begin() as conn:  # rows as revision 0005 wrote them (ids from the database)
        meta = sa.MetaData()
        meta.reflect(conn)
        t = meta.tables
        conn.execute(t["patient"].insert(), [{"code": f"OLD-{i}", "created_at": now} for i in (1, 2)])
        conn.execute(t["patient_identity"].insert(), [{"patient_id": 1, "name": "B", "birth_date": None}])
        conn.execute(
            t["visit"].insert(),
            [{"patient_id": 1, "date": dt.date(2024, 3, 1), "notes": "", "events": [], "created_at": now}],
        )
        photo = {"visit_id": 1, "view": "vertex", "size_bytes": 3, "name": "x.jpg", "width": 40, "height": 48}
        conn.execute(
            t["photo"].insert(),
            [{**photo, "sha256": f"{i:02x}" * 32, "capture_metadata": {}, "created_at": now} for i in (1, 2, 3, 4)],
        )
        conn.execute(
            t["roi"].insert(),
            [{"patient_id": 1, "view": "vertex", "baseline_photo_id": 1, "x": 0, "y": 0, "w": 2, "h": 2,
              "created_at": now}],
        )
        conn.execute(
            t["photo_registration"].insert(),
            [
                {
                    "photo_id": 2,
                    "baseline_photo_id": 1,
                    "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                    "ok": True,
                    "score": 0.9,
                    "n_inliers": 40,
                    "reason": "",
                    "details": {},
                    "algorithm_version": "0.3",
                    "created_at": now,
                }
            ],
        )
        conn.execute(t["photo_roi"].insert(), [{"photo_id": 3, "x": 1, "y": 1, "w": 5, "h": 5, "created_at": now}])
        measurement = {
            "roi_x": 0, "roi_y": 0, "roi_w": 2, "roi_h": 2, "mode": "overview", "coverage_pct": 12.5,
            "quality_status": "pass", "quality": {}, "scale_source": "none", "algorithm_version": "0.3",
            "parameters": {}, "created_at": now,
        }  # fmt: skip
        conn.execute(
            t["measurement"].insert(),
            [
                {**measurement, "photo_id": 1, "roi_id": 1, "roi_source": "baseline", "registration_id": None},
                {**measurement, "photo_id": 2, "roi_id": 1, "roi_source": "registered", "registration_id": 1},
                {**measurement, "photo_id": 3, "roi_id": None, "roi_source": "manual", "registration_id": None},
                {**measurement, "photo_id": 4, "roi_id": None, "roi_source": "whole_photo", "registration_id": None},
            ],
        )
        conn.execute(
            t["account"].insert(),
            [{"username": "old.one", "role": "patient", "password_hash": "x", "patient_id": 1, "created_at": now}],
        )
        audit = {"at": now, "who": "dr.old"}
        conn.execute(
            t["audit_log"].insert(),
            [
                {**audit, "action": "add", "target": "photo", "target_id": 4, "details": {"measurement_id": 4}},
                {**audit, "action": "delete", "target": "photo", "target_id": 4, "details": {"photos": 1}},
            ],
        )
        # the newest photo deleted before the upgrade (and its measurement with it)
        conn.execute(t["photo"].delete().where(t["photo"].c.id == 4))
        before = _rows_and_links(conn)
    engine.dispose()
    with Store.open(store_dir, database_url=database_url, user="tester") as store:
        with store.engine.connect() as conn:
            assert _rows_and_links(conn) == before
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
            if conn.dialect.name == "sqlite":
                assert list(conn.exec_driver_sql("PRAGMA foreign_key_check")) == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again after the upgrade
        assert store.registration(2).baseline_photo_id == 1 and store.photo_roi(3).box == (1, 1, 5, 5)
        assert [a.patient_code for a in store.accounts()] == ["OLD-1"]
        # neither the photo deleted before the upgrade nor the newest one now gives its id again
        store.delete("photo", 3)
        (new,) = store.add_photos(1, [NewPhoto("closeup:crown", png_bytes(7))])
        assert (new.photo.id, new.measurement_id) == (5, 5)
        store.delete("patient", 2)
        assert store.add_patient("NEW-1").id == 3
        # the links survived: deleting the patient takes everything under it
        store.delete("patient", 1)
        with store.engine.connect() as conn:
            left = {name: len(rows) for name, (rows, _, _) in _rows_and_links(conn).items()}
        assert left == {**{name: 0 for name in left}, "patient": 1, "audit_log": left["audit_log"]}


def _downgrade(engine: sa.Engine, revision: str) -> None:
    """Migrate down to ``revision`` as :func:`schema.upgrade` migrates up: on SQLite
    with foreign keys off, so that rebuilding a table deletes no row referencing it."""
    with engine.connect() as conn, contextlib.ExitStack() as stack:
        if conn.dialect.name == "sqlite":
            stack.enter_context(schema._foreign_keys_off(conn))
        with conn.begin():
            command.downgrade(schema.alembic_config(conn), revision)


def _autoincrement_tables(conn: sa.Connection) -> list[str]:
    """The SQLite tables made with AUTOINCREMENT (ids never given twice)."""
    rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for name, sql in rows if "AUTOINCREMENT" in sql.upper()]


def test_failed_sign_ins_kept_before_places_survive_the_upgrade_to_places_and_back(store_dir, database_url):
    """Revision 0007 adds where a failed sign-in came from: rows from before keep
    their username's hash and time, with no place, and going back drops only the place."""
    store_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    at = dt.datetime(2026, 1, 5, 9, 0)
    failures = sa.table("sign_in_failure", sa.column("username_key"), sa.column("at"))
    try:
        upgrade(engine, "0006", lock_path=schema.sqlite_lock_path(database_url))
        with engine.begin() as conn:
            conn.execute(sa.insert(failures), [{"username_key": "a" * 64, "at": at}, {"username_key": "b" * 64, "at": at}])
        upgrade(engine, "head", lock_path=schema.sqlite_lock_path(database_url))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT username_key, at, place_key FROM sign_in_failure ORDER BY id")).all()
        assert [(r[0], r[2]) for r in rows] == [("a" * 64, None), ("b" * 64, None)]
        _downgrade(engine, "0006")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT username_key FROM sign_in_failure ORDER BY id")).scalars().all() == [
                "a" * 64, "b" * 64
            ]
            assert "place_key" not in {c["name"] for c in sa.inspect(conn).get_columns("sign_in_failure")}
            if conn.dialect.name == "sqlite":  # the rebuild keeps ids never given twice (0005)
                assert "sign_in_failure" in _autoincrement_tables(conn)
    finally:
        engine.dispose()


def test_downgrade_from_ids_never_given_again_and_up_again_keeps_every_row_id_and_link(
    store_dir, database_url
):
    with Store.open(store_dir, database_url=database_url, user="tester") as store:
        _fill(store)
        store.add_account("p.two", "correct horse battery", "patient", patient="P-002")
        (gone,) = store.add_photos(1, [NewPhoto("closeup:crown", png_bytes(9))])
        store.delete("photo", gone.photo.id)  # the newest photo: its id was given
        with store.engine.connect() as conn:
            before = _rows_and_links(conn)
    engine = make_engine(database_url)
    try:
        _downgrade(engine, "0005")  # ids may be given again
        with engine.connect() as conn:
            assert _rows_and_links(conn) == before
            assert current_revision(engine) == "0005"
            if conn.dialect.name == "sqlite":
                assert list(conn.exec_driver_sql("PRAGMA foreign_key_check")) == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert _autoincrement_tables(conn) == ["sign_in_failure"]  # made so by 0005
        upgrade(engine, "head", lock_path=schema.sqlite_lock_path(database_url))
        with engine.connect() as conn:
            assert _rows_and_links(conn) == before
            assert current_revision(engine) == head_revision()
            if conn.dialect.name == "sqlite":
                assert list(conn.exec_driver_sql("PRAGMA foreign_key_check")) == []
                assert len(_autoincrement_tables(conn)) == 10
    finally:
        engine.dispose()
    with Store.open(store_dir, database_url=database_url, user="tester") as store:
        (new,) = store.add_photos(1, [NewPhoto("closeup:crown", png_bytes(10))])
        assert (new.photo.id, new.measurement_id) == (gone.photo.id + 1, gone.measurement_id + 1)
        # the links survived: deleting the first patient takes everything under it
        store.delete("patient", 1)
        with store.engine.connect() as conn:
            left = {name: len(rows) for name, (rows, _, _) in _rows_and_links(conn).items()}
        assert left == {
            **{name: 0 for name in left},
            "patient": 1,
            "account": 1,
            "audit_log": left["audit_log"],
        }


def _at_0005_with_foreign_keys_off(database_url: str, *statements: str) -> sa.Engine:
    """A SQLite database at revision 0005 on which ``statements`` ran with foreign keys off."""
    engine = make_engine(database_url)
    upgrade(engine, "0005")
    with engine.connect() as conn, schema._foreign_keys_off(conn), conn.begin():
        for statement in statements:
            conn.exec_driver_sql(statement)
    return engine


_ROWS_AT_0005 = (
    "INSERT INTO patient (id, code, created_at) VALUES (1, 'P-001', '2024-03-01 12:00:00')",
    "INSERT INTO visit (id, patient_id, date, notes, events, created_at) "
    "VALUES (2, 1, '2024-03-01', '', '[]', '2024-03-01 12:00:00')",
    "INSERT INTO visit (id, patient_id, date, notes, events, created_at) "
    "VALUES (5, 9, '2024-03-02', '', '[]', '2024-03-01 12:00:00')",  # patient 9 is missing
)


def test_an_upgrade_leaves_a_reference_to_a_missing_row_it_found_as_it_was(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}"
    engine = _at_0005_with_foreign_keys_off(url, *_ROWS_AT_0005)
    try:
        with engine.connect() as conn:
            found = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
        assert [row[:3] for row in found] == [("visit", 5, "patient")]
        upgrade(engine, "head")  # damage from before is no reason to refuse
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert list(conn.exec_driver_sql("PRAGMA foreign_key_check")) == found
    finally:
        engine.dispose()
    with Store.open(tmp_path / "store", database_url=url) as store:
        assert store.orphan_rows() == ["visit 5: patient_id=9 has no patient row"]


def test_an_upgrade_refused_by_the_reference_check_leaves_the_database_as_it_was(tmp_path):
    """A refused upgrade is rolled back whole, and says why and what to do. The real
    migrations leave no new reference to a missing row on a database the store made, so
    one is made to look new: the check tells references found before from new ones by the
    row's rowid, and here a hand-made visit table's ids are not its rowids (``INT PRIMARY
    KEY``), which migration 0006 rebuilds with ids as rowids. (For such a table the check
    is too strict: the reference was there before.)"""
    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}"
    engine = _at_0005_with_foreign_keys_off(
        url,
        "CREATE TABLE visit_copy (id INT NOT NULL PRIMARY KEY, patient_id INTEGER NOT NULL "
        "REFERENCES patient (id) ON DELETE CASCADE, date DATE NOT NULL, notes TEXT NOT NULL, "
        "events JSON NOT NULL, created_at DATETIME NOT NULL)",
        "DROP TABLE visit",
        "ALTER TABLE visit_copy RENAME TO visit",
        "CREATE INDEX ix_visit_patient_id ON visit (patient_id)",
        *_ROWS_AT_0005,
    )
    try:
        with engine.connect() as conn:
            before = _rows_and_links(conn)
            (found,) = conn.exec_driver_sql("PRAGMA foreign_key_check")
        assert found[:3] == ("visit", 2, "patient")  # rowid 2: the second row
        with pytest.raises(
            StoreError,
            match=rf"from revision '0005' to '{head_revision()}' would leave 1 row\(s\) referencing missing rows "
            r"\(e\.g\. visit row 5, in patient\); the database was left as it was: keep using",
        ):
            upgrade(engine, "head")
        assert current_revision(engine) == "0005"
        with engine.connect() as conn:
            assert _rows_and_links(conn) == before
            assert _autoincrement_tables(conn) == ["sign_in_failure"]
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_backup_leaves_out_failed_sign_ins(store, tmp_path):
    store.add_account("dr.a", "correct horse battery", "clinician")
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError, match="wrong"):
            store.authenticate("dr.a", "not the password")
    manifest = backup(store, tmp_path / "backup.tar.gz")
    assert "sign_in_failure" not in manifest["tables"]
    restore(tmp_path / "backup.tar.gz", tmp_path / "restored")
    with Store.open(tmp_path / "restored") as copy:  # a restored store starts without a lockout
        assert copy.authenticate("dr.a", "correct horse battery").username == "dr.a"


def test_backup_restore_round_trip(store, tmp_path, backend):
    _fill(store)
    before = _snapshot(store)
    archive = tmp_path / "backup.tar.gz"
    manifest = backup(store, archive)
    assert manifest["tables"]["photo"] == 3 and manifest["tables"]["measurement"] == 6
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and sum(n.startswith("originals/") for n in names) == 3
    # into a SQLite folder (also across database kinds when the source is PostgreSQL)
    target = tmp_path / "restored"
    restore(archive, target)
    with Store.open(target) as copy:
        restored = copy.audit_log(limit=1)[0]
        assert (restored.action, restored.details["archive"]) == ("restore", archive.name)
        assert _snapshot(copy)["audit"][1:] == before["audit"]
        assert {**_snapshot(copy), "audit": None} == {**before, "audit": None}
        assert check(copy).ok
        p3 = copy.add_patient("P-003")  # ids continue after the restored ones
        assert p3.id == max(p.id for p in before["patients"]) + 1
    with pytest.raises(StoreError, match="not empty"):
        restore(archive, target)
    if backend == "postgresql":
        store.close()
        url = reset_postgres()
        restore(archive, tmp_path / "pg-restored", database_url=url)
        with Store.open(tmp_path / "pg-restored", database_url=url) as copy:
            assert _snapshot(copy)["audit"][1:] == before["audit"]
            assert {**_snapshot(copy), "audit": None} == {**before, "audit": None}
            assert copy.add_patient("P-003").id == p3.id
        with pytest.raises(StoreError, match="holds data"):
            restore(archive, tmp_path / "pg-again", database_url=url)
        assert not (tmp_path / "pg-again").exists()


def _with_manifest(archive: Path, out: Path, **changes: object) -> Path:
    """A copy of ``archive`` whose manifest has ``changes`` (a key given None is left out)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name == "manifest.json":
                manifest = {**json.loads(data), **changes}
                data = json.dumps({k: v for k, v in manifest.items() if v is not None}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


@pytest.mark.parametrize("made", ["now", "before ids were recorded", "at revision 0005"])
@pytest.mark.parametrize("into", BACKENDS, ids=lambda kind: f"into {kind}")
def test_a_restored_store_gives_no_id_the_backed_up_store_gave(store, tmp_path, into, made):
    p1 = store.add_patient("P-001")
    v1 = store.add_visit(p1.id, dt.date(2025, 1, 6))
    (a,) = store.add_photos(v1.id, [NewPhoto("vertex", png_bytes(1))])
    (b,) = store.add_photos(v1.id, [NewPhoto("closeup:crown", png_bytes(2))])
    store.delete("photo", b.photo.id)  # the newest photo and its measurement
    v2 = store.add_visit(p1.id, dt.date(2025, 2, 3))
    store.delete("visit", v2.id)
    p2 = store.add_patient("P-002")
    account = store.add_account("p.two", "correct horse battery", "patient", patient="P-002")
    store.delete("patient", p2.id)  # and its account: no account is left
    archive = tmp_path / "backup.tar"
    manifest = backup(store, archive)
    given = {
        "patient": p2.id,
        "visit": v2.id,
        "photo": b.photo.id,
        "measurement": b.measurement_id,
        "account": account.id,
    }
    if made == "now":
        assert {table: manifest["ids_given"][table] for table in given} == given
        assert manifest["ids_given"]["audit_log"] == max(e.id for e in store.audit_log())
    else:  # as a tracker before this one wrote it: the audit log tells which ids were given
        revision = "0005" if made == "at revision 0005" else manifest["schema_revision"]  # 0006 changed no column
        archive = _with_manifest(archive, tmp_path / "older.tar", ids_given=None, schema_revision=revision)
    store.close()
    url = reset_postgres() if into == "postgresql" else None
    restore(archive, tmp_path / "restored", database_url=url)
    with Store.open(tmp_path / "restored", database_url=url, user="tester") as copy:
        (c,) = copy.add_photos(v1.id, [NewPhoto("closeup:crown", png_bytes(3))])
        assert (c.photo.id, c.measurement_id) == (b.photo.id + 1, b.measurement_id + 1)
        assert copy.add_visit(p1.id, dt.date(2025, 3, 3)).id == v2.id + 1
        assert copy.add_patient("P-003").id == p2.id + 1
        assert copy.add_account("dr.b", "correct horse battery", "clinician").id == account.id + 1
        log = copy.audit_log()
        photo_entries = [(e.action, e.target_id) for e in reversed(log) if e.target == "photo"]
        assert photo_entries == [
            ("add", a.photo.id),
            ("add", b.photo.id),
            ("delete", b.photo.id),
            ("add", c.photo.id),
        ]
        assert len({e.id for e in log}) == len(log)


@pytest.mark.parametrize(
    ("umask", "given", "expected"),
    [(0o022, None, 0o700), (0o027, None, 0o700), (0o077, 0o770, 0o770), (0o022, 0o750, 0o750)],
)
def test_a_restored_store_is_private_unless_its_empty_folder_was_given_and_while_built(
    tmp_path, monkeypatch, umask, given, expected
):
    with Store.open(tmp_path / "store") as store:
        _fill(store)
        archive = tmp_path / "b.tar"
        backup(store, archive)
    target = tmp_path / "restored"
    if given is not None:  # an empty folder made for it
        target.mkdir()
        target.chmod(given)
    seen = []
    put = Originals.put

    def put_and_look(self, data):  # the folder being built, as each photo goes into it
        seen.append(stat.S_IMODE(self.root.parent.stat().st_mode))
        return put(self, data)

    monkeypatch.setattr(Originals, "put", put_and_look)
    old = os.umask(umask)
    try:
        restore(archive, target)
    finally:
        os.umask(old)
    assert seen == [0o700] * 3
    assert stat.S_IMODE(target.stat().st_mode) == expected
    with Store.open(target) as copy:
        assert check(copy).ok


def test_restore_rejects_a_damaged_archive(store, tmp_path):
    _fill(store)
    archive = tmp_path / "b.tar"
    backup(store, archive)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name.startswith("originals/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(OriginalError, match="damaged"):
        restore(damaged, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restoring")] == []
    with pytest.raises(StoreError, match="not a tracker backup"):
        (tmp_path / "junk.tar").write_bytes(b"")
        with tarfile.open(tmp_path / "junk.tar", "w"):
            pass
        restore(tmp_path / "junk.tar", tmp_path / "r2")


def test_a_backup_made_by_a_newer_tracker_asks_for_a_newer_tracker(store, tmp_path):
    _fill(store)
    backup(store, tmp_path / "b.tar")
    newer = _with_manifest(tmp_path / "b.tar", tmp_path / "newer.tar", schema_revision="9999")
    with pytest.raises(StoreError, match="revision '9999', which this version of tracker does not know .* install a newer"):
        restore(newer, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restoring")] == []


def test_what_a_killed_backup_or_restore_left_is_removed_by_the_next_one(store, tmp_path):
    import subprocess

    _fill(store)
    child = subprocess.Popen(["true"])
    child.wait()  # a process that has ended: a backup and a restore killed half-way
    archive, target = tmp_path / "b.tar", tmp_path / "copy"
    host = work_prefix(archive, "backup").split(".")[-3]  # this machine, as the names give it
    half_archive = tmp_path / f".backup-b.tar.{host}.{child.pid}.x1"
    half_archive.write_bytes(b"part of an archive, patient data in it")
    half_store = tmp_path / f".restoring-copy.{host}.{child.pid}.x2"
    (half_store / "originals").mkdir(parents=True)
    running = tmp_path / f".backup-b.tar.{host}.{os.getpid()}.x3"  # this process: still at work
    running.write_bytes(b"")
    other = tmp_path / f".backup-other.tar.{host}.{child.pid}.x4"  # another archive's: not ours to judge
    other.write_bytes(b"")
    elsewhere = tmp_path / f".backup-b.tar.other-machine.{child.pid}.x5"  # its process is not ours to see
    elsewhere.write_bytes(b"")
    backup(store, archive)
    restore(archive, target)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == sorted([running.name, other.name, elsewhere.name])


def _cut_after_member(data: bytes, name: str) -> bytes:
    """An uncompressed tar cut at the end of the member `name`: whole files, some missing."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember(name)
        end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return data[:end]


@pytest.mark.parametrize(
    "kind", ["not an archive", "cut short", "cut between files", "gzip cut short", "gzip cut at its start"]
)
def test_restore_of_a_file_that_is_no_whole_archive_says_what_to_do(store, tmp_path, kind, capsys):
    _fill(store)
    gz = kind.startswith("gzip")
    archive = tmp_path / ("b.tar.gz" if gz else "b.tar")
    backup(store, archive)
    data = archive.read_bytes()
    bad = tmp_path / ("bad.tar.gz" if gz else "bad.tar")
    cut = {
        "not an archive": lambda: b"these are notes, not a backup\n" * 40,
        "cut short": lambda: data[: len(data) * 2 // 3],
        "cut between files": lambda: _cut_after_member(data, "manifest.json"),
        "gzip cut short": lambda: data[: len(data) * 2 // 3],
        "gzip cut at its start": lambda: data[:100],
    }
    bad.write_bytes(cut[kind]())
    expected = "is not a tracker backup archive" if kind == "not an archive" else "was cut short or is damaged"
    with pytest.raises(StoreError, match=expected + r".*complete copy"):
        restore(bad, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restoring")] == []
    assert _run("restore", "--store", str(tmp_path / "r"), str(bad)) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_corrupted_original_is_reported_and_nothing_else_breaks(
    store, tmp_path, store_dir, database_url, capsys
):
    _fill(store)
    photos = store.photos(patient="P-001")
    (victim,) = [p for p in photos if p.sha256 == hashlib.sha256(png_bytes(2)).hexdigest()]
    path = store.originals.path(victim.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    report = check(store)
    assert not report.ok
    assert report.corrupted == [(victim.id, victim.sha256)]
    assert report.missing == [] and report.orphan_rows == [] and report.unreferenced_files == []
    assert check(store, verify=False).ok  # same size: only hashing finds it
    with pytest.raises(OriginalError, match="corrupted"):
        store.read_original(victim.id)
    for other in photos:
        if other.id != victim.id:
            assert store.read_original(other.id)
    assert len(store.timeline("P-001")) == 3
    store.add_patient("P-009")
    with pytest.raises(OriginalError, match="corrupted"):
        backup(store, tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()

    argv = ["--store", str(store_dir), "--database-url", database_url]
    assert _run("check", *argv) == 1
    out = capsys.readouterr().out
    assert f"CORRUPTED original of photo {victim.id}: {victim.sha256}" in out and "DAMAGED" in out
    assert _run("check", "--json", *argv) == 1
    assert json.loads(capsys.readouterr().out)["corrupted"] == [
        {"photo_id": victim.id, "sha256": victim.sha256}
    ]

    # uploading the same photo again is a duplicate and repairs the file
    again = store.add_photos(victim.visit_id, [NewPhoto("vertex", png_bytes(2))])
    assert again[0].duplicate and check(store).ok
    assert _run("check", *argv) == 0


def test_missing_original_and_leftover_files(store):
    _fill(store)
    photo = store.photos()[0]
    store.originals.path(photo.sha256).unlink()
    stray_sha, _ = store.originals.put(png_bytes(99))
    tmp = store.originals.root / "ab" / ".tmp-half"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_bytes(b"half")
    report = check(store)
    assert report.missing == [(photo.id, photo.sha256)] and not report.ok
    assert report.unreferenced_files == [store.originals.path(stray_sha)]
    assert report.temp_files == [tmp]
    assert prune_leftovers(store) == []  # too young: an add may still be running
    assert sorted(prune_leftovers(store, min_age_s=0)) == sorted(
        [tmp, store.originals.path(stray_sha)]
    )
    report = check(store)
    assert report.unreferenced_files == [] and report.temp_files == [] and report.missing


def _age(store: Store, seconds: float) -> None:
    """Make every original look ``seconds`` old (past prune's age guard)."""
    import time

    for _, path in store.originals.files():
        os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_a_lost_database_is_not_replaced_by_an_empty_one(tmp_path, capsys):
    with Store.open(tmp_path / "s") as store:
        _fill(store)
        _age(store, 7200)
        files = sorted(p for _, p in store.originals.files())
    (tmp_path / "s" / "tracker.sqlite").rename(tmp_path / "elsewhere.sqlite")
    with pytest.raises(StoreError, match="database .* is missing, but .* holds 3 original"):
        Store.open(tmp_path / "s")
    assert _run("check", "--prune", "--store", str(tmp_path / "s")) == 2
    assert "tracker restore" in capsys.readouterr().err
    assert not (tmp_path / "s" / "tracker.sqlite").exists()
    assert sorted(p for _, p in Originals(tmp_path / "s" / "originals").files()) == files


def test_a_foreign_database_is_reported_and_nothing_is_pruned(tmp_path, capsys):
    with Store.open(tmp_path / "s") as store:
        _fill(store)
        _age(store, 7200)
        files = sorted(p for _, p in store.originals.files())
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    Store.open(tmp_path / "o", database_url=other).close()  # another store's database: no photos
    with Store.open(tmp_path / "s", database_url=other) as wrong:
        report = check(wrong)
        assert report.foreign_database and not report.ok and report.photos == 0
        assert any(line.startswith("WRONG DATABASE?") for line in report.lines())
        assert not any("store OK" in line for line in report.lines())
        with pytest.raises(StoreError, match="nothing was removed"):
            prune_leftovers(wrong, min_age_s=0)
    assert _run("check", "--prune", "--store", str(tmp_path / "s"), "--database-url", other) == 1
    out = capsys.readouterr().out
    assert "WRONG DATABASE?" in out and "removed" not in out
    with Store.open(tmp_path / "s") as store:
        assert sorted(p for _, p in store.originals.files()) == files and check(store).ok


def test_an_original_set_aside_by_a_delete_that_died_is_put_back(store):
    _fill(store)
    photo = store.photos()[0]
    aside = store.originals.set_aside(photo.sha256)  # as delete does just before its commit
    report = check(store)
    assert report.missing == [(photo.id, photo.sha256)] and report.temp_files == [aside]
    prune_leftovers(store)  # too young: a delete may be about to commit
    assert aside.exists() and not check(store).ok
    prune_leftovers(store, min_age_s=0)  # past the age guard: the delete died, the photo needs it
    assert store.read_original(photo.id) and check(store).ok and not aside.exists()


def test_a_photo_deleted_while_a_backup_runs_leaves_a_whole_backup(store, tmp_path, monkeypatch):
    _fill(store)
    first = min(store.photos(), key=lambda p: p.sha256)  # the first original the backup reads
    get = store.originals.get

    def delete_then_get(sha):
        if sha == first.sha256:  # read once: the next snapshot no longer holds it
            store.delete("photo", first.id, reason="deleted while the backup runs")
        return get(sha)

    monkeypatch.setattr(store.originals, "get", delete_then_get)
    manifest = backup(store, tmp_path / "b.tar")
    assert first.sha256 not in manifest["originals"] and len(manifest["originals"]) == 2
    restore(tmp_path / "b.tar", tmp_path / "copy")
    with Store.open(tmp_path / "copy") as copy:
        assert check(copy).ok and len(copy.photos()) == 2


def test_fresh_leftovers_of_an_add_are_no_sign_of_a_wrong_database(store):
    _fill(store)
    for i in range(20, 26):  # a large add that died before its commit, just now
        store.originals.put(png_bytes(i))
    report = check(store)
    assert len(report.unreferenced_files) == 6 > report.photos and not report.foreign_database and report.ok


def test_orphan_rows_are_reported(tmp_path):
    store = Store.open(tmp_path / "s")
    _fill(store)
    photo = store.photos()[0]
    store.close()
    with sqlite3.connect(tmp_path / "s" / "tracker.sqlite") as conn:  # foreign keys off by default
        conn.execute("DELETE FROM photo WHERE id = ?", (photo.id,))
        conn.execute("DELETE FROM patient WHERE code = 'P-002'")
        conn.execute("INSERT INTO patient_identity (patient_id, name) VALUES (77, 'x')")
    with Store.open(tmp_path / "s") as store:
        report = check(store)
        assert not report.ok
        assert report.orphan_rows == [
            "patient_identity 77: patient_id=77 has no patient row",
            # the second vertex photo's registration to it (added once, reused on reanalysis)
            f"photo_registration 1: baseline_photo_id={photo.id} has no photo row",
            f"roi 1: baseline_photo_id={photo.id} has no photo row",
            f"measurement 1: photo_id={photo.id} has no photo row",
            f"measurement 4: photo_id={photo.id} has no photo row",
        ]
        assert report.unreferenced_files == [store.originals.path(photo.sha256)]


def test_cli_backup_restore_check(store, store_dir, database_url, tmp_path, capsys, monkeypatch):
    _fill(store)
    before = _snapshot(store)
    archive = tmp_path / "b.tar"
    db = ["--database-url", database_url]
    assert _run("backup", str(archive), "--store", str(store_dir), *db) == 0
    assert "3 originals" in capsys.readouterr().out
    monkeypatch.setenv("TRACKER_STORE", str(tmp_path / "copy"))
    assert _run("restore", str(archive)) == 0
    assert _run("check") == 0
    assert "store OK" in capsys.readouterr().out
    with Store.open(tmp_path / "copy") as copy:
        assert {**_snapshot(copy), "audit": None} == {**before, "audit": None}
    assert _run("restore", str(archive)) == 2
    assert "not empty" in capsys.readouterr().err
    assert _run("check", "--store", str(tmp_path / "nothing")) == 2
    assert "no store at" in capsys.readouterr().err


def test_a_read_only_store_is_told_in_words(tmp_path, capsys, monkeypatch):
    import errno as errnos

    Store.open(tmp_path / "s").close()

    def read_only(*args, **kwargs):  # as on a read-only mount (root can write through chmod)
        raise OSError(errnos.EROFS, "Read-only file system", str(tmp_path / "s" / "tracker.sqlite.lock"))

    monkeypatch.setattr(Store, "open", read_only)
    assert _run("check", "--store", str(tmp_path / "s")) == 2
    err = capsys.readouterr().err
    assert "cannot be written (Read-only file system)" in err and "copy the store" in err


def test_cli_reanalyse_measures_outdated_photos_again(store, store_dir, database_url, capsys):
    from tracker.analysis import ALGORITHM_VERSION

    _fill(store)
    photos = store.photos(patient="P-001")
    older = photos[1].id
    with store.engine.begin() as conn:  # as if measured by an earlier release
        conn.execute(sa.update(m.Measurement).where(m.Measurement.photo_id == older).values(algorithm_version="0.0.1"))
    counts = {p.id: len(store.measurements(p.id)) for p in photos}
    opts = ["--store", str(store_dir), "--database-url", database_url]

    assert _run("reanalyse", *opts) == 0
    assert "reanalysed 1 photo of 1 patient" in capsys.readouterr().out
    after = {p.id: store.measurements(p.id) for p in photos}
    assert {pid: len(rows) for pid, rows in after.items()} == {pid: n + (pid == older) for pid, n in counts.items()}
    assert after[older][-1].algorithm_version == ALGORITHM_VERSION
    assert after[older][0].algorithm_version == "0.0.1"  # the earlier measurement stays
    newest = store.audit_log(limit=1)[0]
    assert (newest.action, newest.details["photo_ids"]) == ("reanalyse", [older])

    assert _run("reanalyse", *opts) == 0  # nothing left: the same command again does nothing
    assert "nothing to reanalyse" in capsys.readouterr().out
    assert _run("reanalyse", *opts, "--all", "--patient", "P-001") == 0  # all measured with the ROI in force
    assert "nothing to reanalyse" in capsys.readouterr().out
    assert _run("reanalyse", *opts, "--again", "--patient", "P-001") == 0
    assert "reanalysed 3 photos of 1 patient" in capsys.readouterr().out
    assert _run("reanalyse", *opts, "--patient", "NOBODY") == 2
    assert "NOBODY" in capsys.readouterr().err


def test_a_stopped_reanalyse_all_goes_on_where_it_was(store, store_dir, database_url, capsys, monkeypatch):
    p1, p2 = store.add_patient("P-001"), store.add_patient("P-002")
    a, b = store.add_visit_with_photos(
        p1.id, dt.date(2025, 1, 6), [NewPhoto("vertex", png_bytes(1)), NewPhoto("vertex", png_bytes(2))]
    )[1]
    (c,) = store.add_visit_with_photos(p2.id, dt.date(2025, 1, 7), [NewPhoto("vertex", png_bytes(3))])[1]
    ids = [a.photo.id, b.photo.id, c.photo.id]
    # new ROIs: every photo's measurement is by the installed version, with the earlier settings
    store.set_roi(p1.id, "vertex", (2, 2, 20, 20), baseline_photo_id=a.photo.id)
    store.set_roi(p2.id, "vertex", (4, 4, 20, 20), baseline_photo_id=c.photo.id)
    assert store.photos_to_reanalyse(p1.id) == [] and store.photos_to_reanalyse(p1.id, settings=True) == ids[:2]
    opts = ["--store", str(store_dir), "--database-url", database_url]

    def counts() -> list[int]:
        return [len(store.measurements(i)) for i in ids]

    reanalyse = Store.reanalyse
    patients_done = []

    def stopped_after_one_patient(self, **kwargs):  # Ctrl-C while the second patient is measured
        if patients_done:
            raise KeyboardInterrupt
        patients_done.append(kwargs["photo_ids"])
        return reanalyse(self, **kwargs)

    monkeypatch.setattr(Store, "reanalyse", stopped_after_one_patient)
    with pytest.raises(KeyboardInterrupt):
        _run("reanalyse", *opts, "--all")
    monkeypatch.undo()
    assert patients_done == [ids[:2]] and counts() == [2, 2, 1]

    assert _run("reanalyse", *opts, "--all") == 0  # the same command again: only what is left
    assert "reanalysed 1 photo of 1 patient" in capsys.readouterr().out
    assert counts() == [2, 2, 2]
    rois = [store.current_roi(p.id, "vertex").id for p in (p1, p1, p2)]
    assert [store.measurements(i)[-1].roi_id for i in ids] == rois
    assert _run("reanalyse", *opts, "--all") == 0
    assert "nothing to reanalyse" in capsys.readouterr().out and counts() == [2, 2, 2]

    store.set_photo_roi(b.photo.id, (0, 0, 30, 30))  # a region placed by hand: that photo's settings change
    assert store.photos_to_reanalyse(p1.id, settings=True) == [b.photo.id]
    assert _run("reanalyse", *opts, "--all") == 0
    assert "reanalysed 1 photo of 1 patient" in capsys.readouterr().out
    assert counts() == [2, 3, 2] and store.measurements(b.photo.id)[-1].roi_source == "manual"

    assert _run("reanalyse", *opts, "--again") == 0  # asked for: every photo, even those up to date
    assert "reanalysed 3 photos of 2 patients" in capsys.readouterr().out
    assert counts() == [3, 4, 3]


def test_photos_saved_with_their_views_first_photo_are_up_to_date(store):
    """The upload's first photo of a new view is its baseline: the measurements saved with
    it name its id, so reanalyse --all finds nothing to do."""
    p = store.add_patient("P-001")
    first, second = store.add_visit_with_photos(
        p.id, dt.date(2025, 1, 6), [NewPhoto("vertex", png_bytes(1)), NewPhoto("vertex", png_bytes(2))]
    )[1]
    stored = [store.measurements(a.photo.id)[-1].parameters["baseline_photo_id"] for a in (first, second)]
    assert stored == [first.photo.id, first.photo.id]
    assert store.photos_to_reanalyse(p.id, settings=True) == []
    store.add_visit_with_photos(p.id, dt.date(2025, 3, 6), [NewPhoto("vertex", png_bytes(3))])
    assert store.photos_to_reanalyse(p.id, settings=True) == []


@pytest.mark.skipif(not PG_URL, reason="TRACKER_TEST_POSTGRES_URL is not set")
@pytest.mark.postgres
def test_plain_postgresql_url_uses_psycopg(tmp_path):
    url = reset_postgres().replace("postgresql+psycopg://", "postgresql://")
    with Store.open(tmp_path / "s", database_url=url) as store:
        assert store.engine.dialect.driver == "psycopg"


def test_backup_keeps_the_export_key_so_pseudonyms_survive_a_restore(store, tmp_path, monkeypatch):
    from tracker.export import deidentify, export_key, measurement_table

    monkeypatch.delenv("TRACKER_EXPORT_KEY", raising=False)
    _fill(store)
    before = deidentify(measurement_table(store), key=export_key(store))["subject_id"]
    archive = tmp_path / "backup.tar"
    assert backup(store, archive)["export_key"] is True
    target = tmp_path / "restored"
    restore(archive, target)
    assert stat.S_IMODE((target / "export.key").stat().st_mode) == 0o600
    with Store.open(target) as copy:
        after = deidentify(measurement_table(copy), key=export_key(copy))["subject_id"]
    assert list(after) == list(before)
