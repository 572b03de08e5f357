"""Settings for everything that runs on AWS, decided from explicit configuration only.

Values come from the process environment, then from an env file (on EC2,
`/etc/mempool/mempool.env`, written by Terraform's user_data). Endpoints are plain
settings: boto3 honours the standard AWS_ENDPOINT_URL, so the same code talks to AWS
or to an emulator without ever asking which one it is.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_ENV_FILE: Final = "/etc/mempool/mempool.env"
DEFAULT_API_BASE: Final = "https://mempool.space/api"
DEFAULT_WS_URL: Final = "wss://mempool.space/api/v1/ws"
IMDS_BASE: Final = "http://169.254.169.254/latest"


def read_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; surrounding quotes removed."""
    values: dict[str, str] = {}
    file = Path(path)
    if not file.is_file():
        return values
    for raw in file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        values[key] = value.strip().strip("'\"")
    return values


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    api_base: str
    ws_url: str
    bucket: str
    stream_delivery: str
    conversions_delivery: str
    state_key: str
    spool_dir: Path
    user_agent: str
    http_timeout_s: float

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: str | None = None
    ) -> Settings:
        env = dict(read_env_file(env_file or os.environ.get("MEMPOOL_ENV_FILE", DEFAULT_ENV_FILE)))
        env.update(environ if environ is not None else os.environ)
        try:
            timeout = float(env.get("MEMPOOL_HTTP_TIMEOUT_S", "4"))
        except ValueError as exc:
            raise ConfigError("MEMPOOL_HTTP_TIMEOUT_S must be a number of seconds") from exc
        return cls(
            api_base=env.get("MEMPOOL_API_BASE", DEFAULT_API_BASE).rstrip("/"),
            ws_url=env.get("MEMPOOL_WS_URL", DEFAULT_WS_URL),
            bucket=env.get("MEMPOOL_BUCKET", ""),
            stream_delivery=env.get("MEMPOOL_STREAM_DELIVERY", "mempool-stream"),
            conversions_delivery=env.get("MEMPOOL_CONVERSIONS_DELIVERY", "mempool-conversions"),
            state_key=env.get("MEMPOOL_STATE_KEY", "mempool-state/poller.json"),
            spool_dir=Path(env.get("MEMPOOL_SPOOL_DIR", "/var/lib/mempool/spool")),
            user_agent=env.get("MEMPOOL_USER_AGENT", "mempool-platform/0.1 (+data pipeline)"),
            http_timeout_s=timeout,
        )

    def require_bucket(self) -> str:
        if not self.bucket:
            raise ConfigError("MEMPOOL_BUCKET is not set: the landing bucket name is required")
        return self.bucket


def resolve_region(
    environ: Mapping[str, str] | None = None,
    env_file: str | None = None,
    imds_base: str = IMDS_BASE,
    imds_timeout_s: float = 1.0,
) -> tuple[str, str]:
    """The AWS region and where it came from: environment, env file, then IMDSv2."""
    env = environ if environ is not None else os.environ
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(key):
            return env[key], f"environment ({key})"
    path = env_file or env.get("MEMPOOL_ENV_FILE", DEFAULT_ENV_FILE)
    file_values = read_env_file(path)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if file_values.get(key):
            return file_values[key], f"env file {path} ({key})"
    try:
        token_req = urllib.request.Request(
            f"{imds_base}/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with urllib.request.urlopen(token_req, timeout=imds_timeout_s) as resp:
            token = resp.read().decode()
        region_req = urllib.request.Request(
            f"{imds_base}/meta-data/placement/region",
            headers={"X-aws-ec2-metadata-token": token},
        )
        with urllib.request.urlopen(region_req, timeout=imds_timeout_s) as resp:
            return resp.read().decode().strip(), "IMDSv2"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ConfigError(
            "AWS region not found: set AWS_REGION, add it to the env file, or run on EC2 (IMDSv2)"
        ) from exc
