"""JSON for ingestion: the one decoder every client (streamer, poller, backfill) reads
upstream answers with, and the streamer's line encoder.

orjson (a project dependency; several times the standard library's speed on
mempool.space frames) parses first; what it refuses is parsed again by the standard
library, which is also what serves when orjson is not installed (the Lambda package).
Whatever the input, `loads` either returns strict JSON or raises json.JSONDecodeError:
a hostile or broken upstream must never get another exception (RecursionError,
UnicodeDecodeError, ValueError) past the clients' handlers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

try:
    import orjson
except ImportError:  # the Lambda package ships without it: the standard library serves
    orjson = None  # type: ignore[assignment]

# mempool.space nests at most five levels (frame, topic, block, extras, pool). Deeper
# documents are refused well before what either parser or encoder survives (orjson
# parses 1,024 levels and writes 255; the standard library recurses until
# RecursionError at about 1,000) and before Snowflake's VARIANT has to hold them.
MAX_DEPTH: Final = 64

# `\udXXX` escapes: only these can make the standard library produce a lone surrogate,
# which no UTF-8 line (and so no contract record) can carry.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(text: str | bytes) -> Any:
    """Parse strict JSON (UTF-8, no NaN or Infinity, no lone surrogates) nested at most
    MAX_DEPTH levels; json.JSONDecodeError (orjson's error is a subclass) otherwise."""
    if orjson is not None:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # re-parsed below: a precise message, or integers orjson cannot hold
        else:
            _check_depth(value, text)
            return value
    value = _stdlib_loads(text)
    _check_depth(value, text)
    if _has_surrogate_escape(text) and not _encodable(value):
        raise json.JSONDecodeError("lone surrogate in a string", "", 0)
    return value


def _stdlib_loads(text: str | bytes) -> Any:
    try:
        # Decoded here rather than by json.loads, which would also guess UTF-16 or -32;
        # a str is encoded once to refuse the lone surrogates orjson refused.
        doc = text.decode() if isinstance(text, bytes) else text
        if isinstance(text, str):
            text.encode()
        return json.loads(doc, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", "", 0) from None
    except ValueError as exc:
        # Invalid UTF-8, NaN or Infinity, a number beyond the float range, an integer of
        # more digits than Python converts (4,300 by default).
        raise json.JSONDecodeError(str(exc)[:200], "", 0) from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"number {literal[:40]} is beyond the float range")
    return number


def _check_depth(value: Any, text: str | bytes) -> None:
    # A document cannot nest deeper than it has brackets: counting them (at memchr
    # speed) spares the walk for most frames, which are small.
    if isinstance(text, str):
        openers = text.count("[") + text.count("{")
    else:
        openers = text.count(b"[") + text.count(b"{")
    if openers > MAX_DEPTH and not depth_within(value, MAX_DEPTH):
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", "", 0)


def depth_within(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (a scalar is 0, `[]` is 1).
    Level by level, not recursive, so any depth is safe to measure."""
    level = [value] if type(value) is list or type(value) is dict else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return False
        deeper: list[Any] = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                if type(child) is list or type(child) is dict:
                    deeper.append(child)
        level = deeper
    return True


def _has_surrogate_escape(text: str | bytes) -> bool:
    if isinstance(text, str):
        return _SURROGATE_ESCAPE.search(text) is not None
    return _SURROGATE_ESCAPE_BYTES.search(text) is not None


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


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
