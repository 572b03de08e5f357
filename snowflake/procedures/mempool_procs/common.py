"""Helpers shared by the procedures. Set work is SQL through `session.sql()`, so the same
handlers run on Snowflake and on the local fakesnow server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def new_batch_id() -> str:
    """Sortable by creation time, unique across concurrent runs."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql(session: Any, text: str) -> list[Any]:
    return list(session.sql(text).collect())


def take_from_stream(session: Any, consumer: str, stream: str, topics: list[str]) -> int:
    """Move the stream's new event keys for `topics` into OPS.CONSUMER_BATCH; return how
    many keys the consumer now holds (0: nothing to do this run).

    This INSERT is the DML that consumes the stream: when it commits, the stream's offset
    moves past everything it held. Keys stay in CONSUMER_BATCH until the consumer has
    finished with them, so a crash between the two loses nothing.
    """
    topic_list = ", ".join(lit(t) for t in topics)
    sql(
        session,
        f"""
        INSERT INTO OPS.CONSUMER_BATCH (CONSUMER, EVENT_KEY, TOPIC, BATCH_ID)
        SELECT {lit(consumer)}, EVENT_KEY, TOPIC, {lit(new_batch_id())}
        FROM {stream} WHERE TOPIC IN ({topic_list})""",
    )
    return count_pending(session, consumer)


def pending_events(consumer: str) -> str:
    """The events a consumer holds, as a subquery."""
    return f"""(SELECT e.* FROM SILVER.EVENTS e
        WHERE e.EVENT_KEY IN (SELECT EVENT_KEY FROM OPS.CONSUMER_BATCH
                              WHERE CONSUMER = {lit(consumer)}))"""


def count_pending(session: Any, consumer: str) -> int:
    rows = sql(session, f"SELECT COUNT(*) FROM OPS.CONSUMER_BATCH WHERE CONSUMER = {lit(consumer)}")
    return int(rows[0][0])


def release(session: Any, consumer: str) -> None:
    sql(session, f"DELETE FROM OPS.CONSUMER_BATCH WHERE CONSUMER = {lit(consumer)}")
