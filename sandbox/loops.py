"""Background loops for in-process parts of the local stack (poller schedule, pipe
loader, task graph): each runs a function on an interval in a thread and stops
promptly when asked."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicLoop:
    def __init__(
        self, name: str, interval_s: float, fn: Callable[[], object], first_delay_s: float = 0.0
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.fn = fn
        self.first_delay_s = first_delay_s
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self.first_delay_s):
            return
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.fn()
                self.runs += 1
            except Exception as exc:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed", self.name)
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self.interval_s - elapsed))

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s still running after %.0fs", self.name, timeout_s)

    def run_once_now(self) -> None:
        """Run the function once more in the caller's thread (a final drain at shutdown)."""
        self.fn()
        self.runs += 1
