"""Build the streamer's package: `output/streamer/wheelhouse.tar.gz`, the object Terraform
uploads (`var.streamer_wheelhouse`) and the EC2 instance installs at boot.

The archive is a wheelhouse: one directory `wheelhouse/` holding the project's wheel, a
wheel of every dependency for the instance's platform (Amazon Linux 2023 on Graviton:
CPython 3.11, glibc 2.34, aarch64) and `requirements.txt`, which pins every one of those
wheels by version and sha256. The instance installs it with no index and no network:

    pip install --no-index --find-links wheelhouse --require-hashes -r wheelhouse/requirements.txt

so nothing is fetched at boot (no git, no PyPI) and pip refuses any wheel whose bytes
differ from what was built here.

The third-party wheels are pinned, with their hashes, in `requirements/streamer.txt`
(reviewed like code): a build downloads exactly those (`pip download --require-hashes`),
so two builds of one commit hold the same wheels. `--update-lock` re-resolves the
dependencies of pyproject.toml for the instance's platform and rewrites that file.

The project's wheel holds the `ingest` package (what the instance runs) and nothing else,
as the Lambda package does; it is written here rather than by a build backend so that the
same sources give the same bytes (fixed order and timestamps, like
`operations/lambda_package.py`) and Terraform replaces the instance only when something in
the wheelhouse changed. Before the archive is written, pip resolves the wheelhouse as the
instance will (`--dry-run` for the target platform): a missing or unpinned dependency
fails here, not at boot.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
PACKAGE_DIR = REPO / "ingest"
LOCK = REPO / "requirements" / "streamer.txt"
WHEELHOUSE = REPO / "output" / "streamer" / "wheelhouse.tar.gz"
# Inside the archive: the directory the instance passes to --find-links, and the file it
# passes to -r.
HOUSE_DIR = "wheelhouse"
REQUIREMENTS = "requirements.txt"
# The instance's platform (terraform/ec2.tf: Amazon Linux 2023, Graviton, python3.11).
PYTHON_VERSION = "3.11"
ABI = "cp311"
ARCH = "aarch64"
GLIBC_MINOR = 34  # Amazon Linux 2023 ships glibc 2.34
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
FIXED_EPOCH = 1577836800  # FIXED_TIME as a Unix time, for the tar entries

Fetch = Callable[[Path, Path], None]


class WheelhouseError(RuntimeError):
    """The wheelhouse cannot be built, or would not install on the instance."""


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    summary: str
    requires_python: str
    dependencies: tuple[str, ...]


def read_project(pyproject: Path = PYPROJECT) -> Project:
    meta = tomllib.loads(pyproject.read_text())["project"]
    return Project(
        name=meta["name"],
        version=meta["version"],
        summary=meta.get("description", ""),
        requires_python=meta.get("requires-python", ""),
        dependencies=tuple(meta.get("dependencies", [])),
    )


def canonical_name(name: str) -> str:
    """PEP 503: what pip compares names by."""
    return re.sub(r"[-_.]+", "-", name).lower()


def target_args() -> list[str]:
    """pip options selecting wheels for the instance: CPython 3.11 on manylinux aarch64
    up to glibc 2.34 (pip does not widen a manylinux_2_34 tag to older ones by itself)."""
    platforms = [f"manylinux_2_{minor}_{ARCH}" for minor in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{ARCH}")
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION]
    args += ["--implementation", "cp", "--abi", ABI]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_project_wheel(dest_dir: Path, project: Project, package_dir: Path = PACKAGE_DIR) -> Path:
    """A py3-none-any wheel of `package_dir` with the project's metadata; the same sources
    give the same bytes."""
    dist = re.sub(r"[-_.]+", "_", project.name).lower()
    dist_info = f"{dist}-{project.version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for path in sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts):
        files.append((path.relative_to(package_dir.parent).as_posix(), path.read_bytes()))
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project.name}",
        f"Version: {project.version}",
    ]
    if project.summary:
        metadata.append(f"Summary: {project.summary}")
    if project.requires_python:
        metadata.append(f"Requires-Python: {project.requires_python}")
    metadata += [f"Requires-Dist: {dep}" for dep in project.dependencies]
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: operations.streamer_package",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]
    files.append((f"{dist_info}/METADATA", ("\n".join(metadata) + "\n").encode()))
    files.append((f"{dist_info}/WHEEL", ("\n".join(wheel) + "\n").encode()))
    top_level = sorted({name.split("/", 1)[0] for name, _ in files if "/" in name} - {dist_info})
    files.append((f"{dist_info}/top_level.txt", ("\n".join(top_level) + "\n").encode()))
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files]
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{dist}-{project.version}-py3-none-any.whl"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return dest


def wheel_name_version(path: Path) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name (PEP 427)."""
    parts = path.name.removesuffix(".whl").split("-")
    if not path.name.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelhouseError(f"not a wheel file name: {path.name}")
    return canonical_name(parts[0]), parts[1]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def requirement_lines(wheels: Iterable[Path]) -> list[str]:
    """One `name==version --hash=sha256:...` line per distribution, sorted by name: what
    `pip install --require-hashes` needs for every wheel it installs. Several wheels of one
    version (other platforms) give several hashes; two versions of one name are an error."""
    hashes: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    for wheel in wheels:
        name, version = wheel_name_version(wheel)
        if versions.setdefault(name, version) != version:
            raise WheelhouseError(f"{name}: two versions ({versions[name]} and {version})")
        hashes.setdefault(name, set()).add(sha256_file(wheel))
    return [
        f"{name}=={versions[name]} " + " ".join(f"--hash=sha256:{h}" for h in sorted(hashes[name]))
        for name in sorted(versions)
    ]


