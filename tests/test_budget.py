"""`mempool budget`'s bill follows the settings it reads, and docs/deploy.md's cost table
is its output (regenerated here: a changed setting with an unchanged page fails)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from operations.bill import (
    DOC_BEGIN,
    DOC_END,
    Prices,
    Usage,
    compute,
    parse_alerts,
    read_settings,
    splice,
)
from operations.budget import TF_DIR
from operations.cli import main

REPO = Path(__file__).resolve().parents[1]
DEPLOY_DOC = REPO / "docs" / "deploy.md"


def gold_minutes() -> int:
    from operations.deploy import DeployConfig

    return DeployConfig().gold_refresh_minutes


def lines(bill: object) -> dict[str, object]:
    return {ln.part: ln for ln in bill.lines}  # type: ignore[attr-defined]


def puts(bill_lines: dict[str, object]) -> int:
    """S3 landing's PUTs a month, as its line says them."""
    note = bill_lines["S3 landing"].note  # type: ignore[attr-defined]
    found = re.search(r"([\d,]+) PUTs", note)
    assert found, note
    return int(found.group(1).replace(",", ""))


def test_a_shorter_firehose_buffer_puts_more_objects_whatever_the_streamers() -> None:
    """Each delivery stream writes an object per buffer interval: a quarter of the buffer
    is four times Firehose's PUTs (the poller's stay), for one streamer or three."""
    for streamers in (1, 3):
        at60 = replace(read_settings(30), streamer_count=streamers, firehose_buffer_s=60)
        at15 = replace(at60, firehose_buffer_s=15)
        polls = replace(at60, firehose_streams=0)
        poller = puts(lines(compute(polls)))
        firehose60 = puts(lines(compute(at60))) - poller
        assert firehose60 == round(at60.firehose_streams * 86400 / 60 * 365 / 12)
        assert puts(lines(compute(at15))) - poller == pytest.approx(4 * firehose60, abs=1)


def test_the_deploy_guides_cost_table_is_the_budgets_output() -> None:
    doc = DEPLOY_DOC.read_text()
    from operations.tradeoffs import cost_section

    table = cost_section(compute(read_settings(gold_minutes())))
    shown = doc.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0].strip()
    assert shown == table, (
        "docs/deploy.md's cost table differs from what the settings give: run "
        "`.venv/bin/mempool budget --update-doc docs/deploy.md` and review the diff"
    )
    assert splice(doc, table) == doc


def test_doubling_the_streamers_doubles_what_each_streamer_costs() -> None:
    one = replace(read_settings(30), streamer_count=1)
    two = replace(one, streamer_count=2)
    a, b = lines(compute(one)), lines(compute(two))
    assert b["EC2 streamer"].usd == pytest.approx(2 * a["EC2 streamer"].usd)  # type: ignore[attr-defined]
    # Each streamer lands the whole feed: Firehose carries it twice.
    assert b["Firehose"].usd == pytest.approx(2 * a["Firehose"].usd)  # type: ignore[attr-defined]
    assert b["Snowpipe"].credits > a["Snowpipe"].credits  # type: ignore[attr-defined]
    # What does not depend on the streamers stays. Firehose writes one object per stream
    # each buffer interval, whoever sent the records: the PUTs stay, the bytes double.
    assert puts(b) == puts(a)
    assert b["Gold run"].usd == a["Gold run"].usd  # type: ignore[attr-defined]
    assert b["Gold tests"].usd == a["Gold tests"].usd  # type: ignore[attr-defined]
    assert b["Lambda poller"].usd == a["Lambda poller"].usd  # type: ignore[attr-defined]


def test_the_credit_price_scales_the_snowflake_dollars_only() -> None:
    settings = read_settings(30)
    at3, at6 = compute(settings, Prices(credit_usd=3)), compute(settings, Prices(credit_usd=6))
    for part, line in lines(at3).items():
        other = lines(at6)[part]
        assert other.credits == line.credits  # type: ignore[attr-defined]
        if line.credits:  # type: ignore[attr-defined]
            assert other.usd == pytest.approx(2 * line.usd)  # type: ignore[attr-defined]
        else:
            assert other.usd == line.usd  # type: ignore[attr-defined]
    assert at6.dashboard_hour_usd == 2 * at3.dashboard_hour_usd


