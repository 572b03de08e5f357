"""The simulated Bitcoin network behind the simulator: a mempool that fills between
blocks, blocks that take the best-paying ~1 MvB, reorgs, and the projected next block
with mempool.space's `sequence` and deltas.

Everything is a deterministic function of the seed and simulated time: the server asks
the model to `advance(to)` and gets the events that happened, in time order.

Length: one deterministic state machine (mempool, blocks, reorgs, projection).
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any

from sandbox.simulator import prices

BLOCK_VSIZE = 1_000_000
SUBSIDY_SAT = 312_500_000
POOLS = [
    (111, "Foundry USA", "foundryusa"),
    (44, "AntPool", "antpool"),
    (36, "F2Pool", "f2pool"),
    (73, "ViaBTC", "viabtc"),
    (112, "MARA Pool", "marapool"),
    (105, "SpiderPool", "spiderpool"),
]


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


@dataclass(slots=True)
class Tx:
    txid: str
    fee: int
    vsize: float
    value: int
    rate: float
    first_seen: int
    flags: int = 0

    def projected(self) -> list[Any]:
        """Compact projected-block tx: [txid, fee, vsize, value, rate, flags, first_seen],
        the rate rounded to 2 decimals (backend mempool-blocks.ts, `compressTx`)."""
        return [
            self.txid,
            self.fee,
            self.vsize,
            self.value,
            round_rate(self.rate),
            self.flags,
            self.first_seen,
        ]

    def change(self) -> list[Any]:
        """A `changed` delta entry: [txid, rate, flags, accelerated] (`compressDeltaChange`)."""
        return [self.txid, round_rate(self.rate), self.flags, 0]


def round_rate(rate: float) -> float:
    """`Math.round(rate * 100) / 100`, as the backend rounds every compressed fee rate."""
    return math.floor(rate * 100 + 0.5) / 100


@dataclass(slots=True)
class Block:
    hash: str
    height: int
    prev: str
    timestamp: int
    txids: list[str]
    tx_count: int
    vsize: float
    total_fees: int
    rates: list[float]
    pool: tuple[int, str, str]
    stale: bool = False
    # mempool.space's audit score: the share of its template at mining time that was mined.
    match_rate: float = 100.0
    # The share of the projection clients last received that this block mined (None for
    # blocks made before the simulator started): what our own overlap must reproduce.
    seen_overlap_pct: float | None = None

    def api_txids(self) -> list[str]:
        """`/api/block/:hash/txids`: the coinbase first, then the block's transactions."""
        return [_hex("coinbase", self.hash), *self.txids]

    def fee_range(self) -> list[float]:
        if not self.rates:
            return [0.0] * 7
        ordered = sorted(self.rates)
        picks = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
        return [
            round(ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1)))], 4) for p in picks
        ]

    def to_api(self) -> dict[str, Any]:
        median = statistics.median(self.rates) if self.rates else 0.0
        weight = int(self.vsize * 4)
        return {
            "id": self.hash,
            "height": self.height,
            "version": 0x20000000,
            "timestamp": self.timestamp,
            "bits": 386_097_875,
            "nonce": int(self.hash[-8:], 16),
            "difficulty": 83_126_997_340_024.61,
            "merkle_root": _hex("merkle", self.hash),
            "tx_count": self.tx_count,
            "size": int(self.vsize * 1.9),
            "weight": weight,
            "previousblockhash": self.prev,
            "mediantime": self.timestamp - 1800,
            "stale": self.stale,
            "extras": {
                "reward": SUBSIDY_SAT + self.total_fees,
                "medianFee": round(median, 4),
                "feeRange": self.fee_range(),
                "totalFees": self.total_fees,
                "avgFee": self.total_fees // max(1, self.tx_count),
                "avgFeeRate": round(self.total_fees / max(1.0, self.vsize), 2),
                "virtualSize": self.vsize,
                "pool": {"id": self.pool[0], "name": self.pool[1], "slug": self.pool[2]},
                "matchRate": self.match_rate,
            },
        }


