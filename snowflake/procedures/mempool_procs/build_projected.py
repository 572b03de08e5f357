"""BUILD_PROJECTED: the projected next block after every sequence, per connection, the
current tx set, and the projection each block ended (SILVER.BLOCK_PROJECTIONS: what the
connection projected for that height, with its txids). Incremental when events arrive
in order; when a late event (or a late `block`) lands before the connection's last
applied frame, the connection is rebuilt from the last full set before it, so
out-of-order delivery ends in the same states as in-order.

A connection's states, projections and tx set are rewritten in one transaction: a run
killed half-way leaves the last committed rebuild whole, which the next run continues
from. Payloads that are not what mempool.space sends are quarantined (stage
`projected`) and count as updates whose content is lost."""

from __future__ import annotations

import json
from typing import Any

from mempool_procs.build_blocks import highest_plausible
from mempool_procs.common import (
    json_param,
    quarantine,
    release,
    sql,
    take_from_stream,
    time_text,
    transaction,
)
from mempool_procs.plausible import array_or_null
from mempool_procs.projection import (
    BlockSeen,
    Cursor,
    Event,
    Snapshot,
    State,
    Tx,
    apply,
    problem,
    sequence_of,
)

CONSUMER = "projected"
STREAM = "SILVER.EVENTS_PROJECTED_STRM"
TOPIC = "projected-block-transactions"
# A connection's own `block` events end its projections; a late one re-runs the rebuild.
BLOCK_TOPIC = "block"
CHUNK = 500
SNAPSHOT_CHUNK = 20  # each snapshot carries a block's worth of txids


def highest_height(session: Any) -> int:
    """Heights a connection's blocks may raise its tip to: the ceiling BUILD_BLOCKS keeps
    blocks under (a false block a million heights up would otherwise end the connection's
    projections for good). BUILD_BLOCKS, a sibling task, may not have the newest blocks
    yet; the ceiling leaves a day's worth of room above the tip for them."""
    return highest_plausible(session)


BLOCKS_SEEN = f"""
    SELECT FRAME_SEQ, TRUE AS ENDS, TRY_TO_DOUBLE(TO_JSON(PAYLOAD:height)) AS HEIGHT,
           PAYLOAD:id::VARCHAR AS BLOCK_HASH, {time_text("RECEIVED_AT")} AS SEEN_AT
    FROM SILVER.EVENTS
    WHERE TOPIC = '{BLOCK_TOPIC}' AND ORIGIN_ID = ? AND FRAME_SEQ {{op}} ?
    UNION ALL
    SELECT e.FRAME_SEQ, FALSE, MAX(TRY_TO_DOUBLE(TO_JSON(p.value:height))), NULL,
           {time_text("MAX(e.RECEIVED_AT)")}
    FROM SILVER.EVENTS e, LATERAL FLATTEN(input => {array_or_null("e.PAYLOAD")}) p
    WHERE e.TOPIC = 'blocks' AND e.ORIGIN_ID = ? AND e.FRAME_SEQ {{op}} ?
    GROUP BY e.FRAME_SEQ"""


def load_blocks(session: Any, origin: str, from_frame: int) -> list[BlockSeen]:
    """The blocks the connection saw from `from_frame` on, in frame order."""
    rows = sql(
        session,
        BLOCKS_SEEN.format(op=">=") + " ORDER BY 1",
        [origin, from_frame, origin, from_frame],
    )
    ceiling = highest_height(session)
    return [
        BlockSeen(int(frame), int(height), str(block_hash or ""), str(seen), bool(ends))
        for frame, ends, height, block_hash, seen in rows
        if whole(height, ceiling) and (block_hash is not None or not ends)
    ]


def whole(value: Any, ceiling: int) -> bool:
    """A height a block may have: a whole number from 0 to `ceiling` (a payload's NaN or
    1e400 arrives here as a float)."""
    try:
        return value is not None and float(value) == int(value) and 0 <= int(value) <= ceiling
    except (ValueError, OverflowError):
        return False


def tip_before(session: Any, origin: str, frame: int) -> int | None:
    """The highest plausible block height the connection saw before `frame`."""
    rows = sql(
        session,
        f"SELECT MAX(x.HEIGHT) FROM ({BLOCKS_SEEN.format(op='<')}) x "
        "WHERE x.HEIGHT BETWEEN 0 AND ? AND x.HEIGHT = FLOOR(x.HEIGHT)",
        [origin, frame, origin, frame, highest_height(session)],
    )
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def load_events(session: Any, origin: str, from_frame: int) -> tuple[list[Event], list[list[str]]]:
    """The connection's updates from `from_frame` on, and [event key, reason] of each
    payload that is not what mempool.space sends (those with a sequence still count)."""
    rows = sql(
        session,
        f"""
        SELECT FRAME_SEQ, PAYLOAD, {time_text("RECEIVED_AT")}, FLAGS, EVENT_KEY
        FROM SILVER.EVENTS
        WHERE TOPIC = ? AND ORIGIN_ID = ? AND FRAME_SEQ >= ?
        ORDER BY FRAME_SEQ""",
        [TOPIC, origin, from_frame],
    )
    events, rejected = [], []
    for frame_seq, payload, received_at, flags, event_key in rows:
        body = json.loads(payload) if isinstance(payload, str) else payload
        reason = problem(body)
        sequence = sequence_of(body)
        if reason:
            rejected.append([str(event_key), reason])
        if sequence is None:
            continue  # no place in the sequence: the next update shows the gap
        flag_list = json.loads(flags) if isinstance(flags, str) else (flags or [])
        events.append(
            Event(
                int(frame_seq),
                sequence,
                str(received_at),
                body if not reason else {},
                tuple(str(f) for f in flag_list) if isinstance(flag_list, list) else (),
                malformed=bool(reason),
            )
        )
    return events, rejected


