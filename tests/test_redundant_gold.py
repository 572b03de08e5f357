"""Gold does not care how many streamers watch: the same broadcasts seen by one
connection, or by two whose files land late and out of order, give the same GOLD.

Both warehouses are fed what the streamer writes (ingest.frames, the production
parsing) for frames the simulator's server logic builds (sandbox.simulator.server's
frame_for) from one model run: streamer A watches the whole run; B joins late, drops,
and comes back as a new connection. A started first, so gold follows A's projected
block throughout; a minute's newest sample is the same broadcast whichever streamer
has it, and its inflow averages A's samples (most of them; ties by origin id). Every
column but the provenance ones must match the A-only warehouse exactly, even
after gold held every connection's states, as a release before the rule left it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import contract, frames
from sandbox.dbt_local import run_dbt
from sandbox.simulator.model import Event, Model
from sandbox.simulator.server import frame_for
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt, pytest.mark.slow]

START = 1_760_000_000
RUN_S = 420
WANTS = {"blocks", "stats", "mempool-blocks"}
# Which connection a row came from, when that connection received it, and when SILVER
# or gold stamped it: the only columns allowed to differ between one streamer and several.
PROVENANCE = {
    "RECEIVED_AT",
    "ORIGIN_ID",
    "FRAME_SEQ",
    "PROJECTED_STATE_ID",
    "LOADED_AT",
    "SOURCE_LOADED_AT",
    "PROJECTION_LOADED_AT",
    "SAMPLES_LOADED_AT",
    "SILVER_UPDATED_AT",
}


@dataclass
class Connection:
    origin_id: str
    opens_at: int
    closes_at: int
    # How long after the server sent a frame this client received it.
    delay_ms: int
    frame_seq: int = 0
    tracker: frames.SequenceTracker = field(default_factory=frames.SequenceTracker)
    records: list[contract.Record] = field(default_factory=list)

    def is_open(self, at: int) -> bool:
        return self.opens_at <= at < self.closes_at

    def receive(self, frame: dict[str, Any], at: int) -> None:
        if not frame:
            return
        moment = datetime.fromtimestamp(at, UTC) + timedelta(milliseconds=self.delay_ms)
        self.records += frames.frame_to_records(
            frame,
            origin_id=self.origin_id,
            frame_seq=self.frame_seq,
            received_at=contract.format_time(moment),
            tracker=self.tracker,
        )
        self.frame_seq += 1


def watch(connections: list[Connection]) -> None:
    """One model run, each connection receiving what the server would send it."""
    model = Model(seed=47, start_time=START, history_blocks=6, tx_per_s=2.0, block_interval_s=150.0)
    for second in range(START, START + RUN_S):
        for conn in connections:
            if conn.opens_at == second - START:
                # What a client gets on connecting: the `want` reply, then the full set.
                stats = model.stats_payloads()
                conn.receive(
                    {
                        "blocks": model.blocks_view()[-8:],
                        "mempool-blocks": model.mempool_blocks(),
                        **{k: stats[k] for k in ("mempoolInfo", "vBytesPerSecond", "fees")},
                    },
                    second,
                )
                conn.receive({"projected-block-transactions": model.full_set_payload(0)}, second)
        events: list[Event] = model.advance(second + 1)
        for event in events:
            for conn in connections:
                if not conn.is_open(event.time - START):
                    continue
                if event.kind == "conversions":
                    conn.receive({"conversions": event.data}, event.time)
                    continue
                conn.receive(frame_for(model, WANTS, 0, event), event.time)
                if conn.tracker.resync_requested:
                    conn.tracker.resync_requested = False
                    conn.receive(
                        {"projected-block-transactions": model.full_set_payload(0)}, event.time
                    )


def land_records(rt: LocalSnowflake, records: list[contract.Record]) -> None:
    """Conversions through their own stream, the rest through the main one."""
    for prefix, route in (
        (contract.PREFIX_CONVERSIONS, "conversions"),
        (contract.PREFIX_STREAM, "stream"),
    ):
        chosen = [r for r in records if frames.route(r) == route]
        if chosen:
            land(rt, prefix, contract.encode_ndjson(chosen))


def in_batches(records: list[contract.Record], size_s: int) -> list[list[contract.Record]]:
    """What Firehose does with a connection's records: files of `size_s` seconds."""
    batches: dict[int, list[contract.Record]] = {}
    for r in records:
        at = datetime.fromisoformat(r.received_at.replace("Z", "+00:00")).timestamp()
        batches.setdefault(int(at - START) // size_s, []).append(r)
    return [batches[k] for k in sorted(batches)]


def dbt(rt: LocalSnowflake, tmp_path: Path, *args: str) -> None:
    result = run_dbt(rt.warehouse, *args, target_dir=tmp_path / "dbt-target")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def gold_content(rt: LocalSnowflake) -> dict[str, list[tuple[Any, ...]]]:
    """Every GOLD table's rows, without the provenance columns, in a fixed order."""
    tables = [
        r[0]
        for r in q(
            rt,
            "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = 'GOLD' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        )
    ]
    content: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        columns = [
            r[0]
            for r in q(
                rt,
                "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS "
                f"WHERE TABLE_SCHEMA = 'GOLD' AND TABLE_NAME = '{table}' "
                "ORDER BY ORDINAL_POSITION",
            )
            if r[0] not in PROVENANCE
        ]
        listed = ", ".join(columns)
        content[table] = q(rt, f"SELECT {listed} FROM GOLD.{table} ORDER BY {listed}")
    return content


@pytest.mark.timeout(600)
def test_two_streamers_give_the_gold_of_one(
    moto_endpoint: str, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    a = Connection("a-1", opens_at=0, closes_at=RUN_S, delay_ms=12)
    b = Connection("b-1", opens_at=95, closes_at=250, delay_ms=31)
    b_again = Connection("b-2", opens_at=275, closes_at=RUN_S, delay_ms=27)
    watch([a, b, b_again])
    assert b.records and b_again.records

    with landing_zone(moto_endpoint, "one-streamer") as one_landing:
        one = new_runtime(one_landing, fakesnow_server)
        one.deploy()
        try:
            for batch in in_batches(a.records, 60):
                land_records(one, batch)
            cycle(one)
            dbt(one, tmp_path / "one", "run")
            alone = gold_content(one)
        finally:
            one.close()

    with landing_zone(moto_endpoint, "two-streamers") as two_landing:
        two = new_runtime(two_landing, fakesnow_server)
        two.deploy()
        try:
            # B's files come late, out of order, and one of them twice (a Firehose retry);
            # gold is built incrementally in between, as the schedule would.
            late = in_batches(b.records + b_again.records, 45)
            random.Random(5).shuffle(late)
            late.append(late[0])
            own = in_batches(a.records, 60)
            half = len(own) // 2
            for batch in own[:half] + late[:2]:
                land_records(two, batch)
            cycle(two)
            dbt(two, tmp_path / "two", "run")
            for batch in own[half:] + late[2:4]:
                land_records(two, batch)
            cycle(two)
            dbt(two, tmp_path / "two", "run")
            # What a release before the one-line rule left behind: every connection's
            # states in gold. The next run must remove them without a full refresh.
            q(
                two,
                "INSERT INTO GOLD.FCT_PROJECTED_BLOCK (PROJECTED_STATE_ID, ORIGIN_ID, "
                "FRAME_SEQ, SEQUENCE, PROJECTED_AT, IS_VALID, LOADED_AT) "
                "SELECT ORIGIN_ID || ':' || FRAME_SEQ, ORIGIN_ID, FRAME_SEQ, SEQUENCE, "
                "RECEIVED_AT, IS_VALID, LOADED_AT FROM SILVER.PROJECTED_BLOCK_STATES "
                "WHERE ORIGIN_ID = 'b-1'",
            )
            [(left_behind,)] = q(
                two, "SELECT COUNT(*) FROM GOLD.FCT_PROJECTED_BLOCK WHERE ORIGIN_ID = 'b-1'"
            )
            assert left_behind > 0
            for batch in late[4:]:
                land_records(two, batch)
            cycle(two)
            dbt(two, tmp_path / "two", "run")
            both = gold_content(two)
            followed = q(two, "SELECT DISTINCT ORIGIN_ID FROM GOLD.FCT_PROJECTED_BLOCK")
        finally:
            two.close()

    assert followed == [("a-1",)]
    assert alone.keys() == both.keys()
    assert all(alone[t] for t in ("FCT_MEMPOOL_MINUTELY", "FCT_PROJECTED_BLOCK", "FCT_BLOCKS"))
    for table in alone:
        assert both[table] == alone[table], table
