"""Start, health-check and stop the local stack's server processes.

Each service runs in its own process group with its log in `.mempool/logs/`, so a stop
(Ctrl-C, SIGTERM, or the end of `--duration`) can take the whole group down and leave
nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def preferred_port(preferred: int, host: str = "127.0.0.1", tries: int = 20) -> int:
    """`preferred` when nothing listens there, else the next free port after it (a URL
    people remember, such as Streamlit's 8501), else any free port."""
    for port in range(preferred, preferred + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    return free_port(host)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return 200 <= int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


class ServiceError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    log_path: Path
    healthy: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        env = {**os.environ, **self.env}
        log.info("starting %s: %s (log: %s)", self.name, " ".join(self.argv), self.log_path)
        # Through sandbox.child: the service gets SIGTERM if this process dies, even by
        # SIGKILL, so no orphan outlives the demo.
        launcher = [sys.executable, "-m", "sandbox.child", str(os.getpid())]
        self.proc = subprocess.Popen(
            [*launcher, *self.argv],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} during start; "
                    f"see {self.log_path}"
                )
            if self.healthy():
                log.info("%s is healthy (pid %d)", self.name, self.proc.pid)
                return
            time.sleep(0.2)
        self.stop()
        raise ServiceError(f"{self.name} not healthy after {timeout_s:.0f}s; see {self.log_path}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0fs; killing", self.name, grace_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # A child that outlived its parent still belongs to the group.
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


OWNER_VARIABLE = "MEMPOOL_SERVICE_OWNER"


def owned_by(pid: int, owner: str) -> bool:
    """Whether `pid` is a service started for `owner` (a workspace): its environment says."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return f"{OWNER_VARIABLE}={owner}".encode() in environ


def reap(pid: int, owner: str, grace_s: float = 10.0) -> bool:
    """Stop a service an earlier run left behind, with its whole process group, if `pid`
    is still that service (a pid can be reused). True when one was stopped."""
    if not owned_by(pid, owner):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    log.warning("stopped a service left running by an earlier demo (pid %d)", pid)
    return True


def reap_leftovers(owner: str) -> int:
    """Stop every service an earlier run for `owner` left behind (a demo killed with
    SIGKILL before its children got the news); return how many."""
    own = os.getpid()
    stopped = 0
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid != own and reap(pid, owner):
            stopped += 1
    return stopped


class Supervisor:
    """Owns the services of one run; stops them in reverse start order."""

    def __init__(self, owner: str = "") -> None:
        self.services: list[Service] = []
        self.owner = owner

    def start(self, service: Service, timeout_s: float = 60.0) -> Service:
        if self.owner:
            service.env = {**service.env, OWNER_VARIABLE: self.owner}
        self.services.append(service)
        service.start(timeout_s)
        return service

    def check(self) -> list[str]:
        """Names of services that died since they started."""
        return [s.name for s in self.services if not s.running]

    def stop_all(self) -> None:
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
        self.services.clear()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