def load_cursor(session: Any, origin: str) -> Cursor:
    """The cursor after the connection's last stored state and its current tx set."""
    last = sql(
        session,
        f"""SELECT FRAME_SEQ, SEQUENCE, IS_VALID, EPOCH_FRAME_SEQ, {time_text("RECEIVED_AT")}
        FROM SILVER.PROJECTED_BLOCK_STATES WHERE ORIGIN_ID = ?
        ORDER BY FRAME_SEQ DESC LIMIT 1""",
        [origin],
    )
    if not last:
        return Cursor()
    frame_seq, sequence, is_valid, epoch, received_at = last[0]
    cursor = Cursor(
        sequence=int(sequence),
        epoch_frame_seq=epoch,
        last_frame_seq=int(frame_seq),
        last_received_at=str(received_at),
    )
    if is_valid:
        rows = sql(
            session,
            """SELECT TXID, FEE_SAT, VSIZE, VALUE_SAT, FEE_RATE, FIRST_SEEN_S
            FROM SILVER.PROJECTED_BLOCK_TXS WHERE ORIGIN_ID = ?""",
            [origin],
        )
        cursor.txs = {
            str(r[0]): Tx(
                str(r[0]),
                int(r[1]),
                float(r[2]),
                int(r[3] or 0),
                float(r[4]),
                None if r[5] is None else int(r[5]),
            )
            for r in rows
        }
    return cursor


def rebuild_origin(session: Any, origin: str, first_new_frame: int) -> int:
    stored = sql(
        session,
        "SELECT MAX(FRAME_SEQ) FROM SILVER.PROJECTED_BLOCK_STATES WHERE ORIGIN_ID = ?",
        [origin],
    )
    last_stored = stored[0][0]
    if last_stored is not None and first_new_frame > int(last_stored):
        cursor = load_cursor(session, origin)
        start = blocks_from = first_new_frame
    else:
        # A late event: restart from the newest full set before it. Strictly before: a
        # block's frame often carries a full set, and the block needs the state before it.
        full = sql(
            session,
            """SELECT MAX(FRAME_SEQ) FROM SILVER.EVENTS
            WHERE TOPIC = ? AND ORIGIN_ID = ? AND FRAME_SEQ < ?
              AND PAYLOAD:blockTransactions IS NOT NULL""",
            [TOPIC, origin, first_new_frame],
        )
        start = int(full[0][0]) if full[0][0] is not None else 0
        cursor = Cursor()  # the full set itself resyncs the state
        # A block in the full set's own frame ended the state before it, which stays.
        blocks_from = start + 1
    cursor.tip_height = tip_before(session, origin, blocks_from)
    events, rejected = load_events(session, origin, start)
    if rejected:
        quarantine(
            session,
            "projected",
            """SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD AS RECORD, e.EVENT_KEY,
                       f.value[1]::VARCHAR AS REASON
                FROM SILVER.EVENTS e, LATERAL FLATTEN(input => PARSE_JSON(?)) f
                WHERE e.EVENT_KEY = f.value[0]::VARCHAR AND e.ORIGIN_ID = ? AND e.TOPIC = ?""",
            [json_param(rejected), origin, TOPIC],
        )
    states = apply(cursor, events, load_blocks(session, origin, blocks_from))
    with transaction(session):
        for table, first in (
            ("SILVER.PROJECTED_BLOCK_STATES", start),
            ("SILVER.BLOCK_PROJECTIONS", blocks_from),
        ):
            sql(
                session,
                f"DELETE FROM {table} WHERE ORIGIN_ID = ? AND FRAME_SEQ >= ?",
                [origin, first],
            )
        write_states(session, origin, states)
        write_snapshots(session, origin, cursor.snapshots)
        sql(session, "DELETE FROM SILVER.PROJECTED_BLOCK_TXS WHERE ORIGIN_ID = ?", [origin])
        if cursor.txs:
            write_txs(session, origin, list(cursor.txs.values()), cursor.last_frame_seq)
    return len(states)


