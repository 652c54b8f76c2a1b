"""Tests for the ``tracker`` command line (the evaluation contract of DESIGN.md).

The contract is exercised through a real subprocess, ``python -m tracker.cli``;
argument errors and the evaluation helpers are also checked in-process, which
is faster and runs the same parser.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import cli, evaluate
from tracker.synth import render_closeup

REPO = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = {
    "path",
    "coverage_pct",
    "hair_count",
    "mean_width_px",
    "mean_width_um",
    "density_per_cm2",
    "thin_hair_pct",
    "quality",
    "algorithm_version",
}
OBSERVED_LINE = (
    "Observed measurements only. They do not show that any treatment caused a change."
)
ROI = (10, 20, 200, 150)


def tracker(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *map(str, args)],
        capture_output=True,
        check=False,  # the exit code is part of what is tested
        text=True,
        timeout=120,
        cwd=cwd or REPO,
    )


def bars_image(n: int, *, shape=(240, 320), width=8) -> np.ndarray:
    img = np.full((*shape, 3), 210, np.uint8)
    for i in range(n):
        y = 30 + 45 * i
        img[y : y + width, 30 : shape[1] - 30] = 40
    return img


def encode(rgb: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def json_lines(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    assert lines, "no output"
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Two good photos (a generated close-up as PNG, drawn bars as JPEG) and three broken files."""
    folder = tmp_path_factory.mktemp("photos")
    closeup = render_closeup(
        seed=5, shape=(256, 320), px_per_mm=100.0, density_per_cm2=200.0
    )
    jpeg = encode(bars_image(3), ".jpg")
    files = {
        "closeup": ("closeup.png", encode(closeup.image, ".png")),
        "bars": ("bars.jpg", jpeg),
        "empty": ("empty.jpg", b""),
        "text": ("notes.jpg", b"This is a note, not a photo.\n"),
        "truncated": ("cut.jpg", jpeg[: len(jpeg) // 2]),
    }
    out = {}
    for key, (name, data) in files.items():
        (folder / name).write_bytes(data)
        out[key] = folder / name
    return out


@pytest.fixture(scope="module")
def mixed_run(photos):
    """One call with good and broken files interleaved."""
    order = ["closeup", "empty", "text", "bars", "truncated"]
    return order, tracker("analyze", "--json", *(photos[k] for k in order))


@pytest.fixture(scope="module")
def scaled_run(photos, tmp_path_factory):
    masks = tmp_path_factory.mktemp("masks") / "nested"
    run = tracker(
        "analyze",
        "--json",
        "--roi",
        ",".join(map(str, ROI)),
        "--px-per-mm",
        "100",
        "--mask-dir",
        masks,
        photos["closeup"],
        photos["bars"],
    )
    return run, masks


# --- analyze --json --------------------------------------------------------------------


def test_json_one_object_per_image_and_line(mixed_run, photos):
    order, run = mixed_run
    rows = json_lines(run.stdout)
    assert [r["path"] for r in rows] == [str(photos[k]) for k in order]


def test_json_rows_carry_the_contract_keys(mixed_run):
    order, run = mixed_run
    rows = dict(zip(order, json_lines(run.stdout)))
    for key in ("closeup", "bars"):
        row = rows[key]
        assert CONTRACT_KEYS <= set(row), key
        assert "error" not in row
        # no scale given: the scale metrics are null, not made up
        assert (
            row["mean_width_um"] is None
            and row["density_per_cm2"] is None
            and row["thin_hair_pct"] is None
        )
        assert (
            0 < row["coverage_pct"] < 100
            and row["hair_count"] > 0
            and row["mean_width_px"] > 0
        )
        assert row["quality"]["status"] in ("pass", "warn", "fail")
        assert row["algorithm_version"]
    assert rows["bars"]["hair_count"] == 3
    assert rows["bars"]["mean_width_px"] == pytest.approx(8, rel=0.15)


@pytest.mark.parametrize("key", ["empty", "text", "truncated"])
def test_broken_file_fails_alone_and_names_the_file(mixed_run, photos, key):
    order, run = mixed_run
    assert run.returncode == 1
    row = dict(zip(order, json_lines(run.stdout)))[key]
    assert set(row) == {"path", "error"}
    assert photos[key].name in row["error"]
    assert any(
        line.startswith("tracker analyze:") and photos[key].name in line
        for line in run.stderr.splitlines()
    ), run.stderr


def test_only_broken_files_reach_stderr(mixed_run, photos):
    _, run = mixed_run
    assert len(run.stderr.strip().splitlines()) == 3
    assert (
        photos["closeup"].name not in run.stderr
        and photos["bars"].name not in run.stderr
    )


def test_good_files_exit_zero(scaled_run):
    run, _ = scaled_run
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


def test_scale_and_roi_options(scaled_run):
    run, _ = scaled_run
    rows = json_lines(run.stdout)
    assert len(rows) == 2
    for row in rows:
        assert CONTRACT_KEYS <= set(row)
        assert row["roi"] == list(ROI)
        assert row["scale"] == {"px_per_mm": 100.0, "source": "user"}
        assert row["mean_width_um"] == pytest.approx(row["mean_width_px"] * 10)
        area_cm2 = ROI[2] * ROI[3] / 100.0**2 / 100
        assert row["density_per_cm2"] == pytest.approx(row["hair_count"] / area_cm2)
        assert row["thin_hair_pct"] is not None
        assert row["roi_source"] == "manual"  # the ROI given, not the whole photo


def test_mask_dir_writes_binary_masks_of_the_image_size(scaled_run, photos):
    run, masks = scaled_run
    rows = json_lines(run.stdout)
    for key, row in zip(("closeup", "bars"), rows):
        mask_path = masks / f"{photos[key].stem}_mask.png"
        assert mask_path.is_file()
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        photo = cv2.imread(str(photos[key]), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == photo.shape[:2]
        assert set(np.unique(mask)) <= {0, 255} and (mask == 255).any()
        # the coverage printed is the share of hair in the ROI of the mask written
        x, y, w, h = ROI
        assert row["coverage_pct"] == pytest.approx(
            100 * (mask[y : y + h, x : x + w] == 255).mean()
        )
    assert sorted(p.name for p in masks.iterdir()) == [
        "bars_mask.png",
        "closeup_mask.png",
    ]


def test_table_output_carries_the_observed_change_line(photos):
    run = tracker("analyze", photos["bars"], photos["closeup"])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["photo", "mode", "coverage"]
    assert any(line.startswith(str(photos["bars"])) and " 3 " in line for line in lines)
    assert any(line.startswith(str(photos["closeup"])) for line in lines)
    assert lines[-1] == OBSERVED_LINE


def test_table_output_lists_quality_advice_and_notes_under_the_table(photos):
    run = tracker("analyze", photos["bars"], photos["closeup"])
    assert run.returncode == 0, run.stderr
    below = run.stdout.split("\n\n", 1)[1].splitlines()
    # the generated close-up is 320 x 256: below the close-up resolution bound
    assert any(
        line.startswith(f"- {photos['closeup']}: resolution fail: The photo is 320 x 256 pixels") for line in below
    ), below
    # a note both photos share is written once, without names
    no_scale = [line for line in below if "No scale" in line]
    assert len(no_scale) == 1 and no_scale[0].startswith("- No scale: ")
    assert below[-1] == OBSERVED_LINE


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_analysis(photos, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for option in ("--mask-dir", "--overlay-dir"):
        run = tracker("analyze", "--json", option, blocked, photos["bars"])
        assert run.returncode == 2
        what = "masks" if option == "--mask-dir" else "overlays"
        assert f"tracker analyze: {what}: cannot write to {blocked}: it is a file, not a folder" in run.stderr
        assert "give a folder you may write to" in run.stderr and "Traceback" not in run.stderr
        assert run.stdout == ""


def test_photos_whose_masks_would_share_a_file_name_are_refused(photos, tmp_path):
    twin = tmp_path / "other" / photos["bars"].name
    twin.parent.mkdir()
    twin.write_bytes(photos["bars"].read_bytes())
    masks = tmp_path / "masks"
    run = tracker("analyze", "--mask-dir", masks, photos["bars"], twin)
    assert run.returncode == 2
    assert f"{photos['bars']} and {twin} would write their masks and overlays to the same file names" in run.stderr
    assert run.stdout == "" and not any(masks.glob("*"))
    # the same photo named twice writes one mask
    again = tracker("analyze", "--mask-dir", masks, photos["bars"], photos["bars"])
    assert again.returncode == 0, again.stderr
    assert [p.name for p in masks.iterdir()] == ["bars_mask.png"]


def test_a_photo_too_small_to_measure_fails_alone_with_guidance(photos, tmp_path):
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(encode(np.full((4, 4, 3), 200, np.uint8), ".png"))
    run = tracker("analyze", "--json", tiny, photos["bars"])
    assert run.returncode == 1
    first, second = json_lines(run.stdout)
    assert "4 x 4 pixels, too small to measure hair" in first["error"]
    assert second["hair_count"] == 3


def test_malformed_roi_is_an_argument_error_with_guidance(photos):
    run = tracker("analyze", "--roi", "1,2,3", photos["bars"])
    assert run.returncode == 2
    assert "--roi takes X,Y,W,H in pixels" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3",
        "a,b,c,d",
        "0,0,0,10",
        "0,0,10,-1",
        "-1,0,5,5",
        "1.5,2,3,4",
        "1,2,3,4,5",
        "",
    ],
)
def test_malformed_roi_values(text, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["analyze", f"--roi={text}", "x.png"])
    assert exc.value.code == 2
    assert (
        "--roi takes X,Y,W,H in pixels: four whole numbers, X and Y 0 or more, W and H above 0"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("text", ["0", "-2", "nan", "inf", "ten", ""])
def test_bad_scale_is_an_argument_error(text, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["analyze", f"--px-per-mm={text}", "x.png"])
    assert exc.value.code == 2
    assert "expected a positive number" in capsys.readouterr().err


def test_roi_outside_the_image_is_reported_per_file(photos, capsys):
    code = cli.main(["analyze", "--json", "--roi", "0,0,5000,100", str(photos["bars"])])
    out, err = capsys.readouterr()
    assert code == 1
    row = json.loads(out)
    assert row["path"] == str(photos["bars"]) and "inside the image" in row["error"]
    assert "inside the image" in err


# --- evaluate --------------------------------------------------------------------------
# `tracker evaluate` on the generated set takes about 45 s here (20 photos of
# 768x1024); the pieces are tested on a tiny annotated folder instead.

VOC = """<annotation><filename>{name}</filename>
<size><width>320</width><height>240</height><depth>3</depth></size>
{objects}</annotation>
"""
OBJECT = "<object><name>hair</name><bndbox><xmin>30</xmin><ymin>{y}</ymin><xmax>290</xmax><ymax>{y2}</ymax></bndbox></object>\n"


@pytest.fixture(scope="module")
def voc_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("voc")
    (folder / "Images").mkdir()
    (folder / "Annotations").mkdir()
    for i, n in enumerate((2, 3, 4)):
        (folder / "Images" / f"img{i}.jpg").write_bytes(encode(bars_image(n), ".jpg"))
        objects = "".join(
            OBJECT.format(y=30 + 45 * k, y2=38 + 45 * k) for k in range(n)
        )
        (folder / "Annotations" / f"img{i}.xml").write_text(
            VOC.format(name=f"img{i}.jpg", objects=objects)
        )
    # an annotation without its image is left out
    (folder / "Annotations" / "orphan.xml").write_text(
        VOC.format(name="orphan.jpg", objects=OBJECT.format(y=5, y2=9))
    )
    return folder


def test_count_figures():
    f = evaluate.count_figures([10, 20, 30], [12, 19, 33])
    assert f["mae"] == 2.0
    assert f["rmse"] == pytest.approx(math.sqrt((4 + 1 + 9) / 3), abs=1e-6)
    assert f["bias"] == pytest.approx(4 / 3, abs=1e-6)
    assert f["pearson_r"] == pytest.approx(
        np.corrcoef([10, 20, 30], [12, 19, 33])[0, 1]
    )
    assert (f["mean_truth"], f["mean_predicted"]) == (
        20.0,
        pytest.approx(64 / 3, abs=1e-6),
    )


def test_count_figures_without_spread_has_no_correlation():
    f = evaluate.count_figures([5], [7])
    assert f["mae"] == 2.0 and f["bias"] == 2.0 and math.isnan(f["pearson_r"])
    assert math.isnan(evaluate.count_figures([3, 3], [1, 2])["pearson_r"])


@pytest.mark.parametrize(
    ("truth", "predicted"), [([], []), ([1, 2], [1]), ([1], [1, 2])]
)
def test_count_figures_rejects_mismatched_input(truth, predicted):
    with pytest.raises(ValueError, match="equally many"):
        evaluate.count_figures(truth, predicted)


@pytest.mark.parametrize(
    ("rows_a", "rows_b", "expected"),
    [
        ((0, 2), (1, 3), 0.5),
        ((0, 4), (0, 4), 1.0),
        ((0, 1), (2, 3), 0.0),
        ((0, 0), (0, 0), 1.0),
    ],
)
def test_dice(rows_a, rows_b, expected):
    a = np.zeros((4, 4), bool)
    a[slice(*rows_a)] = True
    b = np.zeros((4, 4), bool)
    b[slice(*rows_b)] = True
    assert evaluate.dice(a, b) == expected
    assert evaluate.dice(b, a) == expected


def test_read_voc_shafts(voc_folder, tmp_path):
    shafts = [
        evaluate.read_voc_shafts(voc_folder / "Annotations" / f"img{i}.xml")
        for i in range(3)
    ]
    assert [evaluate.class_counts(s) for s in shafts] == [{"hair": 2}, {"hair": 3}, {"hair": 4}]
    assert [s.centre for s in shafts[1]] == [(160.0, 34.0 + 45 * k) for k in range(3)]
    # FDU / BSRL files name the class in <class> and may give a box's corners
    # in either order; an object naming no class is "hair"; one without a box
    # has no centre
    objects = (
        "<object><class>premium</class><bndbox><xmin>90</xmin><ymin>40</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>"
        + "<object><class>undersize</class><name>hair</name></object>"
        + "<object><name> </name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax></bndbox></object>"
    )
    path = tmp_path / "a.xml"
    path.write_text(VOC.format(name="a.jpg", objects=objects))
    assert evaluate.read_voc_shafts(path) == [
        evaluate.AnnotatedShaft("premium", (50.0, 30.0)),
        evaluate.AnnotatedShaft("undersize", None),
        evaluate.AnnotatedShaft("hair", None),
    ]


def test_on_mask_counts_per_class():
    mask = np.zeros((40, 60), bool)
    mask[10:14, 5:55] = True
    shafts = [
        evaluate.AnnotatedShaft("thick", (30.0, 12.0)),  # on it
        evaluate.AnnotatedShaft("thick", (30.0, 15.0)),  # 2 px below it: on it
        evaluate.AnnotatedShaft("thin", (30.0, 16.4)),  # 3 px below: not found
        evaluate.AnnotatedShaft("thin", (80.0, 12.0)),  # outside the photo: not looked at
        evaluate.AnnotatedShaft("thin", None),
    ]
    assert evaluate.on_mask_counts(shafts, mask) == ({"thick": 2}, {"thick": 2, "thin": 1})


#: The two least-squares attributions: the function, its figures' names per term and its constant's name.
ATTRIBUTIONS = {
    "counted per annotated shaft": (evaluate.counted_per_class, "per_{}_shaft", "per_photo_unexplained"),
    "annotated per counted shaft": (
        evaluate.annotated_per_counted, "annotated_per_counted_{}", "annotated_per_photo_uncounted",
    ),
}


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
@pytest.mark.parametrize(("a", "b", "constant"), [(1.0, 0.5, 1.0), (0.7, 0.25, 3.6), (1.1, 0.0, -0.5)])
def test_the_attributions_recover_known_coefficients(attribution, a, b, constant):
    fit, term, constant_name = ATTRIBUTIONS[attribution]
    rng = np.random.default_rng(0)
    terms = [{"a": int(x), "b": int(y)} for x, y in rng.integers(0, 20, size=(40, 2))]
    target = [a * t["a"] + b * t["b"] + constant for t in terms]
    assert fit(terms, target) == pytest.approx(
        {term.format("a"): a, term.format("b"): b, constant_name: constant}, abs=1e-6
    )


def test_counted_per_class_needs_enough_photos_told_apart():
    truth = [{"a": k % 5, "b": k % 3} for k in range(30)]
    predicted = [t["a"] + t["b"] for t in truth]
    assert evaluate.counted_per_class(truth, predicted)  # 10 photos per term
    assert evaluate.counted_per_class(truth[:29], predicted[:29]) == {}
    # b always twice a: the two cannot be told apart
    twins = [{"a": k % 5, "b": 2 * (k % 5)} for k in range(60)]
    assert evaluate.counted_per_class(twins, [3 * t["a"] for t in twins]) == {}
    with pytest.raises(ValueError, match="one set of terms per photo"):
        evaluate.counted_per_class(truth, predicted[:-1])


def test_evaluate_counts_on_a_tiny_folder(voc_folder):
    rows, summary = evaluate.evaluate_counts(voc_folder, header_px=0)
    assert [(r["image"], r["truth"]) for r in rows] == [
        ("img0.jpg", 2),
        ("img1.jpg", 3),
        ("img2.jpg", 4),
    ]
    assert [r["predicted"] for r in rows] == [2, 3, 4]
    assert [r["truth_hair"] for r in rows] == [2, 3, 4]
    assert [r["on_mask_hair"] for r in rows] == [2, 3, 4]
    # the bars end 30 px inside the photo: whole shafts
    assert [(r["counted_whole"], r["counted_cut"]) for r in rows] == [(2, 0), (3, 0), (4, 0)]
    assert summary.figures["on_mask_hair"] == 1.0
    # three photos are too few to attribute the count to classes or kinds
    assert not any(k.startswith(("per_", "annotated_per_")) for k in summary.figures)
    assert (
        summary.n == 3
        and summary.figures["mae"] == 0.0
        and summary.figures["pearson_r"] == pytest.approx(1.0)
    )
    assert summary.to_dict()["set"] == f"counts: {voc_folder.name}"


def test_evaluate_counts_header_is_left_out_of_the_roi(voc_folder):
    # A 60-row header hides the first bar (rows 30-37) of every image.
    rows, _ = evaluate.evaluate_counts(voc_folder, header_px=60)
    assert [r["predicted"] for r in rows] == [1, 2, 3]


def test_evaluate_counts_needs_annotations(tmp_path):
    with pytest.raises(ValueError, match="Images/ and Annotations/"):
        evaluate.evaluate_counts(tmp_path)


def test_counted_cut_counts_the_shafts_counted_in_the_photo_that_its_edge_cuts():
    from types import SimpleNamespace

    from tracker.synth import Shaft

    scene = SimpleNamespace(
        image=np.zeros((100, 200, 3), np.uint8),
        shafts=[
            Shaft(20.0, 50.0, 120.0, 50.0, width_px=6.0),  # whole
            Shaft(120.0, 20.0, 220.0, 20.0, width_px=6.0),  # cut, midpoint (170) inside
            Shaft(-20.0, 80.0, 60.0, 80.0, width_px=6.0),  # cut, midpoint (20) inside
            Shaft(150.0, 60.0, 260.0, 60.0, width_px=6.0),  # cut, midpoint (205) outside: not counted
        ],
    )
    assert evaluate.counted_cut(scene) == 2


def test_a_generated_photos_row_splits_the_count_into_cut_and_whole_shafts():
    row = evaluate._synthetic_one((1000, evaluate.SYNTHETIC_CASES[0]))
    assert 0 < row["count_cut_truth"] < row["count_truth"]
    assert 0 < row["count_cut_predicted"] < row["count_predicted"]


def test_evaluate_masks_on_a_tiny_folder(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set_target").mkdir()
    img = bars_image(3)
    target = (
        np.where((img[..., 0] < 128)[..., None], 0, 255)
        .astype(np.uint8)
        .repeat(3, axis=2)
    )
    (tmp_path / "set" / "01.jpg").write_bytes(encode(img, ".jpg"))
    (tmp_path / "set_target" / "01_t.jpg").write_bytes(encode(target, ".jpg"))
    rows, summary = evaluate.evaluate_masks(tmp_path)
    assert len(rows) == 1 and summary.n == 1
    assert rows[0]["dice"] > 0.8  # placement is tested in tests/imaging/test_segment.py
    assert rows[0]["precision"] > 0.8 and rows[0]["recall"] > 0.8
    assert summary.figures["precision_mean"] == pytest.approx(rows[0]["precision"], abs=1e-6)
    assert rows[0]["coverage_truth"] == pytest.approx(
        100 * 3 * 8 * 260 / (240 * 320), abs=0.5
    )
    assert summary.figures["coverage_abs_error_median_pp"] < 1.0
    # the image folder itself, its masks beside it, gives the same
    rows_one, _ = evaluate.evaluate_masks(tmp_path / "set")
    assert rows_one == rows


def test_evaluate_masks_without_pairs_says_which_layout(tmp_path, capsys):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "01.jpg").write_bytes(encode(bars_image(3), ".jpg"))  # no mask beside it
    with pytest.raises(ValueError, match="SET_target/NN_t.jpg"):
        evaluate.evaluate_masks(tmp_path)
    code = cli.main(["evaluate", "--skip-counts", "--skip-synthetic", "--masks", str(tmp_path)])
    assert code == 2
    assert "SET_target/NN_t.jpg" in capsys.readouterr().err


def test_evaluate_command_on_a_tiny_folder(voc_folder, tmp_path):
    run = tracker(
        "evaluate",
        "--counts",
        voc_folder,
        "--header-px",
        "0",
        "--skip-masks",
        "--skip-synthetic",
        "--workers",
        "1",
        "--json",
        "--rows-dir",
        tmp_path / "rows",
    )
    assert run.returncode == 0, run.stderr
    (summary,) = json_lines(run.stdout)
    assert (
        summary["set"] == f"counts: {voc_folder.name}"
        and summary["n"] == 3
        and summary["mae"] == 0.0
    )
    csv_lines = (tmp_path / "rows" / "counts.csv").read_text().splitlines()
    assert csv_lines[0] == "image,truth,predicted,counted_whole,counted_cut,truth_hair,on_mask_hair" and len(csv_lines) == 4


def test_evaluate_with_nothing_to_do(tmp_path, capsys):
    code = cli.main(["evaluate", "--skip-counts", "--skip-masks", "--skip-synthetic"])
    assert code == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_evaluate_missing_folder(tmp_path, capsys):
    code = cli.main(
        ["evaluate", "--counts", str(tmp_path / "absent"), "--skip-synthetic"]
    )
    assert code == 2
    assert "is not a folder" in capsys.readouterr().err


# --- where outputs go ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    from tracker.store import Store

    folder = tmp_path_factory.mktemp("store")
    with Store.open(folder) as store:
        store.add_patient("P-1")
    return folder


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["export", "--store", "{store}", "--out", "{out}"], "table.csv"),
        (["report", "--store", "{store}", "--patient", "P-1", "--out", "{out}"], "report.pdf"),
        (["backup", "--store", "{store}", "{out}"], "backup.tar.gz"),
        (["batch", "{photos}", "--out", "{out}"], "rows.csv"),
    ],
    ids=["export", "report", "backup", "batch"],
)
@pytest.mark.parametrize("blocked", ["a folder", "under a file"])
def test_an_output_that_cannot_be_written_says_why_and_leaves_nothing(
    command, target, blocked, small_store, photos, tmp_path
):
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / target).mkdir()
    out = tmp_path / target if blocked == "a folder" else tmp_path / "notes.txt" / target
    before = sorted(p.name for p in tmp_path.rglob("*"))
    run = tracker(*(a.format(store=small_store, out=out, photos=photos["bars"].parent) for a in command))
    assert run.returncode == 2, run.stdout
    why = "it is a folder: give a file name" if blocked == "a folder" else "notes.txt is a file, not a folder"
    assert f"cannot write {out}: {why}" in run.stderr
    assert "Traceback" not in run.stderr and ".tmp" not in run.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_samples_and_demo_refuse_unusable_folders_before_making_anything(tmp_path):
    blocked = tmp_path / "notes.txt"
    blocked.write_text("a file")
    run = tracker("samples", "--out", blocked)
    assert run.returncode == 2
    assert f"tracker samples: cannot write to {blocked}: it is a file, not a folder" in run.stderr
    store = tmp_path / "store"
    run = tracker("demo", "--samples", tmp_path / "nowhere", "--store", store)
    assert run.returncode == 2
    assert f"{tmp_path / 'nowhere' / 'manifest.json'} not found; run 'tracker samples --out" in run.stderr
    assert "Traceback" not in run.stderr and not store.exists()


