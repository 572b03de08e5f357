"""A small, polite client for mempool.space's REST API (standard library only).

429 answers carry an HTML body, so the content type is checked before parsing; 429
and 5xx raise `Retryable` so callers can back off and end their run cleanly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


class ApiError(RuntimeError):
    """An answer we cannot use (not found, wrong content type, bad JSON)."""


class Retryable(ApiError):
    """429 or 5xx or a network failure: try again later, more slowly."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    pass


@dataclass(frozen=True)
class MempoolApi:
    base: str
    user_agent: str = "mempool-platform/0.1"
    timeout_s: float = 4.0

    def _get(
        self, path: str, params: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> tuple[bytes, str]:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urlencode(params)
        request = urllib.request.Request(
            url, headers={"User-Agent": self.user_agent, "Accept": "application/json, text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise Retryable(f"GET {path}: HTTP {exc.code}", exc.code) from exc
            if exc.code == 404:
                raise NotFound(f"GET {path}: not found") from exc
            raise ApiError(f"GET {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise Retryable(f"GET {path}: {exc}") from exc

    def get_json(
        self, path: str, params: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> Any:
        body, content_type = self._get(path, params, timeout_s)
        if "json" not in content_type:
            raise ApiError(f"GET {path}: expected JSON, got {content_type or 'no content type'}")
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise ApiError(f"GET {path}: invalid JSON ({exc.msg})") from exc

    def get_text(self, path: str, timeout_s: float | None = None) -> str:
        body, _ = self._get(path, None, timeout_s)
        return body.decode().strip()

    def tip_height(self) -> int:
        text = self.get_text("/blocks/tip/height")
        if not text.isdigit():
            raise ApiError(f"tip height is not a number: {text[:40]!r}")
        return int(text)

    def blocks(self, start_height: int | None = None, timeout_s: float | None = None) -> list[Any]:
        """15 blocks, descending, from start_height (inclusive) or the tip."""
        path = "/v1/blocks" if start_height is None else f"/v1/blocks/{start_height}"
        page = self.get_json(path, timeout_s=timeout_s)
        if not isinstance(page, list):
            raise ApiError(f"GET {path}: expected a list")
        return page

    def block_txids(self, block_hash: str, timeout_s: float | None = None) -> list[str]:
        """`/block/:hash/txids`: what a block mined, the coinbase first."""
        path = f"/block/{block_hash}/txids"
        txids = self.get_json(path, timeout_s=timeout_s)
        if not isinstance(txids, list):
            raise ApiError(f"GET {path}: expected a list")
        return txids

    def prices(self) -> Any:
        return self.get_json("/v1/prices")

    def fees_recommended(self) -> Any:
        return self.get_json("/v1/fees/recommended")

    def mempool(self) -> Any:
        return self.get_json("/mempool")

    def historical_price(self, currency: str, timestamp: int) -> Any:
        return self.get_json("/v1/historical-price", {"currency": currency, "timestamp": timestamp})
