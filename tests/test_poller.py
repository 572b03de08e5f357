"""The poller against moto S3 and the simulator's chain."""

from __future__ import annotations

import importlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from ingest import contract
from ingest.poll_state import PollState, StateConflict, StateStore
from ingest.poller import Poller, PollOptions
from sandbox import aws_local
from sandbox.simulator.model import Model
from tests.fakes import ModelApi

pytestmark = pytest.mark.stack
EVENTS = Path(__file__).parent / "events"


def landed_blocks(bucket: str, topic: str = contract.TOPIC_BLOCK) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    out = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=contract.PREFIX_BLOCKS).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        out.extend(r.payload for r in contract.iter_ndjson(body) if r.topic == topic)
    return out


def poller_s3(landing: aws_local.Landing) -> Any:
    """S3 as the Lambda's role (Terraform's policy) sees it."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    role = aws_local.role_session(endpoint, landing.role_arn("poller"), "poller")
    return role.client("s3", endpoint_url=endpoint)


def make_poller(model: Model, landing: aws_local.Landing, **kw: Any) -> Poller:
    api = ModelApi(model, kw.pop("fail_after", None), kw.pop("unavailable", frozenset()))
    return Poller(
        api,
        poller_s3(landing),
        landing.bucket,
        "state/poller.json",  # type: ignore[arg-type]
        PollOptions(**kw),
    )


def test_first_run_writes_history_then_only_new_blocks(landing: aws_local.Landing) -> None:
    model = Model(seed=3, start_time=1_800_000_000, history_blocks=40)
    first = make_poller(model, landing, lookback_blocks=100).run()
    assert first.advanced and first.blocks_written == 40 and first.gaps_left == 0
    model.advance(model.start_time + 4000)
    second = make_poller(model, landing).run()
    new = model.tip.height - 900_039
    assert second.blocks_written == new > 0
    heights = sorted(b["height"] for b in landed_blocks(landing.bucket))
    assert heights == list(range(900_000, model.tip.height + 1))
    prefixes = {
        o["Key"].split("/")[1]
        for o in boto3.client("s3").list_objects_v2(Bucket=landing.bucket)["Contents"]
    }
    assert {"blocks", "prices", "stats", "state"} - {"state"} <= prefixes


def test_each_new_block_s_txids_are_fetched_once_and_leftovers_wait_in_the_state(
    landing: aws_local.Landing,
) -> None:
    """`/block/:hash/txids` once per new block (not for history filling gaps); what the
    time budget leaves is kept in the state and fetched by the next run."""
    model = Model(seed=13, start_time=1_800_000_000, history_blocks=40)
    clock = iter(range(0, 10_000, 1))
    api = ModelApi(model)
    tight = Poller(
        api,
        poller_s3(landing),
        landing.bucket,
        "state/poller.json",
        PollOptions(lookback_blocks=100, budget_s=12, request_timeout_s=1),
        clock=lambda: float(next(clock)),
    )
    first = tight.run()
    store = StateStore(boto3.client("s3"), landing.bucket, "state/poller.json")
    state, _ = store.load()
    assert state is not None and first.advanced
    top_page = [b.hash for b in model.chain[-15:]]
    fetched = [t["id"] for t in landed_blocks(landing.bucket, contract.TOPIC_BLOCK_TXIDS)]
    assert fetched and state.txids_pending and fetched + state.txids_pending == top_page
    make_poller(model, landing).run()
    txids = landed_blocks(landing.bucket, contract.TOPIC_BLOCK_TXIDS)
    assert sorted(t["id"] for t in txids) == sorted(top_page)
    assert all(t["txids"] == model.by_hash[t["id"]].api_txids() for t in txids)
    state, _ = store.load()
    assert state is not None and state.txids_pending == []


def test_budget_leaves_gaps_that_later_runs_fill(landing: aws_local.Landing) -> None:
    model = Model(seed=4, start_time=1_800_000_000, history_blocks=60)
    # 2 requests per run: the top page and one more.
    runs = []
    for _ in range(6):
        runs.append(make_poller(model, landing, lookback_blocks=60, fail_after=2).run())
    assert runs[0].gaps_left > 0
    assert runs[-1].gaps_left == 0
    heights = sorted({b["height"] for b in landed_blocks(landing.bucket)})
    assert heights == list(range(900_000, 900_060))


def test_a_reorg_is_refetched_back_to_the_fork_point(landing: aws_local.Landing) -> None:
    model = Model(seed=5, start_time=1_800_000_000, history_blocks=20)
    make_poller(model, landing).run()
    old_tip = model.tip
    events = model._reorg(int(model.now) + 60, depth=2)
    replaced = {b.hash for b in events[0].data["new"]}
    result = make_poller(model, landing).run()
    assert result.reorg_depth == 2
    written = {b["id"] for b in landed_blocks(landing.bucket)}
    assert replaced <= written
    assert old_tip.hash in written  # the stale block stays; Snowflake flags it
    state, _ = StateStore(boto3.client("s3"), landing.bucket, "state/poller.json").load()
    assert state is not None and state.tip_hash == model.tip.hash


def test_two_concurrent_pollers_never_both_advance_the_state(landing: aws_local.Landing) -> None:
    model = Model(seed=6, start_time=1_800_000_000, history_blocks=20)
    make_poller(model, landing).run()
    model.advance(model.start_time + 3000)
    barrier = threading.Barrier(2)
    store = StateStore(boto3.client("s3"), landing.bucket, "state/poller.json")
    original_load = store.load

    results: list[Any] = []

    def run() -> None:
        poller = make_poller(model, landing)

        def synchronised_load() -> Any:
            loaded = original_load()
            barrier.wait(timeout=10)  # both runs read the same state before either saves
            return loaded

        poller.store.load = synchronised_load  # type: ignore[method-assign]
        results.append(poller.run())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.advanced for r in results) == [False, True]
    loser = next(r for r in results if not r.advanced)
    assert loser.stopped.startswith("state conflict")


def test_state_store_conditional_writes(landing: aws_local.Landing) -> None:
    store = StateStore(boto3.client("s3"), landing.bucket, "state/x.json")
    state = PollState(10, "h10", 0, {10: "h10"}, [])
    etag = store.save(state, None)
    with pytest.raises(StateConflict):
        store.save(state, None)  # If-None-Match: * on an existing object
    advanced = PollState(11, "h11", 0, {10: "h10", 11: "h11"}, [])
    store.save(advanced, etag)
    with pytest.raises(StateConflict):
        store.save(PollState(12, "h12", 0, {}, []), etag)  # stale ETag
    loaded, _ = store.load()
    assert loaded == advanced


def test_429_ends_the_run_cleanly_without_advancing(landing: aws_local.Landing) -> None:
    model = Model(seed=8, start_time=1_800_000_000, history_blocks=20)
    result = make_poller(model, landing, fail_after=0).run()
    assert result.stopped.startswith("backed off")
    assert not result.advanced and result.blocks_written == 0


@pytest.mark.parametrize("down", ["fees_recommended", "blocks"])
def test_one_resource_answering_503_does_not_skip_the_others(
    landing: aws_local.Landing, down: str
) -> None:
    """mempool.space answers /v1/fees/recommended with 503 while its mempool is not in
    sync; that run used to skip /mempool (and everything after) as well."""
    model = Model(seed=8, start_time=1_800_000_000, history_blocks=20)
    result = make_poller(model, landing, unavailable=frozenset({down})).run()
    labels = {key.rsplit("/", 1)[1].split("-poll-")[0] for key in result.objects}
    # Without blocks, no new block's txids either.
    missing = {"fees"} if down != "blocks" else {"blocks", "txids"}
    assert labels == {"blocks", "prices", "fees", "mempool", "txids"} - missing
    assert result.skipped == ["fees" if down != "blocks" else "blocks"]
    assert not result.stopped.startswith("backed off")


def test_lambda_handler_runs_on_a_recorded_scheduled_event(
    landing: aws_local.Landing, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Model(seed=9, start_time=1_800_000_000, history_blocks=15)
    monkeypatch.setenv("MEMPOOL_BUCKET", landing.bucket)
    monkeypatch.setenv("MEMPOOL_STATE_KEY", landing.terraform.poller_state_key)
    monkeypatch.setenv("MEMPOOL_ENV_FILE", "/nonexistent")
    # The Lambda's environment and role, as Terraform gives them.
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    for key, value in aws_local.assume(endpoint, landing.role_arn("poller"), "lambda").items():
        monkeypatch.setenv(key, value)
    import ingest.lambda_handler as handler_module

    handler_module = importlib.reload(handler_module)
    monkeypatch.setattr(handler_module, "_api", ModelApi(model))
    event = json.loads((EVENTS / "eventbridge-scheduled.json").read_text())
    out = handler_module.handler(event, None)
    assert out["source_event"] == event["id"]
    assert out["advanced"] is True and out["blocks_written"] == 15
    json.dumps(out)  # the Lambda console shows it: it must serialise
