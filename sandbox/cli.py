"""`mempool`: one command line for the platform.

Subcommands import their code only when run, so `mempool --help` stays fast and the
production entry points (stream, poll, backfill) never load the local sandbox's
emulators.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from sandbox.demo import DemoOptions, run_demo

    return run_demo(DemoOptions.from_args(args))


def _sql(args: argparse.Namespace) -> int:
    from sandbox.sqlcmd import run_sql_command

    return run_sql_command(args.query, connection=args.connection, output=args.format)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole platform on this machine (moto, fakesnow, simulator, pipeline)",
        description="Start the local stack, run the pipeline end to end, and stop cleanly "
        "on Ctrl-C, SIGTERM or after --duration.",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run this long, print a summary of what flowed, exit 0",
    )
    p.add_argument("--seed", type=int, default=1, help="simulator seed (deterministic runs)")
    p.add_argument(
        "--speed", type=float, default=10.0, help="simulated seconds per real second (default 10)"
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
    p.add_argument("--no-dashboard", action="store_true", help="do not start Streamlit")
    p.add_argument("--moto-port", type=int, default=0, help="port for moto (0: a free one)")
    p.add_argument(
        "--fakesnow-port", type=int, default=0, help="port for the fakesnow server (0: a free one)"
    )
    p.add_argument("--sim-port", type=int, default=0, help="port for the simulator (0: a free one)")
    p.add_argument(
        "--dashboard-port", type=int, default=0, help="port for Streamlit (0: a free one)"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="delete .mempool/ (the local warehouse and logs) before starting",
    )
    p.set_defaults(func=_demo)


def _add_sql(sub: Any) -> None:
    p = sub.add_parser(
        "sql",
        help="run SQL on the warehouse (the local stack by default) and print the rows",
        description="Run one or more ;-separated statements and print each result.",
    )
    p.add_argument("query", help="SQL text, or @FILE to read it from a file, or - for stdin")
    p.add_argument(
        "--connection",
        "-c",
        default=None,
        help="a Snowflake connection name from ~/.snowflake/connections.toml; "
        "default: the running local stack",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=_sql)


REGISTRARS: list[Callable[[Any], None]] = [_add_demo, _add_sql]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mempool",
        description="Bitcoin mempool data platform: ingestion, local stack and tools.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # The connector and botocore narrate every connection at INFO; keep the console useful.
    for noisy in ("snowflake.connector", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