def test_the_gold_interval_and_the_task_compute_move_their_rows() -> None:
    """With nobody watching, gold runs at GOLD_TICK's pace (gold_idle_minutes), never
    more often than REFRESH_GOLD's checks; the schedule alone bills nothing, its checks
    needing no warehouse."""
    every30 = compute(read_settings(30, gold_idle_minutes=360))
    every60 = compute(read_settings(30, gold_idle_minutes=720))
    gold30, gold60 = lines(every30)["Gold run"], lines(every60)["Gold run"]
    assert gold60.credits == pytest.approx(gold30.credits / 2)  # type: ignore[attr-defined]
    for part in ("Gold run", "Gold tick"):
        assert lines(compute(read_settings(5, gold_idle_minutes=360)))[part] == lines(every30)[part]
    # An idle tick more often than the checks is served at the checks' pace.
    assert lines(compute(read_settings(60, gold_idle_minutes=30)))["Gold run"].credits == (  # type: ignore[attr-defined]
        pytest.approx(lines(compute(read_settings(60, gold_idle_minutes=60)))["Gold run"].credits)  # type: ignore[attr-defined]
    )
    # The tests follow their own cadence while every run is one: every 6 h either way.
    tests30, tests60 = lines(every30)["Gold tests"], lines(every60)["Gold tests"]
    assert tests60.credits == pytest.approx(tests30.credits / 2)  # type: ignore[attr-defined]
    hourly = lines(compute(read_settings(30, gold_idle_minutes=60)))["Gold tests"]
    assert hourly.credits == pytest.approx(tests30.credits)  # type: ignore[attr-defined]
    slow = compute(read_settings(30), usage=Usage(task_compute_s=2 * Usage().task_compute_s))
    tasks, slower = lines(every30)["Serverless tasks"], lines(slow)["Serverless tasks"]
    assert slower.credits == pytest.approx(2 * tasks.credits)  # type: ignore[attr-defined]
    # With nobody watching, the silver graph runs once per idle tick: twice the idle
    # interval, half the runs and half the ticks.
    sparse = compute(read_settings(30, silver_idle_minutes=20))
    for part in ("Serverless tasks", "Silver tick"):
        assert lines(sparse)[part].credits == pytest.approx(  # type: ignore[attr-defined]
            lines(every30)[part].credits / 2  # type: ignore[attr-defined]
        )
    # While the Live page is open it runs once per trigger interval instead: the hour
    # open costs the warehouse plus those runs, fewer at a longer trigger interval.
    warehouse_hour = 1.0
    watched = every30.dashboard_hour_credits - warehouse_hour
    assert watched == pytest.approx((60 - 6) * Usage().task_compute_s * 0.9 / 3600)
    slower_trigger = compute(read_settings(30, silver_trigger_seconds=120))
    assert slower_trigger.dashboard_hour_credits - warehouse_hour == pytest.approx(
        (30 - 6) * Usage().task_compute_s * 0.9 / 3600
    )
    assert lines(slower_trigger)["Serverless tasks"] == tasks
    assert tasks.estimated and not lines(every30)["EC2 streamer"].estimated  # type: ignore[attr-defined]


def test_terraforms_streamer_count_is_read_when_it_exists(tmp_path: Path) -> None:
    shutil.copytree(TF_DIR, tmp_path / "tf", ignore=shutil.ignore_patterns(".terraform*"))
    variables = tmp_path / "tf" / "variables.tf"
    text = variables.read_text()
    if 'variable "streamer_count"' in text:
        assert read_settings(30, tf_dir=tmp_path / "tf").streamer_count_source == (
            "terraform streamer_count"
        )
        return
    assert read_settings(30, tf_dir=tmp_path / "tf").streamer_count == 1
    variables.write_text(
        text + '\nvariable "streamer_count" {\n  type    = number\n  default = 3\n}\n'
    )
    settings = read_settings(30, tf_dir=tmp_path / "tf")
    assert (settings.streamer_count, settings.streamer_count_source) == (
        3,
        "terraform streamer_count",
    )
    assert "3 x t4g.micro" in lines(compute(settings))["EC2 streamer"].setting  # type: ignore[attr-defined]


def test_alerts_are_priced_from_their_schedule(tmp_path: Path) -> None:
    (tmp_path / "80_alerts.sql").write_text(
        "-- CREATE ALERT in a comment is no alert\n"
        "CREATE OR REPLACE ALERT <% database %>.OPS.EVERY_15\n"
        "  SCHEDULE = '15 MINUTE'\n  IF (EXISTS (SELECT 1)) THEN SELECT 1;\n"
        "CREATE OR REPLACE ALERT <% database %>.OPS.HOURLY_ON_WH\n"
        "  WAREHOUSE = <% warehouse %>\n  SCHEDULE = '60 MINUTES'\n"
        "  IF (EXISTS (SELECT 1)) THEN SELECT 1;\n"
    )
    alerts = parse_alerts(tmp_path)
    assert [(a.name, a.every_minutes, a.warehouse) for a in alerts] == [
        ("EVERY_15", 15, None),
        ("HOURLY_ON_WH", 60, "<% warehouse %>"),
    ]
    settings = replace(read_settings(30), alerts=alerts)
    priced = lines(compute(settings))
    assert "Alert EVERY_15" in priced and "Alert HOURLY_ON_WH" in priced
    assert "Alerts" not in priced