STATE_COLUMNS = {
    "ORIGIN_ID": "VARCHAR",
    "FRAME_SEQ": "NUMBER",
    "SEQUENCE": "NUMBER",
    "EPOCH_FRAME_SEQ": "NUMBER",
    "IS_FULL_SET": "BOOLEAN",
    "IS_VALID": "BOOLEAN",
    "FLAGS": "VARCHAR",
    "RECEIVED_AT": "TIMESTAMP_NTZ",
    "TX_COUNT": "NUMBER",
    "TOTAL_FEES_SAT": "NUMBER",
    "TOTAL_VSIZE": "FLOAT",
    "FEE_RATE_MIN": "FLOAT",
    "FEE_RATE_P10": "FLOAT",
    "FEE_RATE_P25": "FLOAT",
    "FEE_RATE_P50": "FLOAT",
    "FEE_RATE_P75": "FLOAT",
    "FEE_RATE_P90": "FLOAT",
    "FEE_RATE_MAX": "FLOAT",
}
SNAPSHOT_COLUMNS = {
    "ORIGIN_ID": "VARCHAR",
    "FRAME_SEQ": "NUMBER",
    "HEIGHT": "NUMBER",
    "ENDED_BY_HASH": "VARCHAR",
    "BLOCK_SEEN_AT": "TIMESTAMP_NTZ",
    "STATE_FRAME_SEQ": "NUMBER",
    "PROJECTED_AT": "TIMESTAMP_NTZ",
    "TX_COUNT": "NUMBER",
    "TOTAL_FEES_SAT": "NUMBER",
    "TXIDS": "VARIANT",
}
TX_COLUMNS = {
    "ORIGIN_ID": "VARCHAR",
    "TXID": "VARCHAR",
    "FEE_SAT": "NUMBER",
    "VSIZE": "FLOAT",
    "VALUE_SAT": "NUMBER",
    "FEE_RATE": "FLOAT",
    "FIRST_SEEN_S": "NUMBER",
    "AS_OF_FRAME_SEQ": "NUMBER",
}


def insert_rows(
    session: Any,
    table: str,
    columns: dict[str, str],
    rows: list[list[Any]],
    chunk: int = CHUNK,
    stamp: str | None = None,
) -> None:
    """Insert rows as one bound JSON array per chunk: values never become SQL text.
    `stamp` names a column set to the insert time."""
    select = ", ".join(
        f"f.value[{i}]" if kind == "VARIANT" else f"f.value[{i}]::{kind}"
        for i, kind in enumerate(columns.values())
    )
    names = ", ".join(columns)
    if stamp:
        names += f", {stamp}"
        select += ", SYSDATE()"
    for i in range(0, len(rows), chunk):
        sql(
            session,
            f"""INSERT INTO {table} ({names})
            SELECT {select} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f""",
            [json_param(rows[i : i + chunk])],
        )


def write_states(session: Any, origin: str, states: list[State]) -> None:
    rows = [
        [
            origin,
            s.frame_seq,
            s.sequence,
            s.epoch_frame_seq,
            s.is_full_set,
            s.is_valid,
            s.flags,
            s.received_at,
            s.tx_count,
            s.total_fees_sat,
            s.total_vsize,
            *s.fee_rates,
        ]
        for s in states
    ]
    insert_rows(session, "SILVER.PROJECTED_BLOCK_STATES", STATE_COLUMNS, rows, stamp="LOADED_AT")


def write_snapshots(session: Any, origin: str, snapshots: list[Snapshot]) -> None:
    rows = [
        [
            origin,
            s.block_frame_seq,
            s.height,
            s.block_hash,
            s.block_seen_at,
            s.state_frame_seq,
            s.projected_at,
            s.tx_count,
            s.total_fees_sat,
            list(s.txids),
        ]
        for s in snapshots
    ]
    insert_rows(
        session,
        "SILVER.BLOCK_PROJECTIONS",
        SNAPSHOT_COLUMNS,
        rows,
        chunk=SNAPSHOT_CHUNK,
        stamp="LOADED_AT",
    )


def write_txs(session: Any, origin: str, txs: list[Tx], as_of: int) -> None:
    rows = [
        [origin, t.txid, t.fee_sat, t.vsize, t.value_sat, t.fee_rate, t.first_seen_s, as_of]
        for t in txs
    ]
    insert_rows(session, "SILVER.PROJECTED_BLOCK_TXS", TX_COLUMNS, rows)


def run(session: Any) -> str:
    held = take_from_stream(session, CONSUMER, STREAM, [TOPIC, BLOCK_TOPIC])
    if held.count == 0:
        return "BUILD_PROJECTED: nothing new"
    # Blocks from the poller or a backfill belong to no connection's projections.
    affected = sql(
        session,
        f"""SELECT ORIGIN_ID, MIN(FRAME_SEQ) FROM {held.events()} e
            WHERE e.SOURCE = 'ws' GROUP BY ORIGIN_ID ORDER BY ORIGIN_ID""",
    )
    written = sum(rebuild_origin(session, str(origin), int(first)) for origin, first in affected)
    release(session, held)
    return f"BUILD_PROJECTED: {held.count} events, {len(affected)} connections, {written} states"
