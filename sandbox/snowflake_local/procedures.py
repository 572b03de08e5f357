"""CALL, locally: the procedure handlers imported from the archive the last deploy put
in place, run with a session in which the streams they read move as in Snowflake."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from operations.artifacts import PACKAGE, PROCEDURES_ARCHIVE
from operations.deploy import PROJECT_FILE, project_entities
from sandbox.snowflake_local.base import log
from sandbox.snowflake_local.streams import (
    StreamConsumingSession,
    StreamEmulation,
    consumed_streams,
)


@functools.cache
def procedure_handlers(project_file: Path = PROJECT_FILE) -> dict[str, str]:
    """Procedure name (SCHEMA.NAME) -> handler, from snowflake.yml (read once)."""
    return {
        f"{e['identifier']['schema']}.{e['identifier']['name']}".upper(): e["handler"]
        for e in project_entities(project_file=project_file).values()
        if e["type"] == "procedure"
    }


def _take_modules() -> dict[str, ModuleType]:
    """Remove the procedures' package and its modules from sys.modules; return them."""
    names = [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]
    return {n: sys.modules.pop(n) for n in names}


class ProcedureCalls(StreamEmulation):
    def call(self, procedure: str) -> str:
        """CALL a procedure: its handler with a Snowpark session in which a DML statement
        that reads a stream moves the stream's offset as it commits (Snowflake: "the
        offset advances when the DML transaction commits"), as on Snowflake, whether or
        not the procedure finishes. `kill_switch`, when set, may end the call half-way."""
        handler_path = procedure_handlers(self.project_file)[procedure.upper()]
        module_name, func_name = handler_path.rsplit(".", 1)
        with self.procedure_code():
            module = importlib.import_module(module_name)
            handler: Callable[[Any], str] = getattr(module, func_name)
            kill_after = self.kill_switch(procedure) if self.kill_switch else None
            fail_after = self.fail_switch(procedure) if self.fail_switch else None
            session = StreamConsumingSession(
                self,
                consumed_streams(module),
                kill_after,
                self.between_statements,
                caller=self.call,
                fail_after=fail_after,
            )
            try:
                result = handler(session)
            finally:
                # Snowflake rolls back a transaction a failed procedure left open.
                session.abandon()
        self.counters["procedure_calls"] += 1
        log.info("%s", result)
        return result

    @contextmanager
    def procedure_code(self) -> Iterator[None]:
        """Import the procedures from the archive the last deploy put in place, as each
        CALL in Snowflake runs the procedure's current IMPORTS. This process's own import
        (the working tree's archive) is the usual one; another release's modules are put
        in sys.modules for the call and taken out again (once, around the outermost call:
        a procedure's own calls run in the same release's code)."""
        if self.procedures == PROCEDURES_ARCHIVE or self._code_depth:
            self._code_depth += 1
            try:
                yield
            finally:
                self._code_depth -= 1
            return
        own = _take_modules()
        sys.modules.update(self._modules.get(self.procedures, {}))
        sys.path.insert(0, str(self.procedures))
        importlib.invalidate_caches()
        self._code_depth += 1
        try:
            yield
        finally:
            self._code_depth -= 1
            sys.path.remove(str(self.procedures))
            self._modules[self.procedures] = _take_modules()
            sys.modules.update(own)
            importlib.invalidate_caches()
