"""The deploy's artifacts, built by the pinned Snowflake CLI exactly as the deploy builds
them, and the only place the local stack runs them from, so a packaging mistake fails
locally first:

- the procedure archive (`snow snowpark build`), which the local runtime and the tests
  import the procedure handlers from;
- the dashboard's bundle (the files `snow streamlit deploy` uploads), which the local
  dashboard and its tests run.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROCEDURES_DIR = REPO / "snowflake" / "procedures"
PACKAGE = "mempool_procs"
# Where `snow snowpark build` writes the archive of the `snowflake/procedures` artifact.
PROCEDURES_ARCHIVE = REPO / "snowflake" / "procedures.zip"
BUILD_COMMAND = ("snowpark", "build", "--ignore-anaconda")


class ArtifactError(RuntimeError):
    """The archive cannot be built or does not hold what the deploy needs."""


def snow_binary() -> str:
    for candidate in (os.environ.get("SNOW_BIN"), str(REPO / ".venv-snow" / "bin" / "snow")):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("snow")
    if found is None:
        raise ArtifactError("the Snowflake CLI is not installed: run `make snow`")
    return found


def source_files(procedures_dir: Path = PROCEDURES_DIR) -> dict[str, bytes]:
    """What the archive must hold: every source file of the package, by archive path."""
    return {
        path.relative_to(procedures_dir).as_posix(): path.read_bytes()
        for path in sorted((procedures_dir / PACKAGE).rglob("*.py"))
    }


def archive_files(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zf:
        return {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}


def is_current(archive: Path = PROCEDURES_ARCHIVE) -> bool:
    return archive.exists() and archive_files(archive) == source_files()


def build_procedures(project: Path = REPO) -> Path:
    """Run `snow snowpark build` (no connection needed) in `project` (the repository, a
    copy of its snow project, or another release's tree) and check what it made: that
    project's own procedure sources."""
    result = subprocess.run(
        [snow_binary(), *BUILD_COMMAND],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ArtifactError(f"snow snowpark build failed:\n{result.stdout}\n{result.stderr}")
    archive = project / PROCEDURES_ARCHIVE.relative_to(REPO)
    if not archive.exists():
        raise ArtifactError(f"snow snowpark build made no {archive.name}")
    if archive_files(archive) != source_files(project / PROCEDURES_DIR.relative_to(REPO)):
        raise ArtifactError(f"{archive.name} does not hold {PACKAGE}/ as the handlers import it")
    return archive


def copy_snow_project(dest: Path) -> Path:
    """What `snow snowpark build` reads, copied: a build there never rewrites the archive
    a running process imports from."""
    for name in (
        "snowflake.yml",
        "requirements.txt",
        "requirements.snowflake.txt",
        "pyproject.toml",
    ):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(
        PROCEDURES_DIR,
        dest / PROCEDURES_DIR.relative_to(REPO),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(
        REPO / "streamlit_app",
        dest / "streamlit_app",
        # The app's .streamlit/config.toml is deployed; a secrets file never is.
        ignore=shutil.ignore_patterns("__pycache__", "secrets.toml"),
        dirs_exist_ok=True,
    )
    return dest


def build_dashboard(dest: Path, env: dict[str, str] | None = None) -> Path:
    """The dashboard as `snow streamlit deploy` would upload it: snowflake.yml's artifacts
    for the app, bundled by the Snowflake CLI's own bundler (offline) and copied to
    `dest` with every link resolved. Returns the path of the app's main file there."""
    values = {"MEMPOOL_DATABASE": "MEMPOOL", "MEMPOOL_WAREHOUSE": "LOCAL_WH", **(env or {})}
    project = dest.parent / f".{dest.name}-project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    copy_snow_project(project)
    bundle = project / "output" / "bundle" / "streamlit" / "dashboard"
    snow_python = Path(snow_binary()).parent / "python"
    result = subprocess.run(
        [
            str(snow_python),
            str(Path(__file__).with_name("snow_bundle.py")),
            str(project),
            "dashboard",
            str(bundle),
            *(f"{k}={v}" for k, v in values.items()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise ArtifactError(f"bundling the dashboard failed:\n{result.stdout}\n{result.stderr}")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(bundle, dest, symlinks=False)
    shutil.rmtree(project)
    main_file = dest / "streamlit_app.py"
    if not main_file.exists():
        raise ArtifactError(f"the dashboard bundle has no {main_file.name}")
    return main_file


def procedures_archive() -> Path:
    """The archive, rebuilt when the sources changed since the last build."""
    return PROCEDURES_ARCHIVE if is_current() else build_procedures()


def use_procedures_archive() -> Path:
    """Put the archive on sys.path, as Snowflake puts a procedure's IMPORTS, so that
    `mempool_procs` is imported from it and from nowhere else."""
    entry = str(PROCEDURES_ARCHIVE)
    if entry in sys.path:
        return PROCEDURES_ARCHIVE  # checked (and built if needed) once per process
    archive = procedures_archive()
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(entry):
        raise ArtifactError(f"{PACKAGE} was already imported from {loaded.__file__}")
    return archive
