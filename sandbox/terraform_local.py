"""Read the AWS side's settings from the Terraform files, so the local stack is
provisioned from the same definitions as the AWS account and the two cannot drift.

Only what the local stack needs is evaluated: variables (their defaults, or values given
as `-var` would give them), locals, the landing resources (bucket name, Firehose streams
with prefixes and buffering, the S3 notification prefixes), and the IAM role policies of
the parts that run locally, rendered to the JSON IAM receives. Expressions are the subset
these files use (references, string templates, `for` expressions, conditionals,
`coalesce()` and `concat()`); anything else is an error, never a guess.

Length: mostly the evaluator of the HCL expression subset, one piece the readers share.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parent.parent
TF_DIR = REPO / "terraform"
# moto's account id: what `data.aws_caller_identity.current.account_id` is locally.
LOCAL_ACCOUNT_ID = "123456789012"
PARTITION = "aws"


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
    poller_state_key: str = "state/poller.json"


def _unquote(name: str) -> str:
    return name.strip('"')


# -- expressions ----------------------------------------------------------------------

# Two-character operators first: "==" is not "=" twice.
_SYMBOLS = ("==", "!=", "&&", "||", "=>", *"[](){}.,:?!=")
Node = tuple[Any, ...]


def _string_end(text: str, start: int) -> int:
    """Index just past the closing quote of the string literal opening at `start`."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i + 1
        if text.startswith("${", i):
            i = _interpolation_end(text, i + 2)
            continue
        i += 1
    raise TerraformReadError(f"unterminated string in {text!r}")


