"""The streamer's wheelhouse (operations/streamer_package.py), built offline: the third-party
wheels are stand-ins made here (pure wheels satisfying pyproject.toml's specifiers), so
no test needs PyPI. What is real: the project wheel, the hashed requirements file, pip's
own resolution of the wheelhouse for the instance's platform (--dry-run), pip's refusal
of a wheel whose bytes changed, and an install with the flags the instance uses."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from operations import streamer_package as sp

REPO = Path(__file__).resolve().parent.parent


def stand_in_version(spec: SpecifierSet) -> str:
    """A version the specifier admits: its lower bound, or 1.0."""
    for s in spec:
        if s.operator in (">=", "==", "~="):
            candidate = s.version
            break
    else:
        candidate = "1.0"
    assert spec.contains(candidate, prereleases=True), (spec, candidate)
    return candidate


def make_wheel(dest: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure wheel (one module, METADATA, WHEEL, RECORD)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}_stand_in.py": b"VALUE = 1\n",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(zipfile.ZipInfo(n, sp.FIXED_TIME), data)
    return path


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    """One stand-in wheel per dependency of pyproject.toml, plus a transitive one."""
    wheels = tmp_path / "index"
    wheels.mkdir()
    for dep in sp.read_project().dependencies:
        req = Requirement(dep)
        requires = ("transitive-dep>=2",) if req.name == "boto3" else ()
        make_wheel(wheels, req.name, stand_in_version(req.specifier), requires)
    make_wheel(wheels, "transitive-dep", "2.1")
    return wheels


def lock_from(wheels: Path, lock: Path) -> Path:
    lock.write_text(sp.LOCK_HEADER + "\n".join(sp.requirement_lines(wheels.glob("*.whl"))) + "\n")
    return lock


def copy_from(wheels: Path) -> sp.Fetch:
    """Stands in for `pip download -r lock`: copies the wheels the lock names."""

    def fetch(lock: Path, dest: Path) -> None:
        named = {line.split("==")[0] for line in lock.read_text().splitlines() if "==" in line}
        for wheel in wheels.glob("*.whl"):
            if sp.wheel_name_version(wheel)[0] in named:
                (dest / wheel.name).write_bytes(wheel.read_bytes())

    return fetch


def test_every_wheel_gets_its_version_and_sha256(tmp_path: Path) -> None:
    a = make_wheel(tmp_path, "Some_Package", "1.2.3")
    b = make_wheel(tmp_path, "other-pkg", "0.9")
    lines = sp.requirement_lines([b, a])
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)}
    assert lines == [
        f"other-pkg==0.9 --hash=sha256:{digest[b]}",
        f"some-package==1.2.3 --hash=sha256:{digest[a]}",
    ]
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(sp.WheelhouseError, match="two versions"):
        sp.requirement_lines([a, make_wheel(other, "some-package", "1.2.4")])


def test_the_target_is_al2023_graviton_python_311() -> None:
    args = sp.target_args()
    assert "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == "3.11"
    assert args[args.index("--abi") + 1] == "cp311"
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux2014_aarch64" in platforms and "manylinux_2_34_aarch64" in platforms
    assert not any("x86_64" in p or "2_35" in p for p in platforms)


def test_the_project_wheel_is_ingest_with_pyprojects_dependencies(tmp_path: Path) -> None:
    project = sp.read_project()
    wheel = sp.build_project_wheel(tmp_path / "a", project)
    assert wheel.name == f"mempool_platform-{project.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"mempool_platform-{project.version}.dist-info/METADATA").decode()
        record = zf.read(f"mempool_platform-{project.version}.dist-info/RECORD").decode()
    assert "ingest/stream_main.py" in names and "ingest/__init__.py" in names
    assert not any(n.startswith(("sandbox/", "tests/")) for n in names)
    for dep in project.dependencies:
        assert f"Requires-Dist: {dep}\n" in metadata
    assert "ingest/stream_main.py,sha256=" in record
    again = sp.build_project_wheel(tmp_path / "b", project)
    assert again.read_bytes() == wheel.read_bytes()  # same sources, same bytes


def test_the_wheelhouse_installs_offline_with_every_hash_required(
    tmp_path: Path, stand_ins: Path
) -> None:
    lock = lock_from(stand_ins, tmp_path / "lock.txt")
    archive = sp.build_wheelhouse(
        tmp_path / "out" / "wheelhouse.tar.gz", lock=lock, fetch=copy_from(stand_ins)
    )
    again = sp.build_wheelhouse(
        tmp_path / "out" / "again.tar.gz", lock=lock, fetch=copy_from(stand_ins)
    )
    assert archive.read_bytes() == again.read_bytes()  # Terraform's hash moves with content only

    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert {m.uid for m in members} == {0} and all(m.mtime == sp.FIXED_EPOCH for m in members)
        tar.extractall(tmp_path / "x", filter="data")
    house = tmp_path / "x" / sp.HOUSE_DIR
    wheels = sorted(house.glob("*.whl"))
    lines = [
        line
        for line in (house / sp.REQUIREMENTS).read_text().splitlines()
        if not line.startswith("#")
    ]
    assert len(lines) == len(wheels) == len(sp.read_project().dependencies) + 2
    for wheel in wheels:
        name, version = sp.wheel_name_version(wheel)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert f"{name}=={version} --hash=sha256:{digest}" in lines

    # The instance's own command (terraform/templates/streamer-user-data.sh.tftpl), into a
    # target directory here instead of the service user's venv.
    out = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--isolated", "install", "--no-cache-dir"),
            *("--no-index", "--find-links", str(house), "--require-hashes"),
            *("-r", str(house / sp.REQUIREMENTS), "--target", str(tmp_path / "site")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "site" / "ingest" / "stream_main.py").exists()
    assert (tmp_path / "site" / "transitive_dep_stand_in.py").exists()


def test_a_changed_wheel_is_refused(
    tmp_path: Path, stand_ins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashes are what pip checks: a wheel whose bytes change after its hash was
    written never installs (caught here by the instance-side resolution, before any
    archive is written)."""
    lock = lock_from(stand_ins, tmp_path / "lock.txt")
    real_verify = sp.verify

    def verify_after_tampering(house: Path) -> None:
        victim = next(house.glob("orjson-*.whl"))
        with zipfile.ZipFile(victim, "a") as zf:
            zf.writestr("orjson_extra.py", b"EVIL = 1\n")
        real_verify(house)

    monkeypatch.setattr(sp, "verify", verify_after_tampering)
    with pytest.raises(sp.WheelhouseError, match=r"(?i)hash"):
        sp.build_wheelhouse(tmp_path / "w.tar.gz", lock=lock, fetch=copy_from(stand_ins))
    assert not (tmp_path / "w.tar.gz").exists()


