"""BUILD_PROJECTED: the projected next block after every sequence, per connection, and
the current tx set. Incremental when events arrive in order; when a late event lands
before the connection's last applied frame, the connection is rebuilt from the latest
full set at or before it, so out-of-order delivery ends in the same states as in-order."""

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
from mempool_procs.projection import Cursor, Event, State, Tx, apply

CONSUMER = "projected"
STREAM = "SILVER.EVENTS_PROJECTED_STRM"
TOPIC = "projected-block-transactions"
CHUNK = 500


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
        """SELECT FRAME_SEQ, SEQUENCE, IS_VALID, EPOCH_FRAME_SEQ
        FROM SILVER.PROJECTED_BLOCK_STATES WHERE ORIGIN_ID = ?
        ORDER BY FRAME_SEQ DESC LIMIT 1""",
        [origin],
    )
    if not last:
        return Cursor()
    frame_seq, sequence, is_valid, epoch = last[0]
    cursor = Cursor(sequence=int(sequence), epoch_frame_seq=epoch, last_frame_seq=int(frame_seq))
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
        start = first_new_frame
    else:
        # A late event: restart from the newest full set at or before it.
        full = sql(
            session,
            """SELECT MAX(FRAME_SEQ) FROM SILVER.EVENTS
            WHERE TOPIC = ? AND ORIGIN_ID = ? AND FRAME_SEQ <= ?
              AND PAYLOAD:blockTransactions IS NOT NULL""",
            [TOPIC, origin, first_new_frame],
        )
        start = int(full[0][0]) if full[0][0] is not None else 0
        cursor = Cursor()  # the full set itself resyncs the state
    states = apply(cursor, load_events(session, origin, start))
    sql(
        session,
        "DELETE FROM SILVER.PROJECTED_BLOCK_STATES WHERE ORIGIN_ID = ? AND FRAME_SEQ >= ?",
        [origin, start],
    )
    write_states(session, origin, states)
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


def insert_rows(session: Any, table: str, columns: dict[str, str], rows: list[list[Any]]) -> None:
    """Insert rows as one bound JSON array per chunk: values never become SQL text."""
    select = ", ".join(f"f.value[{i}]::{kind}" for i, kind in enumerate(columns.values()))
    for i in range(0, len(rows), CHUNK):
        sql(
            session,
            f"""INSERT INTO {table} ({", ".join(columns)})
            SELECT {select} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f""",
            [json_param(rows[i : i + CHUNK])],
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


def write_txs(session: Any, origin: str, txs: list[Tx], as_of: int) -> None:
    rows = [
        [origin, t.txid, t.fee_sat, t.vsize, t.value_sat, t.fee_rate, t.first_seen_s, as_of]
        for t in txs
    ]
    insert_rows(session, "SILVER.PROJECTED_BLOCK_TXS", TX_COLUMNS, rows)


def run(session: Any) -> str:
    pending = take_from_stream(session, CONSUMER, STREAM, [TOPIC])
    if pending == 0:
        return "BUILD_PROJECTED: nothing new"
    affected = sql(
        session,
        f"""SELECT ORIGIN_ID, MIN(FRAME_SEQ) FROM {pending_events(CONSUMER)} e
                                GROUP BY ORIGIN_ID ORDER BY ORIGIN_ID""",
    )
    written = sum(rebuild_origin(session, str(origin), int(first)) for origin, first in affected)
    release(session, CONSUMER)
    return f"BUILD_PROJECTED: {pending} events, {len(affected)} connections, {written} states"
