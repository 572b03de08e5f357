"""JSON on the streamer's hot path: orjson (a project dependency; several times the
standard library's speed on mempool.space frames), falling back to the standard library
for what orjson refuses (integers beyond 64 bits) or when it is not installed. Output
follows the contract's conventions either way: compact, UTF-8, newline-terminated."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # the Lambda package ships without it: the standard library serves
    orjson = None  # type: ignore[assignment]


def loads(text: str | bytes) -> Any:
    """Parse; json.JSONDecodeError (orjson's error is a subclass) on invalid JSON."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # re-parsed below: a precise message, and integers orjson refuses
    return json.loads(text)


def dumps_line(obj: Any) -> bytes:
    if orjson is not None:
        try:
            line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            pass  # e.g. an integer beyond 64 bits
        else:
            # orjson's result keeps the capacity of its write buffer (4 KiB for a
            # 500-byte record, measured): lines held while Firehose is down would take
            # eight times their size. A copy is exactly as long as the line.
            return bytes(memoryview(line))
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
