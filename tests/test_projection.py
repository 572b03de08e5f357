"""The projected-block rebuild, as pure logic."""

from __future__ import annotations

import random

from mempool_procs.projection import Cursor, Event, apply, percentile_cont

T = "2026-01-01 00:00:00"


def tx(i: int, rate: float = 5.0) -> list[object]:
    return [f"tx{i}", int(rate * 100), 100.0, 1000, rate, 0, 1_700_000_000]


def full(frame: int, seq: int, ids: list[int]) -> Event:
    return Event(
        frame,
        seq,
        T,
        {"index": 0, "sequence": seq, "blockTransactions": [tx(i, 1.0 + i) for i in ids]},
    )


def delta(
    frame: int,
    seq: int,
    added: list[int] = (),
    removed: list[int] = (),  # type: ignore[assignment]
    changed: list[tuple[int, float]] = (),
) -> Event:  # type: ignore[assignment]
    return Event(
        frame,
        seq,
        T,
        {
            "index": 0,
            "sequence": seq,
            "delta": {
                "added": [tx(i, 1.0 + i) for i in added],
                "removed": [f"tx{i}" for i in removed],
                "changed": [[f"tx{i}", r, 0] for i, r in changed],
            },
        },
    )


def scenario() -> list[Event]:
    events = [full(0, 100, [1, 2, 3])]
    rng = random.Random(4)
    next_id = 4
    for k in range(1, 40):
        added = [next_id, next_id + 1]
        next_id += 2
        removed = [rng.randint(1, next_id - 3)]
        events.append(delta(k, 100 + k, added, removed, [(added[0], 50.0)]))
    return events


def test_deltas_apply_to_the_full_set() -> None:
    states = apply(
        Cursor(),
        [full(0, 7, [1, 2]), delta(1, 8, added=[3], removed=[1]), delta(2, 9, changed=[(2, 40.0)])],
    )
    assert [s.tx_count for s in states] == [2, 2, 2]
    assert states[1].total_fees_sat == 300 + 400
    assert states[2].fee_rates[-1] == 40.0
    assert all(s.is_valid for s in states)


def test_out_of_order_delivery_rebuilds_the_same_states() -> None:
    events = scenario()
    in_order = apply(Cursor(), events)
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    assert apply(Cursor(), shuffled) == in_order


def test_incremental_application_matches_one_pass() -> None:
    events = scenario()
    cursor = Cursor()
    pieces = apply(cursor, events[:13]) + apply(cursor, events[13:29]) + apply(cursor, events[29:])
    assert pieces == apply(Cursor(), events)


def test_a_gap_invalidates_until_the_next_full_set() -> None:
    states = apply(
        Cursor(),
        [
            full(0, 10, [1]),
            delta(1, 11, added=[2]),
            delta(2, 13, added=[3]),
            delta(3, 14, added=[4]),
            full(4, 15, [5, 6]),
        ],
    )
    assert [s.is_valid for s in states] == [True, True, False, False, True]
    assert "sequence_gap" in states[2].flags
    assert states[2].tx_count is None
    assert states[4].tx_count == 2 and states[4].epoch_frame_seq == 4


def test_a_sequence_restart_is_flagged_and_resynced_from_the_next_full_set() -> None:
    states = apply(
        Cursor(),
        [
            full(0, 500, [1]),
            delta(1, 501, added=[2]),
            delta(2, 0, added=[3]),
            full(3, 0, [7, 8, 9]),
            delta(4, 1, removed=[7]),
        ],
    )
    assert "sequence_restart" in states[2].flags and not states[2].is_valid
    assert states[3].is_valid and states[4].is_valid and states[4].tx_count == 2


def test_a_repeated_delta_is_applied_once() -> None:
    once = apply(Cursor(), [full(0, 1, [1]), delta(1, 2, added=[2])])
    twice = apply(Cursor(), [full(0, 1, [1]), delta(1, 2, added=[2]), delta(2, 2, added=[2])])
    assert twice == once


def test_percentiles_interpolate_like_sql() -> None:
    assert percentile_cont([1.0, 2.0, 10.0], 0.5) == 2.0
    assert percentile_cont([1.0, 3.0], 0.25) == 1.5
    assert percentile_cont([4.0], 0.9) == 4.0


def test_simulator_deltas_always_rebuild_its_own_projected_block() -> None:
    """Replaying the simulator's deltas (through blocks and reorgs) gives exactly the
    projected block it holds: the rebuild and the simulator agree."""
    from sandbox.simulator.model import ChaosPlan, Model

    model = Model(
        seed=41,
        start_time=1_800_000_000,
        history_blocks=6,
        tx_per_s=3.0,
        chaos=ChaosPlan(reorg_probability=0.5),
        start_race=True,
    )
    cursor = Cursor()
    events = [
        Event(
            0,
            model.sequence,
            T,
            {
                "index": 0,
                "sequence": model.sequence,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
        )
    ]
    frame = 1
    kinds = set()
    for ev in model.advance(model.start_time + 2 * 3600):
        kinds.add(ev.kind)
        u = ev.data if ev.kind == "update" else ev.update
        if u is None:
            continue
        payload = u.payload()
        if payload is None:
            continue
        events.append(Event(frame, u.sequence, T, payload))
        frame += 1
        states = apply(cursor, events)
        events = []
        assert states[-1].tx_count == len(u.full)
        assert states[-1].total_vsize is not None and states[-1].total_vsize <= 1_000_000
    assert {"reorg", "block"} <= kinds
