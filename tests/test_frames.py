"""Frames -> contract records, sequence flags, and the real recorded frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import contract, fastjson, frames
from tests.conftest import SHARED_FIXTURES

T0 = "2026-01-01T00:00:00.000Z"


def projected(seq: int, full: bool = False) -> dict[str, object]:
    body: dict[str, object] = {"index": 0, "sequence": seq}
    if full:
        body["blockTransactions"] = []
    else:
        body["delta"] = {"added": [], "removed": [], "changed": []}
    return {"projected-block-transactions": body}


def flags_of(seqs: list[tuple[int, bool]]) -> list[tuple[str, ...]]:
    tracker = frames.SequenceTracker()
    out = []
    for i, (seq, full) in enumerate(seqs):
        recs = frames.frame_to_records(
            projected(seq, full), origin_id="c", frame_seq=i, received_at=T0, tracker=tracker
        )
        out.append(recs[0].flags)
    return out


def test_contiguous_sequence_is_not_flagged() -> None:
    assert flags_of([(10, True), (11, False), (12, False)]) == [(), (), ()]


def test_a_gap_is_flagged() -> None:
    assert flags_of([(10, True), (11, False), (13, False)])[2] == (contract.FLAG_SEQUENCE_GAP,)


def test_a_server_restart_is_flagged() -> None:
    got = flags_of([(500, True), (501, False), (0, False)])
    assert got[2] == (contract.FLAG_SEQUENCE_RESTART,)


def test_a_full_set_resyncs_without_flags_and_a_repeat_delta_is_flagged() -> None:
    assert flags_of([(5, True), (6, False), (9, True), (10, False)]) == [(), (), (), ()]
    assert flags_of([(5, True), (6, False), (6, False)])[2] == (contract.FLAG_DUPLICATE_SEQUENCE,)


def test_a_delta_before_any_full_set_is_flagged_as_a_gap() -> None:
    assert flags_of([(7, False)]) == [(contract.FLAG_SEQUENCE_GAP,)]


def test_subscription_messages_match_the_protocol() -> None:
    msgs = [json.loads(m) for m in frames.subscribe_messages()]
    assert msgs == [
        {"action": "init"},
        {"action": "want", "data": ["blocks", "stats", "mempool-blocks", "live-2h-chart"]},
        {"track-mempool-block": 0},
    ]


def test_undecodable_frames_are_kept_not_dropped() -> None:
    with pytest.raises(frames.FrameError):
        frames.decode_frame("[1, 2]")
    rec = frames.unparsed_record(b"\xff{broken", origin_id="c", frame_seq=4, received_at=T0)
    assert rec.topic == "_unparsed" and isinstance(rec.payload, str)
    assert contract.parse_line(rec.to_line()) == rec


def test_conversions_route_to_their_own_stream() -> None:
    recs = contract.records_from_frame(
        {"conversions": {}, "fees": {}}, origin_id="c", frame_seq=0, received_at=T0
    )
    assert [frames.route(r) for r in recs] == ["conversions", "stream"]


FRAME_FILES = sorted(SHARED_FIXTURES.rglob("*.json")) if SHARED_FIXTURES.is_dir() else []
WS_FRAMES = [p for p in FRAME_FILES if "api_mining" not in p.name and "test-data" not in str(p)]


@pytest.mark.contract
@pytest.mark.skipif(not WS_FRAMES, reason="../shared/reference/fixtures is absent")
@pytest.mark.parametrize("path", WS_FRAMES, ids=lambda p: p.name)
def test_every_recorded_frame_becomes_valid_contract_records(path: Path) -> None:
    text = path.read_text()
    frame = frames.decode_frame(text)
    recs = frames.frame_to_records(
        frame, origin_id="rec-conn", frame_seq=0, received_at=T0, tracker=frames.SequenceTracker()
    )
    assert [r.topic for r in recs] == list(frame)
    blob = contract.encode_ndjson(recs)
    parsed = list(contract.iter_ndjson(blob))
    assert [r.payload for r in parsed] == [frame[k] for k in frame]
    for rec in parsed:
        assert len(rec.to_line()) < contract.MAX_RECORD_BYTES


@pytest.mark.contract
@pytest.mark.skipif(not FRAME_FILES, reason="../shared/reference/fixtures is absent")
def test_recorded_rest_objects_become_valid_records() -> None:
    for path in FRAME_FILES:
        if "api_mining" in path.name or "test-data" in str(path):
            body = json.loads(path.read_text())
            objects = body if isinstance(body, list) else [body]
            recs = contract.rest_records("mining-pools", objects, origin_id="run", received_at=T0)
            assert list(contract.iter_ndjson(contract.encode_ndjson(recs))) == recs


def nested(depth: int) -> str:
    return '{"mempoolInfo":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [fastjson.MAX_DEPTH + 1, 1_100, 100_000])
def test_a_frame_nested_too_deep_is_a_frame_error(depth: int) -> None:
    """1,100 nested arrays: orjson refuses them, and the standard library's re-parse
    raised RecursionError, which no handler caught. 65 levels parsed, and would have
    failed later: orjson writes at most 255."""
    for text in (nested(depth), nested(depth).encode()):
        with pytest.raises(frames.FrameError, match="nested deeper than 64 levels"):
            frames.decode_frame(text)
    assert frames.decode_frame(nested(fastjson.MAX_DEPTH)) == json.loads(nested(fastjson.MAX_DEPTH))


@pytest.mark.parametrize(
    "key",
    ["x" * 1_100, "fees\nINFO forged log line", "fees\n", "a:b", "", "fees ", "ü"],
    ids=["1100-chars", "newline", "trailing-newline", "colon", "empty", "space", "non-ascii"],
)
def test_a_frame_whose_key_is_not_a_topic_is_a_frame_error(key: str) -> None:
    """Each key becomes a topic, which names S3 keys (a 1 KB topic made S3 refuse the
    oversize object's key) and log lines (a newline forged one)."""
    with pytest.raises(frames.FrameError, match="invalid topic"):
        frames.decode_frame(json.dumps({"fees": {"fastestFee": 1}, key: 1}))


def test_a_frame_of_more_keys_than_topics_is_a_frame_error() -> None:
    many = {f"t{i}": 0 for i in range(frames.MAX_FRAME_TOPICS + 1)}
    with pytest.raises(frames.FrameError, match="keys"):
        frames.decode_frame(json.dumps(many))
    many.popitem()
    assert frames.decode_frame(json.dumps(many)) == many


@pytest.mark.parametrize(
    "text",
    [
        '{"fees": NaN}',
        '{"fees": [Infinity]}',
        '{"fees": 1e400}',
        '{"fees": "\\ud800"}',
        b'{"fees": "\xff"}',
        '{"fees": ' + "9" * 5_000 + "}",
        "\ufeff{}",
    ],
    ids=["nan", "infinity", "overflow", "lone-surrogate", "invalid-utf8", "5000-digits", "bom"],
)
def test_what_is_not_strict_json_is_a_frame_error(text: str | bytes) -> None:
    """The standard library (orjson's fallback) took NaN and lone surrogates, which no
    contract line can carry, and raised ValueError or UnicodeDecodeError (no FrameError)
    on invalid UTF-8 bytes and integers of more than 4,300 digits."""
    with pytest.raises(frames.FrameError):
        frames.decode_frame(text)
    rec = frames.unparsed_record(text, origin_id="c", frame_seq=0, received_at=T0)
    assert contract.parse_line(rec.to_line()) == rec