def test_the_command_prints_freshness_then_the_bill(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "--credit-price", "4", "--streamer-count", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("= event to SILVER") < out.index("Monthly cost (credits at $4")
    assert "2 x t4g.micro (--streamer-count)" in out
    assert "(estimated)" in out and "per hour open" in out
    assert main(["budget", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("Generated by `mempool budget --format markdown`")
    assert "| Dashboard |" in markdown and "warehouse runtime" in markdown


def test_the_gold_run_and_tests_are_priced_apart() -> None:
    """REFRESH_GOLD runs `dbt run` every gold_idle_minutes with nobody watching and wakes
    the warehouse each time (at least 60 s a resume, then AUTO_SUSPEND); TEST_GOLD runs
    `dbt test` after the first run gold_test_hours after the last tested one, on the
    warehouse the run woke, so it adds its own time and no resume."""
    settings = read_settings(5, gold_test_hours=6, gold_idle_minutes=120)
    assert settings.gold_test_hours == 6
    usage = Usage(dbt_run_s=45.0, dbt_test_s=75.0)
    priced = lines(compute(settings, usage=usage))
    runs = 12 * 730.0 / 24
    assert priced["Gold run"].credits == pytest.approx(  # type: ignore[attr-defined]
        runs * (45.0 + settings.auto_suspend_s) / 3600
    )
    tests = 4 * 730.0 / 24
    assert priced["Gold tests"].credits == pytest.approx(tests * 75.0 / 3600)  # type: ignore[attr-defined]
    twice = lines(compute(replace(settings, gold_test_hours=2), usage=usage))
    assert twice["Gold tests"].credits == pytest.approx(3 * priced["Gold tests"].credits)  # type: ignore[attr-defined]
    # A window that is not a whole number of runs waits for the run after it ends: a
    # 3 h window tests every second 2-hour run, a 5 h one every third.
    three = lines(compute(replace(settings, gold_test_hours=3), usage=usage))
    assert three["Gold tests"].credits == pytest.approx(1.5 * priced["Gold tests"].credits)  # type: ignore[attr-defined]
    uneven = lines(compute(replace(settings, gold_test_hours=5), usage=usage))
    assert uneven["Gold tests"].credits == pytest.approx(priced["Gold tests"].credits)  # type: ignore[attr-defined]
    # A run shorter than a resume's minimum still bills the minute.
    short = lines(compute(replace(settings, auto_suspend_s=0), usage=Usage(dbt_run_s=10.0)))
    assert short["Gold run"].credits == pytest.approx(runs * 60 / 3600)  # type: ignore[attr-defined]


def test_the_credits_alert_budget_is_above_what_the_bill_plans() -> None:
    """CREDITS_ALERT compares each serverless source's last day with one threshold: set
    under the bill's own estimate, it would fire every day for the bill as planned.
    The threshold leaves at least half again the larger source's planned day."""
    import re

    from operations.bill import DAYS_PER_MONTH, SQL_DIR

    sql = (SQL_DIR / "80_alerts.sql").read_text()
    threshold = float(re.search(r"'SERVERLESS_CREDITS_PER_DAY', ([\d.]+)", sql)[1])  # type: ignore[index]
    bill = compute(read_settings(gold_minutes()))
    tasks = lines(bill)["Serverless tasks"].credits  # type: ignore[attr-defined]
    alerts = sum(ln.credits for ln in bill.lines if ln.part.startswith("Alert ") and ln.credits)
    per_day = max(tasks, alerts) / DAYS_PER_MONTH
    assert threshold >= 1.5 * per_day, f"threshold {threshold} vs {per_day:.2f} planned a day"


def test_each_step_toward_cheaper_is_a_step_toward_staler() -> None:
    """The trade-off table's promise: waiting longer between runs never costs more, and
    never makes anything fresher; the deploy's defaults are its first row."""
    import itertools

    from operations.deploy import DeployConfig
    from operations.tradeoffs import PROFILES, profile

    config = DeployConfig()
    assert PROFILES[0] == (
        config.silver_trigger_seconds,
        config.silver_idle_minutes,
        config.gold_refresh_minutes,
        config.gold_idle_minutes,
    )
    rows = sorted(
        (profile(*settings) for settings in PROFILES),
        key=lambda p: (p.trigger_s, p.idle_minutes, p.gold_minutes, p.gold_idle_minutes),
    )
    for fresher, cheaper in itertools.pairwise(rows):
        assert cheaper.snowflake_credits < fresher.snowflake_credits
        assert cheaper.live_worst_s >= fresher.live_worst_s
        assert cheaper.history_chart_worst_s >= fresher.history_chart_worst_s
        assert cheaper.marts_worst_s >= fresher.marts_worst_s
        assert cheaper.marts_catch_up_worst_s >= fresher.marts_catch_up_worst_s
        # What the saving is paid with: a longer wait somewhere.
        assert (cheaper.idle_minutes, cheaper.gold_idle_minutes, cheaper.gold_minutes) != (
            fresher.idle_minutes,
            fresher.gold_idle_minutes,
            fresher.gold_minutes,
        )
