from __future__ import annotations

import json

import pytest

from ingest import contract
from ingest.contract import ContractError


def test_frame_splits_into_one_record_per_top_level_key_with_payload_untouched() -> None:
    frame = {
        "mempoolInfo": {"size": 5, "total_fee": 0.1},
        "vBytesPerSecond": 2364,
        "fees": {"a": 1},
    }
    records = contract.records_from_frame(
        frame, origin_id="conn-1", frame_seq=7, received_at="2026-01-01T00:00:00.000Z"
    )
    assert [r.topic for r in records] == ["mempoolInfo", "vBytesPerSecond", "fees"]
    assert all(r.frame_seq == 7 and r.origin_id == "conn-1" and r.source == "ws" for r in records)
    assert records[0].payload is frame["mempoolInfo"]
    assert {r.dedup_key for r in records} == {
        ("conn-1", 7, "mempoolInfo"),
        ("conn-1", 7, "vBytesPerSecond"),
        ("conn-1", 7, "fees"),
    }


def test_lines_are_newline_terminated_ndjson_that_round_trips() -> None:
    rec = contract.Record(
        source="ws",
        topic="projected-block-transactions",
        origin_id="c",
        frame_seq=3,
        received_at="2026-01-01T00:00:00.000Z",
        payload={"sequence": 9},
        flags=("sequence_gap",),
    )
    line = rec.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert contract.parse_line(line) == rec
    blob = contract.encode_ndjson([rec, rec])
    assert list(contract.iter_ndjson(blob)) == [rec, rec]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(v=2), "unsupported contract version"),
        (lambda d: d.update(source="ftp"), "unknown source"),
        (lambda d: d.update(topic=""), "invalid topic"),
        (lambda d: d.pop("origin_id"), "missing origin_id"),
        (lambda d: d.update(frame_seq=-1), "invalid frame_seq"),
        (lambda d: d.update(frame_seq=True), "invalid frame_seq"),
        (lambda d: d.update(received_at="yesterday"), "invalid received_at"),
        (lambda d: d.pop("payload"), "missing payload"),
        (lambda d: d.update(flags=["weird"]), "invalid flags"),
    ],
)
def test_validation_names_the_broken_rule(mutate, message) -> None:  # type: ignore[no-untyped-def]
    good = contract.Record(
        source="rest",
        topic="block",
        origin_id="run-1",
        frame_seq=0,
        received_at="2026-01-01T00:00:00.000Z",
        payload={},
    ).to_dict()
    contract.validate(good)
    mutate(good)
    with pytest.raises(ContractError, match=message):
        contract.validate(good)


def test_unparsable_and_unterminated_input_is_rejected_with_a_reason() -> None:
    with pytest.raises(ContractError, match="unparsable JSON"):
        contract.parse_line(b"{not json")
    with pytest.raises(ContractError, match="not newline-terminated"):
        list(contract.iter_ndjson(b'{"v":1}'))
    with pytest.raises(ContractError, match="line 2"):
        list(
            contract.iter_ndjson(
                contract.Record(
                    source="ws",
                    topic="t",
                    origin_id="c",
                    frame_seq=0,
                    received_at="2026-01-01T00:00:00.000Z",
                    payload=1,
                ).to_line()
                + b"[]\n"
            )
        )


def test_rest_records_number_objects_within_the_run() -> None:
    recs = contract.rest_records(
        "block",
        [{"id": "a"}, {"id": "b"}],
        origin_id="run-9",
        received_at=contract.utc_now_iso(),
        first_seq=4,
    )
    assert [(r.frame_seq, r.payload["id"]) for r in recs] == [(4, "a"), (5, "b")]
    assert json.loads(recs[0].to_line())["source"] == "rest"


@pytest.mark.parametrize(
    "topic",
    ["a:b", "fees\n", "fees\nforged", "x" * 65, "", "fe es", "ü"],
    ids=["colon", "trailing-newline", "newline", "65-chars", "empty", "space", "non-ascii"],
)
def test_a_topic_the_load_would_quarantine_is_refused_by_the_record_itself(topic: str) -> None:
    """The load takes topics matching [A-Za-z0-9_.-]{1,64}, whole: the contract had a
    colon more, and `$` let a trailing newline through."""
    with pytest.raises(ContractError, match="invalid topic"):
        contract.Record("ws", topic, "c", 0, "2026-01-01T00:00:00.000Z", {})
    line = contract.Record("ws", "fees", "c", 0, "2026-01-01T00:00:00.000Z", {}).to_dict()
    with pytest.raises(ContractError, match="invalid topic"):
        contract.validate({**line, "topic": topic})
    assert contract.is_topic("projected-block-transactions") and contract.is_topic("_unparsed")


def test_an_invalid_topic_is_quoted_short_and_escaped() -> None:
    with pytest.raises(ContractError) as refused:
        contract.check_topic("x" * 5_000 + "\nforged")
    message = str(refused.value)
    assert "\n" not in message and len(message) < 200


def test_an_origin_id_with_a_trailing_newline_is_invalid() -> None:
    good = contract.Record("rest", "block", "run-1", 0, "2026-01-01T00:00:00.000Z", {})
    with pytest.raises(ContractError, match="invalid origin_id"):
        contract.validate({**good.to_dict(), "origin_id": "run-1\n"})
