"""`tracker analyze`: the calibration card and --field-width-mm (issue 5); the contract keys stay."""

from __future__ import annotations

import json

import cv2

from tracker import cli
from tracker.synth import render_card_scene, render_closeup

CONTRACT = {"path", "coverage_pct", "hair_count", "mean_width_px", "mean_width_um", "density_per_cm2",
            "thin_hair_pct", "quality", "algorithm_version"}


def _write(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(path)


def _rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_field_width_gives_the_scale(tmp_path, capsys):
    path = _write(tmp_path / "c.png", render_closeup(seed=2, shape=(240, 320), px_per_mm=100.0).image)
    assert cli.main(["analyze", "--json", "--field-width-mm", "3.2", path]) == 0
    (row,) = _rows(capsys)
    assert CONTRACT <= set(row)
    assert row["scale"] == {"px_per_mm": 100.0, "source": "field_width"}
    assert row["density_per_cm2"] is not None and row["mean_width_um"] is not None
    # a typed px/mm comes before the field width
    assert cli.main(["analyze", "--json", "--field-width-mm", "3.2", "--px-per-mm", "50", path]) == 0
    (row,) = _rows(capsys)
    assert row["scale"] == {"px_per_mm": 50.0, "source": "user"}


def test_a_card_in_the_photo_gives_the_scale(tmp_path, capsys):
    scene = render_card_scene(seed=1, shape=(480, 640), px_per_mm=4.0, tilt_deg=20.0)
    path = _write(tmp_path / "card.png", scene.image)
    assert cli.main(["analyze", "--json", path]) == 0
    (row,) = _rows(capsys)
    assert row["scale"]["source"] == "card"
    assert abs(row["scale"]["px_per_mm"] / scene.px_per_mm - 1) < 0.01
    assert row["card"]["ok"]
