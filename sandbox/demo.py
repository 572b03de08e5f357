"""`mempool demo`: the whole platform on one machine.

Starts the emulators (moto for AWS, fakesnow for Snowflake), provisions them as
Terraform and the Snowflake deploy would, then plugs in the pipeline's parts. Every
part is a `Component`; the demo starts them in order, watches them, and stops them in
reverse on Ctrl-C, SIGTERM or the end of --duration, leaving no process behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from ingest import contract
from sandbox import aws_local, pipeline
from sandbox.paths import Workspace
from sandbox.services import (
    Supervisor,
    free_port,
    reap_leftovers,
)
from sandbox.stack import Component, DemoOptions, Stack
from sandbox.warehouse import LocalWarehouse, fakesnow_service

log = logging.getLogger("mempool.demo")


class MotoComponent:
    name = "aws (moto)"

    def start(self, stack: Stack) -> None:
        port = stack.opts.moto_port or free_port()
        stack.supervisor.start(aws_local.moto_service(stack.ws, port))
        stack.aws_endpoint = f"http://127.0.0.1:{port}"
        # Every boto3 client this process creates now talks to moto (the standard way).
        os.environ.update(stack.aws_env())
        provisioned = aws_local.provision(stack.aws_endpoint, stack.landing)
        stack.queue_url = provisioned["queue_url"]
        stack.roles = provisioned["roles"]

    def stop(self) -> None:
        """moto is stopped by the supervisor with the other processes."""

    def summary(self) -> dict[str, Any]:
        return {}


class FakesnowComponent:
    name = "snowflake (fakesnow)"

    def start(self, stack: Stack) -> None:
        port = stack.opts.fakesnow_port or free_port()
        stack.supervisor.start(
            fakesnow_service(stack.ws.warehouse, port, stack.ws.logs / "fakesnow.log")
        )
        stack.warehouse = LocalWarehouse(host="127.0.0.1", port=port)

    def stop(self) -> None:
        """fakesnow is stopped by the supervisor."""

    def summary(self) -> dict[str, Any]:
        return {}


def landing_counts(stack: Stack) -> dict[str, int]:
    """Objects under each landing prefix."""
    s3 = aws_local.clients(stack.aws_endpoint)["s3"]
    counts: dict[str, int] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=stack.landing.bucket, Prefix=contract.PREFIX_ROOT + "/"):
        for obj in page.get("Contents", []):
            prefix = "/".join(obj["Key"].split("/")[:2]) + "/"
            counts[prefix] = counts.get(prefix, 0) + 1
    return counts


def table_counts(stack: Stack) -> dict[str, int]:
    """Rows in every table of the local warehouse's RAW, SILVER, GOLD and OPS schemas."""
    if stack.warehouse is None:
        return {}
    import snowflake.connector

    counts: dict[str, int] = {}
    with snowflake.connector.connect(**stack.warehouse.connect_kwargs()) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('RAW', 'SILVER', 'GOLD', 'OPS') AND table_type = 'BASE TABLE' "
            "ORDER BY 1, 2"
        )
        for schema, table in cur.fetchall():
            cur.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"')
            row = cur.fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def default_components(opts: DemoOptions) -> list[Component]:
    components: list[Component] = [MotoComponent(), FakesnowComponent()]
    components.extend(pipeline.components(opts))
    return components


@contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def print_summary(
    stack: Stack, components: list[Component], elapsed: float, stopping: float
) -> None:
    print(
        f"\n== mempool demo: summary after {elapsed:.0f}s "
        f"(ran {elapsed - stopping:.0f}s, stopping took {stopping:.0f}s) =="
    )
    try:
        for prefix, n in sorted(landing_counts(stack).items()):
            print(f"  s3  {prefix:<36} {n:>8} objects")
    except Exception as exc:
        print(f"  s3  (not readable: {exc})")
    for comp in components:
        for key, value in comp.summary().items():
            print(f"  {comp.name:<22} {key:<26} {value}")
    try:
        for table, n in table_counts(stack).items():
            print(f"  sf  {table:<36} {n:>8} rows")
    except Exception as exc:
        print(f"  sf  (not readable: {exc})")


