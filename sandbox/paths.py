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

    def streamer_spool(self, number: int, count: int) -> Path:
        """Streamer `number` of `count`'s own spool: two processes never share one (each
        replays and checkpoints its segments as if it were alone). A single streamer keeps
        the folder it always had."""
        return self.spool if count == 1 else self.spool / f"streamer-{number}"

    @property
    def streamers_file(self) -> Path:
        """When each streamer of the demo was up (sandbox/pipeline.py writes it, `mempool
        verify` reads it): GOLD must hold every minute at least one of them was."""
        return self.root / "streamers.json"

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
