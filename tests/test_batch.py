"""tracker.batch: many photos into one table, in this process, a process pool and on Dask.

Every expected value is computed here by running the analysis on each photo
directly (:func:`tracker.analysis.analyze` on :func:`tracker.photo.read_photo`),
one photo after the other; the batch results must equal it whatever ran them.
The Dask tests use a real ``distributed.LocalCluster`` with two worker
processes, the kill test a real ``tracker batch`` process killed with SIGKILL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tracker.analysis import ALGORITHM_VERSION, analyze
from tracker.batch import (
    COLUMN_NAMES,
    BatchJob,
    batch_dictionary,
    jobs_from_manifest,
    journal_path,
    read_results,
    run_batch,
)
from tracker.cli import main
from tracker.photo import read_photo
from tracker.synth import render_closeup

PX_PER_MM = 100.0
N_GOOD = 8
METRIC_COLUMNS = ("coverage_pct", "hair_count", "mean_width_px", "mean_width_um", "density_per_cm2", "thin_hair_pct")
#: Columns that differ between two runs of the same photo (when it was analysed).
RUN_COLUMNS = ("analysed_at",)


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    path.write_bytes(buf.tobytes())


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Eight generated close-ups (two in a sub-folder), a text file and a cut-off JPEG named as photos."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "sub").mkdir()
    for i in range(N_GOOD):
        scalp = render_closeup(seed=100 + i, shape=(160, 200), px_per_mm=PX_PER_MM, density_per_cm2=250)
        _write_jpeg(folder / ("sub" if i >= 6 else ".") / f"scalp_{i}.jpg", scalp.image)
    (folder / "notes.jpg").write_text("this is a note, not a photo\n")
    good = (folder / "scalp_0.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(good[: len(good) // 3])
    (folder / "readme.txt").write_text("not listed: not a photo suffix\n")
    return folder


@pytest.fixture(scope="module")
def expected(photos) -> dict[str, dict]:
    """Direct, serial analysis of every good photo, by path."""
    out = {}
    for path in sorted(photos.rglob("scalp_*.jpg")):
        photo = read_photo(path)
        a = analyze(photo.pixels, px_per_mm=PX_PER_MM)
        out[str(path)] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "record": a.to_record(),
            "width": photo.pixels.shape[1],
            "height": photo.pixels.shape[0],
        }
    assert len(out) == N_GOOD
    return out


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes as Dask starts them (its default MALLOC_TRIM_THRESHOLD_ made explicit)."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 65536}), \
                distributed.LocalCluster(
                    n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
                ) as c:
            yield c
    finally:  # Dask's nanny leaves its pre-spawn environment in os.environ
        if before is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = before


def _check_against_serial(table: pd.DataFrame, expected: dict[str, dict], photos: Path) -> None:
    """One row per listed photo; good ones equal the direct analysis, bad ones carry an error."""
    assert sorted(table["path"]) == sorted([*expected, str(photos / "notes.jpg"), str(photos / "cut.jpg")])
    for row in table.to_dict("records"):
        if row["path"] in expected:
            want = expected[row["path"]]
            rec = want["record"]
            assert pd.isna(row["error"]), row["error"]
            assert row["sha256"] == want["sha256"]
            assert (row["width"], row["height"]) == (want["width"], want["height"])
            for name in METRIC_COLUMNS:
                got = None if pd.isna(row[name]) else row[name]
                assert got == rec[name], (row["path"], name, got, rec[name])
            assert row["mode"] == rec["mode"]
            assert [row["roi_x"], row["roi_y"], row["roi_w"], row["roi_h"]] == rec["roi"]
            assert row["px_per_mm"] == PX_PER_MM and row["scale_source"] == "user"
            assert row["quality_status"] == rec["quality"]["status"]
            assert json.loads(row["quality_checks"]) == json.loads(json.dumps(rec["quality"]["checks"]))  # as exported
            assert json.loads(row["parameters"]) == json.loads(json.dumps(rec["parameters"]))
            assert json.loads(row["notes"]) == rec["notes"]
            assert row["algorithm_version"] == ALGORITHM_VERSION
        else:
            assert isinstance(row["error"], str) and Path(row["path"]).name in row["error"]
            assert all(pd.isna(row[name]) for name in METRIC_COLUMNS)
            assert row["sha256"] == hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest()
    assert table["hair_count"].notna().sum() == N_GOOD
    assert (table["hair_count"].dropna() > 0).all()  # the generated photos do have hairs


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(RUN_COLUMNS)).sort_values("path").reset_index(drop=True)


@pytest.fixture(scope="module")
def serial_table(photos, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("serial") / "results.csv"
    summary = run_batch(photos, out, px_per_mm=PX_PER_MM)
    assert (summary.total, summary.analysed, summary.skipped, summary.failed) == (N_GOOD + 2, N_GOOD + 2, 0, 2)
    return read_results(out)


def test_serial_batch_equals_direct_analysis(serial_table, expected, photos):
    _check_against_serial(serial_table, expected, photos)
    assert list(serial_table.columns) == list(COLUMN_NAMES)


def test_bad_photos_become_rows_saying_why(serial_table, photos):
    errors = dict(zip(serial_table["path"], serial_table["error"], strict=True))
    assert "text, not image data" in errors[str(photos / "notes.jpg")]
    assert "cut.jpg" in errors[str(photos / "cut.jpg")]


def test_process_pool_equals_serial(photos, expected, serial_table, tmp_path):
    out = tmp_path / "pool.parquet"
    summary = run_batch(photos, out, workers=2, px_per_mm=PX_PER_MM)
    assert summary.analysed == N_GOOD + 2
    table = read_results(out)
    _check_against_serial(table, expected, photos)
    pd.testing.assert_frame_equal(_comparable(table), _comparable(serial_table))
    assert not journal_path(out).exists()  # the Parquet file was written whole at the end


def test_dask_local_cluster_equals_serial(photos, expected, serial_table, cluster, tmp_path):
    from distributed import Client, get_task_stream

    out = tmp_path / "dask.csv"
    # the stream is the scheduler's record of tasks
    with Client(cluster) as client, get_task_stream(client) as stream, \
            pytest.warns(RuntimeWarning, match="MALLOC_TRIM_THRESHOLD_=65536"):
        summary = run_batch(photos, out, scheduler=cluster.scheduler_address, px_per_mm=PX_PER_MM)
    assert summary.analysed == N_GOOD + 2
    tasks = [t for t in stream.data if str(t["key"]).startswith("analyse_photo")]
    assert len(tasks) == N_GOOD + 2  # every photo was analysed on the cluster
    assert len({t["worker"] for t in tasks}) == 2  # by both worker processes
    table = read_results(out)
    _check_against_serial(table, expected, photos)
    pd.testing.assert_frame_equal(_comparable(table), _comparable(serial_table))


def test_resume_skips_photos_already_in_the_output(photos, tmp_path):
    first = sorted(photos.glob("scalp_*.jpg"))[:3]
    manifest = tmp_path / "first.csv"
    manifest.write_text("path\n" + "".join(f"{p}\n" for p in first))
    out = tmp_path / "results.csv"
    run_batch(manifest, out, px_per_mm=PX_PER_MM)
    before = read_results(out).set_index("path")["analysed_at"]
    summary = run_batch(photos, out, px_per_mm=PX_PER_MM)
    assert (summary.skipped, summary.analysed) == (3, N_GOOD + 2 - 3)
    table = read_results(out)
    assert len(table) == N_GOOD + 2 and table["path"].is_unique
    after = table.set_index("path")["analysed_at"]
    assert (after[before.index] == before).all()  # not analysed again
    again = run_batch(photos, out, px_per_mm=PX_PER_MM)
    assert (again.analysed, again.skipped) == (0, N_GOOD + 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_other_settings_are_another_row_same_bytes_at_two_paths_are_two(photos, tmp_path, workers):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(photos / "scalp_1.jpg", folder / name)
    shutil.copy(photos / "scalp_2.jpg", folder / "d.jpg")
    out = tmp_path / "r.csv"
    s1 = run_batch(folder, out, px_per_mm=PX_PER_MM, workers=workers)
    assert (s1.analysed, s1.skipped) == (4, 0)
    s2 = run_batch(folder, out, px_per_mm=PX_PER_MM, roi=(10, 10, 120, 100), workers=workers)
    assert (s2.analysed, s2.skipped) == (4, 0)
    assert run_batch(folder, out, px_per_mm=PX_PER_MM, workers=workers).skipped == 4  # every path has its row
    table = read_results(out)
    assert len(table) == 8
    for roi, rows in table.groupby("roi_w"):
        assert sorted(Path(p).name for p in rows["path"]) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
        same = rows[rows["path"].map(lambda p: Path(p).name) != "d.jpg"].drop(columns=["path", "analysed_at"])
        assert len(same.astype(str).drop_duplicates()) == 1, roi  # the same bytes, the same numbers
    rois = sorted({tuple(r) for r in table[["roi_x", "roi_y", "roi_w", "roi_h"]].to_numpy().tolist()})
    assert rois == [(0, 0, 200, 160), (10, 10, 120, 100)]
    assert not s1.mixed
    assert s2.mixed == ("4 photos in r.csv have rows made with different settings: pick one per photo (column requested)",)


def test_after_an_upgrade_a_resumed_run_measures_every_photo_again(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("scalp_1.jpg", "scalp_2.jpg"):
        shutil.copy(photos / name, folder / name)
    out = tmp_path / "r.csv"
    run_batch(folder, out, px_per_mm=PX_PER_MM)
    # the rows as an older version of the analysis would have left them
    out.write_text(out.read_text().replace(f",{ALGORITHM_VERSION},", ",0.9.0,"))
    summary = run_batch(folder, out, px_per_mm=PX_PER_MM)
    assert (summary.analysed, summary.skipped) == (2, 0)
    assert sorted(read_results(out)["algorithm_version"]) == sorted(["0.9.0", "0.9.0", ALGORITHM_VERSION, ALGORITHM_VERSION])
    assert summary.mixed[0].startswith(f"r.csv holds rows of the algorithm versions 0.9.0, {ALGORITHM_VERSION}")


def test_manifest_settings_reach_the_analysis(photos, tmp_path):
    manifest = tmp_path / "m.csv"
    p0, p1, p2 = (photos / f"scalp_{i}.jpg" for i in range(3))
    shutil.copy(p2, tmp_path / "rel.jpg")
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "view", "px_per_mm", "scale_source", "mode", "roi"])
        w.writerow([p0, "vertex", "", "", "", "20,10,150,120"])
        w.writerow([p1, "", "50", "magnification", "overview", ""])
        w.writerow(["rel.jpg", "crown", "", "", "", ""])  # relative to the manifest
    out = tmp_path / "m_out.csv"
    run_batch(manifest, out, px_per_mm=PX_PER_MM)
    table = read_results(out).set_index("path")
    r0 = table.loc[str(p0)]
    want0 = analyze(read_photo(p0).pixels, roi=(20, 10, 150, 120), px_per_mm=PX_PER_MM)
    assert r0["view"] == "vertex" and r0["hair_count"] == want0.hair_count
    assert r0["coverage_pct"] == want0.coverage_pct and (r0["roi_x"], r0["roi_w"]) == (20, 150)
    r1 = table.loc[str(p1)]
    assert r1["mode"] == "overview" and pd.isna(r1["hair_count"])
    assert (r1["px_per_mm"], r1["scale_source"]) == (50.0, "magnification")
    r2 = table.loc[str(tmp_path / "rel.jpg")]
    assert r2["view"] == "crown" and r2["px_per_mm"] == PX_PER_MM and pd.isna(r2["error"])
    assert json.loads(r0["requested"]) == {
        "roi": [20, 10, 150, 120], "px_per_mm": PX_PER_MM, "scale_source": None, "mode": "auto"
    }


@pytest.mark.parametrize(
    "header, row, message",
    [
        ("path,px_per_mn", "a.jpg,100", "unknown column(s) px_per_mn"),
        ("path,px_per_mm", "a.jpg,-3", "line 2: px_per_mm must be a positive number"),
        ("path,px_per_mm", "a.jpg,ten", "line 2: px_per_mm must be a number"),
        ("path,roi", "a.jpg,10;10;5;5", "line 2: the ROI needs four whole numbers"),
        ("path,roi", "a.jpg,10,10,5,5", "quote a ROI"),
        ("path,roi_x,roi_y,roi_w,roi_h", "a.jpg,1,1,0,5", "W,H above 0"),
        ("path,mode", "a.jpg,macro", "mode must be one of auto, closeup, overview"),
        ("path,scale_source", "a.jpg,magnification", "without px_per_mm"),
        ("path,scale_source,px_per_mm", "a.jpg,card,250", "'card' is given by a calibration card found in the photo"),
        ("view", "vertex", "needs a header line with a 'path' column"),
        ("path,view", ",vertex", "line 2: the path is empty"),
    ],
)
def test_bad_manifests_say_what_to_fix(tmp_path, header, row, message):
    manifest = tmp_path / "bad.csv"
    manifest.write_text(f"{header}\n{row}\n")
    with pytest.raises(ValueError) as err:
        jobs_from_manifest(manifest)
    assert message in str(err.value)


def test_roi_columns_and_defaults(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,roi_x,roi_y,roi_w,roi_h\na.jpg,1,2,30,40\nb.jpg,,,,\n")
    jobs = jobs_from_manifest(manifest, roi=(0, 0, 9, 9), mode="closeup")
    assert [j.roi for j in jobs] == [(1, 2, 30, 40), (0, 0, 9, 9)]
    assert all(j.mode == "closeup" for j in jobs)
    assert jobs[0].path == str(tmp_path / "a.jpg")


def test_unreadable_files_are_retried_only_when_asked(photos, tmp_path):
    missing = tmp_path / "later.jpg"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{missing}\n{photos / 'scalp_3.jpg'}\n")
    out = tmp_path / "r.parquet"
    s1 = run_batch(manifest, out, px_per_mm=PX_PER_MM)
    assert s1.failed == 1 and "cannot be read" in s1.failures[0][1]
    shutil.copy(photos / "scalp_4.jpg", missing)
    s2 = run_batch(manifest, out, px_per_mm=PX_PER_MM)
    assert (s2.analysed, s2.skipped) == (0, 2)  # its error row stands until asked
    s3 = run_batch(manifest, out, px_per_mm=PX_PER_MM, retry_errors=True)
    assert (s3.analysed, s3.skipped, s3.failed) == (1, 1, 0)
    table = read_results(out)
    assert len(table) == 2 and table["error"].isna().all()


def test_a_half_written_last_line_is_dropped_and_done_again(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        shutil.copy(photos / f"scalp_{i}.jpg", folder / f"{i}.jpg")
    out = tmp_path / "r.csv"
    run_batch(folder, out, px_per_mm=PX_PER_MM)
    text = out.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    out.write_text(text[: len(text) - len(last) // 2 - 1])  # a torn write: the line cut in the middle
    summary = run_batch(folder, out, px_per_mm=PX_PER_MM)
    assert (summary.analysed, summary.skipped) == (1, 2)
    table = read_results(out)
    assert len(table) == 3 and table["path"].is_unique and table["error"].isna().all()


def _crash_on_scalp_2(job: BatchJob, data: bytes, sha256: str | None) -> dict:
    """The analysis, except that the worker process dies on scalp_2 (as on an out-of-memory kill)."""
    from tracker.batch import analyse_photo

    if Path(job.path).name == "scalp_2.jpg":
        os._exit(9)
    return analyse_photo(job, data, sha256)


@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_photo(photos, expected, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in sorted(photos.glob("scalp_*.jpg")):
        shutil.copy(p, folder / p.name)
    out = tmp_path / "r.csv"
    summary = run_batch(folder, out, workers=2, px_per_mm=PX_PER_MM, _task=_crash_on_scalp_2)
    table = read_results(out).set_index("path")
    assert len(table) == 6 and summary.failed == 1
    assert "worker process analysing this photo stopped" in table.loc[str(folder / "scalp_2.jpg"), "error"]
    for name in ("scalp_0.jpg", "scalp_1.jpg", "scalp_3.jpg", "scalp_4.jpg", "scalp_5.jpg"):
        row = table.loc[str(folder / name)]
        assert pd.isna(row["error"])
        assert row["hair_count"] == expected[str(photos / name)]["record"]["hair_count"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt, workers", [("csv", 2), ("parquet", 1)])
def test_killed_batch_resumes_to_the_serial_result(photos, expected, serial_table, tmp_path, fmt, workers):
    """SIGKILL a real ``tracker batch`` (and its pool) mid-run, run it again, get every row once."""
    out = tmp_path / f"r.{fmt}"
    written = out if fmt == "csv" else journal_path(out)
    cmd = [sys.executable, "-m", "tracker.cli", "batch", str(photos), "--out", str(out),
           "--px-per-mm", str(PX_PER_MM), "--workers", str(workers), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            lines = written.read_text().count("\n") if written.exists() else 0
            if lines - (fmt == "csv") >= 3 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed; give it more photos"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    kept = read_results(out)
    assert 3 <= len(kept) < N_GOOD + 2  # what was written survived; the rest was not done
    assert kept["path"].is_unique
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    # exit code 1 when a photo of this run could not be analysed (the two bad ones, unless done before the kill)
    assert result.returncode == (0 if kept["error"].notna().sum() == 2 else 1), result.stderr
    assert f"skipped {len(kept)} already in" in result.stdout
    table = read_results(out)
    _check_against_serial(table, expected, photos)
    pd.testing.assert_frame_equal(_comparable(table), _comparable(serial_table))
    merged = table.set_index("path")["analysed_at"]
    assert (merged[kept["path"]].to_numpy() == kept["analysed_at"].to_numpy()).all()


def test_cli_batch(photos, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    code = main(["batch", str(photos), "--out", str(out), "--px-per-mm", "100", "--quiet", "--roi", "0,0,100,80"])
    assert code == 1  # two photos are not photos
    captured = capsys.readouterr()
    assert f"analysed {N_GOOD + 2} photos, skipped 0" in captured.out
    assert "2 photos could not be analysed" in captured.err and "notes.jpg" in captured.err
    table = read_results(out)
    assert set(table.dropna(subset=["roi_w"])["roi_w"]) == {100}
    dictionary = (tmp_path / "cli.dictionary.csv").read_text()
    assert dictionary == batch_dictionary()
    assert [r["column"] for r in csv.DictReader(dictionary.splitlines())] == list(COLUMN_NAMES)


def test_cli_batch_refuses_bad_input(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["batch", str(tmp_path), "--out", "o.csv", "--workers", "2", "--scheduler", "tcp://x:1"])
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o.txt"), "--format", "csv",
                 "--workers", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_an_output_of_something_else_is_not_touched(photos, tmp_path):
    out = tmp_path / "mine.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="give another --out file"):
        run_batch(photos, out)
    assert out.read_text() == "a,b\n1,2\n"


def test_two_runs_never_write_one_output(photos, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "r.csv"
    with open(tmp_path / ".r.csv.lock", "a") as other:  # as a second tracker batch holds it
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="another tracker batch is writing"):
            run_batch(photos, out, px_per_mm=PX_PER_MM)
        assert not out.exists()
    summary = run_batch([BatchJob(str(photos / "scalp_0.jpg"), px_per_mm=PX_PER_MM)], out)
    assert summary.analysed == 1


def test_dask_workers_without_malloc_trim_give_no_warning(photos, tmp_path, monkeypatch):
    import warnings

    import dask
    from distributed import LocalCluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # the nanny leaves it set in os.environ
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
            LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0") as c, \
            warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        summary = run_batch(
            [BatchJob(str(photos / "scalp_5.jpg"), px_per_mm=PX_PER_MM)], tmp_path / "r.csv",
            scheduler=c.scheduler_address,
        )
    assert summary.analysed == 1 and summary.failed == 0


def _children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_pool_batch_leaves_no_worker_behind(photos, tmp_path, sig):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(80):  # enough work to be stopped in the middle of
        shutil.copy(photos / f"scalp_{i % 6}.jpg", folder / f"p{i:03d}.jpg")
    out = tmp_path / "r.csv"
    run = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "batch", str(folder), "--out", str(out), "--workers", "2", "--quiet"],
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 3):
        time.sleep(0.1)  # the workers are measuring
    workers = _children(run.pid)
    assert len(workers) >= 2 and run.poll() is None
    run.send_signal(sig)
    code = run.wait(30)
    if sig == signal.SIGTERM:
        assert code == 130 and "stopped; the rows written so far are kept" in run.stderr.read()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers)
    assert main(["batch", str(folder), "--out", str(out), "--quiet"]) == 0  # and the run goes on
    assert len(read_results(out)) == 80


def test_a_thin_hair_bound_reaches_the_analysis_and_its_row(photos, tmp_path):
    manifest = tmp_path / "m.csv"
    p0, p1 = photos / "scalp_0.jpg", photos / "scalp_1.jpg"
    manifest.write_text(f"path,thin_um\n{p0},120\n{p1},\n")
    out = tmp_path / "r.csv"
    run_batch(manifest, out, px_per_mm=PX_PER_MM)
    table = read_results(out).set_index("path")
    wide = analyze(read_photo(p0).pixels, px_per_mm=PX_PER_MM, thin_um=120.0)
    assert table.loc[str(p0), "thin_hair_pct"] == wide.thin_hair_pct == 100.0
    assert json.loads(table.loc[str(p0), "requested"])["thin_um"] == 120.0
    assert "thin_um" not in json.loads(table.loc[str(p1), "requested"])  # as rows made before it could be asked
    assert json.loads(table.loc[str(p1), "parameters"])["thin_um"] == 40.0
    with pytest.raises(ValueError, match="thin_um must be a positive number"):
        run_batch(photos, tmp_path / "bad.csv", thin_um=-1.0)

