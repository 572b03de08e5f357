from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.config import ConfigError, Settings, read_env_file, resolve_region


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "mempool.env"
    env_file.write_text(
        "# written by user_data\nMEMPOOL_BUCKET='from-file'\n"
        "export MEMPOOL_STREAM_DELIVERY=file-stream\n\nAWS_REGION=eu-west-1\n"
    )
    assert read_env_file(env_file)["MEMPOOL_BUCKET"] == "from-file"
    settings = Settings.load({"MEMPOOL_BUCKET": "from-env"}, env_file=str(env_file))
    assert settings.bucket == "from-env"
    assert settings.stream_delivery == "file-stream"


def test_missing_bucket_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings.load({}, env_file=str(tmp_path / "absent.env"))
    with pytest.raises(ConfigError, match="MEMPOOL_BUCKET"):
        settings.require_bucket()


def test_region_comes_from_environment_then_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "mempool.env"
    env_file.write_text("AWS_REGION=eu-central-1\n")
    assert resolve_region({"AWS_REGION": "us-west-2"}, str(env_file)) == (
        "us-west-2",
        "environment (AWS_REGION)",
    )
    region, source = resolve_region({}, str(env_file))
    assert region == "eu-central-1" and source.startswith("env file")


class _Imds(http.server.BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        assert self.headers["X-aws-ec2-metadata-token-ttl-seconds"]
        self._reply(b"token-123")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token-123":
            self.send_response(401)
            self.end_headers()
            return
        self._reply(b"ap-south-1")

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/latest"
    server.shutdown()
    server.server_close()


def test_region_falls_back_to_imdsv2_with_a_session_token(tmp_path: Path, imds: str) -> None:
    assert resolve_region({}, str(tmp_path / "none.env"), imds_base=imds) == (
        "ap-south-1",
        "IMDSv2",
    )


def test_no_region_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AWS region not found"):
        resolve_region(
            {},
            str(tmp_path / "none.env"),
            imds_base="http://127.0.0.1:9/latest",
            imds_timeout_s=0.2,
        )
