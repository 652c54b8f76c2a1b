"""Faults survived with real processes: SIGKILL mid-add and concurrent writers.

Each test prints its counts (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tracker.store import Store, check, prune_leftovers

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_worker.py")


class Zygote:
    """The worker process of ``_worker.py``: forks writer processes on request."""

    def __init__(self, store_dir: Path, url: str, visit_id: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(store_dir), url, str(visit_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def _send(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def start(self, first: int, count: int, log: Path) -> int:
        reply = self._send(f"go {first} {count} {log}")
        assert reply.startswith("pid "), reply
        return int(reply.split()[1])

    def wait(self) -> dict[int, int]:
        codes = {}
        line = self._send("wait")
        while line != "done":
            _, pid, code = line.split()
            codes[int(pid)] = int(code)
            line = self.proc.stdout.readline().strip()
        return codes

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _wait_for(log: Path, text: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not log.exists() or text not in log.read_text():
        assert time.monotonic() < end, f"writer did not print {text!r}"
        time.sleep(0.005)


def _acknowledged(log: Path) -> set[str]:
    return {line.split()[1] for line in log.read_text().splitlines() if line.startswith("ok ")}


def _assert_clean(store: Store) -> None:
    report = check(store)
    assert report.ok, report.lines()
    assert report.orphan_rows == []  # includes "photo without measurement"
    photos = store.photos()
    for photo in photos:
        assert len(store.measurements(photo.id)) == 1
        store.read_original(photo.id)  # raises unless the bytes match the sha256
    if store.engine.dialect.name == "sqlite":
        with sqlite3.connect(store.location / "tracker.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sigkill_during_add_photos_leaves_nothing_half_stored(
    store, store_dir, database_url, visit, tmp_path
):
    rng = random.Random(20251121)
    zygote = Zygote(store_dir, database_url, visit.id)
    acknowledged: set[str] = set()
    leftovers: set[Path] = set()
    kills = 8
    for round_ in range(kills):
        log = tmp_path / f"kill{round_}.log"
        pid = zygote.start(10_000 * (round_ + 1), 0, log)
        _wait_for(log, "ready" if round_ % 2 else "ok ")
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        assert zygote.wait() == {pid: -signal.SIGKILL}
        acknowledged |= _acknowledged(log)
        with Store.open(store_dir, database_url=database_url) as fresh:  # the next start
            _assert_clean(fresh)
            stored = {p.sha256 for p in fresh.photos()}
            assert acknowledged <= stored, "an acknowledged photo was lost"
            report = check(fresh)
            leftovers |= set(report.unreferenced_files + report.temp_files)
    zygote.close()
    with Store.open(store_dir, database_url=database_url) as fresh:
        removed = prune_leftovers(fresh, min_age_s=0)
        report = check(fresh)
        assert report.ok and not report.unreferenced_files and not report.temp_files
        n_photos = len(fresh.photos())
    assert set(removed) == leftovers
    assert acknowledged, "no add finished: the kills came too early to test anything"
    print(
        f"\nSIGKILL: {kills} kills, {len(acknowledged)} adds acknowledged, {n_photos} photos "
        f"stored (each with its measurement and verified original), 0 orphan rows, "
        f"{len(leftovers)} unreferenced/temporary files left by interrupted adds (pruned)"
    )


def test_four_processes_add_fifty_photos_each_to_one_store(
    store, store_dir, database_url, visit, tmp_path, backend
):
    store.close()
    zygote = Zygote(store_dir, database_url, visit.id)
    pids = [zygote.start(1_000 * (i + 1), 50, tmp_path / f"writer{i}.log") for i in range(4)]
    codes = zygote.wait()
    zygote.close()
    logs = [tmp_path / f"writer{i}.log" for i in range(4)]
    assert codes == dict.fromkeys(pids, 0), [log.read_text()[-2000:] for log in logs]
    acknowledged = set().union(*(_acknowledged(log) for log in logs))
    assert len(acknowledged) == 200
    with Store.open(store_dir, database_url=database_url) as fresh:
        photos = fresh.photos()
        assert {p.sha256 for p in photos} == acknowledged
        assert len(photos) == 200
        _assert_clean(fresh)
        who = {e.who for e in fresh.audit_log() if e.action == "add" and e.target == "photo"}
    assert who == {f"worker-{1_000 * (i + 1)}" for i in range(4)}
    print(f"\nconcurrent ({backend}): 4 processes x 50 photos -> {len(photos)} stored, none lost")
