"""Point production entry points at a running local stack, through their ordinary
settings (environment variables), when nothing else is configured."""

from __future__ import annotations

import json
import os

from sandbox import aws_local
from sandbox.paths import Workspace


def stack_env(ws: Workspace) -> dict[str, str]:
    try:
        info = json.loads(ws.runtime_file.read_text())
    except FileNotFoundError:
        return {}
    env = aws_local.client_env(info["aws_endpoint"]) if info.get("aws_endpoint") else {}
    if info.get("bucket"):
        env["MEMPOOL_BUCKET"] = info["bucket"]
    if info.get("api_base"):
        env["MEMPOOL_API_BASE"] = info["api_base"]
    if info.get("ws_url"):
        env["MEMPOOL_WS_URL"] = info["ws_url"]
    env["MEMPOOL_SPOOL_DIR"] = str(ws.spool)
    return env


def apply_stack_env(ws: Workspace | None = None) -> None:
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MEMPOOL_BUCKET"):
        return
    for key, value in stack_env(ws or Workspace.default()).items():
        os.environ.setdefault(key, value)
