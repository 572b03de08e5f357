"""Backfill politeness and resumability (a benchmark, not a test).

The price backfill runs against the simulator over HTTP (`mempool sim`), into the local
S3 (moto), as `mempool backfill prices` runs it:

- rate: `--hours` hourly prices at `--rate` requests a second; the achieved rate is
  requests over elapsed time (target >= 90 % of the configured limit);
- resume: the same backfill stopped dead after a third of its requests (an exception
  out of the HTTP call, as a kill leaves it: nothing after that point runs), then run
  again from its checkpoint; refetched = requests of the second run minus the hours the
  first never fetched (target <= 1 page).

    python -m benchmarks.backfill --hours 240 --rate 20
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.stack import report
from ingest.backfill import Checkpoint, backfill_prices
from ingest.mempool_api import MempoolApi
from sandbox import aws_local
from sandbox.paths import Workspace
from sandbox.pipeline import simulator_argv
from sandbox.services import free_port, http_ok


class Stopped(BaseException):
    """The process died here (BaseException: no handler of the backfill catches it)."""


class CountingApi(MempoolApi):
    """The real client, counting its requests, and dying at request `stop_at`."""

    def __init__(self, base: str, stop_at: int | None = None) -> None:
        super().__init__(base)
        self.requests = 0
        self.stop_at = stop_at

    def get_json(self, path: str, params: Any = None, timeout_s: float | None = None) -> Any:
        if self.stop_at is not None and self.requests + 1 == self.stop_at:
            raise Stopped
        self.requests += 1
        return super().get_json(path, params, timeout_s)


def backfill(api: MempoolApi, s3: Any, bucket: str, hours: int, rate: float, ckpt: Path) -> int:
    until = datetime(2026, 1, 1, tzinfo=UTC)
    return backfill_prices(
        api,
        s3,
        bucket,
        until - timedelta(hours=hours - 1),
        until,
        Checkpoint(ckpt),
        rate_per_s=rate,
        show_progress=False,
    )


def run(hours: int, rate: float) -> dict[str, Any]:

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        ws = Workspace(Path(tmp)).ensure()
        moto_port, sim_port = free_port(), free_port()
        moto = aws_local.moto_service(ws, moto_port)
        moto.start()
        sim = subprocess.Popen(
            simulator_argv(sim_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            endpoint = f"http://127.0.0.1:{moto_port}"
            landing = aws_local.Landing(bucket="bench-backfill")
            aws_local.provision(endpoint, landing)
            s3 = aws_local.clients(endpoint)["s3"]
            base = f"http://127.0.0.1:{sim_port}/api"
            while not http_ok(f"{base}/blocks/tip/height", timeout_s=1.0):
                time.sleep(0.2)

            api = CountingApi(base)
            started = time.perf_counter()
            written = backfill(api, s3, landing.bucket, hours, rate, Path(tmp) / "rate.json")
            elapsed = time.perf_counter() - started

            stop_at = hours // 3
            first = CountingApi(base, stop_at=stop_at)
            try:
                backfill(first, s3, landing.bucket, hours, rate, Path(tmp) / "resume.json")
            except Stopped:
                pass
            second = CountingApi(base)
            backfill(second, s3, landing.bucket, hours, rate, Path(tmp) / "resume.json")
        finally:
            sim.terminate()
            sim.wait(timeout=30)
            moto.stop()
    achieved = api.requests / elapsed
    return {
        "hours": hours,
        "rate_limit_per_s": rate,
        "requests": api.requests,
        "records": written,
        "seconds": round(elapsed, 2),
        "achieved_per_s": round(achieved, 2),
        "share_of_limit": round(achieved / rate, 3),
        "stopped_after_requests": first.requests,
        "resumed_requests": second.requests,
        "refetched": second.requests - (hours - first.requests),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=240)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.hours, args.rate), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
