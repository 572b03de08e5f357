"""Where the local stack keeps its state: one folder, `.mempool/` by default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Workspace:
    root: Path

    @classmethod
    def default(cls) -> Workspace:
        return cls(Path(os.environ.get("MEMPOOL_HOME", ".mempool")).resolve())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def runtime_file(self) -> Path:
        """Endpoints of the running stack, so `mempool sql` and friends find it."""
        return self.root / "stack.json"

    @property
    def connections_file(self) -> Path:
        return self.root / "connections.toml"

    def ensure(self) -> Workspace:
        for folder in (self.root, self.logs, self.warehouse, self.spool):
            folder.mkdir(parents=True, exist_ok=True)
        return self
