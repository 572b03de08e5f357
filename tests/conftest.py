"""Shared fixtures: real emulators (moto server, fakesnow server) on loopback ports."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from operations.artifacts import use_procedures_archive
from sandbox import aws_local
from sandbox.paths import Workspace
from sandbox.pipeline import simulator_argv
from sandbox.services import Service, free_port, http_ok
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse, fakesnow_service

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "reference" / "fixtures" / "mempool-space"


def pytest_configure(config: pytest.Config) -> None:
    """The procedures are importable only from the archive `snow snowpark build` makes,
    as on Snowflake: built (or rebuilt) here, before any test module imports them."""
    use_procedures_archive()


@pytest.fixture(scope="session")
def session_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("mempool-home")).ensure()


@pytest.fixture(scope="session")
def moto_endpoint(session_ws: Workspace) -> Iterator[str]:
    port = free_port()
    service = aws_local.moto_service(session_ws, port)
    service.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in aws_local.client_env(endpoint)}
    os.environ.update(aws_local.client_env(endpoint))
    try:
        yield endpoint
    finally:
        service.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_landings = itertools.count(1)


@contextmanager
def landing_zone(moto_endpoint: str, name: str) -> Iterator[aws_local.Landing]:
    """A freshly provisioned landing zone with a bucket and roles of its own (Terraform's
    policies for its names); its delivery streams are deleted afterwards (an account
    holds at most 50, in moto too)."""
    name = name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40]
    land = aws_local.Landing(
        bucket=f"t-{name}-{free_port()}",
        stream_delivery=f"s-{name}"[:60],
        conversions_delivery=f"c-{name}"[:60],
        queue=f"q-{name}"[:70],
        name_prefix=f"t{next(_landings)}",
    )
    aws_local.provision(moto_endpoint, land)
    yield land
    firehose = aws_local.clients(moto_endpoint)["firehose"]
    for name in (land.stream_delivery, land.conversions_delivery):
        firehose.delete_delivery_stream(DeliveryStreamName=name)


@pytest.fixture
def landing(moto_endpoint: str, request: pytest.FixtureRequest) -> Iterator[aws_local.Landing]:
    with landing_zone(moto_endpoint, request.node.name) as land:
        yield land


def start_fakesnow(ws: Workspace, db_dir: Path, port: int) -> Service:
    service = fakesnow_service(db_dir, port, ws.logs / f"fakesnow-{port}.log")
    service.start()
    return service


@pytest.fixture(scope="session")
def fakesnow_server(session_ws: Workspace) -> Iterator[LocalWarehouse]:
    port = free_port()
    service = start_fakesnow(session_ws, session_ws.warehouse, port)
    try:
        yield LocalWarehouse(host="127.0.0.1", port=port)
    finally:
        service.stop()


_databases = itertools.count(1)


def next_database() -> str:
    """A database of its own for each test on the shared fakesnow server."""
    return f"T{os.getpid()}_{next(_databases)}"


def new_runtime(landing: aws_local.Landing, server: LocalWarehouse) -> LocalSnowflake:
    """A local Snowflake runtime on a fresh database, fed by moto S3 -> SQS (not deployed),
    reading the bucket as the storage integration's role, as the demo does."""
    import boto3

    wh = LocalWarehouse(server.host, server.port, database=next_database())
    sqs = boto3.client("sqs")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    storage = aws_local.role_session(endpoint, landing.role_arn("snowflake"), "snowflake")
    return LocalSnowflake(
        wh,
        landing.bucket,
        boto3.client("s3"),
        sqs,
        sqs.get_queue_url(QueueName=landing.queue)["QueueUrl"],
        stage_s3=storage.client("s3", endpoint_url=endpoint),
    )


@pytest.fixture
def rt(landing: aws_local.Landing, fakesnow_server: LocalWarehouse) -> Iterator[LocalSnowflake]:
    """The production SQL deployed to a fresh local database, fed by moto S3 -> SQS."""
    runtime = new_runtime(landing, fakesnow_server)
    runtime.deploy()
    yield runtime
    runtime.close()


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """`mempool sim` on a free port until the block ends; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        simulator_argv(port, *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not http_ok(f"{base}/api/blocks/tip/height", timeout_s=1.0):
            assert proc.poll() is None and time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)


def run_verify(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mempool verify` on the workspace a demo left in `home`."""
    return subprocess.run(
        [sys.executable, "-m", "operations.cli", "verify", *args],
        env={**os.environ, "MEMPOOL_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
