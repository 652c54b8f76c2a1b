"""export_key: $TRACKER_EXPORT_KEY, else a secret file made once in the store folder."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from tracker.export import KEY_FILE, export_key, key_path
from tracker.store import Store


@pytest.fixture
def empty_store(tmp_path):
    with Store.open(tmp_path / "s", database_url=f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        yield store


def test_key_file_is_made_once_with_mode_0600_and_reused(empty_store):
    path = empty_store.location / KEY_FILE
    assert key_path(empty_store) == path and not path.exists()
    key = export_key(empty_store)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and int(key, 16) >= 0  # 32 random bytes as hex text
    assert path.read_bytes().strip() == key
    assert export_key(empty_store) == key
    # the same folder opened again keeps its key
    with Store.open(empty_store.location, database_url=empty_store.database_url) as again:
        assert export_key(again) == key


def test_another_store_gets_another_key(empty_store, tmp_path):
    with Store.open(tmp_path / "t", database_url=f"sqlite:///{tmp_path / 't.sqlite'}") as other:
        assert export_key(other) != export_key(empty_store)


def test_environment_key_wins_and_no_file_is_made(empty_store, monkeypatch):
    monkeypatch.setenv("TRACKER_EXPORT_KEY", "  a shared study key, long enough \n")
    assert export_key(empty_store) == b"a shared study key, long enough"
    assert not key_path(empty_store).exists()


def test_file_content_in_the_environment_gives_the_same_key(empty_store, monkeypatch):
    key = export_key(empty_store)
    monkeypatch.setenv("TRACKER_EXPORT_KEY", key_path(empty_store).read_text())
    assert export_key(empty_store) == key


def test_empty_environment_variable_is_unset(empty_store, monkeypatch):
    monkeypatch.setenv("TRACKER_EXPORT_KEY", "")
    assert export_key(empty_store) == key_path(empty_store).read_bytes().strip()


def test_short_environment_key_is_refused(empty_store, monkeypatch):
    monkeypatch.setenv("TRACKER_EXPORT_KEY", "short")
    with pytest.raises(ValueError, match=r"TRACKER_EXPORT_KEY.*at least 16.*token_hex"):
        export_key(empty_store)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_key_file_readable_by_others_is_refused(empty_store):
    export_key(empty_store)
    path = key_path(empty_store)
    path.chmod(0o644)
    with pytest.raises(ValueError, match=r"chmod 600"):
        export_key(empty_store)
    path.chmod(0o600)
    assert export_key(empty_store) == path.read_bytes().strip()


def test_truncated_key_file_is_refused(empty_store):
    path = key_path(empty_store)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"abc\n")
    os.close(fd)
    with pytest.raises(ValueError, match=r"export\.key has 3 bytes"):
        export_key(empty_store)


def test_concurrent_first_use_agrees_on_one_key(empty_store):
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        keys.append(export_key(empty_store))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in empty_store.location.iterdir() if "key" in p.name) == [KEY_FILE]
