"""BUILD_PROJECTED: the projected next block after every sequence, per connection, the
current tx set, and the projection each block ended (SILVER.BLOCK_PROJECTIONS: what the
connection projected for that height, with its txids). Incremental when events arrive
in order; when a late event (or a late `block`) lands before the connection's last
applied frame, the connection is rebuilt from the last full set before it, so
out-of-order delivery ends in the same states as in-order."""

from __future__ import annotations

import json
from typing import Any

from mempool_procs.common import (
    json_param,
    pending_events,
    release,
    sql,
    take_from_stream,
)
from mempool_procs.projection import BlockSeen, Cursor, Event, Snapshot, State, Tx, apply

CONSUMER = "projected"
STREAM = "SILVER.EVENTS_PROJECTED_STRM"
TOPIC = "projected-block-transactions"
# A connection's own `block` events end its projections; a late one re-runs the rebuild.
BLOCK_TOPIC = "block"
CHUNK = 500
SNAPSHOT_CHUNK = 20  # each snapshot carries a block's worth of txids


def load_blocks(session: Any, origin: str, from_frame: int) -> list[BlockSeen]:
    rows = sql(
        session,
        """
        SELECT FRAME_SEQ, TRY_TO_NUMBER(TO_JSON(PAYLOAD:height)), PAYLOAD:id::VARCHAR,
               TO_VARCHAR(RECEIVED_AT)
        FROM SILVER.EVENTS
        WHERE TOPIC = ? AND ORIGIN_ID = ? AND FRAME_SEQ >= ?
        ORDER BY FRAME_SEQ""",
        [BLOCK_TOPIC, origin, from_frame],
    )
    return [
        BlockSeen(int(frame_seq), int(height), str(block_hash), str(received_at))
        for frame_seq, height, block_hash, received_at in rows
        if height is not None and block_hash is not None
    ]


def load_events(session: Any, origin: str, from_frame: int) -> list[Event]:
    rows = sql(
        session,
        """
        SELECT FRAME_SEQ, PAYLOAD, TO_VARCHAR(RECEIVED_AT), FLAGS FROM SILVER.EVENTS
        WHERE TOPIC = ? AND ORIGIN_ID = ? AND FRAME_SEQ >= ?
        ORDER BY FRAME_SEQ""",
        [TOPIC, origin, from_frame],
    )
    events = []
    for frame_seq, payload, received_at, flags in rows:
        body = json.loads(payload) if isinstance(payload, str) else payload
        if not isinstance(body, dict) or not isinstance(body.get("sequence"), int):
            continue
        flag_list = json.loads(flags) if isinstance(flags, str) else (flags or [])
        events.append(
            Event(int(frame_seq), int(body["sequence"]), str(received_at), body, tuple(flag_list))
        )
    return events


def load_cursor(session: Any, origin: str) -> Cursor:
    """The cursor after the connection's last stored state and its current tx set."""
    last = sql(
        session,
        """SELECT FRAME_SEQ, SEQUENCE, IS_VALID, EPOCH_FRAME_SEQ, TO_VARCHAR(RECEIVED_AT)
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
    states = apply(
        cursor, load_events(session, origin, start), load_blocks(session, origin, blocks_from)
    )
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
    insert_rows(session, "SILVER.PROJECTED_BLOCK_STATES", STATE_COLUMNS, rows)


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
    pending = take_from_stream(session, CONSUMER, STREAM, [TOPIC, BLOCK_TOPIC])
    if pending == 0:
        return "BUILD_PROJECTED: nothing new"
    # Blocks from the poller or a backfill belong to no connection's projections.
    affected = sql(
        session,
        f"""SELECT ORIGIN_ID, MIN(FRAME_SEQ) FROM {pending_events(CONSUMER)} e
            WHERE e.SOURCE = 'ws' GROUP BY ORIGIN_ID ORDER BY ORIGIN_ID""",
    )
    written = sum(rebuild_origin(session, str(origin), int(first)) for origin, first in affected)
    release(session, CONSUMER)
    return f"BUILD_PROJECTED: {pending} events, {len(affected)} connections, {written} states"
