"""``tracker report``: the PDF from the command line, on a real store."""

from __future__ import annotations

from _reportdata import NAME, read_back

from tracker.cli import main
from tracker.wording import OBSERVED_ONLY


def test_cli_writes_a_pseudonymous_report(world, tmp_path, capsys):
    out = tmp_path / "reports" / "p1.pdf"
    code = main(["report", "--store", str(world.store.location), "--patient", "P-1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert f"wrote the report of P-1 to {out}" in capsys.readouterr().out
    back = read_back(out.read_bytes(), tmp_path / "pages")
    assert back.pages >= 3 and OBSERVED_ONLY in back.flat_text
    assert NAME not in back.flat_text and "by cli:" in back.flat_text


def test_cli_name_on_request(world, tmp_path):
    out = tmp_path / "named.pdf"
    assert main(["report", "--store", str(world.store.location), "--patient", "P-1", "--out", str(out), "--name"]) == 0
    assert NAME in read_back(out.read_bytes(), tmp_path / "pages").flat_text


def test_cli_unknown_patient_or_store(world, tmp_path, capsys):
    out = tmp_path / "x.pdf"
    assert main(["report", "--store", str(world.store.location), "--patient", "NOPE", "--out", str(out)]) == 2
    assert "NOPE" in capsys.readouterr().err and not out.exists()
    assert main(["report", "--store", str(tmp_path / "none"), "--patient", "P-1", "--out", str(out)]) == 2
    assert "no store at" in capsys.readouterr().err
