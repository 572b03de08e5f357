"""Snowflake Scripting, the subset a task body is written in (60_tasks.sql's REFRESH_GOLD),
run locally statement by statement: fakesnow has no scripting.

    DECLARE <name> <type> [DEFAULT <expression>]; ...
    BEGIN
      <SQL statement>;                      run with its :variables bound
      SELECT <expression> INTO :<name> ...; the first row's value
      EXECUTE DBT PROJECT <name> ARGS = '<args>';
      CALL SYSTEM$SET_RETURN_VALUE('<value>');
      IF (<name>) THEN <statements> END IF;
    END;

Anything else is refused when the task is declared, so a body the local runtime cannot run
fails the deploy instead of being run some other way.
https://docs.snowflake.com/en/developer-guide/snowflake-scripting/blocks
https://docs.snowflake.com/en/developer-guide/snowflake-scripting/variables"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from operations.sql_text import split_statements


class ScriptError(ValueError):
    """A block outside the subset the local runtime runs."""


@dataclass
class Statement:
    kind: str  # "sql", "select_into", "dbt", "return", "if"
    text: str = ""  # the SQL ("sql", "select_into"), dbt's ARGS, or the return value
    target: str = ""  # the variable a SELECT ... INTO sets, or an IF tests
    body: list[Statement] = field(default_factory=list)  # an IF's statements


@dataclass
class Block:
    declarations: list[tuple[str, str]]  # (name, DEFAULT expression or "")
    body: list[Statement]


BLOCK_RE = re.compile(
    r"^\s*DECLARE\s+(?P<declare>.*?)\bBEGIN\b(?P<body>.*)\bEND\s*;?\s*$", re.I | re.S
)
DECLARATION_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z_]\w*)\s+[A-Za-z_][\w()]*(?:\s+DEFAULT\s+(?P<default>.+?))?\s*$",
    re.I | re.S,
)
SELECT_INTO_RE = re.compile(
    r"^\s*SELECT\s+(?P<expression>.+?)\s+INTO\s+:(?P<target>\w+)\s+(?P<rest>FROM\b.*)$",
    re.I | re.S,
)
DBT_RE = re.compile(
    r"^\s*EXECUTE\s+DBT\s+PROJECT\s+[\w.$]+\s+ARGS\s*=\s*'(?P<args>[^']*)'\s*$", re.I
)
RETURN_RE = re.compile(r"^\s*CALL\s+SYSTEM\$SET_RETURN_VALUE\(\s*'(?P<value>[^']*)'\s*\)\s*$", re.I)
IF_OPEN_RE = re.compile(r"^\s*IF\s*\(\s*(?P<target>\w+)\s*\)\s*THEN\b(?P<rest>.*)$", re.I | re.S)
END_IF_RE = re.compile(r"^\s*END\s+IF\s*$", re.I)
SQL_VERBS = ("INSERT", "UPDATE", "DELETE", "MERGE", "SELECT")


def parse(text: str) -> Block:
    m = BLOCK_RE.match(text)
    if m is None:
        raise ScriptError("a task's block must be DECLARE ... BEGIN ... END")
    declarations = []
    for part in [p for p in m["declare"].split(";") if p.strip()]:
        d = DECLARATION_RE.match(part)
        if d is None:
            raise ScriptError(f"unsupported declaration: {part.strip()!r}")
        declarations.append((d["name"].lower(), (d["default"] or "").strip()))
    names = {name for name, _ in declarations}
    return Block(declarations, _statements(m["body"], names))


def _statements(text: str, names: set[str]) -> list[Statement]:
    """The body's statements, each IF ... END IF holding its own (the IF's first statement
    shares its text up to the first ';')."""
    top: list[Statement] = []
    frames = [top]
    for chunk in split_statements(text):
        if m := IF_OPEN_RE.match(chunk):
            if m["target"].lower() not in names:
                raise ScriptError("IF must test a declared variable: IF (<name>) THEN")
            statement = Statement("if", target=m["target"].lower())
            frames[-1].append(statement)
            frames.append(statement.body)
            if m["rest"].strip():
                frames[-1].append(_statement(m["rest"], names))
        elif END_IF_RE.match(chunk):
            if len(frames) == 1:
                raise ScriptError("END IF without IF")
            frames.pop()
        else:
            frames[-1].append(_statement(chunk, names))
    if len(frames) != 1:
        raise ScriptError("IF without END IF")
    return top


def _statement(text: str, names: set[str]) -> Statement:
    if m := DBT_RE.match(text):
        return Statement("dbt", text=m["args"])
    if m := RETURN_RE.match(text):
        return Statement("return", text=m["value"])
    if m := SELECT_INTO_RE.match(text):
        if m["target"].lower() not in names:
            raise ScriptError(f"SELECT ... INTO an undeclared variable: {m['target']}")
        return Statement(
            "select_into", text=f"SELECT {m['expression']} {m['rest']}", target=m["target"].lower()
        )
    if text.lstrip().upper().startswith(SQL_VERBS):
        return Statement("sql", text=text)
    raise ScriptError(f"unsupported statement in a task's block: {text.split(None, 1)[0]!r}")


# A bound variable (:name), not a cast (::TYPE).
VARIABLE_RE = re.compile(r"(?<![:\w]):(?P<name>[A-Za-z_]\w*)")


def bind(text: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement with each :variable a ? parameter, and the parameters in order."""
    params: list[Any] = []

    def one(m: re.Match[str]) -> str:
        name = m["name"].lower()
        if name not in values:
            return m.group(0)
        params.append(values[name])
        return "?"

    return VARIABLE_RE.sub(one, text), params


@dataclass
class Run:
    """One run of a block: `execute` runs a SQL statement with parameters and returns its
    rows, `dbt` runs the dbt project with ARGS; the result is the return value set, if any."""

    execute: Callable[[str, list[Any]], list[Any]]
    dbt: Callable[[str], str]
    values: dict[str, Any] = field(default_factory=dict)
    return_value: str | None = None

    def __call__(self, block: Block) -> str | None:
        for name, default in block.declarations:
            self.values[name] = self.execute(f"SELECT {default}", [])[0][0] if default else None
        self._run(block.body)
        return self.return_value

    def _run(self, statements: list[Statement]) -> None:
        for statement in statements:
            if statement.kind == "dbt":
                self.dbt(statement.text)
            elif statement.kind == "return":
                self.return_value = statement.text
            elif statement.kind == "if":
                if self.values.get(statement.target):
                    self._run(statement.body)
            else:
                sql, params = bind(statement.text, self.values)
                rows = self.execute(sql, params)
                if statement.kind == "select_into":
                    self.values[statement.target] = rows[0][0] if rows else None
