"""tracker evaluate's test-retest section: generated series and real series through the store."""

from __future__ import annotations

import functools
import json
import math

import cv2
import pytest

from tracker import cli, evaluate
from tracker.repeatability import retest_cv, visit_noise
from tracker.synth import CameraMove, render_moved_series


def _row(seed, photo, visit, coverage, true_coverage, count=None, true_count=None, roi_error=math.nan, source="registered"):
    return {"kind": "closeup", "seed": seed, "photo": photo, "visit": visit, "factor": 1.0, "roi_source": source,
                "registration_score": 0.9, "coverage": coverage, "count": count, "density": None if count is None else 10.0 * count,
                "true_coverage": true_coverage, "true_count": true_count, "roi_error_pct": roi_error}


def test_summary_figures_are_worked_out_from_the_rows():
    rows = [
        _row(1, 0, 0, 20.0, 19.0, 100, 110, source="baseline"),
        _row(1, 1, 0, 21.0, 19.0, 104, 110, roi_error=0.5),
        _row(1, 2, 1, 16.0, 16.0, 80, 90, roi_error=1.5),
        _row(1, 3, 1, 18.0, 16.0, 84, 90, roi_error=1.0),
    ]
    s = evaluate.summarize_retest(rows, "closeup")
    f = s.figures
    assert s.n == 4 and f["registered_share"] == 1.0
    assert (f["roi_error_median_pct"], f["roi_error_worst_pct"]) == (1.0, 1.5)
    assert f["coverage_cv_worst_pct"] == pytest.approx(100 * visit_noise([20.0, 21.0]).cv, abs=1e-4)
    assert f["count_cv_rms_pct"] == pytest.approx(100 * retest_cv([[100, 104]]), abs=1e-4)
    # each visit's mean against the baseline visit's mean, as the timeline shows it:
    # coverage change of visit 1: measured (16 + 18) / 2 - (20 + 21) / 2 = -3.5, exact 16 - 19 = -3
    assert f["coverage_change_error_worst_pp"] == pytest.approx(0.5)
    # density change: measured (80 + 84) / 2 / ((100 + 104) / 2) - 1 = -19.6 %, exact 90 / 110 - 1 = -18.18 %
    assert f["density_change_error_worst_pp"] == pytest.approx(abs(100 * (82 / 102 - 1) - 100 * (90 / 110 - 1)), abs=1e-3)


def test_one_generated_series_through_the_store():
    case = ("closeup", 100, (288, 384), 1, (0.8,), {"px_per_mm": 60.0, "density_per_cm2": 220.0})
    rows = evaluate._retest_series(case)
    # baseline, one random and four extreme recaptures, two follow-up photos
    assert len(rows) == 1 + 1 + 4 + 2
    assert rows[0]["roi_source"] == "baseline"
    assert all(r["roi_source"] == "registered" for r in rows[1:])
    assert max(r["roi_error_pct"] for r in rows[1:]) < 2.0
    assert all(r["true_count"] > 0 and r["density"] is not None for r in rows)
    f = evaluate.summarize_retest(rows, "closeup").figures
    assert f["coverage_cv_worst_pct"] < 3.0


@functools.cache
def _series_pngs(seed: int) -> list[bytes]:
    moves = [CameraMove(), CameraMove(dx=9.0, rotation_deg=5.0, scale=1.04, brightness=1.1),
             CameraMove(dx=-7.0, dy=6.0, rotation_deg=-6.0), CameraMove(dy=-9.0, scale=0.95, brightness=0.9)]
    series = render_moved_series(seed=seed, moves=moves, kind="closeup", shape=(288, 384), px_per_mm=60.0,
                                 density_per_cm2=220.0)
    out = []
    for p in series:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(p.image.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        out.append(buf.tobytes())
    return out


@pytest.fixture
def series_dir(tmp_path):
    root = tmp_path / "series"
    pngs = _series_pngs(4)
    for visit, names in (("2024-01", (0, 1)), ("2024-06", (2, 3))):
        folder = root / "patient-a-vertex" / visit
        folder.mkdir(parents=True)
        for k in names:
            (folder / f"img{k}.jpg").write_bytes(pngs[k])
    return root


def test_real_series_layout_gives_a_cv_per_series(series_dir):
    rows, summary = evaluate.evaluate_real_series(series_dir)
    assert len(rows) == 4 and rows[0]["roi_source"] == "baseline"
    assert [r["roi_source"] for r in rows[1:]] == ["registered"] * 3
    # close-ups, so measured as close-ups: shafts counted
    assert all(r["count"] is not None and r["count"] > 0 for r in rows)
    f = summary.figures
    assert f["patient-a-vertex_registered_share"] == 1.0
    groups = [[rows[0]["coverage"], rows[1]["coverage"]], [rows[2]["coverage"], rows[3]["coverage"]]]
    assert f["patient-a-vertex_coverage_cv_pct"] == pytest.approx(100 * retest_cv(groups), abs=1e-4)
    assert f["all_coverage_cv_pct"] == f["patient-a-vertex_coverage_cv_pct"]


def test_real_series_need_the_layout_and_repeats(tmp_path):
    with pytest.raises(ValueError, match=r"DIR/<series>/<visit>/\*\.jpg"):
        evaluate.evaluate_real_series(tmp_path)
    one = tmp_path / "s" / "v1"
    one.mkdir(parents=True)
    (one / "a.jpg").write_bytes(_series_pngs(4)[0])
    with pytest.raises(ValueError, match="two or more photos"):
        evaluate.evaluate_real_series(tmp_path)


def test_evaluate_command_with_series(series_dir, capsys):
    code = cli.main(["evaluate", "--skip-counts", "--skip-masks", "--skip-synthetic", "--series", str(series_dir),
                     "--workers", "1", "--json"])
    assert code == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert line["set"] == "test-retest: real series in series" and line["n"] == 4
    assert "all_coverage_cv_pct" in line
    assert cli.main(["evaluate", "--skip-counts", "--skip-masks", "--skip-synthetic", "--series",
                     str(series_dir / "absent")]) == 2
