"""The import direction between the project's parts, checked by `make lint`:
`python -m operations.layering` exits 1 and names each import that points the wrong way.

The parts and what each may never import are docs' architecture table: production
(`ingest/`), the procedures (`snowflake/procedures`), the dashboard (`streamlit_app/`)
and the operator's tooling (`operations/`) never know the local sandbox; the
procedures and the dashboard run inside Snowflake and know nothing else of ours. Every
import counts, wherever it is written (inside a function, under TYPE_CHECKING) and
however (`importlib.import_module("...")` with a literal name too): a lazy import still
runs when its code path does.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The top-level import names of each part of ours (the procedures and the dashboard are
# imported by their package's name, from their own folder, as Snowflake runs them).
PARTS: dict[str, tuple[str, ...]] = {
    "ingest": ("ingest",),
    "operations": ("operations",),
    "sandbox": ("sandbox",),
    "procedures": ("mempool_procs",),
    "dashboard": ("mempool_dashboard", "streamlit_app"),
    "tests": ("tests",),
    "benchmarks": ("benchmarks",),
}
# Where each checked part's sources are, and the parts it must never import.
CHECKED: dict[str, tuple[str, tuple[str, ...]]] = {
    "ingest": (
        "ingest",
        ("sandbox", "operations", "procedures", "dashboard", "tests", "benchmarks"),
    ),
    "operations": ("operations", ("sandbox", "tests", "benchmarks")),
    "procedures": (
        "snowflake/procedures",
        ("ingest", "operations", "sandbox", "dashboard", "tests", "benchmarks"),
    ),
    "dashboard": (
        "streamlit_app",
        ("ingest", "operations", "sandbox", "procedures", "tests", "benchmarks"),
    ),
}
DYNAMIC_IMPORTS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    part: str
    imported: str
    forbidden: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.part} imports {self.imported} "
            f"({self.forbidden} is out of bounds for {self.part})"
        )


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the tree; relative imports stay
    inside their own package and are not reported."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in DYNAMIC_IMPORTS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def owner(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return next((part for part, names in PARTS.items() if top in names), None)


def violations(root: Path = REPO) -> list[Violation]:
    found = []
    for part, (folder, forbidden) in CHECKED.items():
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            tree = ast.parse(path.read_bytes(), filename=str(path))
            for line, module in imported_names(tree):
                target = owner(module)
                if target in forbidden:
                    found.append(Violation(path.relative_to(root), line, part, module, target))
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else REPO
    found = violations(root)
    for violation in found:
        print(violation, file=sys.stderr)
    if found:
        print(
            f"{len(found)} import(s) against the layering (operations/layering.py)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
