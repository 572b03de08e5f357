"""Helpers shared by the procedures. Set work is SQL through `session.sql()`, so the same
handlers run on Snowflake and on the local fakesnow server.

Data never becomes SQL text: values travel as bind parameters (`?`), and sets of values
as one JSON array parameter read back with FLATTEN. Only names written in this package
(tables, streams, consumers, topics) are part of statements.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def time_text(column: str) -> str:
    """SQL: a TIMESTAMP_NTZ as sortable text with microseconds, whatever the account's
    TIMESTAMP_NTZ_OUTPUT_FORMAT (the default drops them; another breaks the sort)."""
    return f"TO_VARCHAR({column}, 'YYYY-MM-DD HH24:MI:SS.FF6')"


def new_batch_id() -> str:
    """Sortable by creation time, unique across concurrent runs."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]


def name(value: str) -> str:
    """A name from this package's own code, checked before it becomes part of SQL."""
    if not _NAME.match(value):
        raise ValueError(f"not a plain name: {value!r}")
    return value


def sql(session: Any, text: str, params: Sequence[Any] | None = None) -> list[Any]:
    if params:
        return list(session.sql(text, params=list(params)).collect())
    return list(session.sql(text).collect())


def json_param(rows: Sequence[Any]) -> str:
    """Many values as one bind parameter: `TABLE(FLATTEN(INPUT => PARSE_JSON(?)))`."""
    return json.dumps(list(rows), separators=(",", ":"), ensure_ascii=False)


def placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


@dataclass(frozen=True)
class Held:
    """What one run of a consumer works on: the batches it found in OPS.CONSUMER_BATCH
    right after its own take (its new batch, and any a run before it left unfinished),
    and how many event keys they hold.

    A run reads and releases only these batches. Two runs of one consumer can overlap (a
    procedure called by hand while the task runs it): without this, one run's release
    would delete the keys the other took from the stream after the first had merged, and
    those events would never reach SILVER. Two runs holding the same batch both merge
    it, which changes nothing for the builders that merge by key; each leaves what it
    did not hold to its owner. What this does not make safe: BUILD_PROJECTED's rebuild
    of a connection (delete from a frame on, insert) run twice at once can leave a gap
    until that connection's next rebuild, and a run of a release before this one still
    releases every batch; no lease keeps two runs of one consumer apart.
    """

    consumer: str
    batches: tuple[str, ...]
    count: int

    def events(self) -> str:
        """The held events, as a subquery (batch ids are this package's, checked)."""
        ids = ", ".join(f"'{name(b)}'" for b in self.batches) or "NULL"
        return f"""(SELECT e.* FROM SILVER.EVENTS e
        WHERE e.EVENT_KEY IN (SELECT EVENT_KEY FROM OPS.CONSUMER_BATCH
                              WHERE CONSUMER = '{name(self.consumer)}'
                                AND BATCH_ID IN ({ids})))"""


def take_from_stream(session: Any, consumer: str, stream: str, topics: list[str]) -> Held:
    """Move the stream's new event keys for `topics` into OPS.CONSUMER_BATCH under a new
    batch; return what this run holds (a count of 0: nothing to do this run).

    This INSERT is the DML that consumes the stream: when it commits, the stream's offset
    moves past everything it held. Keys stay in CONSUMER_BATCH until the consumer has
    finished with them, so a crash between the two loses nothing.
    """
    sql(
        session,
        f"""
        INSERT INTO OPS.CONSUMER_BATCH (CONSUMER, EVENT_KEY, TOPIC, BATCH_ID)
        SELECT ?, EVENT_KEY, TOPIC, ?
        FROM {name(stream)} WHERE TOPIC IN ({placeholders(len(topics))})""",
        [consumer, new_batch_id(), *topics],
    )
    rows = sql(
        session,
        "SELECT BATCH_ID, COUNT(*) FROM OPS.CONSUMER_BATCH WHERE CONSUMER = ? "
        "GROUP BY BATCH_ID ORDER BY BATCH_ID",
        [consumer],
    )
    return Held(consumer, tuple(str(r[0]) for r in rows), sum(int(r[1]) for r in rows))


def release(session: Any, held: Held) -> None:
    """The run is done with its batches: only those leave OPS.CONSUMER_BATCH."""
    sql(
        session,
        "DELETE FROM OPS.CONSUMER_BATCH WHERE CONSUMER = ? AND BATCH_ID IN "
        "(SELECT VALUE::VARCHAR FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))))",
        [held.consumer, json_param(held.batches)],
    )


@contextmanager
def transaction(session: Any) -> Iterator[None]:
    """Statements that must land together: a task killed half-way, or a gold build
    reading in between, sees all of them or none. Only INSERT, UPDATE and DELETE go
    inside (every MERGE here is one statement, atomic on its own; the local engine cannot
    run a MERGE in an explicit transaction). A procedure that fails with the transaction
    open rolls it back, as Snowflake requires of a transaction a procedure began.
    https://docs.snowflake.com/en/sql-reference/transactions (stored procedures)
    """
    sql(session, "BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        # The error that ended the work is the one to report, even if the rollback fails.
        with suppress(Exception):
            sql(session, "ROLLBACK")
        raise
    sql(session, "COMMIT")


def quarantine(session: Any, stage: str, rows: str, params: Sequence[Any] | None = None) -> None:
    """Send the rows of `rows` that have a REASON to OPS.QUARANTINE under `stage`, once.

    `rows` is a query (bound with `params`) with SOURCE_FILE, SOURCE_ROW, TOPIC, RECORD,
    EVENT_KEY and REASON (NULL when the row is fine). A row is known by its file, row,
    stage and record (an event carrying several items quarantines each bad item). The
    source is made unique on that key first: Snowflake's MERGE inserts every unmatched
    source row, duplicates too.
    https://docs.snowflake.com/en/sql-reference/sql/merge (duplicate join behavior)
    """
    sql(
        session,
        f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT * FROM ({rows}) r WHERE r.REASON IS NOT NULL
               QUALIFY ROW_NUMBER() OVER (PARTITION BY r.SOURCE_FILE, r.SOURCE_ROW,
                                          TO_JSON(r.RECORD) ORDER BY r.REASON) = 1) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW
           AND q.STAGE = '{name(stage)}' AND TO_JSON(q.RECORD) = TO_JSON(s.RECORD)
        WHEN NOT MATCHED THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, s.TOPIC, '{name(stage)}',
                s.REASON, s.RECORD, s.EVENT_KEY, SYSDATE())""",
        params,
    )
