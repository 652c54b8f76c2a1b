"""No text of the product judges a treatment (DESIGN.md, "Observed change only").

Every string constant in ``tracker/``, ``app.py`` and ``app_pages/`` -- messages, labels,
help text, f-string parts -- is scanned for the banned words as whole words,
case-insensitive. Module, class and function docstrings are left out: they
are developer documentation, not shown to users.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from tracker.wording import BANNED_WORDS

REPO = Path(__file__).resolve().parents[1]
BANNED = BANNED_WORDS
PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in BANNED) + r")\b",
    re.IGNORECASE,
)


def sources() -> list[Path]:
    # tracker/wording.py is the list of banned words itself.
    files = sorted(
        p
        for p in (REPO / "tracker").rglob("*.py")
        if "__pycache__" not in p.parts and p != REPO / "tracker" / "wording.py"
    )
    files += [p for p in (REPO / "app.py",) if p.exists()]
    files += sorted((REPO / "app_pages").rglob("*.py"))
    return files


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are module, class or function docstrings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.add(id(first.value))
    return out


def offending(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: 'text'`` for every non-docstring string constant with a banned word."""
    tree = ast.parse(source, filename=filename)
    skip = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        # f-string parts are Constant nodes inside JoinedStr, so walk reaches them
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
        ):
            for m in PATTERN.finditer(node.value):
                found.append(
                    f"{filename}:{node.lineno}: {m.group(0)!r} in {node.value!r}"
                )
    return found


def test_sources_are_found():
    names = {p.name for p in sources()}
    assert {"analysis.py", "cli.py", "segment.py", "measure.py"} <= names


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_banned_words_in_user_visible_text(path):
    problems = offending(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert not problems, (
        "banned wording (DESIGN.md 'Observed change only'):\n" + "\n".join(problems)
    )


# --- the scan itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'label = "Density improved since baseline"',
        "msg = 'The treatment WORKS'",
        'f"{name}: {value} - an improvement"',
        'x = f"Success: {n} hairs"',
        'st.caption("Results of   treatment")',
        'help_text = ("this is " "effective")',
        'def f():\n    """Doc."""\n    return "worse than baseline"',
        'class A:\n    x = "regrowth achieved"',
    ],
)
def test_scan_finds_banned_words(source):
    assert len(offending(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        '"""Module docstring: an improvement."""',
        'def f():\n    """This works."""\n    return 1',
        'class A:\n    """Success."""',
        'x = "Observed change: higher than baseline"',
        'x = "successive photos, worsening? no: framework, networks, ineffective"',
        "# a comment that works is not a string\nx = 1",
    ],
)
def test_scan_ignores_docstrings_and_other_words(source):
    assert offending(source) == []