def report_denials(stack: Stack) -> bool:
    """Print every request IAM refused during the run; True when there was one. A refusal
    is a permission Terraform does not grant (or a call it should not need): in AWS the
    same call fails."""
    denials = aws_local.read_denials(aws_local.denials_file(stack.ws))
    if not denials:
        print("  iam every call was allowed by the policies in terraform/")
        return False
    print(f"\n  ! IAM refused {len(denials)} call(s): terraform/ does not grant them")
    seen: dict[tuple[str, str], int] = {}
    for d in denials:
        who = d["principal"].split("/")[1] if "/" in d["principal"] else d["principal"]
        key = (who, f"{d['action']} on {d['resource']} {d.get('detail', '')}".strip())
        seen[key] = seen.get(key, 0) + 1
    for (who, what), n in sorted(seen.items())[:20]:
        print(f"    {who:<28} {what} (x{n})")
    print(f"    (all of them: {aws_local.denials_file(stack.ws)})")
    return True


def status_view(stack: Stack, duration: float | None) -> str:
    """What is running, where to look and how to stop: printed once the stack is up."""
    rows = []
    if "dashboard" in stack.extra:
        rows.append(("Dashboard", f"{stack.extra['dashboard']}   <- open this"))
    if stack.opts.source == "live":
        rows.append(("Source", f"the real mempool.space ({stack.api_base})"))
    else:
        rows.append(
            (
                "Simulator",
                f"{stack.api_base.removesuffix('/api')} (seed {stack.opts.seed}, "
                f"{stack.opts.speed:g}x{', chaos' if stack.opts.chaos else ''})",
            )
        )
    if stack.opts.streamers > 1:
        names = ", ".join(f"streamer-{n}" for n in range(1, stack.opts.streamers + 1))
        chaos = stack.opts.streamer_chaos
        rows.append(
            (
                "Streamers",
                f"{names} (each its own connection, spool and log)"
                + ("" if chaos == "none" else f"; chaos: {chaos}"),
            )
        )
    rows.append(("AWS (moto)", f"{stack.aws_endpoint}, bucket {stack.landing.bucket}"))
    if stack.warehouse:
        rows.append(
            (
                "Warehouse",
                f"fakesnow on {stack.warehouse.host}:{stack.warehouse.port} "
                f"(database {stack.warehouse.database})",
            )
        )
    rows.append(("Query it", query_command(stack.ws)))
    rows.append(("Logs", str(stack.ws.logs)))
    rows.append(("Stop", "Ctrl-C" if duration is None else f"after {duration:g} s, or Ctrl-C"))
    width = max(len(label) for label, _ in rows)
    lines = ["", "  mempool demo is running", ""]
    lines += [f"    {label:<{width}}  {value}" for label, value in rows]
    return "\n".join([*lines, ""])


MIXED_SEEDS_FILE = "mixed-seeds.json"


