from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from operations.cli import build_parser, main


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    names = _subcommands()
    assert {"demo", "sql"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert f"mempool {name}" in out and "--" in out


def test_the_sandbox_registers_its_commands_into_the_operators_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed project's entry point adds demo, verify and sim; without it (the
    Snowflake CLI's venv, an operator's install) the operator's commands stand alone and
    `mempool sql` and `mempool status` ask for a connection instead of a local stack."""
    import operations.cli as cli

    local = {"demo", "verify", "sim"}
    operator = {"sql", "status", "stream", "poll", "backfill", "deploy", "budget"}
    assert set(_subcommands()) == local | operator
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert set(_subcommands()) == operator
    assert main(["sql", "SELECT 1"]) == 2
    assert "no --connection given" in capsys.readouterr().err
    assert main(["status"]) == 2
    assert "no --connection given" in capsys.readouterr().err


def test_top_level_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in _subcommands():
        assert name in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill", "blocks", "--from", "10", "--to", "5"], "--from 10 is above --to 5"),
        (["poll"], "MEMPOOL_BUCKET is not set"),
        (["deploy", "--database", "bad name", "--dry-run"], "not a plain Snowflake identifier"),
        (["deploy", "--only", "tasks,nope", "--dry-run"], "unknown step(s): nope"),
    ],
)
def test_mistakes_get_one_line_and_a_non_zero_exit(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no local stack to fall back on
    for name in ("MEMPOOL_BUCKET", "MEMPOOL_ENV_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMPOOL_ENV_FILE", str(tmp_path / "none.env"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mempool {argv[0]}: ") and message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv", [["demo", "--speed", "-1"], ["demo", "--duration", "0"], ["poll", "--budget", "-2"]]
)
def test_impossible_values_are_refused_by_the_parser(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "must be greater than 0" in capsys.readouterr().err


def test_the_dashboard_gets_8501_or_the_next_free_port() -> None:
    import socket

    from sandbox.services import preferred_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        taken.listen()
        port = preferred_port(busy)
        assert port != busy and busy < port <= busy + 20
    assert preferred_port(port) == port  # free: used as it is


def test_the_demo_prints_what_runs_where_the_logs_are_and_how_to_stop(tmp_path: Path) -> None:
    from sandbox.aws_local import Landing
    from sandbox.demo import status_view
    from sandbox.paths import Workspace
    from sandbox.stack import DemoOptions, Stack
    from sandbox.warehouse import LocalWarehouse

    stack = Stack(ws=Workspace(tmp_path), opts=DemoOptions(seed=7, speed=10.0))
    stack.landing = Landing(bucket="b1")
    stack.aws_endpoint = "http://127.0.0.1:5001"
    stack.api_base = "http://127.0.0.1:5002/api"
    stack.warehouse = LocalWarehouse("127.0.0.1", 5003)
    stack.extra["dashboard"] = "http://localhost:8501"
    view = status_view(stack, None)
    lines = [line.split(None, 1) for line in view.splitlines() if line.startswith("    ")]
    rows = {label: value for label, value in (line for line in lines if len(line) == 2)}
    assert rows["Dashboard"].startswith("http://localhost:8501")
    assert "seed 7, 10x" in view and "http://127.0.0.1:5002 " in view
    assert rows["Logs"] == str(tmp_path / "logs")
    assert rows["Stop"] == "Ctrl-C"
    assert "after 90 s" in status_view(stack, 90)


def readme_demo_commands() -> list[list[str]]:
    """The README quick start's `make demo` and then its ARGS example, as mempool argv."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") : readme.index("## Architecture")]
    assert "make demo " in quick_start
    (example,) = re.findall(r'make demo ARGS="([^"]+)"', quick_start)
    return [["demo"], ["demo", *shlex.split(example)]]


