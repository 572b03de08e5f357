"""The runtime's state and its connections to the local warehouse, which every object
kind's emulation (pipes, streams, procedures, tasks, task history) builds on."""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from operations.artifacts import PROCEDURES_ARCHIVE
from operations.deploy import DBT_DIR, PROJECT_FILE, DeployConfig
from sandbox.snowflake_local.plan import Plan
from sandbox.warehouse import LocalWarehouse

log = logging.getLogger("mempool.snowflake")


def local_config(database: str, bucket: str) -> DeployConfig:
    """The deploy's settings for the local stack (moto's account id in the ARNs)."""
    return DeployConfig(
        database=database,
        warehouse="LOCAL_WH",
        bucket=bucket,
        storage_role_arn="arn:aws:iam::123456789012:role/local-snowflake-storage",
        error_topic_arn="arn:aws:sns:us-east-1:123456789012:local-task-errors",
        error_role_arn="arn:aws:iam::123456789012:role/local-snowflake-errors",
    )


class DbtRunner(Protocol):
    """EXECUTE DBT PROJECT, locally: the dbt command the task's ARGS name (its target is
    production's; the runner uses the local one), which raises when dbt fails. When it
    runs is the tasks' schedule (sandbox.snowflake_local.tasks)."""

    def __call__(self, args: str = "run --target prod") -> str: ...


class RuntimeLock:
    """The runtime's state and its connection, one lane at a time. The demo runs two lanes,
    as Snowflake runs two kinds of compute: the pipes, serverless tasks and alerts in one,
    the gold graph on its warehouse in the other. A dbt run lets go of the lock while it
    runs (dbt has its own connection and touches no emulated state), so SILVER goes on
    refreshing while gold builds, as it does in production.

    First come, first served: a lane that lets go and asks again at once (the serverless
    lane, whose cycles run back to back while it is behind) queues behind the lane already
    waiting. A plain lock hands itself back to the thread that just released it, and a
    finished dbt run waited cycles of the other lane to record its end."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._queue: deque[object] = deque()
        self._owner: int | None = None

    @property
    def waiting(self) -> int:
        """How many lanes wait for the lock."""
        with self._turns:
            return len(self._queue)

    def _acquire(self) -> None:
        ticket = object()
        with self._turns:
            self._queue.append(ticket)
            while self._owner is not None or self._queue[0] is not ticket:
                self._turns.wait()
            self._queue.popleft()
            self._owner = threading.get_ident()

    def _release(self) -> None:
        with self._turns:
            self._owner = None
            self._turns.notify_all()

    @contextmanager
    def held(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go while the block runs, if this thread holds the lock (a test that drives
        the runtime without lanes holds nothing)."""
        if self._owner != threading.get_ident():
            yield
            return
        self._release()
        try:
            yield
        finally:
            self._acquire()


class RuntimeBase:
    def __init__(
        self,
        warehouse: LocalWarehouse,
        bucket: str,
        s3: Any = None,
        sqs: Any = None,
        queue_url: str = "",
        config: DeployConfig | None = None,
        stage_s3: Any = None,
    ) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database
        self.bucket = bucket
        # `s3` is the world around the warehouse (tests and chaos land and copy objects
        # with it); the pipes read with `stage_s3`, the storage integration's role, when
        # given, so a read Terraform does not grant fails here as it would in Snowflake.
        self.s3 = s3
        self.stage_s3 = stage_s3 if stage_s3 is not None else s3
        self.sqs = sqs
        self.queue_url = queue_url
        self.config = config or local_config(self.database, bucket)
        self.values = self.config.values()
        self.plan = Plan()
        # What EXECUTE DBT PROJECT does locally (the sandbox sets it; None skips gold).
        self.dbt_runner: DbtRunner | None = None
        # Held by each lane of the demo's runtime loop (sandbox.pipeline) for its work.
        self.lock = RuntimeLock()
        # Chaos: given a procedure, after how many statements to kill its run (or None).
        self.kill_switch: Callable[[str], int | None] | None = None
        # Drills: given a procedure, after how many statements it fails with an error its
        # caller can catch (a bug, a privilege gone), unlike a kill (or None).
        self.fail_switch: Callable[[str], int | None] | None = None
        # Chaos and tests: called after each statement a procedure runs (its text and
        # number), to read the warehouse from another connection mid-run.
        self.between_statements: Callable[[str, int], None] | None = None
        # What the last deploy's procedures and dbt steps put in place (the procedures'
        # archive and handlers, the dbt project EXECUTE DBT PROJECT runs).
        self.procedures = PROCEDURES_ARCHIVE
        self.project_file = PROJECT_FILE
        self.dbt_dir = DBT_DIR
        self._modules: dict[Path, dict[str, ModuleType]] = {}  # other archives' imports
        self._code_depth = 0  # procedure calls under way (a procedure may call others)
        self._emulation_changed = False
        self._conn: Any = None
        self._session: Any = None
        self.counters = {
            "files_loaded": 0,
            "rows_loaded": 0,
            "duplicate_files": 0,
            "graph_runs": 0,
            "procedure_calls": 0,
            "lines_rejected": 0,
            "files_rejected": 0,
        }

    # -- connections -------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        if self._conn is None:
            import snowflake.connector

            # qmark: parameters are bound by the server, never spliced into the SQL text.
            self._conn = snowflake.connector.connect(
                **self.warehouse.connect_kwargs(), paramstyle="qmark"
            )
        return self._conn

    def execute(self, statement: str, params: list[Any] | None = None) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    @property
    def session(self) -> Any:
        if self._session is None:
            from snowflake.snowpark import Session

            kwargs = self.warehouse.connect_kwargs(schema="SILVER")
            self._session = Session.builder.configs(kwargs).create()
        return self._session

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception as exc:
                # Snowpark cancels running queries with a SYSTEM$ function fakesnow lacks;
                # the connection itself is closed either way.
                log.debug("session close: %s", exc)
            # Snowpark would try again at interpreter exit, after the server is gone.
            atexit.unregister(session._close_at_exit)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
