"""A small, polite client for mempool.space's REST API (standard library only).

429 answers carry an HTML body, so the content type is checked before parsing; 429
and 5xx raise `Retryable` so callers can back off and end their run cleanly.

A hostile or broken server (or anything in the middle) gets `ApiError` at worst: bodies
are read up to MAX_BODY_BYTES, redirects are followed only within the same scheme, host
and port, JSON goes through the one bounded decoder (`fastjson.loads`), and the answers
the clients take apart (block pages, txids, the tip height) are checked for shape first.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, urlencode, urlsplit

from ingest import fastjson

# mempool.space's REST answers are small: a page of 15 blocks is ~20 KB, and the largest,
# a block's txids, is at most ~17,000 ids of 67 bytes (1.1 MB). 4 MiB is well above;
# parsed, even a hostile 4 MiB body (up to ~36 times its size) fits the Lambda's 256 MB.
# Nothing asks for a compressed answer (urllib sends no Accept-Encoding), so the bytes
# read are the bytes parsed.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024

_BLOCK_HASH: Final = re.compile(r"[0-9a-f]{64}")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class ApiError(RuntimeError):
    """An answer we cannot use (not found, wrong content type, bad JSON)."""


class Retryable(ApiError):
    """429 or 5xx or a network failure: try again later, more slowly."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    pass


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (the only redirects followed)."""
    return _origin(urlsplit(url)) == _origin(urlsplit(other)) != ("", None, None)


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        return ("", None, None)
    scheme = parts.scheme.lower()
    return (scheme, parts.hostname, port or _DEFAULT_PORTS.get(scheme))


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows any redirect, https to http included (the answer would then cross
    the network in clear, open to anyone in the middle): only same-origin ones here."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not same_origin(req.full_url, newurl):
            fp.close()
            raise ApiError(f"redirect {code} to another origin refused: {newurl[:200]!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER: Final = urllib.request.build_opener(_SameOriginRedirects)


@dataclass(frozen=True)
class MempoolApi:
    base: str
    user_agent: str = "mempool-platform/0.1"
    timeout_s: float = 4.0
    max_body_bytes: int = MAX_BODY_BYTES

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
            with _OPENER.open(request, timeout=timeout_s or self.timeout_s) as resp:
                return self._read(path, resp), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise Retryable(f"GET {path}: HTTP {exc.code}", exc.code) from exc
            if exc.code == 404:
                raise NotFound(f"GET {path}: not found") from exc
            raise ApiError(f"GET {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
            # HTTPException: a broken status line or headers, a body cut short.
            raise Retryable(f"GET {path}: {type(exc).__name__}: {exc}"[:300]) from exc

    def _read(self, path: str, resp: Any) -> bytes:
        """The body, refused (before reading, when the server says its length) above
        max_body_bytes."""
        refused = f"GET {path}: answer above the limit of {self.max_body_bytes} bytes"
        declared = resp.headers.get("Content-Length", "")
        # Sixteen digits or more are refused before int() sees them (it refuses 4,301).
        if (
            declared.isascii()
            and declared.isdigit()
            and (len(declared) > 15 or int(declared) > self.max_body_bytes)
        ):
            raise ApiError(f"{refused} ({declared[:20]} bytes)")
        body: bytes = resp.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise ApiError(refused)
        return body

    def get_json(
        self, path: str, params: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> Any:
        body, content_type = self._get(path, params, timeout_s)
        if "json" not in content_type:
            raise ApiError(f"GET {path}: expected JSON, got {content_type or 'no content type'}")
        try:
            return fastjson.loads(body)
        except json.JSONDecodeError as exc:
            raise ApiError(f"GET {path}: invalid JSON ({exc.msg})") from exc

    def get_text(self, path: str, timeout_s: float | None = None) -> str:
        body, _ = self._get(path, None, timeout_s)
        try:
            return body.decode().strip()
        except UnicodeDecodeError as exc:
            raise ApiError(f"GET {path}: not UTF-8 text") from exc

    def tip_height(self) -> int:
        text = self.get_text("/blocks/tip/height")
        # isdigit alone also takes other scripts' digits ("²"), which int() refuses.
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise ApiError(f"tip height is not a number: {text[:40]!r}")
        return int(text)

    def blocks(self, start_height: int | None = None, timeout_s: float | None = None) -> list[Any]:
        """15 blocks, descending, from start_height (inclusive) or the tip."""
        path = "/v1/blocks" if start_height is None else f"/v1/blocks/{start_height}"
        page = self.get_json(path, timeout_s=timeout_s)
        # The poller keys its state on height and hash, and puts the hash in a path.
        if not isinstance(page, list) or not all(map(is_block, page)):
            raise ApiError(f"GET {path}: expected a list of blocks (integer height, hex id)")
        return page

    def block_txids(self, block_hash: str, timeout_s: float | None = None) -> list[str]:
        """`/block/:hash/txids`: what a block mined, the coinbase first."""
        path = f"/block/{block_hash}/txids"
        txids = self.get_json(path, timeout_s=timeout_s)
        if not isinstance(txids, list) or not all(isinstance(t, str) for t in txids):
            raise ApiError(f"GET {path}: expected a list of txids")
        return txids

    def prices(self) -> Any:
        return self.get_json("/v1/prices")

    def fees_recommended(self) -> Any:
        return self.get_json("/v1/fees/recommended")

    def mempool(self) -> Any:
        return self.get_json("/mempool")

    def historical_price(self, currency: str, timestamp: int) -> dict[str, Any]:
        path = "/v1/historical-price"
        answer = self.get_json(path, {"currency": currency, "timestamp": timestamp})
        if not isinstance(answer, dict):
            raise ApiError(f"GET {path}: expected an object")
        return answer


def is_block(value: Any) -> bool:
    """A block as the clients need it: a non-negative integer height and a block hash."""
    if not isinstance(value, dict):
        return False
    height, block_id = value.get("height"), value.get("id")
    return (
        type(height) is int
        and height >= 0
        and isinstance(block_id, str)
        and _BLOCK_HASH.fullmatch(block_id) is not None
    )