def _interpolation_end(text: str, start: int) -> int:
    """Index just past the `}` closing an interpolation whose body starts at `start`."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _string_end(text, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    raise TerraformReadError(f"unterminated interpolation in {text!r}")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            end = _string_end(text, i)
            out.append(("string", text[i + 1 : end - 1]))
            i = end
            continue
        if m := re.match(r"\d+(?:\.\d+)?", text[i:]):
            out.append(("number", m[0]))
            i += len(m[0])
            continue
        if m := re.match(r"[A-Za-z_][\w-]*", text[i:]):
            out.append(("name", m[0]))
            i += len(m[0])
            continue
        symbol = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
        if symbol is None:
            raise TerraformReadError(f"expression not understood locally: {text!r} at {i}")
        out.append(("symbol", symbol))
        i += len(symbol)
    return out


class _Parser:
    """HCL expressions to a small tree: literals, templates, references, attribute and
    index access, calls, lists and objects (with `for`), `?:`, `!`, `==`, `!=`, `&&`, `||`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def parse(self) -> Node:
        node = self.expression()
        if self.i != len(self.tokens):
            raise TerraformReadError(f"expression not understood locally: {self.text!r}")
        return node

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens) or (value is not None and self.tokens[self.i][1] != value):
            raise TerraformReadError(
                f"expression not understood locally: {self.text!r} (expected {value!r})"
            )
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.peek("?"):
            self.take("?")
            then = self.expression()
            self.take(":")
            return ("cond", condition, then, self.expression())
        return condition

    _LEVELS = (("||",), ("&&",), ("==", "!="))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.i < len(self.tokens) and self.tokens[self.i] in {
            ("symbol", op) for op in self._LEVELS[level]
        }:
            op = self.take()[1]
            node = ("binary", op, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.peek("!"):
            self.take("!")
            return ("not", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.peek("."):
                self.take(".")
                kind, name = self.take()
                node = ("index", node, ("literal", int(name) if kind == "number" else name))
            elif self.peek("["):
                self.take("[")
                key = self.expression()
                self.take("]")
                node = ("index", node, key)
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "string":
            return ("template", value)
        if kind == "number":
            return ("literal", float(value) if "." in value else int(value))
        if kind == "name":
            if value in ("true", "false"):
                return ("literal", value == "true")
            if value == "null":
                return ("literal", None)
            if self.peek("("):
                self.take("(")
                args = []
                while not self.peek(")"):
                    args.append(self.expression())
                    if not self.peek(")"):
                        self.take(",")
                self.take(")")
                return ("call", value, args)
            return ("name", value)
        if value == "(":
            node = self.expression()
            self.take(")")
            return node
        if value == "[":
            if self.peek("for"):
                return self.for_expression("]")
            items = []
            while not self.peek("]"):
                items.append(self.expression())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if value == "{":
            if self.peek("for"):
                return self.for_expression("}")
            pairs = []
            while not self.peek("}"):
                key = self.expression()
                if key[0] == "name":
                    key = ("literal", key[1])
                self.take("=" if self.peek("=") else ":")
                pairs.append((key, self.expression()))
                if self.peek(","):
                    self.take(",")
            self.take("}")
            return ("object", pairs)
        raise TerraformReadError(f"expression not understood locally: {self.text!r}")

    def for_expression(self, close: str) -> Node:
        self.take("for")
        names = [self.take()[1]]
        if self.peek(","):
            self.take(",")
            names.append(self.take()[1])
        self.take("in")
        collection = self.expression()
        self.take(":")
        key = self.expression()
        value = None
        if close == "}":
            self.take("=>")
            value = self.expression()
        condition = None
        if self.peek("if"):
            self.take("if")
            condition = self.expression()
        self.take(close)
        return ("for", close, names, collection, key, value, condition)


@functools.cache
def _parse(text: str) -> Node:
    return _Parser(text).parse()


def _items(collection: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(collection, Mapping):
        yield from sorted(collection.items())
    elif isinstance(collection, list | tuple):
        yield from enumerate(collection)
    else:
        raise TerraformReadError(f"cannot iterate over {collection!r}")


# -- resources --------------------------------------------------------------------------


def _arn(service: str, resource: str, ev: Evaluator) -> str:
    """A regional resource's ARN in the configured region and this account."""
    return f"arn:{PARTITION}:{service}:{ev.variable('region')}:{ev.account_id}:{resource}"


# What each resource kind's computed attributes are, once applied: the formats AWS gives
# them. An attribute not here is known only after apply.
_COMPUTED: dict[str, Callable[[Evaluator, Mapping[str, Any]], dict[str, Any]]] = {
    "aws_s3_bucket": lambda ev, a: {
        "arn": f"arn:{PARTITION}:s3:::{a['bucket']}",
        "id": a["bucket"],
    },
    "aws_kinesis_firehose_delivery_stream": lambda ev, a: {
        "arn": _arn("firehose", f"deliverystream/{a['name']}", ev)
    },
    # The provider gives a log group's ARN without the ":*" the API puts after it.
    "aws_cloudwatch_log_group": lambda ev, a: {"arn": _arn("logs", f"log-group:{a['name']}", ev)},
    "aws_sqs_queue": lambda ev, a: {"arn": _arn("sqs", a["name"], ev)},
    "aws_sns_topic": lambda ev, a: {"arn": _arn("sns", a["name"], ev)},
    "aws_cloudwatch_event_rule": lambda ev, a: {"arn": _arn("events", f"rule/{a['name']}", ev)},
    "aws_iam_role": lambda ev, a: {
        "arn": f"arn:{PARTITION}:iam::{ev.account_id}:role/{a['name']}",
        "id": a["name"],
    },
    "aws_s3_object": lambda ev, a: {"id": a["key"]},
}


class KnownAfterApply(TerraformReadError):
    """An attribute only an apply can tell (an instance id, a generated ARN)."""


@dataclass
class _Instance:
    """One instance of a resource: its arguments evaluated on demand, with `each` (or
    `count`) bound."""

    ev: Evaluator
    kind: str
    name: str
    body: Mapping[str, Any]
    scope: Mapping[str, Any]

    def attribute(self, attr: str) -> Any:
        scope = self.scope
        if attr in self.body and not attr.startswith("__"):
            return self.ev.value(self.body[attr], scope)
        computed = _COMPUTED.get(self.kind)
        if computed is not None:
            arguments = _Arguments(self, scope)
            values = computed(self.ev, arguments)
            if attr in values:
                return values[attr]
        raise KnownAfterApply(f"{self.kind}.{self.name}.{attr} is known only after apply")


class _Arguments(Mapping[str, Any]):
    def __init__(self, instance: _Instance, scope: Mapping[str, Any]) -> None:
        self.instance, self.scope = instance, scope

    def __getitem__(self, key: str) -> Any:
        return self.instance.ev.value(self.instance.body[key], self.scope)

    def __iter__(self) -> Iterator[str]:
        return iter(self.instance.body)

    def __len__(self) -> int:
        return len(self.instance.body)


@functools.cache
def _documents(tf_dir: Path) -> tuple[dict[str, Any], ...]:
    """The parsed files of `tf_dir`, once per process (parsing is the slow part; a copy
    with other contents is another directory), never changed by the evaluator."""
    docs = []
    for path in sorted(tf_dir.glob("*.tf")):
        with path.open() as fh:
            docs.append(hcl2.load(fh))
    return tuple(docs)


class Evaluator:
    account_id: str

    def __init__(
        self,
        tf_dir: Path,
        account_id: str = LOCAL_ACCOUNT_ID,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.account_id = account_id
        self.variables: dict[str, Any] = {}
        self.locals: dict[str, Any] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data_sources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data = {
            "aws_caller_identity.current.account_id": account_id,
            "aws_partition.current.partition": PARTITION,
        }
        # The iterator while evaluating a for_each resource (`each`) or a dynamic block
        # (named after the block).
        self.each: dict[str, Any] = {}
        self.iterator = "each"
        for doc in _documents(tf_dir):
            for block in doc.get("variable", []):
                for name, body in block.items():
                    self.variables[_unquote(name)] = body.get("default")
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
            for section, into in (("resource", self.resources), ("data", self.data_sources)):
                for block in doc.get(section, []):
                    for kind, named in block.items():
                        for name, body in named.items():
                            into[(_unquote(kind), _unquote(name))] = body
        for name, value in (variables or {}).items():
            if name not in self.variables:
                raise TerraformReadError(f"{tf_dir} declares no variable {name}")
            # Given values are values, as `-var` makes them, not expressions.
            self.variables[name] = ("__given__", value)

    def variable(self, name: str) -> Any:
        raw = self.variables[name]
        if isinstance(raw, tuple) and raw and raw[0] == "__given__":
            return raw[1]
        return self.value(raw)

    def _default_scope(self) -> dict[str, Any]:
        return {self.iterator: self.each} if self.each else {}

    def value(self, raw: Any, scope: Mapping[str, Any] | None = None) -> Any:
        scope = self._default_scope() if scope is None else scope
        if isinstance(raw, dict):
            return {k: self.value(v, scope) for k, v in raw.items() if not k.startswith("__")}
        if isinstance(raw, list):
            return [self.value(v, scope) for v in raw]
        if not isinstance(raw, str):
            return raw
        if raw.startswith('"') and raw.endswith('"') and _string_end(raw, 0) == len(raw):
            return self.template(raw[1:-1], scope)
        if raw.startswith("${") and _interpolation_end(raw, 2) == len(raw):
            return self.expression(raw[2:-1], scope)
        return raw

    def template(self, text: str, scope: Mapping[str, Any] | None = None) -> str:
        scope = self._default_scope() if scope is None else scope
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            out.append(_unescape(text[i:start]))
            end = _interpolation_end(text, start + 2)
            value = self.expression(text[start + 2 : end - 1], scope)
            out.append(value if isinstance(value, str) else json.dumps(value))
            i = end
        out.append(_unescape(text[i:]))
        return "".join(out)

    def expression(self, expr: str, scope: Mapping[str, Any] | None = None) -> Any:
        scope = self._default_scope() if scope is None else scope
        return self.evaluate(_parse(expr.strip()), scope)

    # -- the tree ------------------------------------------------------------------------

    def evaluate(self, node: Node, scope: Mapping[str, Any]) -> Any:
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "template":
            return self.template(node[1], scope)
        if kind == "name":
            return self.reference(node[1], scope)
        if kind == "index":
            return self.index(self.evaluate(node[1], scope), self.evaluate(node[2], scope))
        if kind == "list":
            return [self.evaluate(item, scope) for item in node[1]]
        if kind == "object":
            return {self.evaluate(k, scope): self.evaluate(v, scope) for k, v in node[1]}
        if kind == "cond":
            return self.evaluate(node[2] if self.evaluate(node[1], scope) else node[3], scope)
        if kind == "not":
            return not self.evaluate(node[1], scope)
        if kind == "binary":
            op, left = node[1], self.evaluate(node[2], scope)
            if op == "&&":
                return bool(left) and bool(self.evaluate(node[3], scope))
            if op == "||":
                return bool(left) or bool(self.evaluate(node[3], scope))
            right = self.evaluate(node[3], scope)
            return left == right if op == "==" else left != right
        if kind == "call":
            return self.call(node[1], [self.evaluate(a, scope) for a in node[2]])
        if kind == "for":
            return self.for_expression(node, scope)
        raise TerraformReadError(f"expression not understood locally: {node!r}")

    def for_expression(self, node: Node, scope: Mapping[str, Any]) -> Any:
        _, close, names, collection, key, value, condition = node
        out_list: list[Any] = []
        out_map: dict[Any, Any] = {}
        for k, v in _items(self.evaluate(collection, scope)):
            inner = dict(scope)
            if len(names) == 2:
                inner[names[0]], inner[names[1]] = k, v
            else:
                inner[names[0]] = v
            if condition is not None and not self.evaluate(condition, inner):
                continue
            if close == "]":
                out_list.append(self.evaluate(key, inner))
            else:
                out_map[self.evaluate(key, inner)] = self.evaluate(value, inner)
        return out_list if close == "]" else out_map

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "coalesce":
            for value in args:
                if value not in ("", None):
                    return value
            raise TerraformReadError("coalesce() of nothing")
        if name == "concat":
            return [item for arg in args for item in arg]
        raise TerraformReadError(f"function {name}() not understood locally")

    def index(self, value: Any, key: Any) -> Any:
        if isinstance(value, _Instance):
            return value.attribute(str(key))
        if isinstance(value, _Lazy):
            return value.get(key)
        try:
            return value[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise TerraformReadError(f"no {key!r} in {value!r}") from exc

    def reference(self, name: str, scope: Mapping[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        if name == "var":
            return _Lazy(self.variable)
        if name == "local":
            return _Lazy(lambda key: self.value(self.locals[key]))
        if name == "data":
            return _Lazy(lambda kind: _Lazy(lambda ref: self.data_source(kind, ref)))
        if name == "path":
            return {"module": "."}
        if any(kind == name for kind, _ in self.resources):
            return _Lazy(lambda ref: self.resource(name, ref))
        raise TerraformReadError(f"reference not understood locally: {name}")

    def data_source(self, kind: str, name: str) -> Any:
        prefix = f"{kind}.{name}."
        known = {k.removeprefix(prefix): v for k, v in self.data.items() if k.startswith(prefix)}
        if known:
            return known
        raise KnownAfterApply(f"data.{kind}.{name} is read only by a plan")

    def resource(self, kind: str, name: str) -> Any:
        body = self.resources[(kind, name)]
        if "for_each" in body:
            return {
                key: _Instance(self, kind, name, body, {"each": {"key": key, "value": value}})
                for key, value in _items(self.value(body["for_each"], {}))
            }
        if "count" in body:
            count = int(self.value(body["count"], {}))
            return [
                _Instance(self, kind, name, body, {"count": {"index": i}}) for i in range(count)
            ]
        return _Instance(self, kind, name, body, {})


class _Lazy:
    """A namespace resolved one key at a time (`var.x`, `local.y`, `aws_s3_bucket.z`)."""

    def __init__(self, get: Callable[[Any], Any]) -> None:
        self._get = get

    def get(self, key: Any) -> Any:
        try:
            return self._get(key)
        except KeyError as exc:
            raise TerraformReadError(f"reference to an undeclared {key!r}") from exc


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


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
        ev.each = {}
        notification = ev.resources[("aws_s3_bucket_notification", "snowpipe")]
        queue = notification["dynamic"][0]['"queue"']
        prefixes = []
        ev.iterator = "queue"
        for key, value in ev.value(queue["for_each"]).items():
            ev.each = {"key": key, "value": value}
            prefixes.append(ev.value(queue["content"][0]["filter_prefix"]))
        ev.each, ev.iterator = {}, "each"
        function = ev.resources[("aws_lambda_function", "poller")]
        environment = ev.value(function["environment"][0]["variables"])
        return TerraformLanding(
            bucket=bucket,
            deliveries=deliveries,
            error_prefixes=errors,
            buffer_mib=int(ev.value(s3["buffering_size"])),
            buffer_seconds=int(ev.value(s3["buffering_interval"])),
            notification_prefixes=tuple(sorted(prefixes)),
            poller_state_key=environment["MEMPOOL_STATE_KEY"],
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise TerraformReadError(
            f"{tf_dir}: the landing definitions are incomplete ({exc})"
        ) from exc


# -- IAM role policies -------------------------------------------------------------------


@dataclass(frozen=True)
class RolePolicy:
    """An `aws_iam_role_policy`: which role it is attached to, which document it renders."""

    resource: str  # its name in Terraform, e.g. "poller"
    role: str  # the aws_iam_role resource it is attached to, e.g. "poller"
    document: str  # the data "aws_iam_policy_document" it renders
    statements: tuple[tuple[str, tuple[str, ...]], ...]  # (sid, actions), in order


@dataclass(frozen=True)
class RenderedRole:
    name: str  # the role's name in IAM
    policies: dict[str, dict[str, Any]]  # IAM policy name -> the document IAM receives


_REFERENCE = re.compile(r"^\$\{(aws_iam_role|data\.aws_iam_policy_document)\.(\w+)\.(id|json)\}$")


def _referenced(raw: str, kind: str) -> str:
    m = _REFERENCE.match(raw)
    if m is None or m[1] != kind:
        raise TerraformReadError(f"expected a reference to {kind}, found {raw}")
    return m[2]


@functools.cache
def role_policies(tf_dir: Path = TF_DIR) -> tuple[RolePolicy, ...]:
    """Every inline role policy in the Terraform files, with its statements' ids and
    actions (literal in these files), whatever the variables."""
    ev = Evaluator(tf_dir)
    out = []
    for (kind, name), body in sorted(ev.resources.items()):
        if kind != "aws_iam_role_policy":
            continue
        document = _referenced(body["policy"], "data.aws_iam_policy_document")
        role = re.sub(r"\[.*\]", "", body["role"])  # aws_iam_role.github["streamer"].id
        statements = ev.data_sources[("aws_iam_policy_document", document)].get("statement", [])
        out.append(
            RolePolicy(
                resource=name,
                role=_referenced(role, "aws_iam_role"),
                document=document,
                statements=tuple(
                    (
                        str(ev.value(st.get("sid", '""'), {})),
                        tuple(ev.value(st.get("actions", []), {})),
                    )
                    for st in statements
                ),
            )
        )
    return tuple(out)


_STATEMENT_KEYS = {
    "sid": "Sid",
    "effect": "Effect",
    "actions": "Action",
    "not_actions": "NotAction",
    "resources": "Resource",
    "not_resources": "NotResource",
}


def render_document(ev: Evaluator, document: str) -> dict[str, Any]:
    """What `data.aws_iam_policy_document.<document>.json` is once applied."""
    body = ev.data_sources[("aws_iam_policy_document", document)]
    unknown = set(body) - {"statement", "version"} - {k for k in body if k.startswith("__")}
    if unknown:
        raise TerraformReadError(f"policy document {document}: {sorted(unknown)} not rendered")
    statements = []
    for st in body.get("statement", []):
        out: dict[str, Any] = {}
        for key, value in st.items():
            if key.startswith("__"):
                continue
            if key in _STATEMENT_KEYS:
                out[_STATEMENT_KEYS[key]] = ev.value(value, {})
            elif key == "condition":
                conditions: dict[str, dict[str, list[str]]] = {}
                for cond in value:
                    test = ev.value(cond["test"], {})
                    variable = ev.value(cond["variable"], {})
                    conditions.setdefault(test, {})[variable] = ev.value(cond["values"], {})
                out["Condition"] = conditions
            else:
                raise TerraformReadError(f"policy document {document}: {key} not rendered")
        out.setdefault("Effect", "Allow")
        if not out.get("Sid"):
            out.pop("Sid", None)
        statements.append(out)
    return {"Version": "2012-10-17", "Statement": statements}


@functools.cache
def _render_roles(
    tf_dir: Path, variables: tuple[tuple[str, str], ...], roles: tuple[str, ...]
) -> dict[str, RenderedRole]:
    ev = Evaluator(tf_dir, variables=dict(variables))
    out = {}
    for role in roles:
        body = ev.resources[("aws_iam_role", role)]
        policies = {}
        for policy in role_policies(tf_dir):
            if policy.role != role:
                continue
            resource = ev.resources[("aws_iam_role_policy", policy.resource)]
            if "count" in resource and int(ev.value(resource["count"], {})) == 0:
                continue
            policies[str(ev.value(resource["name"], {}))] = render_document(ev, policy.document)
        out[role] = RenderedRole(name=str(ev.value(body["name"], {})), policies=policies)
    return out


def render_roles(
    roles: tuple[str, ...], variables: Mapping[str, str], tf_dir: Path = TF_DIR
) -> dict[str, RenderedRole]:
    """The IAM roles `roles` (aws_iam_role resource names) with their inline policies as
    `terraform apply -var ...` would create them (rendered once per set of values)."""
    try:
        return _render_roles(tf_dir, tuple(sorted(variables.items())), roles)
    except KnownAfterApply as exc:
        raise TerraformReadError(f"a local role's policy needs what only AWS knows: {exc}") from exc
