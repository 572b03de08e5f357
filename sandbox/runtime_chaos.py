"""Chaos on the Snowflake side of the local stack, reproducible from the seed.

- Landed objects delivered again: under a new key (as a Firehose retry writes them), and
  as a repeated notification for the same key, which the pipes' load history skips.
- Objects delivered late: a notification held back for several cycles, then loaded as
  `ALTER PIPE ... REFRESH` would after an outage (the final pass delivers the rest).
- A producer with a wrong clock: copies of a landed stream object under another origin,
  with every received_at minutes (within and just past the allowed skew), hours or
  centuries ahead, or before Bitcoin existed (quarantined past the skew).
- Task runs killed after any of their statements, and task graphs run twice.
- A gold build (the dbt runner) run in the middle of a procedure, between two of its
  statements: what gold reads must never be a builder's work half done.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

log = logging.getLogger("mempool.demo")

# Kill points are drawn up to here: past the last statement of most procedure runs (a run
# over many connections or chain neighbourhoods has more; the tests kill those).
MAX_KILL_AT = 40
# Clocks ahead by less than the load allows (their records are clean: another origin's
# copies), just past it, and far past it.
CLOCK_ERRORS = [
    timedelta(minutes=5),
    timedelta(minutes=11),
    timedelta(hours=2),
    timedelta(days=1),
    timedelta(days=365 * 300),
]
BEFORE_BITCOIN = datetime(2008, 6, 1, tzinfo=UTC)


class RuntimeChaos:
    def __init__(self, seed: int, bucket: str, gold: Any = None) -> None:
        self.rng = random.Random(seed * 7 + 3)
        self.bucket = bucket
        self.gold = gold  # the dbt runner (RefreshGold), run mid-statement
        self.cycle = 0
        self.held: list[tuple[int, str]] = []  # (cycle it is due, key)
        self.gold_at: int | None = None  # the statement after which gold builds this cycle
        self.copied = 0
        self.renotified = 0
        self.delivered_late = 0
        self.skewed = 0
        self.killed = 0
        self.reruns = 0
        self.gold_mid_statement = 0

    # -- each cycle --------------------------------------------------------------------

    def before_cycle(self, runtime: Any) -> None:
        self.cycle += 1
        self.redeliver(runtime.s3)
        if self.rng.random() < 0.15:
            self.hold_back(runtime)
        self.release_held(runtime)
        if self.rng.random() < 0.1:
            self.skewed_producer(runtime.s3)
        self.gold_at = (
            self.rng.randint(1, 12) if self.gold is not None and self.rng.random() < 0.08 else None
        )

    def kill_switch(self, procedure: str) -> int | None:
        if self.rng.random() < 0.1:
            self.killed += 1
            return self.rng.randint(1, MAX_KILL_AT)
        return None

    def between_statements(self, statement: str, number: int) -> None:
        if self.gold_at is None or number != self.gold_at:
            return
        self.gold_at = None
        self.gold_mid_statement += 1
        try:
            self.gold()
        except RuntimeError as exc:
            # Counted by the runner as a failed build: the summary shows it.
            log.warning("chaos: a gold build between two statements failed: %s", exc)

    # -- landing faults ------------------------------------------------------------------

    def landed(self, s3: Any, prefix: str = "mempool-data/") -> list[str]:
        listed = s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return sorted(o["Key"] for o in listed if o["Key"].endswith(".ndjson"))

    def redeliver(self, s3: Any) -> None:
        if self.rng.random() >= 0.3:
            return
        landed = self.landed(s3)
        if not landed:
            return
        key = self.rng.choice(landed)
        source = {"Bucket": self.bucket, "Key": key}
        if self.rng.random() < 0.5:
            stem = key.rsplit(".", 1)[0]
            s3.copy_object(
                Bucket=self.bucket,
                Key=f"{stem}-again-{uuid.uuid4().hex[:6]}.ndjson",
                CopySource=source,
            )
            self.copied += 1
        else:
            s3.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource=source,
                MetadataDirective="REPLACE",
                Metadata={"redelivered": "1"},
            )
            self.renotified += 1

    def hold_back(self, runtime: Any) -> None:
        """Take one notification off the queue: its objects load some cycles later."""
        resp = runtime.sqs.receive_message(
            QueueUrl=runtime.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0
        )
        for message in resp.get("Messages", []):
            body = json.loads(message["Body"])
            for record in body.get("Records", []):
                if record.get("eventName", "").startswith("ObjectCreated"):
                    due = self.cycle + self.rng.randint(3, 12)
                    self.held.append((due, unquote_plus(record["s3"]["object"]["key"])))
            runtime.sqs.delete_message(
                QueueUrl=runtime.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )

    def release_held(self, runtime: Any, everything: bool = False) -> None:
        due = [key for at, key in self.held if everything or at <= self.cycle]
        self.held = [(at, key) for at, key in self.held if key not in due]
        for key in due:
            runtime.load_object(key)
            self.delivered_late += 1

    def skewed_producer(self, s3: Any) -> None:
        """A second writer whose clock is wrong: past the skew the load allows, its records
        are quarantined; within it, they are another origin's copies of real frames."""
        landed = self.landed(s3, "mempool-data/stream/")
        if not landed:
            return
        key = self.rng.choice(landed)
        lines = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().splitlines()
        error = self.rng.choice([*CLOCK_ERRORS, None])
        out = []
        for line in lines:
            try:
                record = json.loads(line)
                received = datetime.fromisoformat(record["received_at"].replace("Z", "+00:00"))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            moment = received + error if error is not None else BEFORE_BITCOIN
            record["received_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            record["origin_id"] = f"{record.get('origin_id', 'x')}-skewed"[:128]
            out.append(json.dumps(record, separators=(",", ":")))
        if out:
            stamp = datetime.now(UTC).strftime("%Y/%m/%d/%H")
            s3.put_object(
                Bucket=self.bucket,
                Key=f"mempool-data/stream/{stamp}/skewed-{uuid.uuid4().hex[:8]}.ndjson",
                Body=("\n".join(out) + "\n").encode(),
            )
            self.skewed += 1

    def counts(self) -> dict[str, int]:
        return {
            "chaos: objects copied": self.copied,
            "chaos: objects re-notified": self.renotified,
            "chaos: objects delivered late": self.delivered_late,
            "chaos: objects from a skewed clock": self.skewed,
            "chaos: task runs killed": self.killed,
            "chaos: graphs run twice": self.reruns,
            "chaos: gold builds mid-statement": self.gold_mid_statement,
        }
