"""AWS Lambda entry point of the poller (EventBridge, every minute).

Clients are created once per execution environment; the handler is thin and typed.
"""

from __future__ import annotations

from typing import Any

from ingest import aws
from ingest.config import Settings
from ingest.mempool_api import MempoolApi
from ingest.poller import Poller, PollOptions

_settings = Settings.load()
_s3 = aws.client("s3")
_api = MempoolApi(_settings.api_base, _settings.user_agent, _settings.http_timeout_s)


def build_poller(settings: Settings, s3: Any, api: MempoolApi) -> Poller:
    return Poller(api, s3, settings.require_bucket(), settings.state_key, PollOptions())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge scheduled event in, run summary out (visible in the Lambda console)."""
    result = build_poller(_settings, _s3, _api).run()
    return {"source_event": event.get("id"), **result.as_dict()}
