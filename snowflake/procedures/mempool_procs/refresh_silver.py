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
STREAM = "SILVER.REQUESTS_STRM"
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
# What each run does before the stages: since the Live page makes a request at each
# refresh and they are only ever needed until served, drop those older than a day; then
# serve the waiting requests, and keep a month of the log. The purge comes first: a
# DELETE after the statement that consumes the stream would leave a table version past
# its offset, which SYSTEM$STREAM_HAS_DATA is "not guaranteed" not to count as data
# (its page: it avoids false negatives, not false positives), a run nobody asked for.
# https://docs.snowflake.com/en/sql-reference/functions/system_stream_has_data
HOUSEKEEPING = (
    (
        "purging old requests",
        "DELETE FROM OPS.SILVER_REQUESTS WHERE REQUESTED_AT < DATEADD('day', -1, SYSDATE())",
    ),
    ("serving the requests", SERVE_REQUESTS),
    (
        "purging the log",
        "DELETE FROM OPS.SILVER_REFRESHES WHERE STARTED_AT < DATEADD('day', -30, SYSDATE())",
    ),
)
# A failed run asks for the next one at once, as a run used to follow whenever data
# landed: what it left (in RAW, a stream or a hand-off table) is retried at the next
# trigger interval, not at the next idle tick.
RETRY = "INSERT INTO OPS.SILVER_REQUESTS (REQUESTED_AT, REQUESTED_BY) SELECT SYSDATE(), 'RETRY'"
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


def housekeeping(session: Any) -> list[str]:
    """The housekeeping statements; return what failed. A failure here stops no stage:
    the stages are what SILVER is for."""
    failures = []
    for what, statement in HOUSEKEEPING:
        try:
            session.sql(statement).collect()
        except Exception as exc:  # the stages run whatever happened here
            failures.append(f"{what}: {type(exc).__name__}: {exc}")
    return failures


def run(session: Any) -> str:
    chores = housekeeping(session)
    results, failures = run_stages(session)
    if failures or chores:
        try:
            session.sql(RETRY).collect()
        except Exception as exc:  # the run fails with what failed, this included
            chores.append(f"requesting a retry: {type(exc).__name__}: {exc}")
        raise StagesFailed(
            f"{len(failures)} of {len(STAGES)} stages failed"
            + (f", and {len(chores)} housekeeping step(s)" if chores else "")
            + ": "
            + " | ".join(chores + failures)
            + (f" (the others ran: {' | '.join(results)})" if results else "")
        )
    return "REFRESH_SILVER: " + " | ".join(results)
