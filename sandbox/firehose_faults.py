"""A fault-injecting proxy in front of the local Firehose endpoint.

The streamer finds Firehose through the standard `AWS_ENDPOINT_URL_FIREHOSE` variable, so
it cannot tell this proxy from the service: what it sees are Firehose's own failure
modes (API reference, PutRecordBatch: "Errors", and the response's `FailedPutCount` and
per-record `ErrorCode`):

- partial failure: only some records are forwarded; the others come back with
  `ErrorCode: ServiceUnavailableException` and are not delivered;
- throttling: HTTP 500 `ServiceUnavailableException` ("Back off and retry");
- a 5xx with an HTML body, as a load balancer in front of the service answers;
- a hang: the request is held past any sensible client timeout, then dropped;
- an outage: for a stretch of time every connection is closed without an answer.

Every decision comes from one seeded random generator, so a seed reproduces a run.
Everything else (and every request outside the faults) is forwarded to moto unchanged.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("mempool.firehose-faults")

PUT_RECORD_BATCH = "Firehose_20150804.PutRecordBatch"


@dataclass(frozen=True)
class FaultRates:
    """Per PutRecordBatch request; outages are scheduled (see FaultPlan)."""

    partial_failure: float = 0.08
    throttle: float = 0.04
    server_error: float = 0.03
    hang: float = 0.01
    hang_s: float = 20.0


@dataclass
class FaultPlan:
    seed: int
    rates: FaultRates = field(default_factory=FaultRates)
    # (start, end) in seconds since the proxy started: every request refused in between.
    outages: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed * 104729 + 17)
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.counts: dict[str, int] = {
            "requests": 0,
            "partial": 0,
            "records_failed": 0,
            "throttled": 0,
            "server_errors": 0,
            "hangs": 0,
            "refused": 0,
        }

    def in_outage(self) -> bool:
        elapsed = time.monotonic() - self.started
        return any(start <= elapsed < end for start, end in self.outages)

    def decide(self) -> tuple[str, float]:
        """The fault for one batch request, and a number for its details."""
        with self.lock:
            self.counts["requests"] += 1
            roll, detail = self.rng.random(), self.rng.random()
        r = self.rates
        for name, rate in (
            ("partial", r.partial_failure),
            ("throttle", r.throttle),
            ("server_error", r.server_error),
            ("hang", r.hang),
        ):
            if roll < rate:
                return name, detail
            roll -= rate
        return "none", detail

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


def split_for_partial_failure(records: list[Any], detail: float) -> list[bool]:
    """Which records fail (True): one record of one fails; of several, a seeded subset
    (every 2nd to 4th), so some always go through."""
    if len(records) == 1:
        return [True]
    step = 2 + int(detail * 3)
    return [i % step == 0 for i in range(len(records))]


class ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        plan = self.server.plan
        if plan.in_outage():
            plan.count("refused")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        target = self.headers.get("X-Amz-Target", "")
        if target != PUT_RECORD_BATCH:
            self.forward(body)
            return
        fault, detail = plan.decide()
        if fault == "throttle":
            plan.count("throttled")
            self.reply_json(
                500,
                {
                    "__type": "ServiceUnavailableException",
                    "message": "Slow down. Back off and retry the operation.",
                },
            )
        elif fault == "server_error":
            plan.count("server_errors")
            self.reply(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault == "hang":
            plan.count("hangs")
            time.sleep(plan.rates.hang_s)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "partial":
            self.partial(body, detail)
        else:
            self.forward(body)

    def partial(self, body: bytes, detail: float) -> None:
        request = json.loads(body)
        records = request.get("Records", [])
        failing = split_for_partial_failure(records, detail)
        if not any(failing):
            self.forward(body)
            return
        kept = [r for r, fail in zip(records, failing, strict=True) if not fail]
        delivered: Any = iter(())
        if kept:
            status, _, answer = self.upstream(json.dumps({**request, "Records": kept}).encode())
            if status != 200:
                self.reply(status, answer, "application/x-amz-json-1.1")
                return
            delivered = iter(json.loads(answer).get("RequestResponses", []))
        responses = [
            {
                "ErrorCode": "ServiceUnavailableException",
                "ErrorMessage": "Slow down.",
            }
            if fail
            else next(delivered)
            for fail in failing
        ]
        n_failed = sum(failing)
        self.server.plan.count("partial")
        self.server.plan.count("records_failed", n_failed)
        self.reply_json(
            200, {"FailedPutCount": n_failed, "Encrypted": False, "RequestResponses": responses}
        )

    def upstream(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def forward(self, body: bytes) -> None:
        status, headers, answer = self.upstream(body)
        self.reply(status, answer, headers.get("Content-Type", "application/x-amz-json-1.1"))

    def reply_json(self, status: int, obj: Any) -> None:
        self.reply(status, json.dumps(obj).encode(), "application/x-amz-json-1.1")

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: str, plan: FaultPlan) -> None:
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.upstream = upstream
        self.plan = plan


def outage_schedule(start_s: float, length_s: float) -> list[tuple[float, float]]:
    return [(start_s, start_s + length_s)] if length_s > 0 else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the real endpoint (moto)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outage-at", type=float, default=0.0, help="seconds after start")
    parser.add_argument("--outage-s", type=float, default=0.0, help="how long it lasts")
    parser.add_argument("--stats", default=None, help="write the fault counts to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    plan = FaultPlan(args.seed, outages=outage_schedule(args.outage_at, args.outage_s))
    server = FaultProxy(args.port, args.upstream, plan)
    log.info(
        "firehose fault proxy on 127.0.0.1:%d -> %s (seed %d, outages %s)",
        args.port,
        args.upstream,
        args.seed,
        plan.outages,
    )
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(5):
            log.info("faults so far: %s", plan.counts)
            if args.stats:
                with open(args.stats, "w") as out:
                    json.dump(plan.counts, out)

    threading.Thread(target=report, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if args.stats:
            with open(args.stats, "w") as out:
                json.dump(plan.counts, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
