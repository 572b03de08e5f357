"""REFRESH_SILVER: one run of the silver graph's work, the load and then every builder.

The triggered task calls this one procedure instead of running five tasks. A serverless
task run is billed for its compute, and five runs a minute paid five times for what
costs the most in a run this small (the compute coming up and the session starting);
one run pays once and its stages share the session. It also removes a hop from an
event's way to SILVER: the builders start when the load commits, not when the graph's
next tasks are scheduled.

Each stage stays a procedure of its own, callable alone (operators, tests, backfills),
and each keeps its crash safety: what a stage takes from its stream it holds in
OPS.CONSUMER_BATCH until it has finished, so a run that ends anywhere loses nothing.
A stage that fails does not stop the others (a builder's poison must not starve the
rest of SILVER); the run still fails afterwards, naming every failed stage with its
error, so the task history, TASKS_ALERT and `mempool status` see it as before.
"""

from __future__ import annotations

from typing import Any

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
            results.append(str(session.call(stage)))
        except Exception as exc:  # every stage runs; the run fails after them all
            failures.append(f"{stage}: {type(exc).__name__}: {exc}")
    return results, failures


def run(session: Any) -> str:
    results, failures = run_stages(session)
    if failures:
        raise StagesFailed(
            f"{len(failures)} of {len(STAGES)} stages failed: "
            + " | ".join(failures)
            + (f" (the others ran: {' | '.join(results)})" if results else "")
        )
    return "REFRESH_SILVER: " + " | ".join(results)
