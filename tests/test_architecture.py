"""The layering of DESIGN.md, checked on the source with :mod:`ast`.

- ``tracker/imaging`` holds pure functions on arrays: it imports no user
  interface, database or file-handling module, opens no file and reads no
  environment, and depends on no other part of ``tracker``.
- Nothing in ``tracker/`` imports the Streamlit app (``app.py``): the UI calls
  the library, never the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tracker"
IMAGING = PACKAGE / "imaging"

#: Top-level modules tracker/imaging must not import: user interface, database,
#: files, processes, network, photo decoding.
FORBIDDEN_IN_IMAGING = {
    "streamlit",
    "sqlalchemy",
    "alembic",
    "sqlite3",
    "os",
    "pathlib",
    "io",
    "shutil",
    "tempfile",
    "glob",
    "subprocess",
    "socket",
    "urllib",
    "requests",
    "PIL",
    "pillow_heif",
    "tifffile",
    "imageio",
}
#: Calls that read or write files or the environment, or import by name
#: (which would hide an import from the check above), whatever the receiver.
FORBIDDEN_METHODS = {
    "open",
    "imread",
    "imwrite",
    "VideoCapture",
    "VideoWriter",
    "import_module",
    "getenv",
    "fromfile",
    "tofile",
}
#: NumPy's and pickle's file functions (``np.load``, ``np.save``, ...).
FILE_FUNCTIONS = {
    "load",
    "save",
    "savez",
    "savez_compressed",
    "loadtxt",
    "savetxt",
    "genfromtxt",
    "dump",
}
FILE_RECEIVERS = {"np", "numpy", "pickle"}


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module named by an import statement, with its line."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve to the tracker package
                out.append((node.lineno, "tracker.imaging." + (node.module or "")))
            else:
                out += [(node.lineno, node.module)] + [
                    (node.lineno, f"{node.module}.{a.name}") for a in node.names
                ]
    return out


def forbidden_imports(tree: ast.AST) -> list[str]:
    found = []
    for line, name in imported_names(tree):
        top = name.split(".")[0]
        if top in FORBIDDEN_IN_IMAGING:
            found.append(f"line {line}: imports {name}")
        elif (
            top == "tracker"
            and name != "tracker"
            and not name.startswith("tracker.imaging")
        ):
            found.append(
                f"line {line}: imports {name} (imaging depends on no other part of tracker)"
            )
    return found


def forbidden_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"line {node.lineno}: reads os.environ")
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in {"open", "__import__", "exec", "eval"}:
            found.append(f"line {node.lineno}: calls {f.id}()")
        elif isinstance(f, ast.Attribute) and (
            f.attr in FORBIDDEN_METHODS
            or (
                f.attr in FILE_FUNCTIONS
                and isinstance(f.value, ast.Name)
                and f.value.id in FILE_RECEIVERS
            )
        ):
            found.append(f"line {node.lineno}: calls {ast.unparse(f)}()")
    return found


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


IMAGING_MODULES = modules(IMAGING)


def test_imaging_package_is_found():
    names = {p.name for p in IMAGING_MODULES}
    assert {"segment.py", "measure.py", "overlay.py", "quality.py"} <= names


@pytest.mark.parametrize("path", IMAGING_MODULES, ids=lambda p: p.name)
def test_imaging_imports_no_ui_database_or_files(path):
    problems = forbidden_imports(parse(path))
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", IMAGING_MODULES, ids=lambda p: p.name)
def test_imaging_opens_no_files(path):
    problems = forbidden_calls(parse(path))
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "path", modules(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_library_does_not_import_the_app(path):
    problems = []
    for line, name in imported_names(parse(path)):
        top = name.split(".")[0]
        if top in {"app", "pages", "app_pages", "streamlit"}:
            problems.append(f"line {line}: imports {name} (the UI imports the library, never the reverse)")
    tree = parse(path)
    for node in ast.walk(tree):
        # run_path / import by name of the app file
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in {"app", "app.py"}
        ):
            problems.append(f"line {node.lineno}: names {node.value!r}")
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


# --- the checks themselves catch what they are meant to --------------------------------

BAD_SOURCES = {
    "import os": "imports os",
    "from pathlib import Path": "imports pathlib",
    "import PIL.Image": "imports PIL.Image",
    "from PIL import Image": "imports PIL",
    "import streamlit as st": "imports streamlit",
    "from sqlalchemy import select": "imports sqlalchemy",
    "from tracker.store import Store": "imports tracker.store",
    "from tracker import store": "imports tracker.store",
    "import io": "imports io",
    "from alembic import op": "imports alembic",
}
BAD_CALLS = {
    "data = open('x').read()": "calls open()",
    "os = __import__('os')": "calls __import__()",
    "img = cv2.imread('x.png')": "calls cv2.imread()",
    "np.save('x.npy', a)": "calls np.save()",
    "v = os.environ.get('X')": "reads os.environ",
    "m = importlib.import_module('os')": "calls importlib.import_module()",
}


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_import_check_catches(source):
    problems = forbidden_imports(ast.parse(source))
    assert any(BAD_SOURCES[source] in p for p in problems), problems


@pytest.mark.parametrize("source", BAD_CALLS)
def test_call_check_catches(source):
    problems = forbidden_calls(ast.parse(source))
    assert any(BAD_CALLS[source] in p for p in problems), problems


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np",
        "from skimage.measure import label",
        "import cv2\ncv2.resize(a, None)",
        "from tracker.imaging.measure import HairGroup",
        "from .measure import HairGroup",
        "from tracker import imaging",
        "d = {}\nd.get('open')",
        "w = np.loadtxt",
    ],
)
def test_checks_pass_clean_code(source):
    tree = ast.parse(source)
    assert forbidden_imports(tree) == [] and forbidden_calls(tree) == []
