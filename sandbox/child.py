"""Run a service so that it dies with the process that started it.

`python -m sandbox.child PARENT_PID ARGV...` asks Linux to send SIGTERM to this process
when its parent dies (prctl PR_SET_PDEATHSIG; kept across exec), then becomes ARGV. A
`kill -9` of the demo therefore stops moto, fakesnow, the simulator and the streamer
too, each with SIGTERM, so they flush and release their files; nothing is left to hold
the warehouse's lock when the next demo starts. Elsewhere it simply execs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died before the request took effect.
    if os.getppid() != parent_pid:
        sys.exit(0)


def main(argv: list[str]) -> None:
    parent_pid, command = int(argv[0]), argv[1:]
    die_with_parent(parent_pid)
    os.execvp(command[0], command)  # noqa: S606 (argv from the supervisor, never a shell)


if __name__ == "__main__":
    main(sys.argv[1:])
