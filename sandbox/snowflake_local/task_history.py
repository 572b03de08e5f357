"""Task history: each task run recorded where production's task-history view
(OPS.TASK_RUNS) reads Snowflake's own, a table of that name with the view's columns."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sandbox.snowflake_local.base import RuntimeBase
from sandbox.snowflake_local.plan import split_top_level, strip_database

TASK_HISTORY_VIEW_RE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?P<view>\S+)\s+AS\s+SELECT\s+(?P<select>.*?)"
    r"\s+FROM\s+TABLE\s*\([^)]*\bTASK_HISTORY\s*\(",
    re.I | re.S,
)


class TaskHistory(RuntimeBase):
    def _declare_task_history(self, statement: str) -> None:
        if m := TASK_HISTORY_VIEW_RE.search(statement):
            columns = [
                re.split(r"\s+", item.strip())[-1].upper() for item in split_top_level(m["select"])
            ]
            self.plan.task_runs = (strip_database(m["view"], self.database), columns)
            self._emulation_changed = True

    def _setup_task_history(self) -> None:
        if self.plan.task_runs:
            view, columns = self.plan.task_runs
            typed = ", ".join(
                f"{c} {'TIMESTAMP_NTZ' if c.endswith('_AT') else 'VARCHAR'}" for c in columns
            )
            self.execute(f"CREATE TABLE IF NOT EXISTS {view} ({typed})")

    def _record_run(self, task_name: str, state: str, started: Any, error: str | None) -> None:
        if not self.plan.task_runs:
            return
        view, columns = self.plan.task_runs
        completed = datetime.now(UTC).replace(tzinfo=None)
        values = {
            "TASK_NAME": task_name,
            "STATE": state,
            "SCHEDULED_AT": started,
            "STARTED_AT": started,
            "COMPLETED_AT": completed,
            "ERROR_MESSAGE": error,
        }
        self.execute(
            f"INSERT INTO {view} ({', '.join(columns)}) SELECT {', '.join('?' for _ in columns)}",
            [values.get(c) for c in columns],
        )