def previous_chain(ws: Workspace, opts: DemoOptions) -> dict[str, Any] | None:
    """The seed and speed of the chain .mempool/ holds, when this run would start another
    (its blocks would mix with the old ones in the warehouse, which then show as stale)."""
    if opts.source != "sim" or opts.fresh:
        return None
    try:
        saved = json.loads((ws.root / "simulator-clock.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    if saved.get("seed") == opts.seed and saved.get("speed") == opts.speed:
        return None
    return dict(saved)


def chain_refusal(ws: Workspace, opts: DemoOptions, saved: dict[str, Any]) -> str:
    return (
        f"{ws.root} holds a chain simulated with seed {saved.get('seed')} at "
        f"{saved.get('speed')}x, and this run would start another (seed {opts.seed} at "
        f"{opts.speed:g}x) in the same warehouse. Add --fresh to start clean (deletes "
        f"{ws.root}), set MEMPOOL_HOME to another folder to keep both, run with seed "
        f"{saved.get('seed')} --speed {saved.get('speed')} to continue the old one, or "
        "--mix-chains to add the new chain anyway."
    )


def record_mixed_chain(ws: Workspace, saved: dict[str, Any]) -> None:
    """What verify needs to say why blocks of another chain are in the warehouse."""
    path = ws.root / MIXED_SEEDS_FILE
    try:
        seeds = list(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        seeds = []
    if saved.get("seed") not in seeds:
        seeds.append(saved.get("seed"))
    path.write_text(json.dumps(seeds))


def query_command(ws: Workspace) -> str:
    """The banner's `mempool sql` line, as it runs when pasted into a shell here: the
    console script by the path that works from this folder (it is seldom on PATH), and
    MEMPOOL_HOME when the workspace is not the default one."""
    script = Path(sys.executable).parent / "mempool"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    home = "" if ws.root == (Path.cwd() / ".mempool").resolve() else f"MEMPOOL_HOME={ws.root} "
    return f'{home}{shown} sql "SELECT * FROM GOLD.FCT_BLOCKS ORDER BY HEIGHT DESC"'


def running_demo_pid(ws: Workspace) -> int | None:
    """The pid of a live demo using this workspace (its database files are single-writer)."""
    try:
        pid = int(json.loads(ws.runtime_file.read_text())["pid"])
    except (FileNotFoundError, KeyError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid if pid != os.getpid() else None


def stop_note(comp: Component) -> str:
    """What stopping a component waits for, in a few words."""
    return str(getattr(comp, "stop_waits_for", "stopping"))


def run_demo(opts: DemoOptions, components: list[Component] | None = None) -> int:
    ws = Workspace.default()
    running = running_demo_pid(ws)
    if running is not None:
        log.error(
            "a demo is already running in %s (pid %d): stop it first, or set MEMPOOL_HOME "
            "to use another folder",
            ws.root,
            running,
        )
        return 2
    owner = str(ws.root.resolve())
    if reap_leftovers(owner):
        log.warning("an earlier demo in %s did not stop cleanly; its services are stopped", ws.root)
    if (saved := previous_chain(ws, opts)) is not None:
        if not opts.mix_chains:
            log.error("%s", chain_refusal(ws, opts, saved))
            return 2
        log.warning("mixing seed %s into the chain of seed %s", opts.seed, saved.get("seed"))
        record_mixed_chain(ws, saved)
    if opts.fresh and ws.root.exists():
        shutil.rmtree(ws.root)
    ws.ensure()
    stack = Stack(ws=ws, opts=opts, supervisor=Supervisor(owner))
    comps = components if components is not None else default_components(opts)
    stop = threading.Event()
    started: list[Component] = []
    t0 = stack.started_at
    exit_code = 0
    with stop_signals(stop):
        try:
            for comp in comps:
                if stop.is_set():
                    break
                log.info("starting %s", comp.name)
                comp.start(stack)
                started.append(comp)
                stack.write_runtime_file()
            log.info("stack is up (state in %s); Ctrl-C to stop", ws.root)
            print(status_view(stack, opts.duration), flush=True)
            deadline = None if opts.duration is None else t0 + opts.duration
            while not stop.is_set():
                timeout = 2.0 if deadline is None else min(2.0, deadline - time.monotonic())
                if timeout <= 0:
                    break
                stop.wait(timeout)
                dead = stack.supervisor.check()
                if dead:
                    log.error("service(s) died: %s; stopping", ", ".join(dead))
                    exit_code = 1
                    break
        except Exception:
            log.exception("demo failed")
            exit_code = 1
        finally:
            # Sources first, in start order (no new data once the simulator is gone, and
            # the streamer flushes on its way out); then the rest in reverse, so the
            # runtime's last pass loads everything that landed.
            sources = [c for c in started if getattr(c, "is_source", False)]
            others = [c for c in reversed(started) if not getattr(c, "is_source", False)]
            stop_began = time.monotonic()
            print("  stopping: nothing new starts; the work under way finishes", flush=True)
            for comp in started:
                # Nothing new starts after the signal (a gold build begun then held the
                # stop for its whole run); the final passes below do what is left.
                pause = getattr(comp, "pause", None)
                if pause is not None:
                    pause()
            for comp in sources + others:
                # A stop waits on work that must finish (the streamer's flush, the
                # runtime's last pass and gold build): say which, as it happens.
                print(f"  stopping {comp.name}: {stop_note(comp)}", flush=True)
                try:
                    comp.stop()
                except Exception:
                    log.exception("stopping %s failed", comp.name)
                    exit_code = 1
            if started and stack.aws_endpoint:
                now = time.monotonic()
                print_summary(stack, started, now - t0, now - stop_began)
                if report_denials(stack):
                    exit_code = 1
            stack.supervisor.stop_all()
            ws.runtime_file.unlink(missing_ok=True)
    return exit_code
