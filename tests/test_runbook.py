"""docs/runbook.md is the runbook of the code that exists: a section for every check
`mempool status` runs, citing the SQL the check runs, and only `mempool` commands the
CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from operations.cli import build_parser
from operations.status import CHECKS, RUNBOOK

REPO = Path(__file__).resolve().parents[1]
TEXT = (REPO / RUNBOOK).read_text()


def sections() -> dict[str, str]:
    parts = re.split(r"^## (.+)$", TEXT, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def commands(text: str) -> list[str]:
    """Every `mempool …` the text shows: lines of its sh blocks and inline code."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        found += [line for line in block.splitlines() if re.match(r"(\S*/)?mempool ", line)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found += [m for m in re.findall(r"`([^`]+)`", prose) if m.startswith("mempool ")]
    return [" ".join(c.split()) for c in found]


def test_every_check_has_its_section_citing_the_sql_it_runs() -> None:
    found = sections()
    for spec in CHECKS:
        assert spec.name in found, f"no '## {spec.name}' section in {RUNBOOK}"
        body = found[spec.name]
        assert f"mempool status -c prod --only {spec.name}" in body, spec.name
        for sql in spec.sql:
            assert sql in body, f"{spec.name}: {sql}"


def test_the_runbook_covers_stale_streams_pausing_and_backfills() -> None:
    assert "### Recovering a stale stream" in TEXT
    assert "(deploy.md#pause-and-resume)" in TEXT
    assert "mempool backfill blocks" in TEXT and "REFRESH" in TEXT


def test_the_runbook_is_linked_from_the_readme_and_the_deploy_guide() -> None:
    assert "docs/runbook.md" in (REPO / "README.md").read_text()
    checks = (REPO / "docs" / "deploy.md").read_text().split("### First-contact checks")[1]
    assert "mempool status -c prod" in checks.split("###")[0]
    assert "runbook.md" in checks.split("###")[0]


@pytest.mark.parametrize("command", sorted(set(commands(TEXT))))
def test_each_command_the_runbook_shows_parses(command: str) -> None:
    argv = shlex.split(command, comments=True)
    assert argv[0].endswith("mempool"), command
    build_parser().parse_args(argv[1:])


def test_the_commands_the_checks_hint_at_parse() -> None:
    import inspect

    import operations.status as status

    source = inspect.getsource(status)
    hinted = re.findall(r"`(mempool [^`]+)`", source)
    assert hinted
    for command in hinted:
        argv = shlex.split(command.replace("NAME", "prod"))
        build_parser().parse_args(argv[1:])


def test_every_alert_names_a_runbook_section_that_exists() -> None:
    """Each alert's message names docs/runbook.md#<section>: that section is there."""
    sql = (REPO / "snowflake" / "sql" / "80_alerts.sql").read_text()
    alerts = re.findall(r"CREATE OR REPLACE ALERT <% database %>\.OPS\.(\w+)", sql)
    anchors = re.findall(r"'runbook', 'docs/runbook\.md#(\w+)'", sql)
    assert len(alerts) == len(anchors) >= 8
    assert anchors == [a.lower() for a in alerts]
    found = sections()
    for anchor in anchors:
        assert anchor in found, f"no '## {anchor}' section in {RUNBOOK}"
        assert "**Means**" in found[anchor] and "**Confirm**" in found[anchor]
