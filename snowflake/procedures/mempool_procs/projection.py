"""Rebuilding mempool.space's projected next block from a full set and its deltas (pure).

Events of one connection are applied in frame order (our client's arrival order, which
within one connection is mempool.space's `sequence` order). A delta whose sequence does
not follow the last applied one (a gap, or a server restart) makes the state unknown
until the next full set resyncs it; a repeated sequence is the same update re-sent.

A payload is checked before it is applied (`problem`): one that is not what mempool.space
sends (a transaction that is not an array of the right types, a delta that is not an
object, more transactions than a block can hold) is quarantined by the procedure, and,
if its sequence is known, applied as an update whose content is lost: the state is
unknown until the next full set, as after a gap. Nothing in a payload can raise here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
# A block holds at most 1,000,000 vbytes and a transaction is at least ~60: no projected
# block, and no delta of one, can list more transactions than this.
MAX_TXS = 20_000
MAX_SEQUENCE = 2**53  # JavaScript's exact integers: mempool.space's counter stays below
MAX_SAT = 2_100_000_000_000_000  # the supply in satoshis
MAX_VSIZE = 1_000_000.0  # a block's whole vsize
MAX_RATE = 1e9  # sat/vB; real rates stay below a few thousand
TXID = re.compile(r"^[0-9A-Za-z]{1,64}$")


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any, low: float, high: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def tx_problem(item: Any) -> str | None:
    """Why a projected transaction `[txid, fee, vsize, value, rate, flags, first_seen,
    acceleration?]` cannot be used (None when it can)."""
    if not isinstance(item, list) or len(item) < 3:
        return "a transaction is not an array of at least 3 items"
    if not isinstance(item[0], str) or not TXID.match(item[0]):
        return "a transaction without a valid txid"
    if not _is_int(item[1], 0, MAX_SAT):
        return "a transaction fee is not a whole number of satoshis"
    if not _is_number(item[2], 1e-9, MAX_VSIZE):
        return "a transaction vsize is not a positive size"
    if len(item) > 3 and item[3] is not None and not _is_int(item[3], 0, MAX_SAT):
        return "a transaction value is not a whole number of satoshis"
    if len(item) > 4 and item[4] is not None and not _is_number(item[4], 0, MAX_RATE):
        return "a transaction fee rate is not a rate"
    if len(item) > 6 and item[6] is not None and not _is_int(item[6], 0, 2**40):
        return "a transaction first-seen time is not a time"
    return None


def _list_problem(value: Any, what: str, item_problem: Any) -> str | None:
    if not isinstance(value, list):
        return f"{what} is not an array"
    if len(value) > MAX_TXS:
        return f"{what} lists more than {MAX_TXS} transactions"
    return next((p for p in map(item_problem, value) if p), None)


def _change_problem(item: Any) -> str | None:
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        return "a change is not [txid, rate, ...]"
    if len(item) > 1 and item[1] is not None and not _is_number(item[1], 0, MAX_RATE):
        return "a changed fee rate is not a rate"
    return None


def _txid_problem(item: Any) -> str | None:
    return None if isinstance(item, str) and TXID.match(item) else "a removed txid is not a txid"


def exceeds_a_block(txs: dict[str, Tx]) -> bool:
    return len(txs) > MAX_TXS or sum(t.vsize for t in txs.values()) > MAX_VSIZE


def sequence_of(payload: Any) -> int | None:
    """The update's `sequence`, when it is one mempool.space could send."""
    if isinstance(payload, dict) and _is_int(payload.get("sequence"), 0, MAX_SEQUENCE):
        return int(payload["sequence"])
    return None


def problem(payload: Any) -> str | None:
    """Why a projected-block payload cannot be applied (None when it can)."""
    if not isinstance(payload, dict):
        return "payload is not an object"
    if sequence_of(payload) is None:
        return "sequence is not a whole number from 0"
    if "blockTransactions" in payload:
        return _list_problem(payload["blockTransactions"], "blockTransactions", tx_problem)
    delta = payload.get("delta")
    if not isinstance(delta, dict):
        return "delta is not an object"
    checks = {"added": tx_problem, "removed": _txid_problem, "changed": _change_problem}
    for key, check in checks.items():
        found = _list_problem(delta[key], f"delta.{key}", check) if key in delta else None
        if found:
            return found
    return None


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
    malformed: bool = False  # quarantined: its place in the sequence counts, its content not

    @property
    def is_full(self) -> bool:
        return not self.malformed and "blockTransactions" in self.payload


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
    """A block the same connection received. A `block` above every height the connection
    has seen ends the projection, which was for its height; a `block` at or below it (a
    reorg's replacement) arrives while the projection is for the height after, and blocks
    listed in `blocks` (the init answer, a reorg's rebuilt cache) only raise that height."""

    frame_seq: int
    height: int
    block_hash: str
    received_at: str
    ends_projection: bool = True


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
    tip_height: int | None = None  # the highest block the connection has seen

    def see(self, block: BlockSeen) -> None:
        is_next = self.tip_height is None or block.height > self.tip_height
        self.tip_height = max(block.height, self.tip_height or block.height)
        if block.ends_projection and is_next:
            self.snapshot(block)

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
            cursor.see(item)
            continue
        ev = item
        cursor.last_frame_seq = ev.frame_seq
        flags = list(ev.flags)
        if ev.malformed:
            if cursor.sequence is not None and ev.sequence == cursor.sequence:
                continue  # a malformed copy of the update already applied
            flags.append("malformed_update")
            cursor.txs = None
        elif ev.is_full:
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
        if cursor.txs is not None and exceeds_a_block(cursor.txs):
            # More than any block holds: not a projected block mempool.space could send
            # (and the set must not grow without bound). Unknown until the next full set.
            flags.append("exceeds_a_block")
            cursor.txs = None
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
