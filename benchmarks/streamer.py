"""Streamer throughput, side by side on one replay (a benchmark, not a test).

One loopback WebSocket server replays N real-shaped stats frames (what mempool.space
pushes every couple of seconds: mempoolInfo, vBytesPerSecond, transactions, fees, da,
mempool-blocks; built by the simulator) as fast as the client takes them. Three clients,
each in its own process, in one run:

- ceiling: a do-nothing consumer (receives and counts);
- baseline: the design the streamer replaces: decode, build the records and call
  PutRecordBatch synchronously inside the message handler, per frame;
- streamer: `python -m ingest.stream_main`, unchanged, against the local Firehose.

Baseline and streamer deliver into moto's Firehose -> S3; a run ends when every record
is in S3. Reported per client: frames/s, CPU ms per frame, peak RSS, and for the two
that deliver, Firehose records per frame and billed KB per frame (ingestion is billed
per record rounded up to 5 KB).

    python -m benchmarks.streamer --frames 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import aws_local
from sandbox.services import free_port, port_open

BILLING_UNIT = 5 * 1024


def make_frames(n: int) -> list[str]:
    """n distinct stats frames cut from the simulator's own (no two alike: a frame equal
    to the one before it would be taken for a replay)."""
    from sandbox.simulator.model import Model
    from sandbox.simulator.server import frame_for

    model = Model(seed=1, start_time=1_800_000_000, history_blocks=4)
    shapes = [
        frame_for(model, {"stats", "mempool-blocks"}, None, e)
        for e in model.advance(model.start_time + 120)
        if e.kind == "update"
    ]
    frames = []
    for i in range(n):
        frame = json.loads(json.dumps(shapes[i % len(shapes)]))
        frame["mempoolInfo"]["size"] += i
        frames.append(json.dumps(frame))
    return frames


async def serve_replay(frames: list[str], port: int, done: asyncio.Event, mark: Path) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(conn: ServerConnection) -> None:
        await conn.recv()  # the client's first subscription message
        # The client is up: its throughput is timed from here, not from its process start.
        mark.write_text(repr(time.time()))
        for text in frames:
            await conn.send(text)
        done.set()
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", port, max_size=2**22):
        await asyncio.Event().wait()


def replay_server_process(n: int, port: int, mark: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.streamer",
            "serve",
            "--frames",
            str(n),
            "--port",
            str(port),
            "--mark",
            str(mark),
        ]
    )


# -- the clients ------------------------------------------------------------------------


async def ceiling_client(url: str, n: int) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"action": "init"}))
        for _ in range(n):
            await ws.recv()


async def baseline_client(url: str, n: int, delivery: str) -> None:
    from websockets.asyncio.client import connect

    from ingest import aws, contract

    firehose = aws.client("firehose")
    async with connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"action": "init"}))
        for seq in range(n):
            frame = json.loads(await ws.recv())
            records = contract.records_from_frame(
                frame, origin_id="baseline", frame_seq=seq, received_at=contract.utc_now_iso()
            )
            firehose.put_record_batch(
                DeliveryStreamName=delivery, Records=[{"Data": r.to_line()} for r in records]
            )


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Landed:
    lines: int = 0
    bytes: int = 0
    objects: int = 0


def landed(s3: Any, bucket: str, prefix: str, seen: dict[str, tuple[int, int]]) -> Landed:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"] not in seen:
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                seen[obj["Key"]] = (body.count(b"\n"), len(body))
    return Landed(sum(v[0] for v in seen.values()), sum(v[1] for v in seen.values()), len(seen))


def child_usage(proc: subprocess.Popen[bytes]) -> tuple[float, int]:
    """(CPU seconds, peak RSS in MiB) of a finished child."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def run_client(
    kind: str,
    n: int,
    records_per_frame: int,
    endpoint: str,
    landing: aws_local.Landing,
    spool: Path,
) -> dict[str, Any]:
    port = free_port()
    mark = spool.parent / f"{kind}.first-frame"
    server = replay_server_process(n, port, mark)
    url = f"ws://127.0.0.1:{port}/api/v1/ws"
    env = {**os.environ, **aws_local.client_env(endpoint)}
    while not port_open("127.0.0.1", port):
        time.sleep(0.05)
    s3 = aws_local.clients(endpoint)["s3"]
    prefix = landing.terraform.deliveries["stream"][1]
    seen: dict[str, tuple[int, int]] = {}
    before = landed(s3, landing.bucket, prefix, seen)
    earlier = set(seen)
    log_path = spool.parent / f"{kind}.log"
    started = time.monotonic()
    if kind == "streamer":
        env.update(
            {
                "MEMPOOL_BUCKET": landing.bucket,
                "MEMPOOL_WS_URL": url,
                "MEMPOOL_STREAM_DELIVERY": landing.stream_delivery,
                "MEMPOOL_CONVERSIONS_DELIVERY": landing.conversions_delivery,
                "MEMPOOL_SPOOL_DIR": str(spool),
            }
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.stream_main"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("wb"),
        )
        want = before.lines + n * records_per_frame
        while landed(s3, landing.bucket, prefix, seen).lines < want:
            time.sleep(0.2)
        finished = time.time()
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
    else:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.streamer",
                kind,
                "--url",
                url,
                "--frames",
                str(n),
                "--delivery",
                landing.stream_delivery,
            ],
            env=env,
        )
        cpu_s, rss_mib = child_usage(proc)
        finished = time.time()
        elapsed = time.monotonic() - started
    if kind == "streamer":
        cpu_s, rss_mib = child_usage(proc)
    server.terminate()
    server.wait()
    after = landed(s3, landing.bucket, prefix, seen)
    new_keys = sorted(set(seen) - earlier)
    from_first = finished - float(mark.read_text())
    out: dict[str, Any] = {
        "client": kind,
        "frames": n,
        "seconds": round(elapsed, 2),
        "seconds_from_first_frame": round(from_first, 2),
        "frames_per_s": round(n / from_first, 1),
        "cpu_ms_per_frame": round(1000 * cpu_s / n, 3),
        "peak_rss_mib": rss_mib,
    }
    if kind == "baseline":
        # One Firehose record per line: each is billed rounded up to 5 KB.
        billed = 0
        for key in new_keys:
            body = s3.get_object(Bucket=landing.bucket, Key=key)["Body"].read()
            billed += sum(
                -(-(len(line) + 1) // BILLING_UNIT) * BILLING_UNIT for line in body.splitlines()
            )
        out["records_landed"] = after.lines - before.lines
        out["firehose_records_per_frame"] = records_per_frame
        out["billed_kb_per_frame"] = round(billed / 1024 / n, 2)
    elif kind == "streamer":
        counters = last_counters(log_path)
        packed = int(counters["firehose_records"])
        landed_bytes = after.bytes - before.bytes
        out["records_landed"] = after.lines - before.lines
        out["firehose_records_per_frame"] = round(packed / n, 4)
        # Packed records are billed by their size, rounded up to 5 KB each (at most).
        out["billed_kb_per_frame"] = round((landed_bytes + packed * BILLING_UNIT) / 1024 / n, 2)
    return out


def last_counters(log_path: Path) -> dict[str, Any]:
    """The streamer's last counters line (it logs them as JSON, and once more at stop)."""
    found: dict[str, Any] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        start = line.find('{"event":"stream_counters"')
        if start >= 0:
            found = json.loads(line[start:])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode", nargs="?", default="bench", choices=["bench", "serve", "ceiling", "baseline"]
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument(
        "--baseline-frames",
        type=int,
        default=None,
        help="frames for the synchronous baseline (default: --frames); at some tens of "
        "frames a second it reaches its steady rate within a thousand",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", default="")
    parser.add_argument("--delivery", default="")
    parser.add_argument("--mark", type=Path, default=Path("first-frame"))
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        frames = make_frames(args.frames)
        asyncio.run(serve_replay(frames, args.port, asyncio.Event(), args.mark))
        return 0
    if args.mode == "ceiling":
        asyncio.run(ceiling_client(args.url, args.frames))
        return 0
    if args.mode == "baseline":
        asyncio.run(baseline_client(args.url, args.frames, args.delivery))
        return 0
    return bench(args.frames, args.json, args.baseline_frames or args.frames)


def bench(n: int, json_out: Path | None, baseline_n: int | None = None) -> int:
    from sandbox.paths import Workspace

    sample = make_frames(2)
    records_per_frame = len(json.loads(sample[0]))
    frame_bytes = len(sample[0])
    with tempfile.TemporaryDirectory(prefix="bench-streamer-") as tmp:
        ws = Workspace(Path(tmp))
        ws.ensure()
        port = free_port()
        moto = aws_local.moto_service(ws, port)
        moto.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            landing = aws_local.Landing()
            aws_local.provision(endpoint, landing)
            frames = {"ceiling": n, "baseline": baseline_n or n, "streamer": n}
            results = [
                run_client(kind, count, records_per_frame, endpoint, landing, Path(tmp) / "spool")
                for kind, count in frames.items()
            ]
        finally:
            moto.stop()
    by = {r["client"]: r for r in results}
    print(f"replay: {n} frames of {frame_bytes} bytes, {records_per_frame} records each")
    for r in results:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    ratio = by["streamer"]["frames_per_s"] / by["baseline"]["frames_per_s"]
    of_ceiling = by["streamer"]["frames_per_s"] / by["ceiling"]["frames_per_s"]
    print(f"  streamer vs baseline: {ratio:.2f}x; streamer vs ceiling: {of_ceiling:.0%}")
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "frames": n,
                    "frame_bytes": frame_bytes,
                    "records_per_frame": records_per_frame,
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