@dataclass(slots=True)
class Update:
    """One change of the projected block and its `sequence`: every mempool update (every
    couple of seconds) and every new block (websocket-handler.ts, `$handleMempoolChange`
    and `handleNewBlock` each count one)."""

    time: int
    sequence: int
    added: list[Tx]
    removed: list[str]
    changed: list[list[Any]]
    full: list[Tx]
    # Whether a client tracking block 0 is sent anything for this sequence, and whether
    # it is the full set instead of a delta (see `Model._update`).
    sent: bool = True
    as_full_set: bool = False
    # As of this update (not of when it is sent: the server may compute several events
    # before sending them, e.g. catching up after a restart).
    epoch: int = 0
    mempool_info: dict[str, Any] = field(default_factory=dict)
    vbytes_per_s: int = 0

    def payload(self) -> dict[str, Any] | None:
        """The `projected-block-transactions` value for index 0, or None (nothing sent)."""
        if not self.sent:
            return None
        if self.as_full_set:
            return {
                "index": 0,
                "sequence": self.sequence,
                "blockTransactions": [t.projected() for t in self.full],
            }
        return {
            "index": 0,
            "sequence": self.sequence,
            "delta": {
                "added": [t.projected() for t in self.added],
                "removed": self.removed,
                "changed": self.changed,
            },
        }


@dataclass(slots=True)
class Event:
    kind: str  # "update" | "block" | "reorg" | "conversions" | "live2h" | "restart"
    time: int
    data: Any = None
    # A new block changes the projected block in the same step (and the same frame).
    update: Update | None = None


@dataclass
class ChaosPlan:
    reorg_probability: float = 0.0
    restart_every_s: float = 0.0
    # A block after which nothing is left to project (the rest of the mempool expires):
    # mempool.space counts the block in `sequence` but sends no projected block, so
    # clients see a gap, as on a quiet network.
    clearing_block_probability: float = 0.0
    max_reorg_depth: int = 3


