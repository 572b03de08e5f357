"""The import-direction check `make lint` runs (operations/layering.py): clean on this
tree, and it catches each kind of wrong-way import planted in a copy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from operations.layering import REPO, main, violations

FOLDERS = ("ingest", "operations", "snowflake/procedures", "streamlit_app")


def test_this_tree_keeps_the_import_direction() -> None:
    assert [str(v) for v in violations(REPO)] == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path


@pytest.mark.parametrize(
    ("path", "source", "part", "forbidden"),
    [
        # The operator's tooling reaching for the local stack, even lazily.
        (
            "operations/status.py",
            "def status() -> None:\n    from sandbox.warehouse import connect\n",
            "operations",
            "sandbox",
        ),
        ("ingest/planted.py", "import operations.deploy\n", "ingest", "operations"),
        ("ingest/planted.py", "from sandbox import stackenv\n", "ingest", "sandbox"),
        (
            "snowflake/procedures/mempool_procs/planted.py",
            "from ingest.contract import TOPICS\n",
            "procedures",
            "ingest",
        ),
        (
            "streamlit_app/mempool_dashboard/planted.py",
            "import importlib\nimportlib.import_module('operations.cli')\n",
            "dashboard",
            "operations",
        ),
    ],
)
def test_a_wrong_way_import_fails_the_check(
    tree: Path,
    path: str,
    source: str,
    part: str,
    forbidden: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tree / path).write_text(source)
    found = violations(tree)
    assert [(str(v.path), v.part, v.forbidden) for v in found] == [(path, part, forbidden)]
    assert main([str(tree)]) == 1
    assert path in capsys.readouterr().err


def test_lint_runs_the_check() -> None:
    """`make lint` runs it (printed, not run: lint may rebuild the venv)."""
    plan = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert ".venv/bin/python -m operations.layering" in plan


def test_the_pipeline_does_not_import_the_demo_that_runs_it() -> None:
    """The demo composes the pipeline's components; the types both use live in
    sandbox/stack.py, so the pipeline needs nothing from the demo."""
    import ast

    from operations.layering import imported_names

    tree = ast.parse((REPO / "sandbox" / "pipeline.py").read_text())
    assert not [m for _, m in imported_names(tree) if m.startswith("sandbox.demo")]


def test_a_long_module_says_why_in_its_docstring() -> None:
    """A module above ~450 lines is read in pieces; its docstring says why it stays one."""
    import ast

    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    unexplained = []
    for name in tracked:
        text = (REPO / name).read_text()
        if text.count("\n") > 450:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Length: " not in doc:
                unexplained.append(name)
    assert unexplained == []
