"""Read the landing zone's settings from the Terraform files, so the local stack is
provisioned from the same definitions as the AWS account and the two cannot drift.

Only what the local stack needs is evaluated: variable defaults, locals, and the
landing resources (bucket name, Firehose streams with prefixes and buffering, the S3
notification prefixes). Expressions are the small subset these files use: references
to `var.*` and `local.*`, string templates and `coalesce()`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parent.parent
TF_DIR = REPO / "terraform"
# moto's account id: what `data.aws_caller_identity.current.account_id` is locally.
LOCAL_ACCOUNT_ID = "123456789012"


class TerraformReadError(ValueError):
    """The Terraform files do not say what the local stack needs."""


@dataclass(frozen=True)
class TerraformLanding:
    bucket: str
    deliveries: dict[str, tuple[str, str]]  # route -> (delivery stream name, S3 prefix)
    error_prefixes: dict[str, str]  # route -> Firehose error output prefix
    buffer_mib: int
    buffer_seconds: int
    notification_prefixes: tuple[str, ...]


def _unquote(name: str) -> str:
    return name.strip('"')


class Evaluator:
    def __init__(self, tf_dir: Path, account_id: str) -> None:
        self.variables: dict[str, Any] = {}
        self.locals: dict[str, Any] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data = {"aws_caller_identity.current.account_id": account_id}
        # The iterator while evaluating a for_each resource (`each`) or a dynamic block
        # (named after the block).
        self.each: dict[str, Any] = {}
        self.iterator = "each"
        for path in sorted(tf_dir.glob("*.tf")):
            with path.open() as fh:
                doc = hcl2.load(fh)
            for block in doc.get("variable", []):
                for name, body in block.items():
                    self.variables[_unquote(name)] = body.get("default")
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
            for block in doc.get("resource", []):
                for kind, named in block.items():
                    for name, body in named.items():
                        self.resources[(_unquote(kind), _unquote(name))] = body

    def value(self, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items() if not k.startswith("__")}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if not isinstance(raw, str):
            return raw
        if raw.startswith('"') and raw.endswith('"'):
            return self.template(raw[1:-1])
        match = re.fullmatch(r"\$\{(.*)\}", raw, re.S)
        return self.expression(match[1]) if match else raw

    def template(self, text: str) -> str:
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            out.append(text[i:start])
            depth, j = 0, start + 2
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            out.append(str(self.expression(text[start + 2 : j])))
            i = j + 1
        out.append(text[i:])
        return "".join(out)

    def expression(self, expr: str) -> Any:
        expr = expr.strip()
        if m := re.fullmatch(r"coalesce\((.*)\)", expr, re.S):
            for part in split_arguments(m[1]):
                value = self.expression(part)
                if value not in ("", None):
                    return value
            raise TerraformReadError(f"coalesce() of nothing: {expr}")
        if expr.startswith('"') and expr.endswith('"'):
            return self.template(expr[1:-1])
        if re.fullmatch(r"-?\d+", expr):
            return int(expr)
        if m := re.fullmatch(r"var\.(\w+)", expr):
            return self.value(self.variables[m[1]])
        if m := re.fullmatch(r"local\.(\w+)((?:\.\w+)*)", expr):
            value = self.value(self.locals[m[1]])
            for key in filter(None, m[2].split(".")):
                value = value[key]
            return value
        if m := re.fullmatch(r"data\.([\w.]+)", expr):
            return self.data[m[1]]
        m = re.fullmatch(r"(\w+)\.(key|value)((?:\.\w+)*)", expr)
        if m and m[1] == self.iterator:
            value = self.each[m[2]]
            for key in filter(None, m[3].split(".")):
                value = value[key]
            return value
        raise TerraformReadError(f"expression not understood locally: {expr}")


def split_arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "({[":
            depth += 1
        elif not quoted and char in ")}]":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


@functools.cache
def read_landing(tf_dir: Path = TF_DIR, account_id: str = LOCAL_ACCOUNT_ID) -> TerraformLanding:
    """The landing settings of the Terraform files in `tf_dir` (parsed once per process:
    a copy with other settings is another directory)."""
    ev = Evaluator(tf_dir, account_id)
    try:
        bucket = ev.value(ev.locals["bucket_name"])
        stream = ev.resources[("aws_kinesis_firehose_delivery_stream", "landing")]
        s3 = stream["extended_s3_configuration"][0]
        deliveries, errors = {}, {}
        for route, each in ev.value(stream["for_each"]).items():
            ev.each = {"key": route, "value": each}
            deliveries[route] = (ev.value(stream["name"]), ev.value(s3["prefix"]))
            errors[route] = ev.value(s3["error_output_prefix"])
        notification = ev.resources[("aws_s3_bucket_notification", "snowpipe")]
        queue = notification["dynamic"][0]['"queue"']
        prefixes = []
        ev.iterator = "queue"
        for key, value in ev.value(queue["for_each"]).items():
            ev.each = {"key": key, "value": value}
            prefixes.append(ev.value(queue["content"][0]["filter_prefix"]))
        return TerraformLanding(
            bucket=bucket,
            deliveries=deliveries,
            error_prefixes=errors,
            buffer_mib=int(ev.value(s3["buffering_size"])),
            buffer_seconds=int(ev.value(s3["buffering_interval"])),
            notification_prefixes=tuple(sorted(prefixes)),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise TerraformReadError(
            f"{tf_dir}: the landing definitions are incomplete ({exc})"
        ) from exc