@dataclass
class Model:
    seed: int
    start_time: int
    history_blocks: int = 24
    start_height: int = 900_000
    tx_per_s: float = 6.5
    block_interval_s: float = 600.0
    update_interval_s: float = 2.0
    conversions_interval_s: float = 300.0
    chaos: ChaosPlan = field(default_factory=ChaosPlan)
    # Start in the middle of a one-block race: a sibling of the tip exists, and the next
    # block is mined on it, so the tip everyone saw first goes stale (a natural reorg).
    start_race: bool = False

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = float(self.start_time)
        self.blocks_made = 0
        self.mempool: dict[str, Tx] = {}
        self.chain: list[Block] = []
        self.by_hash: dict[str, Block] = {}
        self.sequence = 0
        self.epoch = 0
        self.restarts = 0
        self.tx_counter = 0
        self.projected: dict[str, Tx] = {}
        self.added_since_update: int = 0
        self.vbytes_since_update: float = 0.0
        self.last_vbytes_per_s = 0
        self._build_history()
        self.race_sibling: Block | None = None
        if self.start_race:
            tip = self.tip
            txs = [self._new_tx(tip.timestamp) for _ in range(self.rng.randint(1500, 3500))]
            self.race_sibling = self._make_block(tip.height, tip.prev, tip.timestamp + 7, txs)
            self.by_hash[self.race_sibling.hash] = self.race_sibling
        self.next_tx_at = self.now + self.rng.expovariate(self.tx_per_s)
        self.next_block_at = self.now + self.rng.expovariate(1 / self.block_interval_s)
        self.next_update_at = self.now + self.update_interval_s
        self.next_conversion_at = self.now
        self.next_live2h_at = self.now + 60
        self.next_restart_at = (
            self.now + self.chaos.restart_every_s if self.chaos.restart_every_s else math.inf
        )
        self._refresh_projected()

    # -- construction ------------------------------------------------------------------

    def _new_tx(self, at: float) -> Tx:
        self.tx_counter += 1
        vsize = round(max(110.0, self.rng.lognormvariate(math.log(250), 0.6)) * 4) / 4
        rate = max(1.0, self.rng.lognormvariate(math.log(6), 0.9))
        fee = max(1, round(rate * vsize))
        return Tx(
            txid=_hex("tx", self.seed, self.tx_counter),
            fee=fee,
            vsize=vsize,
            value=int(self.rng.lognormvariate(math.log(2_000_000), 2.0)),
            rate=fee / vsize,
            first_seen=int(at),
        )

    def _build_history(self) -> None:
        prev = _hex("genesis", self.seed)
        t = self.start_time - self.history_blocks * int(self.block_interval_s)
        for i in range(self.history_blocks):
            txs = [self._new_tx(t) for _ in range(self.rng.randint(1500, 3500))]
            block = self._make_block(self.start_height + i, prev, t, txs)
            self._append(block)
            prev = block.hash
            t += int(self.rng.expovariate(1 / self.block_interval_s)) + 1
        # A backlog so the first projected block is full: a block and a half of arrivals.
        backlog_s = 1.5 * self.block_interval_s
        for _ in range(int(self.tx_per_s * backlog_s)):
            tx = self._new_tx(self.now - self.rng.uniform(0, backlog_s))
            self.mempool[tx.txid] = tx

    def _make_block(self, height: int, prev: str, timestamp: int, txs: list[Tx]) -> Block:
        # The hash depends on the seed and the chain, not on the wall clock: a seed means
        # the same chain whenever the simulator starts. The serial tells apart siblings
        # mined on the same parent (a reorg).
        self.blocks_made += 1
        return Block(
            hash="0" * 19 + _hex("block", self.seed, height, prev, self.blocks_made)[19:],
            height=height,
            prev=prev,
            timestamp=timestamp,
            txids=[t.txid for t in txs],
            tx_count=len(txs) + 1,  # + coinbase
            vsize=sum(t.vsize for t in txs),
            total_fees=sum(t.fee for t in txs),
            rates=[t.rate for t in txs],
            pool=self.rng.choice(POOLS),
        )

    def _append(self, block: Block) -> None:
        self.chain.append(block)
        self.by_hash[block.hash] = block

    # -- queries -----------------------------------------------------------------------

    @property
    def tip(self) -> Block:
        return self.chain[-1]

    def block_at(self, height: int) -> Block | None:
        index = height - self.chain[0].height
        return self.chain[index] if 0 <= index < len(self.chain) else None

    def sorted_mempool(self) -> list[Tx]:
        return sorted(self.mempool.values(), key=lambda t: (-t.rate, t.txid))

    def projected_blocks(self, count: int = 8) -> list[list[Tx]]:
        """The next `count` blocks by fee rate; like mempool.space, the 8th holds the rest."""
        blocks: list[list[Tx]] = [[]]
        used = 0.0
        for tx in self.sorted_mempool():
            if used + tx.vsize > BLOCK_VSIZE:
                if len(blocks) == count and count < 8:
                    break
                if len(blocks) < count:
                    blocks.append([])
                    used = 0.0
            blocks[-1].append(tx)
            used += tx.vsize
        return blocks

    def _refresh_projected(self) -> tuple[list[Tx], list[str]]:
        """Recompute the projected block; the difference to what clients last saw."""
        new = {t.txid: t for t in self.projected_blocks(1)[0]}
        added = [t for txid, t in new.items() if txid not in self.projected]
        removed = [txid for txid in self.projected if txid not in new]
        self.projected = new
        return added, removed

    # -- time --------------------------------------------------------------------------

    def advance(self, to: float) -> list[Event]:
        """Run the world forward to simulated time `to`; return what happened, in order."""
        events: list[Event] = []
        while True:
            nxt = min(
                self.next_tx_at,
                self.next_block_at,
                self.next_update_at,
                self.next_conversion_at,
                self.next_live2h_at,
                self.next_restart_at,
            )
            if nxt > to:
                break
            self.now = nxt
            if nxt == self.next_tx_at:
                tx = self._new_tx(nxt)
                self.mempool[tx.txid] = tx
                self.added_since_update += 1
                self.vbytes_since_update += tx.vsize
                self.next_tx_at = nxt + self.rng.expovariate(self.tx_per_s)
            elif nxt == self.next_block_at:
                events.extend(self._mine(int(nxt)))
                self.next_block_at = nxt + self.rng.expovariate(1 / self.block_interval_s)
            elif nxt == self.next_update_at:
                events.append(self._mempool_update(int(nxt)))
                self.next_update_at = nxt + self.update_interval_s
            elif nxt == self.next_conversion_at:
                events.append(
                    Event("conversions", int(nxt), prices.conversions(self.seed, int(nxt)))
                )
                self.next_conversion_at = nxt + self.conversions_interval_s
            elif nxt == self.next_live2h_at:
                events.append(Event("live2h", int(nxt), self.live_2h_chart(int(nxt))))
                self.next_live2h_at = nxt + 60
            else:
                events.append(self._restart(int(nxt)))
                self.next_restart_at = nxt + self.chaos.restart_every_s
        self.now = to
        return events

    def _update(self, at: int, after_block: bool = False) -> Update:
        """The next `sequence`: what changed in the projected block since clients last saw it.

        Mirrors websocket-handler.ts: `$handleMempoolChange` sends a delta whenever block 0
        has one (it exists while either the old or the new template has a block 0);
        `handleNewBlock` sends block 0 only if it holds transactions, and then as the full
        set when more than half of it is new. Both count the sequence either way.
        """
        changed: list[list[Any]] = []
        previous_count = len(self.projected)
        # Occasionally a child pays for its parent: the parent's effective rate rises.
        candidates = sorted(t for t in self.projected if t in self.mempool)
        if not after_block and candidates and self.rng.random() < 0.2:
            tx = self.mempool[self.rng.choice(candidates)]
            tx.rate = tx.rate * self.rng.uniform(1.1, 2.0)
            changed.append(tx.change())
        added, removed = self._refresh_projected()
        changed = [c for c in changed if c[0] in self.projected]
        self.sequence += 1
        if after_block:
            sent = bool(self.projected)
            as_full_set = len(added) > len(self.projected) / 2
        else:
            sent = bool(self.projected) or previous_count > 0
            as_full_set = False
            self.last_vbytes_per_s = int(self.vbytes_since_update / self.update_interval_s)
            self.added_since_update = 0
            self.vbytes_since_update = 0.0
        return Update(
            at,
            self.sequence,
            added,
            removed,
            changed,
            list(self.projected.values()),
            sent=sent,
            as_full_set=as_full_set,
            epoch=self.epoch,
            mempool_info=self.mempool_info(),
            vbytes_per_s=self.last_vbytes_per_s,
        )

    def _mempool_update(self, at: int) -> Event:
        return Event("update", at, self._update(at))

    def _mine(self, at: int) -> list[Event]:
        if self.race_sibling is not None:
            return self._resolve_race(at)
        if (
            self.chaos.reorg_probability
            and len(self.chain) > 4
            and self.rng.random() < self.chaos.reorg_probability
        ):
            return self._reorg(at, depth=self.rng.randint(1, self.chaos.max_reorg_depth))
        clearing = (
            self.chaos.clearing_block_probability > 0
            and self.rng.random() < self.chaos.clearing_block_probability
        )
        block = self._mine_one(at, self.tip.hash, self.tip.height + 1, clearing=clearing)
        return [Event("block", at, block, self._update(at, after_block=True))]

    def _mine_one(self, at: int, prev: str, height: int, clearing: bool = False) -> Block:
        """Mine the next block on `prev`. The pool's template is not exactly the projection
        (its mempool differs a little): up to 4 % of the projected block stays behind and
        the next best transactions take its place, so the match rate varies as on mainnet."""
        template = self.projected_blocks(2)
        chosen = list(template[0])
        following = template[1] if len(template) > 1 else []
        left_out = (
            {t.txid for t in chosen if self.rng.random() < self.rng.uniform(0.0, 0.04)}
            if chosen
            else set()
        )
        chosen = [t for t in chosen if t.txid not in left_out]
        room = BLOCK_VSIZE - sum(t.vsize for t in chosen)
        for tx in following:
            if tx.vsize > room:
                break
            chosen.append(tx)
            room -= tx.vsize
        block = self._make_block(height, prev, at, chosen)
        mined = set(block.txids)
        if template[0]:
            block.match_rate = round_rate(
                100 * sum(1 for t in template[0] if t.txid in mined) / len(template[0])
            )
        if self.projected:
            block.seen_overlap_pct = round_rate(
                100 * sum(1 for txid in self.projected if txid in mined) / len(self.projected)
            )
        for tx in chosen:
            self.mempool.pop(tx.txid, None)
        if clearing:
            self.mempool.clear()
        self._append(block)
        return block

    def blocks_view(self, below: int = 0) -> list[dict[str, Any]]:
        """The backend's block cache as `handleReorg` sends it: up to 32 blocks
        (INITIAL_BLOCKS_AMOUNT x 4) of the chain, leaving out the last `below`."""
        end = len(self.chain) - below
        return [b.to_api() for b in self.chain[max(0, end - 32) : end]]

    def _reorg(self, at: int, depth: int) -> list[Event]:
        """Replace the last `depth` blocks with `depth + 1` blocks of a competing branch.

        As blocks.ts `$handleReorgs` then websocket-handler.ts `handleReorg` and
        `handleNewBlock`: first the rebuilt block cache (`blocks`, the new branch up to the
        new tip's parent), then the new tip as a `block` in the next frame.
        """
        orphaned = self.chain[-depth:]
        del self.chain[-depth:]
        for block in orphaned:
            block.stale = True
            # Their transactions return to the mempool (as far as we still know them).
            for i, txid in enumerate(block.txids):
                if txid not in self.mempool:
                    rate = block.rates[i]
                    self.mempool[txid] = Tx(txid, max(1, int(rate * 250)), 250.0, 0, rate, at)
        new_blocks = []
        for i in range(depth + 1):
            new_blocks.append(self._mine_one(at - depth + i, self.tip.hash, self.tip.height + 1))
        return self._reorg_events(at, orphaned, new_blocks)

    def _reorg_events(self, at: int, stale: list[Block], new: list[Block]) -> list[Event]:
        # self.projected stays what clients last saw, so the next delta is relative to it.
        # Only the new tip arrives as a `block`: the projection for the other new blocks'
        # heights was ended by the blocks they replace, so no overlap is theirs to check.
        for block in new[:-1]:
            block.seen_overlap_pct = None
        reorg = Event(
            "reorg", at, {"stale": stale, "new": new[:-1], "blocks": self.blocks_view(below=1)}
        )
        return [reorg, Event("block", at, new[-1], self._update(at, after_block=True))]

    def _resolve_race(self, at: int) -> list[Event]:
        """The next block extends the tip's sibling: the first-seen tip goes stale."""
        sibling, self.race_sibling = self.race_sibling, None
        assert sibling is not None
        loser = self.chain.pop()
        loser.stale = True
        self.chain.append(sibling)
        new = self._mine_one(at, sibling.hash, sibling.height + 1)
        return self._reorg_events(at, [loser], [sibling, new])

    def _restart(self, at: int) -> Event:
        self.sequence = 0
        self.restarts += 1
        self.epoch += 1
        return Event("restart", at, {"epoch": self.epoch})

    # -- payloads ----------------------------------------------------------------------

    def mempool_info(self) -> dict[str, Any]:
        vsize = sum(t.vsize for t in self.mempool.values())
        total_fee_sat = sum(t.fee for t in self.mempool.values())
        return {
            "loaded": True,
            "size": len(self.mempool),
            "bytes": int(vsize * 1.6),
            "usage": int(vsize * 5),
            "total_fee": round(total_fee_sat / 1e8, 8),
            "maxmempool": 300_000_000,
            "mempoolminfee": 1e-05,
            "minrelaytxfee": 1e-05,
            "incrementalrelayfee": 1e-05,
            "unbroadcastcount": 0,
            "fullrbf": True,
        }

    def recommended_fees(self, whole: bool = False) -> dict[str, float]:
        blocks = self.projected_blocks(3)

        def median_rate(i: int) -> float:
            if i >= len(blocks) or not blocks[i]:
                return 1.0
            return float(statistics.median(t.rate for t in blocks[i]))

        fees = {
            "fastestFee": median_rate(0),
            "halfHourFee": median_rate(1) if len(blocks) > 1 else median_rate(0) * 0.9,
            "hourFee": median_rate(2) if len(blocks) > 2 else median_rate(0) * 0.8,
            "economyFee": 2.0,
            "minimumFee": 1.0,
        }
        fees["halfHourFee"] = min(fees["halfHourFee"], fees["fastestFee"])
        fees["hourFee"] = min(fees["hourFee"], fees["halfHourFee"])
        fees["economyFee"] = min(fees["economyFee"], fees["hourFee"])
        if whole:
            return {k: max(1, math.ceil(v)) for k, v in fees.items()}
        return {k: round(v, 2) for k, v in fees.items()}

    def full_set_payload(self, index: int = 0) -> dict[str, Any]:
        """`projected-block-transactions` as a full set: what a client that subscribes
        (`track-mempool-block`) is sent first."""
        return {
            "index": index,
            "sequence": self.sequence,
            "blockTransactions": [t.projected() for t in self.projected.values()],
        }

    def mempool_blocks(self) -> list[dict[str, Any]]:
        out = []
        for txs in self.projected_blocks(8):
            if not txs:
                continue
            rates = sorted(t.rate for t in txs)
            picks = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
            out.append(
                {
                    "blockSize": int(sum(t.vsize for t in txs) * 1.9),
                    "blockVSize": sum(t.vsize for t in txs),
                    "nTx": len(txs),
                    "totalFees": sum(t.fee for t in txs),
                    "medianFee": float(statistics.median(rates)),
                    "feeRange": [
                        rates[min(len(rates) - 1, int(p * (len(rates) - 1)))] for p in picks
                    ],
                }
            )
        return out

    def difficulty_adjustment(self) -> dict[str, Any]:
        height = self.tip.height
        next_retarget = (height // 2016 + 1) * 2016
        remaining = next_retarget - height
        now_ms = int(self.now * 1000)
        return {
            "progressPercent": round((2016 - remaining) / 2016 * 100, 4),
            "difficultyChange": 1.5,
            "estimatedRetargetDate": now_ms + remaining * 600_000,
            "remainingBlocks": remaining,
            "remainingTime": remaining * 600_000,
            "previousRetarget": -0.97,
            "previousTime": int(self.now) - (2016 - remaining) * 600,
            "nextRetargetHeight": next_retarget,
            "timeAvg": 600_000,
            "adjustedTimeAvg": 600_000,
            "timeOffset": 0,
            "expectedBlocks": 2016 - remaining,
        }

    def live_2h_chart(self, at: int) -> dict[str, Any]:
        buckets = [
            1,
            2,
            3,
            4,
            5,
            6,
            8,
            10,
            12,
            15,
            20,
            30,
            40,
            50,
            60,
            70,
            80,
            90,
            100,
            125,
            150,
            175,
            200,
            250,
            300,
            350,
            400,
            500,
            600,
            700,
            800,
            900,
            1000,
            1200,
            1400,
            1600,
            1800,
            2000,
        ]
        vsizes = [0] * len(buckets)
        for tx in self.mempool.values():
            idx = max(0, min(len(buckets) - 1, sum(1 for b in buckets if tx.rate >= b) - 1))
            vsizes[idx] += int(tx.vsize)
        return {
            "added": at,
            "count": len(self.mempool),
            "vbytes_per_second": self.last_vbytes_per_s,
            "mempool_byte_weight": int(sum(t.vsize for t in self.mempool.values()) * 4),
            "total_fee": sum(t.fee for t in self.mempool.values()),
            "min_fee": 1.0,
            "vsizes": vsizes,
        }

    def rest_mempool(self) -> dict[str, Any]:
        histogram: dict[float, float] = {}
        for tx in self.mempool.values():
            bucket = float(math.floor(tx.rate))
            histogram[bucket] = histogram.get(bucket, 0.0) + tx.vsize
        return {
            "count": len(self.mempool),
            "vsize": int(sum(t.vsize for t in self.mempool.values())),
            "total_fee": sum(t.fee for t in self.mempool.values()),
            "fee_histogram": [[k, v] for k, v in sorted(histogram.items(), reverse=True)],
        }

    def latest_transactions(self) -> list[dict[str, Any]]:
        """The newest transactions, as `memPool.getLatestTransactions` lists them."""
        return [
            {"txid": t.txid, "fee": t.fee, "vsize": t.vsize, "value": t.value, "rate": t.rate}
            for t in list(self.mempool.values())[-6:]
        ]

    def stats_payloads(self) -> dict[str, Any]:
        return {
            "mempoolInfo": self.mempool_info(),
            "vBytesPerSecond": self.last_vbytes_per_s,
            "fees": self.recommended_fees(),
            "da": self.difficulty_adjustment(),
        }
