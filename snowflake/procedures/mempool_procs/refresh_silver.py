"""REFRESH_SILVER: one run of the silver graph's work, the load and then every builder.

The triggered task calls this one procedure instead of running a task per stage: one
run to schedule, size and bill instead of five, started at most once per trigger
interval; and one hop less on an event's way to SILVER, since the builders start when
the load has committed, not when the graph schedules its next tasks. Serverless
compute bills what a run uses (no per-run minimum is documented), and each stage is
still its own procedure call, so what one run saves against five is for
SNOWFLAKE.ACCOUNT_USAGE.SERVERLESS_TASK_HISTORY to say: `mempool budget --task-compute`
takes the measured figure.

Each stage stays a procedure of its own, callable alone (operators, tests, backfills),
and each keeps its crash safety: what a stage takes from its stream it holds in
OPS.CONSUMER_BATCH until it has finished, so a run that ends anywhere loses nothing.
A stage that fails does not stop the others (a builder's poison must not starve the
rest of SILVER); the run still fails afterwards, naming every failed stage with its
error, so the task history, TASKS_ALERT and `mempool status` see it as before. Stages
are called with a plain CALL statement: Snowpark's Session.call would first DESCRIBE
each procedure for its return type, five more statements a run for nothing.
"""

from __future__ import annotations

from typing import Any

# Requests for a run (60_tasks.sql: the task runs only when one is waiting). Consumed
# first, so a request made while this run works starts the next run.
STREAM = "OPS.SILVER_REQUESTS_STRM"
# One row a run: how many requests it served (how many from the idle tick) and since
# when, so an operator sees how long a request waited and whether anyone was watching.
# A DML statement that reads the stream moves its offset when it commits.
SERVE_REQUESTS = f"""
INSERT INTO OPS.SILVER_REFRESHES
  (STARTED_AT, REQUESTS, TICK_REQUESTS, FIRST_REQUESTED_AT, LAST_REQUESTED_AT)
SELECT SYSDATE(), COUNT(*), COALESCE(SUM(IFF(REQUESTED_BY = 'SILVER_TICK', 1, 0)), 0),
  MIN(REQUESTED_AT), MAX(REQUESTED_AT)
FROM {STREAM}
"""
# In order: the load first (the builders read what it commits), then the builders.
STAGES = (
    "SILVER.LOAD_EVENTS",
    "SILVER.BUILD_STATS",
    "SILVER.BUILD_BLOCKS",
    "SILVER.BUILD_PRICES",
    "SILVER.BUILD_PROJECTED",
)


class StagesFailed(RuntimeError):
    """Some stages failed; the others ran. The message names each with its error."""


def run_stages(session: Any, stages: tuple[str, ...] = STAGES) -> tuple[list[str], list[str]]:
    """Call each stage in order; return what the stages returned and what failed."""
    results: list[str] = []
    failures: list[str] = []
    for stage in stages:
        try:
            rows = session.sql(f"CALL {stage}()").collect()
            results.append(str(rows[0][0]) if rows else "")
        except Exception as exc:  # every stage runs; the run fails after them all
            failures.append(f"{stage}: {type(exc).__name__}: {exc}")
    return results, failures


def run(session: Any) -> str:
    session.sql(SERVE_REQUESTS).collect()
    results, failures = run_stages(session)
    if failures:
        raise StagesFailed(
            f"{len(failures)} of {len(STAGES)} stages failed: "
            + " | ".join(failures)
            + (f" (the others ran: {' | '.join(results)})" if results else "")
        )
    return "REFRESH_SILVER: " + " | ".join(results)
