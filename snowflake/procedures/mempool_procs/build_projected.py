"""BUILD_PROJECTED: the projected next block after every sequence, per connection, and
the current tx set. Incremental when events arrive in order; when a late event lands
before the connection's last applied frame, the connection is rebuilt from the latest
full set at or before it, so out-of-order delivery ends in the same states as in-order."""

from __future__ import annotations

import json
from typing import Any

from mempool_procs.common import (
    lit,
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


def _num(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return repr(value) if isinstance(value, float) else str(int(value))


def load_events(session: Any, origin: str, from_frame: int) -> list[Event]:
    rows = sql(
        session,
        f"""
        SELECT FRAME_SEQ, PAYLOAD, TO_VARCHAR(RECEIVED_AT), FLAGS FROM SILVER.EVENTS
        WHERE TOPIC = {lit(TOPIC)} AND ORIGIN_ID = {lit(origin)} AND FRAME_SEQ >= {from_frame}
        ORDER BY FRAME_SEQ""",
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
        f"""SELECT FRAME_SEQ, SEQUENCE, IS_VALID, EPOCH_FRAME_SEQ
        FROM SILVER.PROJECTED_BLOCK_STATES WHERE ORIGIN_ID = {lit(origin)}
        ORDER BY FRAME_SEQ DESC LIMIT 1""",
    )
    if not last:
        return Cursor()
    frame_seq, sequence, is_valid, epoch = last[0]
    cursor = Cursor(sequence=int(sequence), epoch_frame_seq=epoch, last_frame_seq=int(frame_seq))
    if is_valid:
        rows = sql(
            session,
            f"""SELECT TXID, FEE_SAT, VSIZE, VALUE_SAT, FEE_RATE, FIRST_SEEN_S
            FROM SILVER.PROJECTED_BLOCK_TXS WHERE ORIGIN_ID = {lit(origin)}""",
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
        f"""SELECT MAX(FRAME_SEQ) FROM SILVER.PROJECTED_BLOCK_STATES
                              WHERE ORIGIN_ID = {lit(origin)}""",
    )
    last_stored = stored[0][0]
    if last_stored is not None and first_new_frame > int(last_stored):
        cursor = load_cursor(session, origin)
        start = first_new_frame
    else:
        # A late event: restart from the newest full set at or before it.
        full = sql(
            session,
            f"""SELECT MAX(FRAME_SEQ) FROM SILVER.EVENTS
            WHERE TOPIC = {lit(TOPIC)} AND ORIGIN_ID = {lit(origin)}
              AND FRAME_SEQ <= {first_new_frame}
              AND PAYLOAD:blockTransactions IS NOT NULL""",
        )
        start = int(full[0][0]) if full[0][0] is not None else 0
        cursor = Cursor()  # the full set itself resyncs the state
    states = apply(cursor, load_events(session, origin, start))
    sql(
        session,
        f"""DELETE FROM SILVER.PROJECTED_BLOCK_STATES
                     WHERE ORIGIN_ID = {lit(origin)} AND FRAME_SEQ >= {start}""",
    )
    write_states(session, origin, states)
    sql(session, f"DELETE FROM SILVER.PROJECTED_BLOCK_TXS WHERE ORIGIN_ID = {lit(origin)}")
    if cursor.txs:
        write_txs(session, origin, list(cursor.txs.values()), cursor.last_frame_seq)
    return len(states)


def write_states(session: Any, origin: str, states: list[State]) -> None:
    for i in range(0, len(states), CHUNK):
        values = ", ".join(
            f"({lit(origin)}, {s.frame_seq}, {s.sequence}, {_num(s.epoch_frame_seq)}, "
            f"{_num(s.is_full_set)}, {_num(s.is_valid)}, {lit(s.flags)}, "
            f"TO_TIMESTAMP_NTZ({lit(s.received_at)}), {_num(s.tx_count)}, "
            f"{_num(s.total_fees_sat)}, {_num(s.total_vsize)}, "
            + ", ".join(_num(r) for r in s.fee_rates)
            + ")"
            for s in states[i : i + CHUNK]
        )
        sql(
            session,
            f"""INSERT INTO SILVER.PROJECTED_BLOCK_STATES
            (ORIGIN_ID, FRAME_SEQ, SEQUENCE, EPOCH_FRAME_SEQ, IS_FULL_SET, IS_VALID, FLAGS,
             RECEIVED_AT, TX_COUNT, TOTAL_FEES_SAT, TOTAL_VSIZE, FEE_RATE_MIN, FEE_RATE_P10,
             FEE_RATE_P25, FEE_RATE_P50, FEE_RATE_P75, FEE_RATE_P90, FEE_RATE_MAX)
            VALUES {values}""",
        )


def write_txs(session: Any, origin: str, txs: list[Tx], as_of: int) -> None:
    for i in range(0, len(txs), CHUNK):
        values = ", ".join(
            f"({lit(origin)}, {lit(t.txid)}, {t.fee_sat}, {_num(t.vsize)}, {t.value_sat}, "
            f"{_num(t.fee_rate)}, {_num(t.first_seen_s)}, {as_of})"
            for t in txs[i : i + CHUNK]
        )
        sql(
            session,
            f"""INSERT INTO SILVER.PROJECTED_BLOCK_TXS
            (ORIGIN_ID, TXID, FEE_SAT, VSIZE, VALUE_SAT, FEE_RATE, FIRST_SEEN_S, AS_OF_FRAME_SEQ)
            VALUES {values}""",
        )


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
