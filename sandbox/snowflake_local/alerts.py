"""Alerts, emulated: each CREATE ALERT of the deploy's SQL (80_alerts.sql) kept with its
schedule, condition and action, suspended until ALTER ALERT ... RESUME, and run on its
schedule (or at once, as EXECUTE ALERT does) against the local warehouse. Each run is
recorded where production's alert-history view (OPS.ALERT_RUNS) reads Snowflake's own,
with Snowflake's states (CONDITION_FALSE, TRIGGERED, CONDITION_FAILED, ACTION_FAILED).
The action is the Snowflake Scripting block the deploy writes (EXECUTE IMMEDIATE $$ BEGIN
... SELECT <message> INTO :var FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()));
CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(APPLICATION_JSON(:var), INTEGRATION('...')); END;
$$): the runtime runs no scripting, so it reads those two statements out of the block,
computes the message with the block's own SELECT over the condition's rows, and records
it, not sent, in _LOCAL.ALERT_NOTIFICATIONS. An action of any other shape is refused when
the alert is created, so the local deploy fails where Snowflake would only fail the run.

The views the conditions read that only Snowflake's metadata can answer (pipe status,
stream offsets, serverless credits, alert history) are provided from the runtime's own
records, with the production view's columns.
https://docs.snowflake.com/en/sql-reference/sql/create-alert
https://docs.snowflake.com/en/sql-reference/functions/alert_history
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sandbox.snowflake_local.base import RuntimeBase, log
from sandbox.snowflake_local.plan import (
    LOCAL_SCHEMA,
    LocalDeployError,
    split_top_level,
    strip_database,
)

ALERT_RE = re.compile(
    r"^\s*CREATE\s+OR\s+REPLACE\s+ALERT\s+(?P<name>[\w.$]+)(?P<props>.*?)"
    r"\bIF\s*\(\s*EXISTS\s*\((?P<condition>.*)\)\s*\)\s*THEN\s+(?P<action>.*?)\s*$",
    re.I | re.S,
)
ALTER_ALERT_RE = re.compile(
    r"^\s*ALTER\s+ALERT\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>[\w.$]+)\s+"
    r"(?P<action>SUSPEND|RESUME)\s*$",
    re.I,
)
DROP_ALERT_RE = re.compile(r"^\s*DROP\s+ALERT\s+(?:IF\s+EXISTS\s+)?(?P<name>[\w.$]+)\s*$", re.I)
# The action: a scripting block as a $$ string, handed to EXECUTE IMMEDIATE.
SCRIPT_RE = re.compile(
    r"^\s*EXECUTE\s+IMMEDIATE\s+\$\$\s*BEGIN\b(?P<body>.*)\bEND\s*;\s*\$\$\s*$", re.I | re.S
)
CONDITION_ROWS = (
    r"TABLE\s*\(\s*RESULT_SCAN\s*\(\s*"
    r"SNOWFLAKE\.ALERT\.GET_CONDITION_QUERY_UUID\s*\(\s*\)\s*\)\s*\)"
)
# SELECT <message> INTO :var FROM <the condition's rows>;
SELECT_INTO_RE = re.compile(
    rf"\bSELECT\s+(?P<expr>.*?)\s+INTO\s+:(?P<var>\w+)\s+FROM\s+{CONDITION_ROWS}\s*;", re.I | re.S
)
# CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(APPLICATION_JSON(:var), INTEGRATION('name'));
SEND_RE = re.compile(
    r"\bCALL\s+SYSTEM\$SEND_SNOWFLAKE_NOTIFICATION\s*\(\s*"
    r"SNOWFLAKE\.NOTIFICATION\.APPLICATION_JSON\s*\(\s*:(?P<var>\w+)\s*\)\s*,\s*"
    r"SNOWFLAKE\.NOTIFICATION\.INTEGRATION\s*\(\s*'(?P<integration>[^']+)'\s*\)\s*\)\s*;",
    re.I | re.S,
)
VIEW_RE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?P<view>[\w.$]+)\s+AS\s+(?P<body>.*)$", re.I | re.S
)
# What in a view only Snowflake's account metadata answers.
METADATA = re.compile(
    r"SYSTEM\$PIPE_STATUS|SYSTEM\$STREAM_GET_TABLE_TIMESTAMP|SERVERLESS_TASK_HISTORY|"
    r"WAREHOUSE_METERING_HISTORY|PIPE_USAGE_HISTORY|\bALERT_HISTORY\s*\(",
    re.I,
)

# The metadata views answered from the runtime's records, by name. A None is a table the
# runtime writes (alert runs) or that stays empty (nothing bills locally: no credits).
LOCAL_VIEWS: dict[str, str | None] = {
    "OPS.PIPE_HEALTH": f"""
        SELECT p.NAME AS PIPE_NAME,
               CASE WHEN p.PAUSED THEN 'PAUSED' ELSE 'RUNNING' END AS EXECUTION_STATE,
               (SELECT COUNT(*) FROM {LOCAL_SCHEMA}.PIPE_PENDING x WHERE x.PIPE = p.NAME)
                 AS PENDING_FILES,
               (SELECT MAX(f.LOADED_AT) FROM {LOCAL_SCHEMA}.PIPE_FILES f WHERE f.PIPE = p.NAME)
                 AS LAST_INGESTED_AT,
               (SELECT COUNT(*) FROM {LOCAL_SCHEMA}.LOAD_ERRORS e WHERE e.PIPE = p.NAME
                  AND e.FILE_NAME IN (SELECT f.FILE_NAME FROM {LOCAL_SCHEMA}.PIPE_FILES f
                                      WHERE f.LOADED_AT >= DATEADD(HOUR, -24, SYSDATE())))
                 AS LOAD_ERRORS
        FROM {LOCAL_SCHEMA}.PIPES p""",
    "OPS.STREAM_OFFSETS": f"""
        SELECT STREAM AS STREAM_NAME, MOVED_AT AS OFFSET_AT FROM {LOCAL_SCHEMA}.STREAM_OFFSETS""",
    "OPS.CREDIT_USAGE": None,
    # No local warehouse, task, pipe or alert bills: the credits by kind stay empty, and
    # `mempool status` and the health page say so rather than show a zero.
    "OPS.CREDITS_BY_KIND": None,
    "OPS.ALERT_RUNS": None,
}


@dataclass
class Alert:
    name: str  # SCHEMA.NAME
    schedule_minutes: int
    condition: str
    action: str
    started: bool = False  # created suspended; ALTER ALERT ... RESUME starts it
    base: datetime | None = None  # the schedule counts from the resume, then each run


def view_columns(body: str) -> list[str]:
    """The output columns of a view's outermost SELECT (its last one outside parentheses)."""
    depth, starts = 0, []
    for m in re.finditer(r"\(|\)|\bSELECT\b", body, re.I):
        if m[0] == "(":
            depth += 1
        elif m[0] == ")":
            depth -= 1
        elif depth == 0:
            starts.append(m.end())
    select = body[starts[-1] :]
    depth, end = 0, len(select)
    for m in re.finditer(r"\(|\)|\bFROM\b", select, re.I):
        if m[0] == "(":
            depth += 1
        elif m[0] == ")":
            depth -= 1
        elif depth == 0:
            end = m.start()
            break
    return [re.split(r"\s+", item.strip())[-1].upper() for item in split_top_level(select[:end])]


