"""A triggered task's WHEN, as Snowflake evaluates it: SYSTEM$STREAM_HAS_DATA calls
joined by AND, OR, NOT and parentheses (the triggered-tasks page: "WHEN ... AND and
WHEN ... OR"). Parsed once, when the task is declared, so a WHEN the local runtime
cannot evaluate fails the deploy instead of never triggering; evaluated at each cycle.
https://docs.snowflake.com/en/user-guide/tasks-triggered"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_RE = re.compile(
    r"\s*(?:SYSTEM\$STREAM_HAS_DATA\(\s*'(?P<stream>[\w.$]+)'\s*\)"
    r"|(?P<op>\(|\)|AND\b|OR\b|NOT\b))",
    re.I,
)


class ConditionError(ValueError):
    """A WHEN the local runtime cannot evaluate; the message says where."""


@dataclass(frozen=True)
class Condition:
    """`op` is "stream" (with `stream`), "not" (one part), "and" or "or"."""

    op: str
    parts: tuple[Condition, ...] = ()
    stream: str = ""

    def streams(self) -> list[str]:
        if self.op == "stream":
            return [self.stream]
        return [s for part in self.parts for s in part.streams()]

    def holds(self, has_data: Callable[[str], bool]) -> bool:
        if self.op == "stream":
            return has_data(self.stream)
        if self.op == "not":
            return not self.parts[0].holds(has_data)
        if self.op == "and":
            return all(part.holds(has_data) for part in self.parts)
        return any(part.holds(has_data) for part in self.parts)


def tokenize(text: str) -> list[str]:
    words, at = [], 0
    while at < len(text.rstrip()):
        m = TOKEN_RE.match(text, at)
        if m is None:
            raise ConditionError(f"cannot evaluate the WHEN locally from {text[at : at + 40]!r}")
        words.append(f"stream:{m['stream']}" if m["stream"] else m["op"].upper())
        at = m.end()
    return words


def parse(text: str, name: Callable[[str], str] = str) -> Condition:
    """The condition in `text`; `name` maps each stream as written to the runtime's name."""
    words = tokenize(text)
    at = 0

    def peek() -> str | None:
        return words[at] if at < len(words) else None

    def take(expected: str | None = None) -> str:
        nonlocal at
        word = peek()
        if word is None or (expected is not None and word != expected):
            raise ConditionError(f"WHEN {text.strip()!r}: expected {expected or 'more'}")
        at += 1
        return word

    def either() -> Condition:
        parts = [both()]
        while peek() == "OR":
            take()
            parts.append(both())
        return parts[0] if len(parts) == 1 else Condition("or", tuple(parts))

    def both() -> Condition:
        parts = [single()]
        while peek() == "AND":
            take()
            parts.append(single())
        return parts[0] if len(parts) == 1 else Condition("and", tuple(parts))

    def single() -> Condition:
        word = take()
        if word == "NOT":
            return Condition("not", (single(),))
        if word == "(":
            inner = either()
            take(")")
            return inner
        if word.startswith("stream:"):
            return Condition("stream", stream=name(word.removeprefix("stream:")))
        raise ConditionError(f"WHEN {text.strip()!r}: unexpected {word}")

    condition = either()
    if peek() is not None:
        raise ConditionError(f"WHEN {text.strip()!r}: unexpected {peek()}")
    return condition
