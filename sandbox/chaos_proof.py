"""The chaos proof: for each seed, `mempool demo --chaos` killed with SIGKILL part-way,
started again on the same workspace (no --fresh) for a bounded run, then
`mempool verify` against the simulator's ground truth. Exit 0 only if every seed
verifies with nothing lost, duplicated or wrong.

    python -m sandbox.chaos_proof --seeds 9001 9002 --duration 300 --kill-after 60

What a kill -9 can lose by design: the frames the streamer held in memory and had not
spooled (at most one flush interval); mempool.space cannot replay them. The truth file
is rewritten by the restarted simulator, so only what it served after the restart is
expected; blocks and prices from before are re-fetched by the poller and checked too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def demo_argv(seed: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "operations.cli",
        "demo",
        "--chaos",
        "--seed",
        str(seed),
        "--no-dashboard",
        *extra,
    ]


def wait_for_stack(home: Path, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not (home / "stack.json").exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the demo exited early (exit {proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError("the demo did not come up")
        time.sleep(0.5)


FAULT_LINES = ("firehose faults", "chaos:", "overlapping runs", "reorgs seen")


def injected(home: Path) -> str:
    """The fault counters from the bounded run's summary."""
    text = (home / "chaos-proof.log").read_text(errors="replace")
    summary = text[text.rfind("== mempool demo: summary") :]
    found = []
    for line in summary.splitlines():
        if any(marker in line for marker in FAULT_LINES):
            parts = line.split()
            # "<component> <counter words> <value>"; two components have two-word names.
            skip = 2 if parts[0] in ("firehose", "snowflake") else 1
            found.append(f"{' '.join(parts[skip:-1])}={parts[-1]}")
    return ", ".join(found) or "none reported"


def prove(seed: int, duration: float, kill_after: float, home: Path) -> tuple[int, str]:
    """(exit code of verify, its summary line) for one seed."""
    env = {**os.environ, "MEMPOOL_HOME": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "chaos-proof.log").open("ab")
    if kill_after > 0:
        first = subprocess.Popen(demo_argv(seed), env=env, stdout=log, stderr=log)
        wait_for_stack(home, first)
        print(f"  seed {seed}: stack up; SIGKILL in {kill_after:.0f}s", flush=True)
        time.sleep(kill_after)
        first.send_signal(signal.SIGKILL)
        first.wait()
        print(f"  seed {seed}: demo killed (kill -9); starting again without --fresh", flush=True)
    started = time.monotonic()
    again = subprocess.run(
        demo_argv(seed, "--duration", str(duration)), env=env, stdout=log, stderr=log
    )
    print(
        f"  seed {seed}: bounded demo exit {again.returncode} after "
        f"{time.monotonic() - started:.0f}s; faults injected: {injected(home)}",
        flush=True,
    )
    verify = subprocess.run(
        [sys.executable, "-m", "operations.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in verify.stdout.splitlines() if line.strip()]
    for line in lines:
        print(f"  seed {seed}: {line}", flush=True)
    summary = next((line for line in lines if line.startswith("verified:")), "no summary")
    if again.returncode != 0:
        return 1, summary
    return verify.returncode, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--duration", type=float, default=300.0, help="bounded run, seconds")
    parser.add_argument(
        "--kill-after", type=float, default=60.0, help="SIGKILL the first run after (0: no kill)"
    )
    parser.add_argument("--keep", action="store_true", help="keep each seed's workspace")
    parser.add_argument("--results", type=Path, default=None, help="write results as JSON")
    args = parser.parse_args(argv)
    results = {}
    failed = 0
    for seed in args.seeds:
        home = Path(tempfile.mkdtemp(prefix=f"mempool-chaos-{seed}-"))
        print(f"seed {seed}: workspace {home}", flush=True)
        code, summary = prove(seed, args.duration, args.kill_after, home)
        results[seed] = {"exit": code, "summary": summary}
        failed += code != 0
        if not args.keep and code == 0:
            shutil.rmtree(home, ignore_errors=True)
    if args.results:
        args.results.write_text(json.dumps(results, indent=2))
    print(f"chaos proof: {len(args.seeds) - failed} of {len(args.seeds)} seeds verified")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
