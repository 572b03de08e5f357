"""The streamer completes its Auto Scaling launch hook after its first accepted delivery
(ingest/launch_hook.py): once, with CONTINUE, for the instance IMDSv2 names; failures
retried a bounded number of times, never raised; nothing at all without the setting.

moto (5.2) has lifecycle hooks but no CompleteLifecycleAction, so the Auto Scaling calls
go through a real boto3 client with botocore's Stubber, which checks every request
against the service's API model (names, types, required parameters); IMDSv2 is a local
HTTP server that refuses a request without its token, as the launch template requires.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ingest import contract
from ingest.config import ConfigError, Settings
from ingest.launch_hook import (
    GROUP_VARIABLE,
    HOOK_VARIABLE,
    LaunchHook,
    LaunchReadiness,
    ReportingFirehose,
    instance_id_from_imds,
)
from ingest.stream_main import build_streamer
from sandbox import aws_local
from tests.fakes import StubFirehose

HOOK = LaunchHook(group="mempool-streamer", hook="mempool-streamer-streaming")
INSTANCE = "i-0123456789abcdef0"
EXPECTED = {
    "AutoScalingGroupName": "mempool-streamer",
    "LifecycleHookName": "mempool-streamer-streaming",
    "LifecycleActionResult": "CONTINUE",
    "InstanceId": INSTANCE,
}


def autoscaling() -> Any:
    return boto3.client(
        "autoscaling",
        region_name="eu-west-1",
        endpoint_url="https://autoscaling.eu-west-1.amazonaws.com",
        aws_access_key_id="AKIATESTTESTTESTTEST",
        aws_secret_access_key="not-a-secret",
    )


def no_env_file(tmp_path: Path) -> dict[str, str]:
    return {"MEMPOOL_ENV_FILE": str(tmp_path / "absent.env")}


# -- the setting --------------------------------------------------------------------------


def test_without_the_setting_there_is_no_hook(tmp_path: Path) -> None:
    assert LaunchHook.load(no_env_file(tmp_path)) is None


def test_the_setting_comes_from_the_environment_or_the_env_file(tmp_path: Path) -> None:
    env = {**no_env_file(tmp_path), GROUP_VARIABLE: "g", HOOK_VARIABLE: "h"}
    assert LaunchHook.load(env) == LaunchHook(group="g", hook="h")
    env_file = tmp_path / "mempool.env"
    env_file.write_text(f"{GROUP_VARIABLE}=from-file\n{HOOK_VARIABLE}=hook-file\n")
    assert LaunchHook.load({"MEMPOOL_ENV_FILE": str(env_file)}) == LaunchHook(
        group="from-file", hook="hook-file"
    )
    # The environment wins over the file, as for every other setting.
    assert LaunchHook.load({"MEMPOOL_ENV_FILE": str(env_file), GROUP_VARIABLE: "env"}) == (
        LaunchHook(group="env", hook="hook-file")
    )


@pytest.mark.parametrize("present", [GROUP_VARIABLE, HOOK_VARIABLE])
def test_half_a_setting_is_refused(tmp_path: Path, present: str) -> None:
    """One without the other would leave the instance in Pending:Wait until ABANDON."""
    with pytest.raises(ConfigError, match="set both"):
        LaunchHook.load({**no_env_file(tmp_path), present: "x"})


# -- IMDSv2 -------------------------------------------------------------------------------


@pytest.fixture
def imds() -> Iterator[str]:
    token = "imds-session-token"

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            if self.path != "/latest/api/token" or not self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"
            ):
                self.send_error(400)
                return
            self._answer(token)

        def do_GET(self) -> None:
            if self.headers.get("X-aws-ec2-metadata-token") != token:
                self.send_error(401)  # IMDSv1 is off (http_tokens = "required")
                return
            if self.path != "/latest/meta-data/instance-id":
                self.send_error(404)
                return
            self._answer(INSTANCE)

        def _answer(self, body: str) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/latest"
    finally:
        server.shutdown()
        server.server_close()


def test_the_instance_id_comes_from_imdsv2(imds: str) -> None:
    assert instance_id_from_imds(imds) == INSTANCE


# -- completing ---------------------------------------------------------------------------


def test_the_action_is_completed_with_continue_for_this_instance(imds: str) -> None:
    client = autoscaling()
    with Stubber(client) as stub:
        stub.add_response("complete_lifecycle_action", {}, EXPECTED)
        readiness = LaunchReadiness(HOOK, client, instance_id=lambda: instance_id_from_imds(imds))
        assert readiness.complete() is True
        stub.assert_no_pending_responses()
    assert readiness.completed


def test_failures_are_retried_a_bounded_number_of_times_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = autoscaling()
    sleeps: list[float] = []
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error(
                "complete_lifecycle_action",
                service_error_code="Throttling",
                service_message="Rate exceeded",
                http_status_code=400,
                expected_params=EXPECTED,
            )
        readiness = LaunchReadiness(
            HOOK, client, instance_id=lambda: INSTANCE, attempts=3, sleep=sleeps.append
        )
        with caplog.at_level(logging.INFO, logger="mempool.launch_hook"):
            assert readiness.complete() is False
        stub.assert_no_pending_responses()  # exactly three calls, no fourth
    assert not readiness.completed
    assert sleeps == [5.0, 10.0]
    final = caplog.records[-1]
    assert final.levelno == logging.ERROR and "after 3 attempts" in final.getMessage()
    assert "Throttling: Rate exceeded" in final.getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "AKIATESTTESTTESTTEST" not in logged and "not-a-secret" not in logged


def test_a_retry_after_a_failure_completes() -> None:
    client = autoscaling()
    with Stubber(client) as stub:
        stub.add_client_error(
            "complete_lifecycle_action",
            service_error_code="AccessDenied",  # the role's policy not yet everywhere
            http_status_code=403,
            expected_params=EXPECTED,
        )
        stub.add_response("complete_lifecycle_action", {}, EXPECTED)
        readiness = LaunchReadiness(
            HOOK, client, instance_id=lambda: INSTANCE, sleep=lambda _: None
        )
        assert readiness.complete() is True
        stub.assert_no_pending_responses()


def test_an_unreachable_imds_is_retried_then_given_up() -> None:
    calls: list[int] = []

    def no_imds() -> str:
        calls.append(1)
        raise urllib.error.URLError("no route to host")

    readiness = LaunchReadiness(
        HOOK, autoscaling(), instance_id=no_imds, attempts=2, sleep=lambda _: None
    )
    assert readiness.complete() is False
    assert len(calls) == 2


def test_nothing_pending_ends_it_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """After a restart of the service on an instance already InService, Auto Scaling says
    no action is pending: retrying cannot change that."""
    client = autoscaling()
    with Stubber(client) as stub:
        stub.add_client_error(
            "complete_lifecycle_action",
            service_error_code="ValidationError",
            service_message=f"No active Lifecycle Action found with instance ID {INSTANCE}",
            http_status_code=400,
            expected_params=EXPECTED,
        )
        sleeps: list[float] = []
        readiness = LaunchReadiness(HOOK, client, instance_id=lambda: INSTANCE, sleep=sleeps.append)
        with caplog.at_level(logging.INFO, logger="mempool.launch_hook"):
            assert readiness.complete() is False
        stub.assert_no_pending_responses()
    assert sleeps == []  # no retry
    assert "already completed or timed out" in caplog.text


def test_only_the_first_accepted_batch_completes_and_a_refused_one_does_not() -> None:
    client = autoscaling()
    firehose = StubFirehose(fail_record_indexes=[{0, 1}, {0}])
    with Stubber(client) as stub:
        stub.add_response("complete_lifecycle_action", {}, EXPECTED)
        readiness = LaunchReadiness(HOOK, client, instance_id=lambda: INSTANCE)
        reporting = ReportingFirehose(firehose, readiness.delivered)
        records = [{"Data": b"a\n"}, {"Data": b"b\n"}]
        reporting.put_record_batch(DeliveryStreamName="s", Records=records)  # all refused
        assert readiness._thread is None
        reporting.put_record_batch(DeliveryStreamName="s", Records=records)  # one accepted
        for _ in range(5):
            reporting.put_record_batch(DeliveryStreamName="s", Records=records)
        readiness.join(10)
        stub.assert_no_pending_responses()  # one call, not six
    assert readiness.completed
    assert reporting.calls == firehose.calls == 7  # the rest is the client itself


def test_a_failing_report_never_fails_the_delivery() -> None:
    def broken() -> None:
        raise RuntimeError("can't start new thread")

    firehose = StubFirehose()
    resp = ReportingFirehose(firehose, broken).put_record_batch(
        DeliveryStreamName="s", Records=[{"Data": b"a\n"}]
    )
    assert resp["FailedPutCount"] == 0 and firehose.delivered == {"s": [b"a\n"]}


# -- wired into the entry point ----------------------------------------------------------


@pytest.mark.stack
def test_the_entry_point_reports_what_firehose_accepted(
    landing: aws_local.Landing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_streamer's sink, as the instance profile's role against moto's Firehose:
    the first flush Firehose accepts is reported; without on_delivered, no wrapper."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    for key, value in aws_local.assume(endpoint, landing.role_arn("streamer"), "ec2").items():
        monkeypatch.setenv(key, value)
    settings = Settings.load(
        {
            "MEMPOOL_BUCKET": landing.bucket,
            "MEMPOOL_STREAM_DELIVERY": landing.stream_delivery,
            "MEMPOOL_CONVERSIONS_DELIVERY": landing.conversions_delivery,
            "MEMPOOL_SPOOL_DIR": str(tmp_path / "spool"),
        },
        env_file=str(tmp_path / "absent.env"),
    )
    plain = build_streamer(settings, aws_local.REGION)
    assert not isinstance(plain.sink.firehose, ReportingFirehose)

    reports: list[int] = []
    streamer = build_streamer(settings, aws_local.REGION, on_delivered=lambda: reports.append(1))
    sink = streamer.sink
    sink.flush()
    assert reports == []  # nothing sent, nothing accepted
    sink.add(
        "stream",
        contract.Record(
            source="ws",
            topic="mempoolInfo",
            origin_id="launch-hook-test",
            frame_seq=1,
            received_at="2026-01-01T00:00:00.000Z",
            payload={"size": 1},
        ),
    )
    sink.flush()
    assert sink.counters.batches == 1 and reports == [1]
