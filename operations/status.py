"""`mempool status`: what an operator checks first, as a list of small checks.

Each check reads the warehouse with the SQL it declares (the runbook, docs/runbook.md,
cites it) and answers OK or ATTENTION with the figure behind the answer. The same SQL
runs on Snowflake and on the local warehouse: where Snowflake answers from account
metadata (SHOW ..., SYSTEM$PIPE_STATUS), the local runtime answers in the same shape,
so nothing here asks where it runs.

Length: one small check per thing an operator watches (pipes, tasks, streams, backlog,
freshness, reconciliation, quarantine, alerts, credits), each beside the SQL it runs,
sharing one registry, verdict and printer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from operations.sqlcmd import LocalConnection, WarehouseUnavailable, error_text, open_connection

RUNBOOK = "docs/runbook.md"
# A stream this close to its STALE_AFTER has to be consumed (or recreated) now: two days
# leave a weekend's margin.
STREAM_HORIZON = timedelta(days=2)
# Thresholds the alerts read too, from their one place (snowflake/sql/80_alerts.sql seeds
# them; an operator may change them there).
THRESHOLD = "SELECT VALUE FROM {db}.OPS.ALERT_THRESHOLDS WHERE NAME = '<name>'"


def threshold(db: Reader, name: str) -> float:
    (row,) = db.rows(THRESHOLD.replace("<name>", name))
    return float(row["value"])


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    figure: str
    hint: str = ""

    @property
    def verdict(self) -> str:
        return "OK" if self.ok else "ATTENTION"


class Reader:
    """The warehouse as the checks read it: rows as dicts keyed by lower-case column
    name (SHOW's columns are lower case, a SELECT's upper case)."""

    def __init__(self, conn: Any, database: str, local: bool = False) -> None:
        self.conn = conn
        self.database = database
        # The local warehouse: only to word an empty answer of what nothing bills locally.
        self.local = local

    def rows(self, sql: str) -> list[dict[str, Any]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql.format(db=self.database))
            columns = [d[0].lower() for d in (cur.description or [])]
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()


@dataclass(frozen=True)
class StatusCheck:
    name: str
    sql: tuple[str, ...]  # what it runs, {db} for the database
    run: Callable[[Reader], Check]
    summary: str


CHECKS: list[StatusCheck] = []


def check(name: str, summary: str, *sql: str) -> Callable[[Callable[[Reader], Check]], Any]:
    def register(run: Callable[[Reader], Check]) -> Callable[[Reader], Check]:
        CHECKS.append(StatusCheck(name, sql, run, summary))
        return run

    return register


def age(then: Any, now: datetime) -> str:
    if then is None:
        return "never"
    if isinstance(then, str):
        then = datetime.fromisoformat(then.replace("Z", "+00:00"))
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    minutes = (now - then).total_seconds() / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def utc_now() -> datetime:
    return datetime.now(UTC)


SHOW_PIPES = "SHOW PIPES IN DATABASE {db}"
PIPE_STATUS = "SELECT SYSTEM$PIPE_STATUS('{db}.<schema>.<pipe>')"


@check(
    "pipes",
    "each pipe RUNNING, with its pending files and last load",
    SHOW_PIPES,
    PIPE_STATUS,
)
def pipes(db: Reader) -> Check:
    now = utc_now()
    found = db.rows(SHOW_PIPES)
    problems, figures = [], []
    for pipe in sorted(found, key=lambda p: str(p["name"])):
        name = f"{pipe['schema_name']}.{pipe['name']}"
        (answer,) = db.rows(
            PIPE_STATUS.replace("<schema>", str(pipe["schema_name"])).replace(
                "<pipe>", str(pipe["name"])
            )
        )
        status = json.loads(next(iter(answer.values())))
        state = status.get("executionState", "UNKNOWN")
        figure = (
            f"{name} {state}, {status.get('pendingFileCount', 0)} pending, "
            f"last load {age(status.get('lastIngestedTimestamp'), now)}"
        )
        figures.append(figure)
        if state != "RUNNING":
            problems.append(figure)
    return object_check(
        "pipes",
        bool(found),
        problems,
        "; ".join(figures),
        "resume a paused pipe (ALTER PIPE … SET PIPE_EXECUTION_PAUSED = FALSE), then "
        "ALTER PIPE … REFRESH loads what landed meanwhile",
    )


def object_check(name: str, found: bool, problems: list[str], ok_figure: str, hint: str) -> Check:
    """The shape the object checks share: none deployed, some in trouble, or all well."""
    if not found:
        return Check(name, False, f"no {name} in the database", "run `mempool deploy`")
    if problems:
        return Check(name, False, "; ".join(problems), hint)
    return Check(name, True, ok_figure)


SHOW_TASKS = "SHOW TASKS IN DATABASE {db}"
LAST_RUNS = (
    "SELECT TASK_NAME, STATE, COMPLETED_AT, ERROR_MESSAGE FROM {db}.OPS.TASK_RUNS "
    "WHERE STATE IN ('SUCCEEDED', 'FAILED', 'CANCELLED') "
    "QUALIFY ROW_NUMBER() OVER (PARTITION BY TASK_NAME ORDER BY COMPLETED_AT DESC) = 1"
)


@check(
    "tasks",
    "each task started, its last run not failed",
    SHOW_TASKS,
    LAST_RUNS,
)
def tasks(db: Reader) -> Check:
    now = utc_now()
    found = db.rows(SHOW_TASKS)
    last = {str(r["task_name"]).upper(): r for r in db.rows(LAST_RUNS)}
    problems, figures = [], []
    for task in sorted(found, key=lambda t: str(t["name"])):
        name = str(task["name"]).upper()
        run = last.get(name)
        ran = f"last run {run['state']} {age(run['completed_at'], now)}" if run else "no run yet"
        figure = f"{task['schema_name']}.{name} {task['state']}, {ran}"
        figures.append(figure)
        if str(task["state"]).lower() != "started":
            problems.append(figure)
        elif run and run["state"] != "SUCCEEDED":
            problems.append(f"{figure}: {run['error_message']}")
    return object_check(
        "tasks",
        bool(found),
        problems,
        "; ".join(figures),
        "read the error; fix, then `mempool deploy --connection NAME --only resume` "
        "(a task suspends itself after repeated failures)",
    )


BACKLOG = "SELECT CONSUMER, PENDING_EVENTS, OLDEST_BATCH_ID FROM {db}.OPS.BUILDER_BACKLOG"


@check(
    "backlog",
    "no builder holds more unfinished events than BACKLOG_EVENTS",
    BACKLOG,
    THRESHOLD.replace("<name>", "BACKLOG_EVENTS"),
)
def backlog(db: Reader) -> Check:
    limit = threshold(db, "BACKLOG_EVENTS")
    rows = [r for r in db.rows(BACKLOG) if int(r["pending_events"]) > limit]
    if not rows:
        return Check("backlog", True, "no builder holds an unfinished batch")
    figure = "; ".join(
        f"{r['consumer']} {r['pending_events']} events pending since batch {r['oldest_batch_id']}"
        for r in sorted(rows, key=lambda r: str(r["consumer"]))
    )
    return Check(
        "backlog",
        False,
        figure,
        "a backlog that stays over two runs is a failing builder: read its task runs",
    )


FRESHNESS = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, AGE_MINUTES, TARGET_MINUTES, IS_FRESH "
    "FROM {db}.OPS.TABLE_FRESHNESS"
)


@check("freshness", "every SILVER and GOLD table within its freshness target", FRESHNESS)
def freshness(db: Reader) -> Check:
    rows = db.rows(FRESHNESS)
    stale = [r for r in rows if not r["is_fresh"]]
    if not rows:
        return Check("freshness", False, "OPS.TABLE_FRESHNESS is empty", "run the dbt build")
    if stale:
        figure = "; ".join(
            f"{r['table_schema']}.{r['table_name']} "
            + (
                "has no rows"
                if r["age_minutes"] is None
                else f"{float(r['age_minutes']):.0f} min old"
            )
            + f" (target {r['target_minutes']} min)"
            for r in sorted(stale, key=lambda r: (r["table_schema"], r["table_name"]))
        )
        return Check(
            "freshness",
            False,
            figure,
            "follow the data back: pipes, then tasks, then REFRESH_GOLD",
        )
    oldest = max(float(r["age_minutes"]) for r in rows)
    return Check("freshness", True, f"{len(rows)} tables fresh, oldest {oldest:.0f} min")


RECONCILIATION = (
    "SELECT TOPIC, RAW_ROWS, CLEAN_ROWS, DUPLICATE_ROWS, QUARANTINED_ROWS, PENDING_ROWS "
    "FROM {db}.OPS.RECONCILIATION WHERE NOT IS_BALANCED"
)


@check(
    "reconciliation",
    "every raw row is clean, a duplicate or quarantined",
    RECONCILIATION,
)
def reconciliation(db: Reader) -> Check:
    rows = db.rows(RECONCILIATION)
    if not rows:
        return Check("reconciliation", True, "every topic balanced")
    figure = "; ".join(
        f"{r['topic']} {r['raw_rows']} raw = {r['clean_rows']} clean + "
        f"{r['duplicate_rows']} duplicate + {r['quarantined_rows']} quarantined "
        f"+ {r['pending_rows']} pending"
        for r in sorted(rows, key=lambda r: str(r["topic"]))
    )
    return Check(
        "reconciliation",
        False,
        figure,
        "pending rows clear at LOAD_EVENTS' next run; rows that stay mean the loader skipped them",
    )


QUARANTINE = (
    "SELECT TOPIC, REASON, COUNT(*) AS RECORDS, MAX(QUARANTINED_AT) AS LAST_AT "
    "FROM {db}.OPS.QUARANTINE WHERE QUARANTINED_AT >= DATEADD(HOUR, -24, SYSDATE()) "
    "GROUP BY 1, 2"
)


@check(
    "quarantine",
    "no more records quarantined in the last day than QUARANTINED_PER_DAY",
    QUARANTINE,
    THRESHOLD.replace("<name>", "QUARANTINED_PER_DAY"),
)
def quarantine(db: Reader) -> Check:
    rows = db.rows(QUARANTINE)
    total = sum(int(r["records"]) for r in rows)
    if total <= threshold(db, "QUARANTINED_PER_DAY"):
        return Check("quarantine", True, f"{total} records quarantined in the last day")
    figure = f"{total} records quarantined in the last day: " + "; ".join(
        f"{r['records']} {r['topic']} ({r['reason']})"
        for r in sorted(rows, key=lambda r: -int(r["records"]))
    )
    return Check(
        "quarantine",
        False,
        figure,
        "read a sample in OPS.QUARANTINE: a producer bug or hostile input",
    )


SHOW_STREAMS = "SHOW STREAMS IN DATABASE {db}"


@check("streams", "no stream stale or within two days of going stale", SHOW_STREAMS)
def streams(db: Reader) -> Check:
    now = utc_now()
    found = db.rows(SHOW_STREAMS)
    problems = []
    for stream in sorted(found, key=lambda s: str(s["name"])):
        name = f"{stream['schema_name']}.{stream['name']}"
        after = stream.get("stale_after")
        if isinstance(after, str):
            after = datetime.fromisoformat(after)
        if isinstance(after, datetime) and after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        if str(stream.get("stale", "false")).lower() == "true":
            problems.append(f"{name} is stale")
        elif isinstance(after, datetime) and after - now < STREAM_HORIZON:
            problems.append(f"{name} goes stale at {after:%Y-%m-%d %H:%M} UTC")
    return object_check(
        "streams",
        bool(found),
        problems,
        f"{len(found)} streams, none near stale",
        "resume the task that consumes it; a stale stream must be recreated",
    )


SHOW_ALERTS = "SHOW ALERTS IN DATABASE {db}"
ALERTS_FIRED = (
    "SELECT ALERT_NAME, STATE, COUNT(*) AS RUNS, MAX(COMPLETED_AT) AS LAST_AT "
    "FROM {db}.OPS.ALERT_RUNS WHERE STATE IN ('TRIGGERED', 'CONDITION_FAILED', "
    "'ACTION_FAILED', 'FAILED') AND COMPLETED_AT >= DATEADD(HOUR, -24, SYSDATE()) GROUP BY 1, 2"
)


@check(
    "alerts",
    "every alert started, none fired or failed in the last day, none would fire now",
    SHOW_ALERTS,
    ALERTS_FIRED,
)
def alerts(db: Reader) -> Check:
    """The alerts' own conditions (SHOW ALERTS gives each one's text, as deployed), run
    now, beside what fired in the last day: the status and the alerts cannot disagree."""
    now = utc_now()
    found = db.rows(SHOW_ALERTS)
    problems = []
    for alert in sorted(found, key=lambda a: str(a["name"])):
        name = f"{alert['schema_name']}.{alert['name']}"
        if str(alert["state"]).lower() != "started":
            problems.append(f"{name} {alert['state']}")
        condition = str(alert["condition"]).replace("{", "{{").replace("}", "}}")
        try:
            rows = db.rows(condition)
        except Exception as exc:
            problems.append(f"{name} cannot evaluate its condition: {error_text(exc)}")
            continue
        problems += [f"{name} would fire: {r['object_name']}: {r['figure']}" for r in rows]
    for run in sorted(db.rows(ALERTS_FIRED), key=lambda r: str(r["alert_name"])):
        what = "fired" if run["state"] == "TRIGGERED" else f"ended {run['state']}"
        problems.append(
            f"OPS.{run['alert_name']} {what} {run['runs']} times in the last day, "
            f"last {age(run['last_at'], now)}"
        )
    return object_check(
        "alerts",
        bool(found),
        problems,
        f"{len(found)} alerts started, none fired in the last day",
        "each alert's section in the runbook says what it means; resume a suspended one "
        "with `mempool deploy --connection NAME --only resume`",
    )


CREDITS = (
    "SELECT KIND, SUM(CASE WHEN START_AT >= DATEADD(HOUR, -24, SYSDATE()) THEN CREDITS "
    "ELSE 0 END) AS LAST_DAY, SUM(CREDITS) AS LAST_30_DAYS "
    "FROM {db}.OPS.CREDITS_BY_KIND GROUP BY KIND"
)
# OPS.CREDITS_BY_KIND's kinds, in the order they print. The app has none: it runs its
# queries on the warehouse, whose line counts them.
CREDIT_KINDS = ("warehouse", "serverless tasks", "Snowpipe", "serverless alerts")
# What the daily budget (SERVERLESS_CREDITS_PER_DAY, CREDITS_ALERT's threshold) covers:
# CREDITS_ALERT's sources (OPS.CREDIT_USAGE), each on its own, so the status and the alert
# agree. The warehouse follows the gold schedule and the dashboard's viewers (a resource
# monitor caps it), Snowpipe the bytes landed.
BUDGETED_KINDS = ("serverless tasks", "serverless alerts")


@check(
    "credits",
    "credits by kind in the last day and 30 days; no serverless kind over its daily budget",
    CREDITS,
    THRESHOLD.replace("<name>", "SERVERLESS_CREDITS_PER_DAY"),
)
def credits(db: Reader) -> Check:
    rows = {str(r["kind"]): r for r in db.rows(CREDITS)}
    budget = threshold(db, "SERVERLESS_CREDITS_PER_DAY")
    if not rows:
        if db.local:
            return Check("credits", True, "no credit history (local warehouse)")
        return Check(
            "credits",
            False,
            "no credit history in OPS.CREDITS_BY_KIND",
            "the usage functions answer only a role with MONITOR USAGE: TRANSFORM's comes "
            "from `mempool deploy --connection NAME --only task-privileges`",
        )

    def used(kind: str, column: str) -> float:
        row = rows.get(kind)
        return float(row[column] or 0) if row else 0.0

    parts = [
        f"{kind} {used(kind, 'last_day'):.2f} / {used(kind, 'last_30_days'):.2f}"
        + (" (14 days kept)" if kind == "Snowpipe" else "")
        for kind in CREDIT_KINDS
    ]
    day = sum(used(k, "last_day") for k in CREDIT_KINDS)
    month = sum(used(k, "last_30_days") for k in CREDIT_KINDS)
    figure = (
        "credits last day / 30 days: " + "; ".join(parts) + f"; the app runs on the warehouse "
        f"(counted there); total {day:.2f} / {month:.2f}"
    )
    over = [k for k in BUDGETED_KINDS if used(k, "last_day") > budget]
    if over:
        return Check(
            "credits",
            False,
            f"{', '.join(over)} over the daily budget of {budget:g} credits: {figure}",
            "find the task or alert that runs more often or longer than it did",
        )
    return Check("credits", True, figure)


def run_checks(db: Reader, only: list[str] | None = None) -> list[Check]:
    results = []
    for spec in CHECKS:
        if only and spec.name not in only:
            continue
        try:
            results.append(spec.run(db))
        except Exception as exc:
            # One check that cannot run (a view not deployed yet) must not hide the others.
            results.append(Check(spec.name, False, f"could not run: {error_text(exc)}"))
    return results


def render_text(results: list[Check]) -> str:
    width = max(len(c.name) for c in results)
    lines = []
    for c in results:
        lines.append(f"{c.verdict:<9}  {c.name:<{width}}  {c.figure}")
        if not c.ok and c.hint:
            lines.append(f"{'':<9}  {'':<{width}}  -> {c.hint} ({RUNBOOK}#{c.name})")
    bad = [c.name for c in results if not c.ok]
    lines.append(f"needs attention: {', '.join(bad)}" if bad else "all checks OK")
    return "\n".join(lines)


def run_status(
    connection: str | None,
    database: str,
    output: str = "text",
    only: list[str] | None = None,
    local_connection: LocalConnection | None = None,
    stream: TextIO | None = None,
) -> int:
    out = stream or sys.stdout
    unknown = sorted(set(only or []) - {c.name for c in CHECKS})
    if unknown:
        print(f"error: no check named {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        with open_connection(connection, None, local_connection) as conn:
            results = run_checks(Reader(conn, database, local=connection is None), only)
    except WarehouseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: cannot connect: {error_text(exc)}", file=sys.stderr)
        return 2
    if output == "json":
        out.write(json.dumps([asdict(c) | {"verdict": c.verdict} for c in results], indent=2))
        out.write("\n")
    else:
        out.write(render_text(results) + "\n")
    return 0 if all(c.ok for c in results) else 1
