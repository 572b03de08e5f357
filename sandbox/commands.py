"""The local-only commands (demo, verify, sim), registered into the `mempool` CLI
(operations.cli) through pyproject.toml's `mempool.commands` entry point, and the local
defaults the operator commands take from a stack on this machine.

Module level imports only the standard library and operations.cli: loading the plugin
must not start, or import, the emulators.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from operations.cli import Registry, port_number, positive_float


def _demo(args: argparse.Namespace) -> int:
    from sandbox.demo import run_demo
    from sandbox.stack import DemoOptions

    if args.streamer_chaos not in (None, "none") and args.streamers < 2:
        # One streamer down is every streamer down: the minutes would be lost by design.
        args.parser.error(f"--streamer-chaos {args.streamer_chaos} needs --streamers 2 or more")
    if args.alert_drill and (args.chaos or args.source != "sim"):
        # The drill's windows assume nothing else fails meanwhile, and its provocations
        # (a poison burst, a held block) are made on the simulator's chain.
        args.parser.error("--alert-drill runs alone: without --chaos, with --source sim")
    return run_demo(DemoOptions.from_args(args))


def streamer_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 8:
        raise argparse.ArgumentTypeError("between 1 and 8")
    return count


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole platform on this machine (moto, fakesnow, simulator, pipeline)",
        description="Start the local stack, run the pipeline end to end, and stop cleanly "
        "on Ctrl-C, SIGTERM or after --duration.",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="run this long, print a summary of what flowed, exit 0",
    )
    p.add_argument("--seed", type=int, default=1, help="simulator seed (deterministic runs)")
    p.add_argument(
        "--speed",
        type=positive_float,
        default=10.0,
        help="simulated seconds per real second (default 10)",
    )
    p.add_argument(
        "--source",
        choices=["sim", "live"],
        default="sim",
        help="sim: the project's simulator; live: the real mempool.space",
    )
    p.add_argument(
        "--chaos",
        action="store_true",
        help="simulator injects reorgs, restarts, drops, duplicates, 429s and 5xx",
    )
    p.add_argument(
        "--streamers",
        type=streamer_count,
        default=2,
        metavar="N",
        help="streamer processes, each with its own WebSocket connection, spool and log "
        "(default 2, as production runs them)",
    )
    p.add_argument(
        "--streamer-chaos",
        choices=["none", "kill-one", "restart-in-turn"],
        default=None,
        help="kill-one: the first streamer is killed (SIGKILL) half-way and never restarted; "
        "restart-in-turn: each streamer in turn is stopped (SIGTERM) and restarted after a "
        "pause, never two down at once (default: none, or with --chaos and 2 streamers or "
        "more one of them drawn from the seed)",
    )
    p.add_argument(
        "--alert-drill",
        action="store_true",
        help="provoke each alert's condition once (a builder failing, a pipe paused, a "
        "poison-pill burst, the streamers held, a block late) and "
        "record when, in alert-drill.json; `mempool verify` then checks each alert fired "
        "in its window and cleared after (needs about 10 minutes: see docs/runbook.md)",
    )
    p.add_argument("--no-dashboard", action="store_true", help="do not start Streamlit")
    p.add_argument(
        "--unwatched",
        action="store_true",
        help="run as production does with nobody watching: SILVER refreshes every "
        "silver_idle_minutes and GOLD every gold_idle_minutes on the demo's clock, or as "
        "the Live and History pages ask while they are open (default: the runtime stands "
        "in for a viewer and requests both runs each cycle)",
    )
    p.add_argument("--moto-port", type=port_number, default=0, help="port for moto (0: a free one)")
    p.add_argument(
        "--fakesnow-port",
        type=port_number,
        default=0,
        help="port for the fakesnow server (0: a free one)",
    )
    p.add_argument(
        "--sim-port", type=port_number, default=0, help="port for the simulator (0: a free one)"
    )
    p.add_argument(
        "--dashboard-port", type=port_number, default=0, help="port for Streamlit (0: a free one)"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="delete .mempool/ (the local warehouse and logs) before starting",
    )
    p.add_argument(
        "--mix-chains",
        action="store_true",
        help="run another --seed or --speed on a warehouse that holds an earlier chain "
        "(refused otherwise: the old blocks would show as stale and verify as never made)",
    )
    p.set_defaults(func=_demo, parser=p)


def _verify(args: argparse.Namespace) -> int:
    from sandbox.paths import Workspace
    from sandbox.verify import run_verify

    truth = args.truth or Workspace.default().root / "truth.jsonl"
    return run_verify(truth, connection=args.connection, as_json=args.json)


def _add_verify(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="compare the warehouse with the simulator's ground truth (lost/duplicated/wrong)",
        description="Check SILVER and GOLD against what the simulator served: every block "
        "with its canonical/stale status, every price, every projected-block state, the "
        "projection accuracy, and that every raw record is accounted for. Exits 1 on any "
        "difference. Works on a running demo and on one that has stopped.",
    )
    p.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="the simulator's ground truth (default: truth.jsonl in the workspace)",
    )
    p.add_argument("--connection", "-c", default=None, help="a Snowflake connection name")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(func=_verify)


def _sim(args: argparse.Namespace) -> int:
    from sandbox.simulator.server import SimOptions, run

    return run(
        SimOptions(
            seed=args.seed,
            speed=args.speed,
            host=args.host,
            port=args.port,
            chaos=args.chaos,
            truth_path=args.truth,
            start_time=args.start,
            history_blocks=args.history_blocks,
            start_race=not args.no_start_race,
        )
    )


def _add_sim(sub: Any) -> None:
    p = sub.add_parser(
        "sim",
        help="run the mempool.space simulator (WebSocket and REST) on loopback",
        description="A deterministic mempool.space: /api/v1/ws and /api/... on one port.",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same chain)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8999)
    p.add_argument(
        "--chaos",
        action="store_true",
        help="reorgs, restarts, dropped connections, duplicate frames, 429/5xx/slow",
    )
    p.add_argument(
        "--truth",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the ground truth (JSON lines) to FILE",
    )
    p.add_argument(
        "--start",
        type=int,
        default=None,
        metavar="UNIX_S",
        help="simulated start time (default: now)",
    )
    p.add_argument("--history-blocks", type=int, default=24, help="blocks mined before the start")
    p.add_argument(
        "--no-start-race",
        action="store_true",
        help="do not start in a one-block race (by default the first new block makes the "
        "current tip stale, a natural reorg)",
    )
    p.set_defaults(func=_sim)


@contextmanager
def local_connection(schema: str | None) -> Iterator[Any]:
    from sandbox.snowflake_local.account import AccountConnection
    from sandbox.warehouse import connect

    # Answers SHOW PIPES/TASKS/STREAMS and SYSTEM$PIPE_STATUS as Snowflake would.
    with connect(None, schema=schema) as conn:
        yield AccountConnection(conn)


def local_defaults() -> None:
    from sandbox.stackenv import apply_stack_env

    apply_stack_env()


def register(registry: Registry) -> None:
    for add in (_add_demo, _add_verify, _add_sim):
        add(registry.commands)
    registry.local.connection = local_connection
    registry.local.defaults = local_defaults
