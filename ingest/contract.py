"""The landing data contract: the NDJSON record that ingestion writes and Snowflake reads.

Standard library only: this module is imported by the Lambda poller, the EC2 streamer,
the backfill CLI, the simulator's verifier and the tests, and must stay dependency-free.
See docs/data-contract.md for the prose version and the key of every topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeGuard

CONTRACT_VERSION: Final = 1

Source = Literal["ws", "rest", "backfill"]
SOURCES: Final[frozenset[str]] = frozenset({"ws", "rest", "backfill"})

# Flags the streamer sets on a projected-block record when mempool.space's own
# `sequence` does not follow the previous one on the same connection.
FLAG_SEQUENCE_GAP: Final = "sequence_gap"
FLAG_SEQUENCE_RESTART: Final = "sequence_restart"
FLAG_DUPLICATE_SEQUENCE: Final = "duplicate_sequence"
FLAG_OVERSIZE: Final = "oversize"
FLAGS: Final[frozenset[str]] = frozenset(
    {FLAG_SEQUENCE_GAP, FLAG_SEQUENCE_RESTART, FLAG_DUPLICATE_SEQUENCE, FLAG_OVERSIZE}
)

# Landing prefixes under the bucket. One Snowpipe (and one RAW table) per prefix.
PREFIX_ROOT: Final = "mempool-data"
PREFIX_STREAM: Final = f"{PREFIX_ROOT}/stream/"
PREFIX_CONVERSIONS: Final = f"{PREFIX_ROOT}/conversions/"
PREFIX_BLOCKS: Final = f"{PREFIX_ROOT}/blocks/"
PREFIX_PRICES: Final = f"{PREFIX_ROOT}/prices/"
PREFIX_STATS: Final = f"{PREFIX_ROOT}/stats/"
PREFIX_OVERSIZE: Final = f"{PREFIX_ROOT}/oversize/"

# Topics whose payload shape is shared between WebSocket and REST keep one name, so
# Snowflake treats them alike whatever their source.
TOPIC_BLOCK: Final = "block"
TOPIC_BLOCKS: Final = "blocks"
# `/api/block/:hash/txids` as {"id": hash, "txids": [...]}: the path's hash kept beside it.
TOPIC_BLOCK_TXIDS: Final = "block-txids"
TOPIC_CONVERSIONS: Final = "conversions"
TOPIC_HISTORICAL_PRICE: Final = "historical-price"
TOPIC_FEES: Final = "fees"
TOPIC_MEMPOOL: Final = "mempool"
TOPIC_PROJECTED: Final = "projected-block-transactions"

# What a topic may be: the load's own rule (LOAD_EVENTS quarantines anything else). A
# topic names S3 keys (oversize objects) and log lines, so no colon, newline or length
# beyond 64 ever gets that far; checked by `Record` itself, so no record holds another.
# Matched whole (`fullmatch`): `$` would also accept a trailing newline.
_TOPIC_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# Connection ids (`host-<hex>`), poll-run and backfill-run ids. LOAD_EVENTS enforces the
# same pattern, so nothing else ever reaches SQL as an origin id.
_ORIGIN_ID_RE: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")

# Firehose refuses records above 1,000 KiB; leave headroom for the envelope.
MAX_RECORD_BYTES: Final = 1_000 * 1024


class ContractError(ValueError):
    """A record that does not follow the contract. The message says which rule."""


def is_topic(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and _TOPIC_RE.fullmatch(name) is not None


def check_topic(name: object) -> str:
    """`name` if it may be a topic; ContractError (quoting at most 64 characters of it,
    escaped, so the message is safe to log) otherwise."""
    if not is_topic(name):
        raise ContractError(f"invalid topic {_quote(name)}")
    return name


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 64 else f"{text[:64]}... ({len(text)} characters)"


def utc_now_iso() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a trailing Z (what Snowflake parses as TIMESTAMP)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class Record:
    """One contract record: one top-level key of a WebSocket frame, or one REST object."""

    source: Source
    topic: str
    origin_id: str
    frame_seq: int
    received_at: str
    payload: Any
    flags: tuple[str, ...] = field(default=())
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        check_topic(self.topic)

    @property
    def dedup_key(self) -> tuple[str, int, str]:
        return (self.origin_id, self.frame_seq, self.topic)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.version,
            "source": self.source,
            "topic": self.topic,
            "origin_id": self.origin_id,
            "frame_seq": self.frame_seq,
            "received_at": self.received_at,
            "payload": self.payload,
        }
        if self.flags:
            out["flags"] = list(self.flags)
        return out

    def to_line(self) -> bytes:
        """The NDJSON line, newline-terminated (Firehose adds no delimiter of its own)."""
        return (
            json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n"
        ).encode()


def validate(obj: Any) -> Record:
    """Check a decoded line against the contract; raise ContractError naming the rule broken."""
    if not isinstance(obj, Mapping):
        raise ContractError("record is not a JSON object")
    version = obj.get("v")
    if version != CONTRACT_VERSION:
        raise ContractError(f"unsupported contract version {version!r}")
    source = obj.get("source")
    if source not in SOURCES:
        raise ContractError(f"unknown source {source!r}")
    topic = check_topic(obj.get("topic"))
    origin_id = obj.get("origin_id")
    if not isinstance(origin_id, str) or not origin_id:
        raise ContractError("missing origin_id")
    if not _ORIGIN_ID_RE.fullmatch(origin_id):
        raise ContractError(f"invalid origin_id {_quote(origin_id)}")
    frame_seq = obj.get("frame_seq")
    if not isinstance(frame_seq, int) or isinstance(frame_seq, bool) or frame_seq < 0:
        raise ContractError(f"invalid frame_seq {frame_seq!r}")
    received_at = obj.get("received_at")
    if not isinstance(received_at, str):
        raise ContractError("missing received_at")
    try:
        datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ContractError(f"invalid received_at {received_at!r}") from exc
    if "payload" not in obj:
        raise ContractError("missing payload")
    flags = obj.get("flags", [])
    if not isinstance(flags, list) or any(f not in FLAGS for f in flags):
        raise ContractError(f"invalid flags {flags!r}")
    return Record(
        source=source,
        topic=topic,
        origin_id=origin_id,
        frame_seq=frame_seq,
        received_at=received_at,
        payload=obj["payload"],
        flags=tuple(flags),
    )


def parse_line(line: bytes | str) -> Record:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ContractError(f"unparsable JSON: {exc.msg}") from exc
    return validate(obj)


def iter_ndjson(blob: bytes) -> Iterator[Record]:
    """Every record of an NDJSON object; ContractError on the first bad line."""
    if blob and not blob.endswith(b"\n"):
        raise ContractError("NDJSON object is not newline-terminated")
    for number, line in enumerate(blob.splitlines(), start=1):
        if not line.strip():
            raise ContractError(f"empty line {number}")
        try:
            yield parse_line(line)
        except ContractError as exc:
            raise ContractError(f"line {number}: {exc}") from exc


def records_from_frame(
    frame: Mapping[str, Any],
    *,
    origin_id: str,
    frame_seq: int,
    received_at: str,
    source: Source = "ws",
    flags_by_topic: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Record]:
    """Split one decoded WebSocket frame into one record per top-level key, payload untouched."""
    flags_by_topic = flags_by_topic or {}
    return [
        Record(
            source=source,
            topic=topic,
            origin_id=origin_id,
            frame_seq=frame_seq,
            received_at=received_at,
            payload=payload,
            flags=flags_by_topic.get(topic, ()),
        )
        for topic, payload in frame.items()
    ]


def rest_records(
    topic: str,
    objects: list[Any],
    *,
    origin_id: str,
    received_at: str,
    source: Source = "rest",
    first_seq: int = 0,
) -> list[Record]:
    """One record per REST object; frame_seq numbers the objects within the run."""
    return [
        Record(
            source=source,
            topic=topic,
            origin_id=origin_id,
            frame_seq=first_seq + i,
            received_at=received_at,
            payload=obj,
        )
        for i, obj in enumerate(objects)
    ]


def encode_ndjson(records: list[Record]) -> bytes:
    return b"".join(r.to_line() for r in records)