def test_the_readmes_example_after_its_quick_start_is_refused_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The quick start's demo (seed 1) leaves its chain in .mempool/; the example that
    follows (--seed 7) used to add a second chain to the same warehouse, after which
    verify reported 1,550 blocks 'the simulator never made'. It is refused before
    anything starts, saying how to go on."""
    import json

    from sandbox.demo import MIXED_SEEDS_FILE
    from sandbox.paths import Workspace

    quick_start, example = readme_demo_commands()
    monkeypatch.setenv("MEMPOOL_HOME", str(tmp_path / ".mempool"))
    ws = Workspace.default().ensure()
    first = build_parser().parse_args(quick_start)
    # What the quick start's demo leaves behind (its simulator's clock file).
    (ws.root / "simulator-clock.json").write_text(
        json.dumps({"seed": first.seed, "speed": first.speed})
    )
    before = sorted(ws.root.rglob("*"))
    assert main(example) == 2
    refusal = caplog.text
    assert f"seed {first.seed}" in refusal and "--fresh" in refusal
    assert "MEMPOOL_HOME" in refusal and "--mix-chains" in refusal
    assert sorted(ws.root.rglob("*")) == before  # nothing started, nothing written
    assert not (ws.root / MIXED_SEEDS_FILE).exists()


def test_a_seed_change_is_checked_only_where_it_would_mix(tmp_path: Path) -> None:
    import json

    from sandbox.demo import previous_chain
    from sandbox.paths import Workspace
    from sandbox.stack import DemoOptions

    ws = Workspace(tmp_path)
    assert previous_chain(ws, DemoOptions(seed=2)) is None  # nothing there yet
    (tmp_path / "simulator-clock.json").write_text(json.dumps({"seed": 1, "speed": 10.0}))
    assert previous_chain(ws, DemoOptions(seed=1, speed=10.0)) is None
    assert previous_chain(ws, DemoOptions(seed=2, speed=10.0)) == {"seed": 1, "speed": 10.0}
    assert previous_chain(ws, DemoOptions(seed=1, speed=5.0)) is not None
    assert previous_chain(ws, DemoOptions(seed=2, fresh=True)) is None
    assert previous_chain(ws, DemoOptions(seed=2, source="live")) is None


def test_the_banners_query_command_runs_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mempool` is seldom on PATH: the banner names the console script by a path that
    works from here, and the workspace when it is not the default."""
    import sys

    from sandbox.demo import query_command
    from sandbox.paths import Workspace

    monkeypatch.chdir(tmp_path)
    script = Path(sys.executable).parent / "mempool"
    assert script.exists()
    default = query_command(Workspace(tmp_path / ".mempool"))
    assert shlex.split(default)[0] == str(script)
    other = query_command(Workspace(tmp_path / "elsewhere"))
    assert shlex.split(other)[0] == f"MEMPOOL_HOME={tmp_path / 'elsewhere'}"
    assert shlex.split(other)[1:3] == [str(script), "sql"]


def test_the_freshness_budget_follows_the_configured_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hcl2

    from operations.budget import Assumptions, silver_stages

    variables = hcl2.loads((Path(__file__).parent.parent / "terraform/variables.tf").read_text())
    buffer = next(
        v for b in variables["variable"] for k, v in b.items() if "firehose_buffer_seconds" in k
    )
    stages = {s.name: s for s in silver_stages(Assumptions(pipe_latency_s=20), 60)}
    assert stages["Firehose buffer"].worst_s == buffer["default"]
    assert stages["S3 event -> Snowpipe load"].worst_s == 20
    assert stages["REFRESH_SILVER run"].worst_s == 60  # TARGET_COMPLETION_INTERVAL = '1 MINUTE'
    # The trigger waits the deploy's minimum trigger interval (or the assumed latency).
    assert stages["task trigger"].worst_s == 60
    assert silver_stages(Assumptions(), 10)[3].worst_s == Assumptions().trigger_latency_s
    assert main(["budget", "--gold-refresh-minutes", "7", "--pipe-latency", "20"]) == 0
    out = capsys.readouterr().out
    worst = sum(s.worst_s for s in stages.values())
    assert "= event to SILVER" in out and f"{worst / 60:.1f} min" in out
    check = next(line for line in out.splitlines() if "REFRESH_GOLD check" in line)
    assert check.split()[2:4] == ["7.0", "min"]
    assert "= History marts caught up" in out
    assert "= event to Live tile" in out and "= event to History (GOLD)" in out
    # Live does not wait for gold: its path is SILVER's plus the app's own waits.
    live = out.split("Live tab", 1)[1].split("History's mempool", 1)[0]
    assert "REFRESH_GOLD" not in live.replace("no REFRESH_GOLD wait", "")


def test_the_live_budget_follows_the_apps_cache_and_refresh(tmp_path: Path) -> None:
    from operations.budget import APP_DIR, Assumptions, live_stages

    for name in ("data.py", "live.py"):
        (tmp_path / name).write_text((APP_DIR / name).read_text())
    shipped = {s.name: s.worst_s for s in live_stages(Assumptions())}
    assert (shipped["app query cache"], shipped["Live page refresh"]) == (3, 5)
    # Streamlit ages a cached answer from when its query returned, and the next refresh
    # comes one refresh after the last began: a TTL as long as the refresh would serve
    # every other refresh from the cache.
    assert shipped["app query cache"] < shipped["Live page refresh"]
    (tmp_path / "live.py").write_text(
        (APP_DIR / "live.py").read_text().replace('LIVE_REFRESH = "5s"', 'LIVE_REFRESH = "10s"')
    )
    stages = {s.name: s for s in live_stages(Assumptions(), tmp_path)}
    assert (stages["Live page refresh"].worst_s, stages["Live page refresh"].typical_s) == (10, 5)


