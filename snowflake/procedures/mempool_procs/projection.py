"""Rebuilding mempool.space's projected next block from a full set and its deltas (pure).

Events of one connection are applied in frame order (our client's arrival order, which
within one connection is mempool.space's `sequence` order). A delta whose sequence does
not follow the last applied one (a gap, or a server restart) makes the state unknown
until the next full set resyncs it; a repeated sequence is the same update re-sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (0.10, 0.25, 0.50, 0.75, 0.90)


@dataclass(frozen=True)
class Tx:
    txid: str
    fee_sat: int
    vsize: float
    value_sat: int
    fee_rate: float
    first_seen_s: int | None


def tx_from_array(item: list[Any]) -> Tx:
    """[txid, fee, vsize, value, rate, flags, first_seen, acceleration?]"""
    return Tx(
        txid=str(item[0]),
        fee_sat=int(item[1]),
        vsize=float(item[2]),
        value_sat=int(item[3]) if len(item) > 3 and item[3] is not None else 0,
        fee_rate=float(item[4])
        if len(item) > 4 and item[4] is not None
        else float(item[1]) / max(float(item[2]), 1e-9),
        first_seen_s=int(item[6]) if len(item) > 6 and item[6] is not None else None,
    )


@dataclass(frozen=True)
class Event:
    frame_seq: int
    sequence: int
    received_at: str
    payload: dict[str, Any]
    flags: tuple[str, ...] = ()

    @property
    def is_full(self) -> bool:
        return "blockTransactions" in self.payload


@dataclass(frozen=True)
class State:
    frame_seq: int
    sequence: int
    epoch_frame_seq: int | None
    is_full_set: bool
    is_valid: bool
    flags: str
    received_at: str
    tx_count: int | None
    total_fees_sat: int | None
    total_vsize: float | None
    fee_rates: tuple[float | None, ...]  # min, p10, p25, p50, p75, p90, max


@dataclass(frozen=True)
class BlockSeen:
    """A `block` the same connection received: it ends the projection for its height."""

    frame_seq: int
    height: int
    block_hash: str
    received_at: str


@dataclass(frozen=True)
class Snapshot:
    """The projected block as it stood when the connection first saw a block at `height`:
    the projection made for that height (the tip + 1 while it was current)."""

    height: int
    block_hash: str
    block_frame_seq: int
    block_seen_at: str
    state_frame_seq: int
    projected_at: str
    tx_count: int
    total_fees_sat: int
    txids: tuple[str, ...]


@dataclass
class Cursor:
    """Where a connection's rebuild stands: the tx set after the last applied event."""

    txs: dict[str, Tx] | None = None  # None: unknown until the next full set
    sequence: int | None = None
    epoch_frame_seq: int | None = None
    last_frame_seq: int = -1
    last_received_at: str | None = None
    extra_flags: list[str] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    def snapshot(self, block: BlockSeen) -> None:
        if self.txs is None or self.last_received_at is None:
            return  # no valid projection when the block came: nothing to compare
        self.snapshots.append(
            Snapshot(
                height=block.height,
                block_hash=block.block_hash,
                block_frame_seq=block.frame_seq,
                block_seen_at=block.received_at,
                state_frame_seq=self.last_frame_seq,
                projected_at=self.last_received_at,
                tx_count=len(self.txs),
                total_fees_sat=sum(t.fee_sat for t in self.txs.values()),
                txids=tuple(sorted(self.txs)),
            )
        )


def percentile_cont(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (SQL's PERCENTILE_CONT)."""
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise(
    txs: dict[str, Tx] | None,
) -> tuple[int | None, int | None, float | None, tuple[float | None, ...]]:
    if txs is None:
        return None, None, None, (None,) * 7
    if not txs:
        return 0, 0, 0.0, (None,) * 7
    rates = sorted(t.fee_rate for t in txs.values())
    stats = (rates[0], *(percentile_cont(rates, q) for q in PERCENTILES), rates[-1])
    return (
        len(txs),
        sum(t.fee_sat for t in txs.values()),
        sum(t.vsize for t in txs.values()),
        stats,
    )


def apply(cursor: Cursor, events: Iterable[Event], blocks: Iterable[BlockSeen] = ()) -> list[State]:
    """Apply events (any order: they are sorted by frame) to the cursor; the states after
    each applied event. Each block the connection saw snapshots the projection standing
    before its frame (a block's frame also carries the next projection, applied after)."""
    states = []
    timeline: list[tuple[int, int, Event | BlockSeen]] = [(b.frame_seq, 0, b) for b in blocks]
    timeline += [(e.frame_seq, 1, e) for e in events]
    for frame_seq, _, item in sorted(timeline, key=lambda t: (t[0], t[1])):
        if frame_seq <= cursor.last_frame_seq:
            continue
        if isinstance(item, BlockSeen):
            cursor.snapshot(item)
            continue
        ev = item
        cursor.last_frame_seq = ev.frame_seq
        flags = list(ev.flags)
        if ev.is_full:
            cursor.txs = {t.txid: t for t in map(tx_from_array, ev.payload["blockTransactions"])}
            cursor.epoch_frame_seq = ev.frame_seq
        else:
            if cursor.sequence is not None and ev.sequence == cursor.sequence:
                continue  # the same update delivered twice
            if cursor.sequence is None or ev.sequence != cursor.sequence + 1:
                if cursor.txs is not None:
                    flags.append(
                        "sequence_restart"
                        if cursor.sequence is not None and ev.sequence < cursor.sequence
                        else "sequence_gap"
                    )
                cursor.txs = None
            if cursor.txs is not None:
                delta = ev.payload.get("delta") or {}
                for txid in delta.get("removed") or []:
                    cursor.txs.pop(str(txid), None)
                for entry in delta.get("added") or []:
                    tx = tx_from_array(entry)
                    cursor.txs[tx.txid] = tx
                for change in delta.get("changed") or []:
                    old = cursor.txs.get(str(change[0]))
                    if old is not None and len(change) > 1 and change[1] is not None:
                        cursor.txs[old.txid] = Tx(
                            old.txid,
                            old.fee_sat,
                            old.vsize,
                            old.value_sat,
                            float(change[1]),
                            old.first_seen_s,
                        )
        cursor.sequence = ev.sequence
        cursor.last_received_at = ev.received_at
        count, fees, vsize, rates = summarise(cursor.txs)
        states.append(
            State(
                frame_seq=ev.frame_seq,
                sequence=ev.sequence,
                epoch_frame_seq=cursor.epoch_frame_seq if cursor.txs is not None else None,
                is_full_set=ev.is_full,
                is_valid=cursor.txs is not None,
                flags=",".join(sorted(set(flags))),
                received_at=ev.received_at,
                tx_count=count,
                total_fees_sat=fees,
                total_vsize=vsize,
                fee_rates=rates,
            )
        )
    return states