def test_a_dependency_missing_from_the_lock_fails_the_build(
    tmp_path: Path, stand_ins: Path
) -> None:
    """pyproject.toml gained a dependency (or lost a wheel) the lock does not pin: pip's
    resolution for the instance fails here, not at boot."""
    lock = tmp_path / "lock.txt"
    wheels = [w for w in stand_ins.glob("*.whl") if not w.name.startswith("transitive_dep")]
    lock.write_text("\n".join(sp.requirement_lines(wheels)) + "\n")
    with pytest.raises(sp.WheelhouseError, match="--update-lock"):
        sp.build_wheelhouse(tmp_path / "w.tar.gz", lock=lock, fetch=copy_from(stand_ins))
    assert not (tmp_path / "w.tar.gz").exists()


def test_the_lock_is_rewritten_from_what_pip_resolves(tmp_path: Path, stand_ins: Path) -> None:
    def resolve(project: sp.Project, dest: Path) -> None:
        assert project.dependencies == sp.read_project().dependencies
        copy_from(stand_ins)(lock_from(stand_ins, tmp_path / "all.txt"), dest)

    lock = sp.update_lock(tmp_path / "requirements.streamer.txt", resolve=resolve)
    text = lock.read_text()
    assert text.startswith(sp.LOCK_HEADER)
    assert text.splitlines()[len(sp.LOCK_HEADER.splitlines()) :] == sp.requirement_lines(
        stand_ins.glob("*.whl")
    )


def test_the_committed_lock_pins_every_dependency_with_an_aarch64_hash() -> None:
    lines = [line for line in sp.LOCK.read_text().splitlines() if line and not line.startswith("#")]
    pinned = {line.split("==")[0]: line for line in lines}
    assert all(" --hash=sha256:" in line for line in lines)
    for dep in sp.read_project().dependencies:
        req = Requirement(dep)
        name = sp.canonical_name(req.name)
        assert name in pinned, (
            f"{name} missing from {sp.LOCK.name}: make streamer-package ARGS=--update-lock"
        )
        version = pinned[name].split("==")[1].split()[0]
        assert req.specifier.contains(version), (dep, version)
    assert "mempool-platform" not in pinned