def test_mempool_sql_during_a_demos_start_says_to_wait(tmp_path: Path) -> None:
    """The demo writes stack.json as its services come up; until the warehouse is among
    them, `mempool sql` must not serve the files on disk itself (the demo opens them)."""
    import json
    import os

    from sandbox.paths import Workspace
    from sandbox.warehouse import StackNotRunning, local_from_workspace

    ws = Workspace(tmp_path).ensure()
    ws.runtime_file.write_text(json.dumps({"pid": os.getpid(), "aws_endpoint": "http://x"}))
    with pytest.raises(StackNotRunning, match="starting"):
        local_from_workspace(ws)
    ws.runtime_file.write_text(
        json.dumps({"pid": os.getpid(), "fakesnow": {"host": "127.0.0.1", "port": 1}})
    )
    local = local_from_workspace(ws)
    assert local is not None and local.port == 1


def deploy_workflow_variables() -> set[str]:
    """The MEMPOOL_* variables the Snowflake deploy workflow passes `mempool deploy`."""
    import yaml

    workflow = yaml.safe_load(
        (
            Path(__file__).resolve().parent.parent / ".github/workflows/deploy-snowflake.yml"
        ).read_text()
    )
    return {
        name
        for step in workflow["jobs"]["deploy"]["steps"]
        for name in (step.get("env") or {})
        if name.startswith("MEMPOOL_")
    }


def test_every_deploy_flag_says_what_it_is_and_where_its_default_comes_from() -> None:
    """docs/deploy.md sends people to `deploy --help` for the flags and the MEMPOOL_*
    variables the workflow sets: each is described there."""

    parser = build_parser()
    sub: Any = next(a for a in parser._actions if a.dest == "command")
    deploy = sub.choices["deploy"]
    undescribed = [a.option_strings for a in deploy._actions if not a.help]
    assert undescribed == []
    text = deploy.format_help()
    variables = deploy_workflow_variables()
    assert variables and [v for v in sorted(variables) if v not in text] == []
    for output in re.findall(
        r'^output "(\w+)"',
        (Path(__file__).resolve().parent.parent / "terraform/outputs.tf").read_text(),
        re.M,
    ):
        if output in ("bucket", "storage_role_arn", "error_topic_arn", "error_role_arn"):
            assert f"terraform output {output}" in " ".join(text.split())


def test_a_deploy_variable_the_workflow_passes_empty_takes_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub Actions passes `${{ vars.X }}` as "" when nobody defined the repository
    variable, and the deploy workflow names every MEMPOOL_* variable it may pass: each
    set but empty must read as unset (a number's int("") would stop the deploy, a name's
    "" would be refused as an identifier), and one set must still win."""

    from operations.deploy import DeployConfig

    variables = deploy_workflow_variables()
    for name in variables:
        monkeypatch.setenv(name, "")
    args = build_parser().parse_args(["deploy", "--dry-run"])
    defaults = DeployConfig()
    assert (args.database, args.warehouse) == (defaults.database, defaults.warehouse)
    assert (
        args.gold_refresh_minutes,
        args.silver_trigger_seconds,
        args.silver_idle_minutes,
    ) == (
        defaults.gold_refresh_minutes,
        defaults.silver_trigger_seconds,
        defaults.silver_idle_minutes,
    )
    monkeypatch.setenv("MEMPOOL_SILVER_IDLE_MINUTES", "20")
    assert build_parser().parse_args(["deploy", "--dry-run"]).silver_idle_minutes == 20


def test_the_demo_stands_in_for_a_viewer_unless_told_nobody_watches() -> None:
    from sandbox.stack import DemoOptions

    watched = DemoOptions.from_args(build_parser().parse_args(["demo"]))
    unwatched = DemoOptions.from_args(build_parser().parse_args(["demo", "--unwatched"]))
    assert (watched.watched, unwatched.watched) == (True, False)


def test_the_budget_prices_a_shorter_firehose_buffer(capsys: pytest.CaptureFixture[str]) -> None:
    """`--firehose-buffer-seconds`: what Terraform's firehose_buffer_seconds would do to
    the Live tile and to the bill (more, smaller objects: more S3 PUTs)."""

    def run(*flags: str) -> tuple[float, str]:
        assert main(["budget", *flags]) == 0
        out = capsys.readouterr().out
        live = next(line for line in out.splitlines() if "= event to Live tile" in line)
        worst = float(live.split("target: worst ")[1].split(" s")[0])
        s3 = next(line for line in out.splitlines() if line.lstrip().startswith("S3 landing"))
        return worst, s3

    default_worst, default_s3 = run()
    worst, s3 = run("--firehose-buffer-seconds", "15")
    assert default_worst - worst == 45  # the buffer's worst wait: 60 s to 15 s
    puts = [
        int(re.search(r"([\d,]+) PUTs \(", line)[1].replace(",", ""))  # type: ignore[index]
        for line in (default_s3, s3)
    ]
    assert puts[1] > 3 * puts[0] / 2
    with pytest.raises(SystemExit):
        main(["budget", "--firehose-buffer-seconds", "0"])
