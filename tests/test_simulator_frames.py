"""The simulator frames what it sends as mempool.space's backend does.

Each rule cites the function of mempool/mempool's backend it mirrors (read at commit
3b6ed8bde7826e80283bcd87e11478ce15c93ec7, August 2026):
`backend/src/api/websocket-handler.ts`, `mempool-blocks.ts`, `blocks.ts`,
`bitcoin/bitcoin.routes.ts` and `repositories/PricesRepository.ts`. A difference here
lets a client bug pass locally and fail against the real server.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect

from sandbox.simulator.model import ChaosPlan, Event, Model, Update
from sandbox.simulator.server import SimOptions, Simulator, frame_for
from tests.conftest import simulator_process

EVERYTHING = {"blocks", "stats", "mempool-blocks", "live-2h-chart"}


def run_until(
    model: Model, wanted: str, limit_s: int = 4 * 3600
) -> tuple[list[Event], Event, list[Event]]:
    """Advance until the first event of kind `wanted`: (events before it, that event,
    the events after it up to 60 simulated seconds later)."""
    seen: list[Event] = []
    for step in range(60, limit_s, 60):
        events = model.advance(model.start_time + step)
        for i, event in enumerate(events):
            if event.kind == wanted:
                return seen, event, events[i + 1 :]
            seen.append(event)
    raise AssertionError(f"no {wanted} event within {limit_s} s")


def test_a_new_block_is_one_frame_with_stats_mempool_blocks_and_the_projected_block() -> None:
    """websocket-handler.ts `handleNewBlock`: `block`, `mempoolInfo`, `vBytesPerSecond`,
    `fees`, `da`, `mempool-blocks` and block 0 in one frame; block 0 as the full set when
    more than half of it is new (which a block that mined block 0 makes the rule)."""
    model = Model(seed=51, start_time=1_800_000_000, history_blocks=4)
    _, block, _ = run_until(model, "block")
    frame = frame_for(model, EVERYTHING, 0, block)
    assert set(frame) == {
        "block",
        "mempoolInfo",
        "vBytesPerSecond",
        "fees",
        "da",
        "mempool-blocks",
        "projected-block-transactions",
    }
    projected = frame["projected-block-transactions"]
    assert "blockTransactions" in projected, "a full set in the middle of a connection"
    assert projected["sequence"] == block.update.sequence  # type: ignore[union-attr]
    # Without a subscription to blocks, the same event still updates stats and block 0.
    assert "block" not in frame_for(model, {"stats"}, 0, block)


def test_a_mempool_update_sends_stats_with_transactions_and_a_delta() -> None:
    """`$handleMempoolChange`: want-stats adds `transactions`; block 0 comes as a delta."""
    model = Model(seed=52, start_time=1_800_000_000, history_blocks=4)
    update = next(e for e in model.advance(model.start_time + 10) if e.kind == "update")
    frame = frame_for(model, EVERYTHING, 0, update)
    assert set(frame) == {
        "mempoolInfo",
        "vBytesPerSecond",
        "transactions",
        "fees",
        "da",
        "mempool-blocks",
        "projected-block-transactions",
    }
    assert set(frame["projected-block-transactions"]["delta"]) == {"added", "removed", "changed"}
    assert (
        frame_for(model, EVERYTHING, None, update)
        .keys()
        .isdisjoint({"projected-block-transactions"})
    )


def test_sequence_counts_a_block_that_sends_no_projected_block() -> None:
    """`handleNewBlock` increments `mempoolSequence` whenever the mempool is in sync, but
    sends block 0 only if it holds transactions: clients see the sequence jump."""
    model = Model(
        seed=53,
        start_time=1_800_000_000,
        history_blocks=4,
        chaos=ChaosPlan(clearing_block_probability=1.0),
    )
    before, block, after = run_until(model, "block")
    last_sent = max(e.data.sequence for e in before if e.kind == "update" and e.data.sent)
    update: Update = block.update  # type: ignore[assignment]
    assert update.sequence == last_sent + 1 and not update.sent
    assert "projected-block-transactions" not in frame_for(model, EVERYTHING, 0, block)
    following = next(e for e in after if e.kind == "update")
    assert following.data.sequence == last_sent + 2 and following.data.sent


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_reorg_sends_the_rebuilt_block_cache_then_the_new_tip(depth: int) -> None:
    """blocks.ts `$handleReorgs` rebuilds up to INITIAL_BLOCKS_AMOUNT x 4 = 32 blocks
    ending at the new tip's parent, then websocket-handler.ts `handleReorg` sends
    `{blocks, da}`; `handleNewBlock` sends the new tip in the next frame."""
    model = Model(seed=54, start_time=1_800_000_000, history_blocks=40)
    reorg, tip = model._reorg(int(model.now) + 600, depth=depth)
    frame = frame_for(model, EVERYTHING, 0, reorg)
    assert set(frame) == {"blocks", "da"}
    assert len(frame["blocks"]) == 32
    assert frame["blocks"][-1]["id"] == tip.data.prev
    assert [b["height"] for b in frame["blocks"]] == sorted(b["height"] for b in frame["blocks"])
    assert len(reorg.data["stale"]) == depth and len(reorg.data["new"]) == depth
    assert tip.kind == "block" and "block" in frame_for(model, EVERYTHING, 0, tip)


def test_compressed_transactions_round_rates_and_changes_have_four_fields() -> None:
    """mempool-blocks.ts `compressTx` and `compressDeltaChange`: rates are
    `Math.round(rate * 100) / 100`; a change is [txid, rate, flags, accelerated]."""
    model = Model(seed=55, start_time=1_800_000_000, history_blocks=4, tx_per_s=3.0)
    changes: list[list[Any]] = []
    added: list[list[Any]] = []
    for event in model.advance(model.start_time + 1800):
        if event.kind == "update" and (payload := event.data.payload()):
            changes += payload["delta"]["changed"]
            added += payload["delta"]["added"]
    assert changes and added
    assert all(len(c) == 4 and c[3] in (0, 1) for c in changes)
    for rate in [c[1] for c in changes] + [a[4] for a in added]:
        assert round(rate, 2) == rate


def test_match_rates_vary_and_the_txids_of_a_block_start_with_its_coinbase() -> None:
    """blocks.ts sets `extras.matchRate` from the block audit (not a constant);
    bitcoin.routes.ts `getTxIdsForBlock` lists the coinbase first."""
    model = Model(seed=56, start_time=1_800_000_000, history_blocks=4, tx_per_s=3.0)
    model.advance(model.start_time + 2 * 3600)
    mined = model.chain[4:]
    assert len({b.match_rate for b in mined}) > 1
    assert all(0 < b.match_rate <= 100 for b in mined)
    block = mined[-1]
    txids = block.api_txids()
    assert len(txids) == block.tx_count and txids[1:] == block.txids


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.stack
def test_rest_txids_and_historical_price_as_the_backend_serves_them() -> None:
    """`/api/block/:hash/txids` (bitcoin.routes.ts) and `/api/v1/historical-price`, whose
    prices carry the currency asked for and `USD` (`$getNearestHistoricalPrice`)."""
    with simulator_process("--seed", "57", "--speed", "60") as base:
        tip = get_json(f"{base}/api/v1/blocks")[0]
        txids = get_json(f"{base}/api/block/{tip['id']}/txids")
        assert len(txids) == tip["tx_count"]
        assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in txids)
        price = get_json(f"{base}/api/v1/historical-price?currency=EUR&timestamp=1800000000")
        assert set(price["prices"][0]) == {"time", "EUR", "USD"}
        with pytest.raises(urllib.error.HTTPError) as missing:
            get_json(f"{base}/api/block/{'0' * 64}/txids")
        assert missing.value.code == 404
        missing.value.close()


def test_init_is_a_frame_of_its_own_and_want_pushes_no_live_chart() -> None:
    """`action: init` sends the serialized init data (`updateSocketData` keys, with
    `backend` and `rbfSummary`) on its own; `want` answers blocks, mempool-blocks and
    stats at once, while `live-2h-chart` waits for `handleNewStatistic`."""

    async def session() -> list[dict[str, Any]]:
        sim = Simulator(SimOptions(seed=58, speed=1.0, history_blocks=10))
        ready, stop = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(sim.serve(ready, stop))
        await ready.wait()
        frames = []
        async with connect(f"ws://127.0.0.1:{sim.port}/api/v1/ws") as ws:
            await ws.send(json.dumps({"action": "init"}))
            await ws.send(json.dumps({"action": "want", "data": sorted(EVERYTHING)}))
            for _ in range(2):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        stop.set()
        await server
        return frames

    init, wanted = asyncio.run(session())
    assert {"backend", "rbfSummary", "backendInfo", "loadingIndicators", "transactions"} <= set(
        init
    )
    assert {"mempoolInfo", "vBytesPerSecond", "blocks", "conversions", "mempool-blocks"} <= set(
        init
    )
    assert len(init["blocks"]) == 8
    assert set(wanted) == {
        "blocks",
        "mempool-blocks",
        "mempoolInfo",
        "vBytesPerSecond",
        "fees",
        "da",
    }
