"""`mempool verify`: the warehouse (SILVER and GOLD) against the simulator's ground truth.

Only what the simulator served (a WebSocket frame or a REST answer that reached a
client) can be expected downstream; the truth file says what that was. Every served
block must be in SILVER.BLOCKS once with the right canonical/stale status and figures,
and in GOLD (FCT_BLOCKS by height, FCT_STALE_BLOCKS); every served price once with its
value; every served projected-block state rebuilt with the simulator's content; every
stats sample with the mempool size of its sequence; our own projection overlap equal to
the truth's; GOLD's minutes, projected-block strips, fee scores and BTC amounts as
their definitions compute them from what is below them; nothing in GOLD from the future;
and every raw record accounted for.

Length: one check per SILVER/GOLD table against the truth, sharing its loading and the report.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.alert_drill import check_drill, drill_record
from sandbox.simulator.truth import read_truth

MAX_LISTED = 20
SATS_PER_BTC = Decimal(100_000_000)
# (satoshi column, BTC column) of each mart that has both.
GOLD_AMOUNTS = {
    "FCT_BLOCKS": [("TOTAL_FEES_SAT", "TOTAL_FEES_BTC"), ("REWARD_SAT", "REWARD_BTC")],
    "FCT_MEMPOOL_BLOCKS": [("TOTAL_FEES_SAT", "TOTAL_FEES_BTC")],
    "FCT_PROJECTED_BLOCK": [("TOTAL_FEES_SAT", "TOTAL_FEES_BTC")],
}
# Times taken from our own clocks (receipt, sighting, load), by mart.
OUR_CLOCKS = [
    ("FCT_MEMPOOL_MINUTELY", "MINUTE_AT"),
    ("FCT_MEMPOOL_BLOCKS", "MINUTE_AT"),
    ("FCT_BLOCKS", "FIRST_SEEN_AT"),
    ("FCT_PROJECTED_BLOCK", "PROJECTED_AT"),
    ("FCT_PRICES", "RECEIVED_AT"),
]
# The skew LOAD_EVENTS allows a client's clock (mempool_procs.plausible).
MAX_CLOCK_SKEW_MINUTES = 10
DBT_PROJECT = Path(__file__).resolve().parent.parent / "snowflake" / "dbt" / "dbt_project.yml"


def dbt_var(name: str) -> Any:
    import yaml

    return yaml.safe_load(DBT_PROJECT.read_text())["vars"][name]


class TruthIncomplete(RuntimeError):
    """The truth file holds nothing to verify against."""


@dataclass
class Truth:
    canonical: list[str]
    stale: set[str]
    blocks: dict[str, dict[str, Any]]
    prices: dict[int, dict[str, Any]]
    projected: dict[tuple[int, int], dict[str, Any]]
    stats: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    served_stats: set[tuple[int, int]] = field(default_factory=set)
    served_blocks: set[str] = field(default_factory=set)
    served_prices: set[int] = field(default_factory=set)
    served_projected: set[tuple[int, int]] = field(default_factory=set)

    @classmethod
    def read(cls, path: Path) -> Truth:
        lines = read_truth(path)
        if not lines:
            raise TruthIncomplete(f"{path} is empty: run `mempool demo` with the simulator")
        truth = cls(canonical=[], stale=set(), blocks={}, prices={}, projected={})
        for line in lines:
            kind = line["kind"]
            if kind == "block":
                truth.blocks[line["hash"]] = line
            elif kind == "price":
                truth.prices[int(line["time"])] = line
            elif kind == "projected":
                truth.projected[(line["epoch"], line["sequence"])] = line
            elif kind == "stats" and "sequence" in line:
                truth.stats[(line["epoch"], line["sequence"])] = line
            elif kind == "served":
                what = line["what"]
                if what == "block":
                    truth.served_blocks.add(line["hash"])
                elif what == "price":
                    truth.served_prices.add(int(line["time"]))
                elif what == "projected":
                    truth.served_projected.add((line["epoch"], line["sequence"]))
                elif what == "stats":
                    truth.served_stats.add((line["epoch"], line["sequence"]))
            elif kind == "stale":
                truth.stale.add(line["hash"])
        final = lines[-1] if lines[-1].get("kind") == "final" else None
        if final is not None:
            truth.canonical, truth.stale = list(final["canonical"]), set(final["stale"])
        else:
            # A simulator stopped before it wrote its final line (killed, or still
            # running): every block it made and did not orphan is the chain, since an
            # orphaned block never comes back. Verifying a running demo reports what is
            # still on its way as lost.
            chain = [b for h, b in truth.blocks.items() if h not in truth.stale]
            truth.canonical = [b["hash"] for b in sorted(chain, key=lambda b: b["height"])]
        return truth


@dataclass
class Report:
    verified: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong)

    def summary(self) -> str:
        v = self.verified
        return (
            f"verified: {v['blocks']} blocks, {v['prices']} prices, {v['states']} states, "
            f"{v['stats']} stats samples, {v['projections']} projections, "
            f"{v['minutes']} gold minutes, {v['fee scores']} fee scores, "
            f"{v['streamer minutes']} streamer minutes; "
            f"lost {len(self.lost)}, "
            f"duplicated {len(self.duplicated)}, wrong {len(self.wrong)}"
        )

    def differences(self) -> Iterable[str]:
        for label, items in (
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("wrong", self.wrong),
        ):
            for item in items[:MAX_LISTED]:
                yield f"  {label}: {item}"
            if len(items) > MAX_LISTED:
                yield f"  {label}: ... and {len(items) - MAX_LISTED} more"


def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def check_blocks(conn: Any, truth: Truth, report: Report) -> None:
    canonical = set(truth.canonical)
    silver: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows(
        conn,
        "SELECT BLOCK_HASH, HEIGHT, IS_CANONICAL, IS_STALE, TX_COUNT, TOTAL_FEES_SAT "
        "FROM SILVER.BLOCKS",
    ):
        silver[row[0]].append(row)
    for block_hash, found in silver.items():
        if len(found) > 1:
            report.duplicated.append(f"SILVER.BLOCKS {block_hash}: {len(found)} rows")
        if block_hash not in truth.blocks:
            report.wrong.append(f"SILVER.BLOCKS {block_hash}: a block the simulator never made")
    for block_hash in sorted(truth.served_blocks):
        line = truth.blocks.get(block_hash)
        stored = silver.get(block_hash)
        if line is None:
            continue
        if not stored:
            report.lost.append(f"block {line['height']} {block_hash}: not in SILVER.BLOCKS")
            continue
        _, height, is_canonical, is_stale, tx_count, fees = stored[0]
        expected = block_hash in canonical
        if bool(is_canonical) != expected or bool(is_stale) == expected:
            status = "canonical" if expected else "stale"
            report.wrong.append(f"block {height} {block_hash}: should be {status}")
        elif (int(height), int(tx_count), int(fees)) != (
            line["height"],
            line["tx_count"],
            line["total_fees"],
        ):
            report.wrong.append(f"block {height} {block_hash}: height, tx count or fees differ")
        else:
            report.verified["blocks"] += 1

    gold: dict[int, list[str]] = defaultdict(list)
    for height, block_hash in rows(conn, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCKS"):
        gold[int(height)].append(block_hash)
    for height, hashes in gold.items():
        if len(hashes) > 1:
            report.duplicated.append(f"GOLD.FCT_BLOCKS height {height}: {len(hashes)} rows")
    for block_hash in truth.canonical:
        if block_hash not in truth.served_blocks:
            continue
        height = truth.blocks[block_hash]["height"]
        at = gold.get(height, [])
        if not at:
            report.lost.append(f"GOLD.FCT_BLOCKS height {height}: missing")
        elif at[0] != block_hash:
            report.wrong.append(f"GOLD.FCT_BLOCKS height {height}: {at[0]} not {block_hash}")
    gold_stale = Counter(r[0] for r in rows(conn, "SELECT BLOCK_HASH FROM GOLD.FCT_STALE_BLOCKS"))
    for block_hash, n in gold_stale.items():
        if n > 1:
            report.duplicated.append(f"GOLD.FCT_STALE_BLOCKS {block_hash}: {n} rows")
        if block_hash not in truth.stale:
            report.wrong.append(f"GOLD.FCT_STALE_BLOCKS {block_hash}: not stale")
    for block_hash in sorted(truth.stale & truth.served_blocks):
        if block_hash not in gold_stale:
            report.lost.append(f"GOLD.FCT_STALE_BLOCKS {block_hash}: missing")


def check_prices(conn: Any, truth: Truth, report: Report) -> None:
    found: dict[int, list[float]] = defaultdict(list)
    for price_time, usd in rows(
        conn, "SELECT PRICE_TIME_S, USD FROM SILVER.PRICES WHERE SOURCE_TOPIC = 'conversions'"
    ):
        found[int(price_time)].append(float(usd))
    for price_time, values in found.items():
        if len(values) > 1:
            report.duplicated.append(f"SILVER.PRICES {price_time}: {len(values)} rows")
        if price_time not in truth.prices:
            report.wrong.append(f"SILVER.PRICES {price_time}: a price the simulator never made")
    gold = Counter(int(r[0]) for r in rows(conn, "SELECT PRICE_TIME_S FROM GOLD.FCT_PRICES"))
    for price_time in sorted(truth.served_prices):
        stored = found.get(price_time)
        if not stored:
            report.lost.append(f"price {price_time}: not in SILVER.PRICES")
        elif stored[0] != float(truth.prices[price_time]["USD"]):
            report.wrong.append(
                f"price {price_time}: USD {stored[0]} not {truth.prices[price_time]['USD']}"
            )
        elif gold[price_time] != 1:
            report.lost.append(f"price {price_time}: {gold[price_time]} rows in GOLD.FCT_PRICES")
        else:
            report.verified["prices"] += 1


def check_projected(conn: Any, truth: Truth, report: Report) -> None:
    """Each state our rebuild calls valid has the content the simulator had at that
    sequence (connections never span a restart, so some epoch must match); each served
    state was rebuilt (or honestly marked unknown after a gap)."""
    by_sequence: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (_, sequence), line in truth.projected.items():
        by_sequence[sequence].append((line["tx_count"], line["total_fees"]))
    keys: Counter[tuple[str, int]] = Counter()
    covered: dict[int, set[tuple[int, int] | None]] = defaultdict(set)
    for origin, frame_seq, sequence, is_valid, tx_count, fees in rows(
        conn,
        "SELECT ORIGIN_ID, FRAME_SEQ, SEQUENCE, IS_VALID, TX_COUNT, TOTAL_FEES_SAT "
        "FROM SILVER.PROJECTED_BLOCK_STATES",
    ):
        keys[(origin, int(frame_seq))] += 1
        if not is_valid:
            covered[int(sequence)].add(None)
            continue
        content = (int(tx_count), int(fees))
        covered[int(sequence)].add(content)
        if content in by_sequence.get(int(sequence), []):
            report.verified["states"] += 1
        else:
            report.wrong.append(
                f"projected state {origin}:{frame_seq} (sequence {sequence}): "
                f"{tx_count} txs / {fees} sat, unlike any simulator state at that sequence"
            )
    for (origin, frame_seq), n in keys.items():
        if n > 1:
            report.duplicated.append(f"SILVER.PROJECTED_BLOCK_STATES {origin}:{frame_seq}: {n}")
    for epoch, sequence in sorted(truth.served_projected):
        state = truth.projected.get((epoch, sequence))
        seen = covered.get(sequence, set())
        if state is None:
            continue
        if None not in seen and (state["tx_count"], state["total_fees"]) not in seen:
            report.lost.append(f"projected state epoch {epoch} sequence {sequence}: not rebuilt")


def check_stats(conn: Any, truth: Truth, report: Report) -> None:
    """Each mempoolInfo sample that came in the frame of a projected-block sequence has
    the mempool size the simulator had at that sequence (in some epoch)."""
    sizes: dict[int, set[int]] = defaultdict(set)
    for (_, sequence), line in truth.stats.items():
        sizes[sequence].add(int(line["mempool_size"]))
    sequence_of = {
        (str(origin), int(frame_seq)): int(sequence)
        for origin, frame_seq, sequence in rows(
            conn, "SELECT ORIGIN_ID, FRAME_SEQ, SEQUENCE FROM SILVER.PROJECTED_BLOCK_STATES"
        )
    }
    keys: Counter[str] = Counter()
    found: dict[int, set[int]] = defaultdict(set)
    for event_key, tx_count in rows(conn, "SELECT EVENT_KEY, TX_COUNT FROM SILVER.MEMPOOL_INFO"):
        keys[event_key] += 1
        origin, frame_seq, _ = str(event_key).rsplit(":", 2)
        at = sequence_of.get((origin, int(frame_seq)))
        if at is None or at not in sizes:
            continue
        found[at].add(int(tx_count))
        if int(tx_count) in sizes[at]:
            report.verified["stats"] += 1
        else:
            report.wrong.append(
                f"stats sample {event_key}: mempool size {tx_count}, the simulator's at "
                f"sequence {at} was {sorted(sizes[at])}"
            )
    for event_key, n in keys.items():
        if n > 1:
            report.duplicated.append(f"SILVER.MEMPOOL_INFO {event_key}: {n} rows")
    for epoch, sequence in sorted(truth.served_stats):
        sample = truth.stats.get((epoch, sequence))
        if sample is not None and int(sample["mempool_size"]) not in found.get(sequence, set()):
            report.lost.append(f"stats sample epoch {epoch} sequence {sequence}: not in SILVER")


def check_accuracy(conn: Any, truth: Truth, report: Report) -> None:
    for height, block_hash, overlap in rows(
        conn,
        "SELECT HEIGHT, BLOCK_HASH, TX_OVERLAP_PCT FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY "
        "WHERE TX_OVERLAP_PCT IS NOT NULL",
    ):
        expected = truth.blocks.get(block_hash, {}).get("seen_overlap_pct")
        if expected is None:
            continue
        if abs(float(overlap) - float(expected)) > 0.011:
            report.wrong.append(
                f"projection accuracy at {height}: overlap {overlap} % not {expected} %"
            )
        else:
            report.verified["projections"] += 1


def last_per_minute(rows_: Iterable[tuple[Any, ...]]) -> dict[datetime, tuple[Any, ...]]:
    """(received_at, key, *values) rows -> the values of each minute's last row, as the
    marts choose it (latest receipt, then the highest key)."""
    last: dict[datetime, tuple[Any, ...]] = {}
    for received_at, _key, *values in sorted(rows_, key=lambda r: (r[0], str(r[1]))):
        last[received_at.replace(second=0, microsecond=0)] = tuple(values)
    return last


def check_gold_minutes(conn: Any, truth: Truth, report: Report) -> None:
    """GOLD.FCT_MEMPOOL_MINUTELY and FCT_MEMPOOL_BLOCKS hold, for every minute with a
    sample in SILVER, that minute's last sample and last projected-block frame, and no
    other minute; every stats sample the simulator served has its minute."""
    mempool = last_per_minute(
        rows(conn, "SELECT RECEIVED_AT, EVENT_KEY, TX_COUNT FROM SILVER.MEMPOOL_INFO")
    )
    fees = last_per_minute(
        rows(
            conn,
            "SELECT RECEIVED_AT, EVENT_KEY, FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES",
        )
    )
    gold: dict[datetime, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows(
        conn, "SELECT MINUTE_AT, TX_COUNT, FASTEST_FEE_SAT_PER_VB FROM GOLD.FCT_MEMPOOL_MINUTELY"
    ):
        gold[row[0]].append(row[1:])
    for at, rows_at in sorted(gold.items()):
        if len(rows_at) > 1:
            report.duplicated.append(f"GOLD.FCT_MEMPOOL_MINUTELY {at}: {len(rows_at)} rows")
        if at not in mempool:
            report.wrong.append(f"GOLD.FCT_MEMPOOL_MINUTELY {at}: no sample in that minute")
    for at, (tx_count,) in sorted(mempool.items()):
        found = gold.get(at)
        expected_fee = fees.get(at, (None,))[0]
        if not found:
            report.lost.append(f"GOLD.FCT_MEMPOOL_MINUTELY {at}: missing")
        elif (found[0][0], found[0][1]) != (tx_count, expected_fee):
            report.wrong.append(
                f"GOLD.FCT_MEMPOOL_MINUTELY {at}: {found[0]} not the minute's last sample "
                f"({tx_count}, {expected_fee})"
            )
        else:
            report.verified["minutes"] += 1
    for epoch, sequence in sorted(truth.served_stats):
        sample = truth.stats.get((epoch, sequence))
        if sample is None:
            continue
        at = datetime.fromtimestamp(int(sample["time"]), UTC).replace(tzinfo=None, second=0)
        if at not in gold and at + timedelta(minutes=1) not in gold:
            report.lost.append(f"GOLD.FCT_MEMPOOL_MINUTELY {at}: a served sample's minute")
    frames = last_per_minute(
        rows(conn, "SELECT RECEIVED_AT, EVENT_KEY, EVENT_KEY FROM SILVER.MEMPOOL_BLOCKS")
    )
    strip: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for event_key, *block in rows(
        conn,
        f"SELECT EVENT_KEY, {STRIP_COLUMNS} FROM SILVER.MEMPOOL_BLOCKS",
    ):
        strip[str(event_key)].append(tuple(block))
    gold_strip: dict[datetime, list[tuple[Any, ...]]] = defaultdict(list)
    for at, *block in rows(conn, f"SELECT MINUTE_AT, {STRIP_COLUMNS} FROM GOLD.FCT_MEMPOOL_BLOCKS"):
        gold_strip[at].append(tuple(block))
    for at in sorted(set(frames) | set(gold_strip)):
        expected = sorted(strip[str(frames[at][0])], key=repr) if at in frames else []
        found = sorted(gold_strip.get(at, []), key=repr)
        if found != expected:
            report.wrong.append(
                f"GOLD.FCT_MEMPOOL_BLOCKS {at}: {found} not the minute's last frame {expected}"
            )


# A projected block as SILVER and gold both hold it (gold renames nothing of these).
STRIP_COLUMNS = "BLOCK_INDEX, TX_COUNT, TOTAL_FEES_SAT, BLOCK_VSIZE"

# The demo records when each streamer process was up (streamers.json, sandbox/pipeline.py's
# StreamerFleet): from its start to the signal that stopped it. Its frames count from this
# long after the start: the interpreter and boto3 import (2-3 s, more while a dbt build
# holds the machine's cores), connecting and subscribing, then the first flush (1 s).
STREAMER_START_MARGIN_S = 10.0
# ... and until this long before the signal: a SIGKILL loses what the streamer had not
# flushed yet, at most one flush interval (1 s) by design; a SIGTERM loses nothing. The
# rest is received_at (the streamer's clock) against the demo's.
STREAMER_STOP_MARGIN_S = 2.0
# A minute is required when the up-time within the margins covers at least this much of it:
# a sliver at an interval's edge may see no frame at all (a connection the simulator
# drops or restarts is reopened after mempool.space's 2-4 s delay).
MIN_COVERED_S = 10.0
# A state the simulator made this close to a minute's end may arrive in the next one.
ARRIVAL_S = 2.0


def streamer_coverage(path: Path, now: float | None = None) -> list[tuple[float, float]] | None:
    """The spans (unix seconds) during which at least one streamer was up, within the
    margins, merged; None when the demo recorded nothing (an older workspace)."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    now = datetime.now(UTC).timestamp() if now is None else now
    spans = sorted(
        (float(up["from"]) + STREAMER_START_MARGIN_S, (up["to"] or now) - STREAMER_STOP_MARGIN_S)
        for ups in record.get("streamers", {}).values()
        for up in ups
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def minute_of(unix_s: float) -> datetime:
    """The minute as GOLD stores it (UTC, without a zone)."""
    return datetime.fromtimestamp(unix_s, UTC).replace(tzinfo=None, second=0, microsecond=0)


def covered_minutes(spans: list[tuple[float, float]]) -> dict[datetime, float]:
    """Minute -> seconds of it during which at least one streamer was up."""
    covered: dict[datetime, float] = defaultdict(float)
    for start, end in spans:
        at = start - start % 60
        while at < end:
            covered[minute_of(at)] += min(end, at + 60) - max(start, at)
            at += 60
    return covered


def check_streamer_minutes(
    conn: Any, truth: Truth, spans: list[tuple[float, float]] | None, report: Report
) -> None:
    """No minute lost while a streamer was up: every minute at least one of them covered
    (MIN_COVERED_S, within the margins) is in GOLD.FCT_MEMPOOL_MINUTELY and
    FCT_MEMPOOL_BLOCKS, and has a state in FCT_PROJECTED_BLOCK when the simulator served
    one then; and FCT_MEMPOOL_BLOCKS holds each block of a minute once."""
    for at, index, n in rows(
        conn,
        "SELECT MINUTE_AT, BLOCK_INDEX, COUNT(*) FROM GOLD.FCT_MEMPOOL_BLOCKS "
        "GROUP BY 1, 2 HAVING COUNT(*) > 1",
    ):
        report.duplicated.append(f"GOLD.FCT_MEMPOOL_BLOCKS {at} block {index}: {n} rows")
    if spans is None:
        return
    minutely = {r[0] for r in rows(conn, "SELECT MINUTE_AT FROM GOLD.FCT_MEMPOOL_MINUTELY")}
    strips = {r[0] for r in rows(conn, "SELECT MINUTE_AT FROM GOLD.FCT_MEMPOOL_BLOCKS")}
    projected = {
        r[0]
        for r in rows(
            conn, "SELECT DISTINCT DATE_TRUNC('minute', PROJECTED_AT) FROM GOLD.FCT_PROJECTED_BLOCK"
        )
    }
    served: set[datetime] = set()
    for key in truth.served_projected:
        state = truth.projected.get(key)
        if state is None:
            continue
        t = float(state["time"])
        if t % 60 <= 60 - ARRIVAL_S and any(start <= t < end for start, end in spans):
            served.add(minute_of(t))
    for at, seconds in sorted(covered_minutes(spans).items()):
        if seconds < MIN_COVERED_S:
            continue
        lost = [
            table
            for table, found, expected in (
                ("FCT_MEMPOOL_MINUTELY", minutely, True),
                ("FCT_MEMPOOL_BLOCKS", strips, True),
                ("FCT_PROJECTED_BLOCK", projected, at in served),
            )
            if expected and at not in found
        ]
        for table in lost:
            report.lost.append(
                f"GOLD.{table} {at}: no row, while streamer(s) were up {seconds:.0f}s of it"
            )
        if not lost:
            report.verified["streamer minutes"] += 1


def check_one_projected_line(conn: Any, report: Report) -> None:
    """GOLD.FCT_PROJECTED_BLOCK follows one connection at a time (docs/data-contract.md):
    in time order, each connection's states form one unbroken run. Two streamers'
    states interleaved, or a connection taking the line back, would draw the projected
    block twice or make it jump between two feeds."""
    seen: set[str] = set()
    current: str | None = None
    for (origin,) in rows(
        conn, "SELECT ORIGIN_ID FROM GOLD.FCT_PROJECTED_BLOCK ORDER BY PROJECTED_AT, FRAME_SEQ"
    ):
        if origin == current:
            continue
        if origin in seen:
            report.wrong.append(
                f"GOLD.FCT_PROJECTED_BLOCK: connection {origin} followed again after {current}"
            )
            return
        seen.add(origin)
        current = origin
    report.verified["projected-block connections followed"] = len(seen)


def check_gold_amounts(conn: Any, report: Report) -> None:
    """BTC columns are their satoshi columns to the satoshi."""
    for table, pairs in GOLD_AMOUNTS.items():
        columns = ", ".join(f"{sat}, {btc}" for sat, btc in pairs)
        for row in rows(conn, f"SELECT {columns} FROM GOLD.{table}"):
            for (sat_name, _), sat, btc in zip(pairs, row[0::2], row[1::2], strict=True):
                if sat is not None and Decimal(str(btc)) * SATS_PER_BTC != Decimal(int(sat)):
                    report.wrong.append(f"GOLD.{table}: {sat_name} {sat} is {btc} BTC")
                    return


def check_fee_scores(conn: Any, report: Report) -> None:
    """FCT_FEE_RECOMMENDATION_ACCURACY recomputed by its documented method from
    FCT_BLOCKS and FCT_MEMPOOL_MINUTELY (docs/data-contract.md)."""
    lead = timedelta(seconds=int(dbt_var("fee_sample_lead_seconds")))
    blocks = {
        int(h): (seen, mined, p10)
        for h, seen, mined, p10 in rows(
            conn,
            "SELECT HEIGHT, FIRST_SEEN_AT, MINED_AT, "
            "COALESCE(P10_FEE_RATE_SAT_PER_VB, MIN_FEE_RATE_SAT_PER_VB) FROM GOLD.FCT_BLOCKS",
        )
    }
    minutes = rows(
        conn,
        "SELECT MINUTE_AT, FASTEST_FEE_SAT_PER_VB FROM GOLD.FCT_MEMPOOL_MINUTELY "
        "WHERE FASTEST_FEE_SAT_PER_VB IS NOT NULL",
    )
    scored = rows(
        conn,
        "SELECT HEIGHT, SAMPLE_COUNT, INCLUDED_SAMPLE_COUNT "
        "FROM GOLD.FCT_FEE_RECOMMENDATION_ACCURACY",
    )
    live = {h for h, (seen, mined, _) in blocks.items() if seen <= mined + timedelta(hours=2)}
    for height in sorted(live - {int(r[0]) for r in scored}):
        report.lost.append(f"fee score at {height}: a block seen live, not scored")
    for height, samples, included in scored:
        seen, _, p10 = blocks.get(int(height), (None, None, None))
        previous = blocks.get(int(height) - 1, (None, None, None))[0]
        window = [
            fee
            for at, fee in minutes
            if previous is not None and seen is not None
            and at >= previous and at + timedelta(minutes=1) <= seen - lead
        ]  # fmt: skip
        made = sum(1 for fee in window if p10 is not None and fee >= p10)
        if (int(samples), int(included)) != (len(window), made):
            report.wrong.append(
                f"fee score at {height}: {included}/{samples}, recomputed {made}/{len(window)}"
            )
        else:
            report.verified["fee scores"] += 1


def check_nothing_in_the_future(conn: Any, report: Report) -> None:
    """No time of our own clocks in GOLD lies past the warehouse's clock plus the skew
    the load allows (a writer's clock centuries ahead froze the minutely mart)."""
    limit = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=MAX_CLOCK_SKEW_MINUTES)
    for table, column in OUR_CLOCKS:
        [(latest,)] = rows(conn, f"SELECT MAX({column}) FROM GOLD.{table}")
        if latest is not None and latest > limit:
            report.wrong.append(f"GOLD.{table}.{column}: {latest} is in the future")


