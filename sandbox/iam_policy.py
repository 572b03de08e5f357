"""IAM's decision on one request, from the caller's identity-based policies.

The local AWS (sandbox/moto_iam.py) decides with this instead of moto's own evaluator,
which ignores every condition but sts:ExternalId (so a ListBucket limited to one prefix
would allow any listing) and matches resources only where moto names them (Firehose
calls are checked against "*", so a policy naming its streams could never allow them).

The rules are AWS's policy evaluation logic for a principal and a resource in one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, else an Allow that matches action, resource and every condition,
else the request is implicitly denied. Resource-based policies, permission boundaries
and SCPs are not modelled: Terraform defines none for these principals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator cannot decide: never guessed as met."""


@dataclass(frozen=True)
class Request:
    action: str  # service:Action, as in policies
    resource: str  # the ARN IAM authorizes the action against
    context: Mapping[str, str]  # condition keys the request carries (e.g. s3:prefix)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _wildcard(pattern: str, value: str, case_sensitive: bool) -> bool:
    # IAM's wildcards are * and ? only (no character classes, no escapes).
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _matches_any(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    return any(_wildcard(p, value, case_sensitive) for p in patterns)


def _operator(name: str) -> tuple[str, bool]:
    if_exists = name.endswith("IfExists")
    return name.removesuffix("IfExists"), if_exists


def _condition_met(
    operator: str, key: str, expected: list[str], context: Mapping[str, str]
) -> bool:
    base, if_exists = _operator(operator)
    if key not in context:
        # A missing key never matches, except under ...IfExists or a negated operator
        # (reference_policies_elements_condition_operators.html).
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    actual = context[key]
    if base in ("StringEquals", "ArnEquals"):
        return actual in expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in {e.lower() for e in expected}
    if base in ("StringLike", "ArnLike"):
        return any(_wildcard(e, actual, case_sensitive=True) for e in expected)
    if base == "StringNotEquals":
        return actual not in expected
    if base == "StringNotLike":
        return not any(_wildcard(e, actual, case_sensitive=True) for e in expected)
    if base == "Bool":
        return actual.lower() in {e.lower() for e in expected}
    raise UnsupportedCondition(f"condition operator {operator} is not evaluated locally")


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not _matches_any(_as_list(statement["Action"]), request.action, False):
            return False
    elif _matches_any(_as_list(statement.get("NotAction")), request.action, False):
        return False
    if "Resource" in statement:
        if not _matches_any(_as_list(statement["Resource"]), request.resource, True):
            return False
    elif _matches_any(_as_list(statement.get("NotResource")), request.resource, True):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _condition_met(operator, key, _as_list(expected), request.context):
                return False
    return True


def decide(policies: Iterable[Mapping[str, Any]], request: Request) -> str:
    """ALLOW, DENY (an explicit Deny matched) or IMPLICIT_DENY (no Allow matched)."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            try:
                applies = statement_applies(statement, request)
            except UnsupportedCondition:
                # An Allow we cannot evaluate allows nothing; a Deny we cannot evaluate
                # denies: the local stack errs on the strict side.
                applies = statement.get("Effect") == "Deny"
            if not applies:
                continue
            if statement.get("Effect") == "Deny":
                return DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def allowed_actions(
    policies: Iterable[Mapping[str, Any]], actions: Iterable[str], resource: str
) -> dict[str, bool]:
    """For each action, whether the policies allow it on `resource` (no context)."""
    docs = list(policies)
    return {a: decide(docs, Request(a, resource, {})) == ALLOW for a in actions}
