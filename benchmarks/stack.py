"""What the Snowflake-side benchmarks share: the emulators on free ports, a deployed
local runtime on a database of its own, and how results are written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import aws_local
from sandbox.paths import Workspace
from sandbox.services import free_port
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse, fakesnow_service


@dataclass(frozen=True, slots=True)
class Emulators:
    aws_endpoint: str
    fakesnow: LocalWarehouse
    workdir: Path

    def runtime(self, name: str) -> LocalSnowflake:
        """The production SQL deployed to database `name`, fed from a bucket of its own."""
        import boto3

        slug = name.lower().replace("_", "-")
        landing = aws_local.Landing(
            bucket=f"bench-{slug}",
            stream_delivery=f"bench-{slug}-s",
            conversions_delivery=f"bench-{slug}-c",
            queue=f"bench-{slug}-q",
        )
        aws_local.provision(self.aws_endpoint, landing)
        sqs = boto3.client("sqs")
        rt = LocalSnowflake(
            LocalWarehouse(self.fakesnow.host, self.fakesnow.port, database=name.upper()),
            landing.bucket,
            boto3.client("s3"),
            sqs,
            sqs.get_queue_url(QueueName=landing.queue)["QueueUrl"],
        )
        rt.deploy()
        return rt


@contextmanager
def emulators() -> Iterator[Emulators]:
    """moto and fakesnow on free ports, in a scratch folder, for as long as needed."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ws = Workspace(Path(tmp)).ensure()
        moto_port, sf_port = free_port(), free_port()
        moto = aws_local.moto_service(ws, moto_port)
        moto.start()
        fakesnow = fakesnow_service(ws.warehouse, sf_port, ws.logs / "fakesnow.log")
        fakesnow.start()
        endpoint = f"http://127.0.0.1:{moto_port}"
        os.environ.update(aws_local.client_env(endpoint))
        try:
            yield Emulators(endpoint, LocalWarehouse("127.0.0.1", sf_port), Path(tmp))
        finally:
            fakesnow.stop()
            moto.stop()


def report(data: dict[str, Any], json_path: Path | None) -> int:
    """Print the figures, and write them where `make bench` reads them."""
    text = json.dumps(data, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text)
    return 0