def check_reconciliation(conn: Any, report: Report) -> None:
    for topic, raw, pending, balanced in rows(
        conn, "SELECT TOPIC, RAW_ROWS, PENDING_ROWS, IS_BALANCED FROM OPS.RECONCILIATION"
    ):
        if int(pending) or not balanced:
            report.lost.append(
                f"OPS.RECONCILIATION {topic}: {raw} raw rows, {pending} pending, "
                "clean + duplicates + quarantined do not add up"
            )


def verify(conn: Any, truth: Truth, streamers: list[tuple[float, float]] | None = None) -> Report:
    report = Report()
    check_blocks(conn, truth, report)
    check_prices(conn, truth, report)
    check_projected(conn, truth, report)
    check_stats(conn, truth, report)
    check_accuracy(conn, truth, report)
    check_gold_minutes(conn, truth, report)
    check_streamer_minutes(conn, truth, streamers, report)
    check_one_projected_line(conn, report)
    check_gold_amounts(conn, report)
    check_fee_scores(conn, report)
    check_nothing_in_the_future(conn, report)
    check_reconciliation(conn, report)
    return report


def run_verify(truth_path: Path, connection: str | None = None, as_json: bool = False) -> int:
    from sandbox.paths import Workspace
    from sandbox.warehouse import connect

    try:
        truth = Truth.read(truth_path)
    except FileNotFoundError:
        print(f"no ground truth at {truth_path}: run `mempool demo` (with the simulator) first")
        return 2
    except TruthIncomplete as exc:
        print(exc)
        return 2
    # The demo's record of its streamers sits beside its truth (Workspace.streamers_file).
    spans = streamer_coverage(Workspace(truth_path.parent).streamers_file)
    # `mempool demo --alert-drill`'s record: each alert fired in its window and cleared.
    drill = drill_record(truth_path.parent)
    drill_seen: list[str] = []
    with connect(connection, ws=Workspace.default()) as conn:
        report = verify(conn, truth, spans)
        if drill is not None:
            drill_seen, drill_wrong = check_drill(conn, drill)
            report.wrong += [f"alert drill: {w}" for w in drill_wrong]
    if as_json:
        print(
            json.dumps(
                {
                    "verified": dict(report.verified),
                    "lost": report.lost,
                    "duplicated": report.duplicated,
                    "wrong": report.wrong,
                    "alert_drill": drill_seen,
                },
                indent=2,
            )
        )
    else:
        print(report.summary())
        if mixed := mixed_seeds(truth_path.parent):
            print(
                f"note: this warehouse also holds the chain of seed(s) "
                f"{', '.join(map(str, mixed))} (a demo ran with --mix-chains): their blocks "
                "are blocks this simulator never made; `mempool demo --fresh` starts clean"
            )
        for line in drill_seen:
            print(f"  alert drill: {line}")
        for line in report.differences():
            print(line)
    return 0 if report.ok else 1


def mixed_seeds(workspace_root: Path) -> list[Any]:
    """The seeds of earlier chains a demo added this one to (sandbox/demo.py)."""
    from sandbox.demo import MIXED_SEEDS_FILE

    try:
        return list(json.loads((workspace_root / MIXED_SEEDS_FILE).read_text()))
    except (FileNotFoundError, ValueError):
        return []