def _pip(args: Sequence[str], *, isolated: bool = False) -> None:
    """Run this interpreter's pip; raise with its output when it fails."""
    cmd = [sys.executable, "-m", "pip", *(["--isolated"] if isolated else []), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise WheelhouseError(f"{' '.join(cmd)}\n{out.stdout[-3000:]}{out.stderr[-3000:]}")


def download_locked(lock: Path, dest: Path) -> None:
    """The wheels `lock` pins, for the instance's platform, each checked against its hash."""
    if not lock.exists():
        raise WheelhouseError(f"{lock} is missing: run `make streamer-package ARGS=--update-lock`")
    args = ["download", "--no-deps", "--require-hashes", "-r", str(lock), "-d", str(dest)]
    _pip([*args, *target_args()])


def resolve_dependencies(project: Project, dest: Path) -> None:
    """Every wheel the project's dependencies need on the instance (newest that fit)."""
    _pip(["download", "-d", str(dest), *target_args(), *project.dependencies])


def verify(house: Path) -> None:
    """Resolve the wheelhouse exactly as the instance installs it (no index, every wheel
    hashed), for the instance's platform, without installing anything. `--isolated`: no
    configured index or find-links of this machine may stand in for a missing wheel."""
    args = ["install", "--dry-run", "--ignore-installed", "--no-index"]
    args += ["--find-links", str(house), "--require-hashes", "-r", str(house / REQUIREMENTS)]
    try:
        _pip(args + target_args(), isolated=True)
    except WheelhouseError as exc:
        raise WheelhouseError(
            f"the wheelhouse would not install on the instance (a dependency of "
            f"pyproject.toml missing from {LOCK.name}? run `make streamer-package "
            f"ARGS=--update-lock`):\n{exc}"
        ) from exc


def _tar_entry(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type, info.mtime = size, mode, kind, FIXED_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_archive(house: Path, dest: Path) -> Path:
    """`house` as `wheelhouse/` in a tar.gz with fixed order, owners and times."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_tar_entry(HOUSE_DIR, 0, 0o755, tarfile.DIRTYPE))
        for path in sorted(house.iterdir()):
            data = path.read_bytes()
            tar.addfile(_tar_entry(f"{HOUSE_DIR}/{path.name}", len(data), 0o644), io.BytesIO(data))
    with dest.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return dest


def build_wheelhouse(
    dest: Path = WHEELHOUSE,
    *,
    lock: Path = LOCK,
    fetch: Fetch = download_locked,
    project: Project | None = None,
    package_dir: Path = PACKAGE_DIR,
) -> Path:
    """The project's wheel, the locked dependency wheels and their hashed requirements,
    checked to install on the instance, archived at `dest`."""
    project = project or read_project()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        house = Path(tmp) / HOUSE_DIR
        house.mkdir()
        fetch(lock, house)
        own = canonical_name(project.name)
        if any(wheel_name_version(w)[0] == own for w in house.glob("*.whl")):
            raise WheelhouseError(f"{lock} pins {project.name} itself; it is built here")
        build_project_wheel(house, project, package_dir)
        wheels = sorted(house.glob("*.whl"))
        (house / REQUIREMENTS).write_text(
            "# Every wheel of this wheelhouse, pinned by version and sha256\n"
            "# (operations/streamer_package.py; pip install --require-hashes).\n"
            + "\n".join(requirement_lines(wheels))
            + "\n"
        )
        verify(house)
        return write_archive(house, dest)


LOCK_HEADER = """\
# The streamer's third-party wheels for its instance (Amazon Linux 2023 on Graviton:
# CPython 3.11, manylinux aarch64, glibc 2.34), pinned by version and sha256: the
# dependencies of pyproject.toml, resolved by
#   make streamer-package ARGS=--update-lock    (or `make lock`, with every other lock)
# `make streamer-package` downloads exactly these (pip download --require-hashes) into
# the wheelhouse Terraform uploads. Review changes to this file like code.
"""


def update_lock(
    lock: Path = LOCK,
    *,
    resolve: Callable[[Project, Path], None] = resolve_dependencies,
    project: Project | None = None,
) -> Path:
    project = project or read_project()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-lock-") as tmp:
        resolve(project, Path(tmp))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels and project.dependencies:
            raise WheelhouseError("pip resolved no wheel for the project's dependencies")
        lock.write_text(LOCK_HEADER + "\n".join(requirement_lines(wheels)) + "\n")
    return lock


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m operations.streamer_package", description=__doc__
    )
    parser.add_argument("--output", type=Path, default=WHEELHOUSE, help="archive to write")
    parser.add_argument(
        "--update-lock",
        action="store_true",
        help=f"re-resolve the dependencies for the instance and rewrite {LOCK.name} first",
    )
    args = parser.parse_args(argv)
    try:
        if args.update_lock:
            print(update_lock())
        print(build_wheelhouse(args.output))
    except WheelhouseError as exc:
        print(f"streamer package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