def local_message_query(name: str, condition: str, action: str) -> tuple[str, str]:
    """(the SELECT computing the notification's message, the integration it is sent
    through) from the action's block: its SELECT ... INTO, with the condition's rows where
    RESULT_SCAN reads them, and the CALL that sends that variable as APPLICATION_JSON."""
    script = SCRIPT_RE.match(action)
    select = SELECT_INTO_RE.search(script["body"]) if script else None
    send = SEND_RE.search(script["body"]) if script else None
    if not (select and send and select["var"].upper() == send["var"].upper()):
        raise LocalDeployError(
            f"alert {name}: an action the runtime cannot record (it expects EXECUTE IMMEDIATE "
            "$$ BEGIN SELECT ... INTO :v FROM TABLE(RESULT_SCAN(SNOWFLAKE.ALERT."
            "GET_CONDITION_QUERY_UUID())); CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION("
            "SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(:v), SNOWFLAKE.NOTIFICATION.INTEGRATION"
            "('...')); END; $$)"
        )
    query = f"SELECT {select['expr']} FROM ({condition}) AS CONDITION_ROWS"
    return query, send["integration"]


class AlertEmulation(RuntimeBase):
    # Production seconds per local second, the factor the tasks' schedules are divided by
    # too (TaskGraph, the same attribute: the demo sets it once, from --speed): an alert's
    # SCHEDULE runs this many times as often, so a short demo sees its alerts run.
    schedule_scale: float = 1.0

    def _declare_alert(self, statement: str) -> None:
        """CREATE OR REPLACE ALERT (a new alert is suspended), ALTER ALERT ... SUSPEND |
        RESUME, DROP ALERT; and the metadata views the conditions read."""
        if m := ALERT_RE.match(statement):
            name = strip_database(m["name"], self.database).upper()
            schedule = re.search(r"\bSCHEDULE\s*=\s*'(\d+)\s*(?:MINUTES?|M)'", m["props"], re.I)
            if not schedule:
                raise LocalDeployError(f"alert {name}: only '<num> MINUTE' schedules run locally")
            new = Alert(name, int(schedule[1]), m["condition"].strip(), m["action"].strip())
            local_message_query(new.name, new.condition, new.action)  # refused here
            self.plan.alerts = [a for a in self.plan.alerts if a.name != name]
            self.plan.alerts.append(new)
            self._save_alerts()
        elif m := ALTER_ALERT_RE.match(statement):
            alert = self.alert(m["name"])
            if alert is None and not m["if_exists"]:
                raise LocalDeployError(f"Alert {m['name']} does not exist.")
            if alert is not None:
                alert.started = m["action"].upper() == "RESUME"
                alert.base = datetime.now(UTC) if alert.started else None
                self._save_alerts()
        elif m := DROP_ALERT_RE.match(statement):
            alert = self.alert(m["name"])
            self.plan.alerts = [a for a in self.plan.alerts if a is not alert]
            self._save_alerts()
        elif (m := VIEW_RE.match(statement)) and METADATA.search(m["body"]):
            view = strip_database(m["view"], self.database).upper()
            if view not in LOCAL_VIEWS:
                raise LocalDeployError(f"view {view} reads account metadata the runtime lacks")
            self.plan.metadata_views[view] = view_columns(m["body"])
            self._emulation_changed = True

    def alert(self, name: str) -> Alert | None:
        name = strip_database(name, self.database).upper()
        return next((a for a in self.plan.alerts if a.name == name), None)

    def _save_alerts(self) -> None:
        """Each alert where SHOW ALERTS reads it locally (sandbox.snowflake_local.account)."""
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_SCHEMA}")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.ALERTS
            (NAME VARCHAR, STATE VARCHAR, SCHEDULE VARCHAR, CONDITION VARCHAR, ACTION VARCHAR)""")
        self.execute(f"DELETE FROM {LOCAL_SCHEMA}.ALERTS")
        for alert in self.plan.alerts:
            self.execute(
                f"INSERT INTO {LOCAL_SCHEMA}.ALERTS VALUES (?, ?, ?, ?, ?)",
                [
                    alert.name,
                    "started" if alert.started else "suspended",
                    f"{alert.schedule_minutes} MINUTE",
                    alert.condition,
                    alert.action,
                ],
            )

    def _setup_alerts(self) -> None:
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.ALERT_NOTIFICATIONS
            (ALERT_NAME VARCHAR, INTEGRATION VARCHAR, CONTENT_TYPE VARCHAR, MESSAGE VARCHAR,
             RECORDED_AT TIMESTAMP_NTZ)""")
        for view, columns in self.plan.metadata_views.items():
            local = LOCAL_VIEWS[view]
            if local is None:
                typed = ", ".join(f"{c} {self._column_type(c)}" for c in columns)
                self.execute(f"CREATE TABLE IF NOT EXISTS {view} ({typed})")
            else:
                self.execute(f"CREATE OR REPLACE VIEW {view} AS {local}")

    @staticmethod
    def _column_type(column: str) -> str:
        if column.endswith("_AT"):
            return "TIMESTAMP_NTZ"
        return "FLOAT" if column == "CREDITS" else "VARCHAR"

    # -- runs --------------------------------------------------------------------------

    def run_alerts(self, now: datetime | None = None) -> list[str]:
        """Every resumed alert whose interval (its SCHEDULE over `schedule_scale`) has passed
        since its resume or last run."""
        now = now or datetime.now(UTC)
        results = []
        for alert in self.plan.alerts:
            if not alert.started or alert.base is None:
                continue
            if now - alert.base >= timedelta(minutes=alert.schedule_minutes) / self.schedule_scale:
                alert.base = now
                results.append(self.execute_alert(alert.name))
        return results

    def execute_alert(self, name: str) -> str:
        """One run of the alert, as EXECUTE ALERT does (suspended or not): its state."""
        alert = self.alert(name)
        if alert is None:
            raise LocalDeployError(f"Alert {name} does not exist.")
        scheduled = datetime.now(UTC).replace(tzinfo=None)
        state, error = "CONDITION_FALSE", None
        try:
            rows = self.execute(alert.condition)
        except Exception as exc:
            state, error, rows = "CONDITION_FAILED", f"{type(exc).__name__}: {exc}"[:1000], []
        if rows:
            try:
                query, integration = local_message_query(alert.name, alert.condition, alert.action)
                ((message,),) = self.execute(query)
                self.execute(
                    f"INSERT INTO {LOCAL_SCHEMA}.ALERT_NOTIFICATIONS VALUES (?, ?, ?, ?, ?)",
                    [alert.name, integration, "application/json", message, scheduled],
                )
                state = "TRIGGERED"
                log.warning("alert %s: %s (recorded, not sent)", alert.name, message)
            except Exception as exc:
                state, error = "ACTION_FAILED", f"{type(exc).__name__}: {exc}"[:1000]
        self._record_alert_run(alert.name.rsplit(".", 1)[-1], state, scheduled, error)
        return state

    def _record_alert_run(
        self, name: str, state: str, scheduled: datetime, error: str | None
    ) -> None:
        columns = self.plan.metadata_views.get("OPS.ALERT_RUNS")
        if not columns:
            return
        values = {
            "ALERT_NAME": name,
            "STATE": state,
            "SCHEDULED_AT": scheduled,
            "COMPLETED_AT": datetime.now(UTC).replace(tzinfo=None),
            "ERROR_MESSAGE": error,
        }
        self.execute(
            f"INSERT INTO OPS.ALERT_RUNS ({', '.join(columns)}) "
            f"SELECT {', '.join('?' for _ in columns)}",
            [values.get(c) for c in columns],
        )
