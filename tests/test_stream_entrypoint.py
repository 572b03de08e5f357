"""The EC2 entry point on a recorded WebSocket session: frames in, contract records in
S3 (through moto's Firehose) out, under the right prefixes, nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ingest import contract
from ingest.config import Settings, resolve_region
from ingest.stream_main import build_streamer
from ingest.streamer import StreamerOptions
from sandbox import aws_local

pytestmark = pytest.mark.stack
EVENTS = Path(__file__).parent / "events"


def landed(bucket: str, prefix: str) -> list[contract.Record]:
    s3 = aws_local.clients(os.environ["AWS_ENDPOINT_URL"])["s3"]
    out: list[contract.Record] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        out.extend(
            contract.iter_ndjson(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        )
    return out


def test_recorded_session_lands_as_contract_records(
    landing: aws_local.Landing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = (EVENTS / "ws-session.jsonl").read_text().splitlines()
    env_file = tmp_path / "mempool.env"
    env_file.write_text(
        (EVENTS / "mempool.env")
        .read_text()
        .replace("mempool-stream", landing.stream_delivery)
        .replace("mempool-conversions", landing.conversions_delivery)
        + f"MEMPOOL_BUCKET={landing.bucket}\n"
    )
    monkeypatch.setenv("MEMPOOL_ENV_FILE", str(env_file))
    monkeypatch.setenv("MEMPOOL_SPOOL_DIR", str(tmp_path / "spool"))
    # As the instance profile's role (Terraform's policies), as on EC2.
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    for key, value in aws_local.assume(endpoint, landing.role_arn("streamer"), "ec2").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    subscriptions: list[str] = []

    async def replay(conn: ServerConnection) -> None:
        for _ in range(3):  # init, want, track-mempool-block
            subscriptions.append(str(await conn.recv()))
        for frame in frames:
            await conn.send(frame)
        await conn.wait_closed()

    async def main() -> list[str]:
        async with serve(replay, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            monkeypatch.setenv("MEMPOOL_WS_URL", f"ws://127.0.0.1:{port}/api/v1/ws")
            settings = Settings.load()
            region, source = resolve_region()
            assert (region, source.split(" ")[0]) == ("us-east-1", "env")
            streamer = build_streamer(settings, region, StreamerOptions(flush_interval_s=0.2))
            stop = asyncio.Event()
            run = asyncio.create_task(streamer.run(stop))
            while streamer.counters.frames < len(frames):
                await asyncio.sleep(0.05)
            stop.set()  # what SIGTERM does: close, flush, exit
            await asyncio.wait_for(run, 30)
            return streamer.origins

    origins = asyncio.run(main())
    assert [json.loads(s) for s in subscriptions] == [
        {"action": "init"},
        {"action": "want", "data": ["blocks", "stats", "mempool-blocks", "live-2h-chart"]},
        {"track-mempool-block": 0},
    ]
    stream = landed(landing.bucket, contract.PREFIX_STREAM)
    conversions = landed(landing.bucket, contract.PREFIX_CONVERSIONS)
    expected = [(i, key) for i, f in enumerate(frames) for key in json.loads(f)]
    got = sorted([(r.frame_seq, r.topic) for r in stream + conversions])
    assert got == sorted(expected)
    assert {r.topic for r in conversions} == {"conversions"}
    assert {r.origin_id for r in stream} == set(origins)
    first = json.loads(frames[0])
    init_mempool = next(r for r in stream if r.frame_seq == 0 and r.topic == "mempoolInfo")
    assert init_mempool.payload == first["mempoolInfo"]