def test_version_names_the_package_and_the_analysis_algorithm(capsys):
    from tracker import __version__
    from tracker.analysis import ALGORITHM_VERSION

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"tracker {__version__} (analysis algorithm {ALGORITHM_VERSION})\n"


def test_a_database_error_is_told_in_words_not_a_traceback(tmp_path, monkeypatch, capsys):
    import sqlite3

    import sqlalchemy.exc

    from tracker.store import cli as store_cli

    def full(args):
        raise sqlalchemy.exc.OperationalError("INSERT INTO measurement ...", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(store_cli, "_cmd_reanalyse", full)
    assert cli.main(["reanalyse", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracker reanalyse: the database refused (database or disk is full): free disk space")
    assert "Traceback" not in err and "INSERT" not in err


def test_the_thin_hair_bound_can_be_set(tmp_path, capsys):
    from tracker.analysis import THIN_HAIR_UM

    scalp = render_closeup(seed=3, shape=(200, 260), px_per_mm=100.0, density_per_cm2=250.0, thin_share=0.4)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), cv2.cvtColor(scalp.image, cv2.COLOR_RGB2BGR))
    shares = []
    for bound in ([], ["--thin-um", "30"], ["--thin-um", "120"]):
        assert cli.main(["analyze", "--json", "--px-per-mm", "100", *bound, str(path)]) == 0
        record = json.loads(capsys.readouterr().out)
        shares.append(record["thin_hair_pct"])
        assert record["parameters"]["thin_um"] == (float(bound[1]) if bound else THIN_HAIR_UM)
    assert shares[1] <= shares[0] <= shares[2] == 100.0
    with pytest.raises(SystemExit):
        cli.main(["analyze", "--help"])
    assert f"(default {THIN_HAIR_UM:g}," in " ".join(capsys.readouterr().out.split())

