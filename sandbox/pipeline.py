"""The pipeline parts that plug into the local stack after the emulators: the
mempool.space simulator (or the real site), the streamer, the poller on its schedule,
the local Snowflake runtime and dbt.

Length: one small class per part the demo starts, in the order it starts them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from operations.artifacts import build_dashboard
from sandbox.alert_drill import DRILL_FILE, AlertDrill, AlertDrillComponent
from sandbox.dbt_local import DBT_TIMEOUT_S, run_dbt
from sandbox.loops import PeriodicLoop
from sandbox.runtime_chaos import RuntimeChaos
from sandbox.services import Service, free_port, http_ok, port_open, preferred_port
from sandbox.stack import Component, DemoOptions, Stack

if TYPE_CHECKING:
    from sandbox.warehouse import LocalWarehouse

log = logging.getLogger("mempool.demo")

LIVE_API = "https://mempool.space/api"
# Streamlit's own default: the URL people expect (the next free one when it is taken).
DASHBOARD_PORT = 8501
LIVE_WS = "wss://mempool.space/api/v1/ws"


def simulator_argv(port: int, *options: str) -> list[str]:
    """`mempool sim` on `port`, as a process of its own."""
    return [sys.executable, "-m", "operations.cli", "sim", "--port", str(port), *options]


class SimulatorComponent:
    name = "simulator"
    is_source = True

    def __init__(self) -> None:
        self.service: Service | None = None

    def start(self, stack: Stack) -> None:
        if stack.opts.source == "live":
            stack.api_base, stack.ws_url = LIVE_API, LIVE_WS
            log.info("using the real mempool.space")
            return
        port = stack.opts.sim_port or free_port()
        truth = stack.ws.root / "truth.jsonl"
        argv = simulator_argv(
            port,
            "--seed",
            str(stack.opts.seed),
            "--speed",
            str(stack.opts.speed),
            "--truth",
            str(truth),
        )
        if stack.opts.chaos:
            argv.append("--chaos")
        base = f"http://127.0.0.1:{port}"
        self.service = Service(
            name="simulator",
            argv=argv,
            log_path=stack.ws.logs / "simulator.log",
            healthy=lambda: http_ok(f"{base}/api/blocks/tip/height", timeout_s=1.0),
        )
        stack.supervisor.start(self.service)
        stack.api_base = f"{base}/api"
        stack.ws_url = f"ws://127.0.0.1:{port}/api/v1/ws"
        stack.extra["truth"] = str(truth)

    def stop(self) -> None:
        """SIGTERM: the simulator writes the final line of its ground truth and exits."""
        if self.service:
            self.service.stop()

    def summary(self) -> dict[str, Any]:
        return {}


def outage_length_s(duration: float | None) -> float:
    """Chaos: one Firehose outage of 40 % of the run (between 10 s and 3 minutes): two
    minutes in `make chaos`'s five-minute runs."""
    return min(180.0, max(10.0, 0.4 * (duration or 900.0)))


class FirehoseFaultsComponent:
    """Chaos: the fault proxy in front of the local Firehose (sandbox/firehose_faults.py),
    with one outage starting a quarter of the way into the run."""

    name = "firehose faults"

    def __init__(self) -> None:
        self.stats_file: Path | None = None

    def start(self, stack: Stack) -> None:
        port = free_port()
        self.stats_file = stack.ws.root / "firehose-faults.json"
        duration = stack.opts.duration or 900.0
        argv = [
            sys.executable,
            "-m",
            "sandbox.firehose_faults",
            "--port",
            str(port),
            "--upstream",
            stack.aws_endpoint,
            "--seed",
            str(stack.opts.seed),
            "--outage-at",
            str(0.25 * duration),
            "--outage-s",
            str(outage_length_s(stack.opts.duration)),
            "--stats",
            str(self.stats_file),
        ]
        stack.supervisor.start(
            Service(
                name="firehose-faults",
                argv=argv,
                log_path=stack.ws.logs / "firehose-faults.log",
                healthy=lambda: port_open("127.0.0.1", port),
            )
        )
        stack.extra["firehose_endpoint"] = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stopped by the supervisor, after the streamer has flushed through it."""

    def summary(self) -> dict[str, Any]:
        if self.stats_file is None or not self.stats_file.exists():
            return {}
        import json

        return dict(json.loads(self.stats_file.read_text()))


class StreamerFleet:
    """What the demo's streamers share: when each was up (the workspace's streamers.json,
    which `mempool verify` reads: GOLD must hold every minute at least one of them was),
    and one lock, so the chaos on them and the demo's stop never act on a streamer at once.

    streamers.json: {"scenario": ..., "streamers": {name: [{"from": unix_s, "to": unix_s
    or null, "how": "SIGKILL" | "SIGTERM" | "stop" | null}, ...]}}; "from" is when the
    process was started, "to" when it was signalled (null while it runs).
    """

    def __init__(self, count: int, scenario: str = "none") -> None:
        self.count = count
        self.scenario = scenario
        self.members: list[StreamerComponent] = []
        self.lock = threading.RLock()
        # Set at the demo's stop: the chaos neither stops nor restarts a streamer after it.
        self.stopping = threading.Event()
        self.path: Path | None = None
        self.intervals: dict[str, list[dict[str, Any]]] = {}

    def up(self, name: str) -> None:
        with self.lock:
            self.intervals.setdefault(name, []).append({"from": time.time(), "to": None})
            self._write()

    def down(self, name: str, how: str) -> None:
        with self.lock:
            spans = self.intervals.get(name, [])
            if spans and spans[-1]["to"] is None:
                spans[-1].update({"to": time.time(), "how": how})
                self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        text = json.dumps({"scenario": self.scenario, "streamers": self.intervals}, indent=2)
        # Whole or not at all: verify may read it while the demo runs.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)


def connections_logged(log_path: Path) -> int:
    """How many WebSocket connections a streamer's log says it opened (ingest/streamer.py
    logs "connected to URL as ORIGIN" for each)."""
    try:
        return log_path.read_text(errors="replace").count("connected to ")
    except FileNotFoundError:
        return 0


class StreamerComponent:
    """One streamer process, `number` of the fleet's `count`: production runs each on its
    own instance, with its own WebSocket connection (its own origin ids), all writing to
    the same Firehose streams. Each has its own spool and log; one streamer is named and
    placed as the single streamer always was (streamer.log, the workspace's spool)."""

    stop_waits_for = "its last flush to Firehose (what Firehose refuses goes to S3)"
    is_source = True

    def __init__(self, number: int = 1, fleet: StreamerFleet | None = None) -> None:
        self.fleet = fleet or StreamerFleet(1)
        self.fleet.members.append(self)
        self.number = number
        self.name = "streamer" if self.fleet.count == 1 else f"streamer-{number}"
        self.service: Service | None = None
        self.stack: Stack | None = None
        self.restarts = 0
        self.killed = False

    @property
    def log_path(self) -> Path:
        assert self.stack is not None
        return self.stack.ws.logs / f"{self.name}.log"

    def start(self, stack: Stack) -> None:
        self.stack = stack
        if self.fleet.path is None:
            # A new run's record: the truth file verify compares with is rewritten too.
            self.fleet.path = stack.ws.streamers_file
            self.fleet.path.unlink(missing_ok=True)
        spool = stack.ws.streamer_spool(self.number, self.fleet.count)
        env = {
            # As the instance profile's role.
            **stack.role_env("streamer"),
            "MEMPOOL_BUCKET": stack.landing.bucket,
            "MEMPOOL_WS_URL": stack.ws_url,
            "MEMPOOL_STREAM_DELIVERY": stack.landing.stream_delivery,
            "MEMPOOL_CONVERSIONS_DELIVERY": stack.landing.conversions_delivery,
            "MEMPOOL_SPOOL_DIR": str(spool),
        }
        if "firehose_endpoint" in stack.extra:
            # boto3's service-specific endpoint variable: only Firehose goes through faults.
            env["AWS_ENDPOINT_URL_FIREHOSE"] = stack.extra["firehose_endpoint"]
        self.service = Service(
            name=self.name,
            argv=[sys.executable, "-m", "ingest.stream_main"],
            log_path=self.log_path,
            env=env,
            healthy=lambda: True,
        )
        self._launch()

    def _launch(self) -> None:
        assert self.stack is not None and self.service is not None
        self.fleet.up(self.name)
        self.stack.supervisor.start(self.service)

    # -- chaos (StreamerChaosComponent), under the fleet's lock ---------------------------

    def _unsupervise(self) -> None:
        # A streamer down on purpose is not a service that died: the demo would stop.
        assert self.stack is not None
        if self.service in self.stack.supervisor.services:
            self.stack.supervisor.services.remove(self.service)

    def kill(self) -> None:
        """SIGKILL, as an instance that vanishes: what it held in memory is lost, its spool
        stays on a disk nobody reads."""
        assert self.service is not None and self.service.proc is not None
        self._unsupervise()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.service.proc.pid, signal.SIGKILL)
        self.service.proc.wait()
        self.fleet.down(self.name, "SIGKILL")
        self.killed = True

    def terminate(self) -> None:
        """SIGTERM, as systemd stops it: it flushes everything before it exits."""
        assert self.service is not None
        self._unsupervise()
        self.fleet.down(self.name, "SIGTERM")
        self.service.stop()

    def restart(self) -> None:
        self.restarts += 1
        self._launch()

    # -- the demo's stop ------------------------------------------------------------------

    def pause(self) -> None:
        """At the stop signal, before the simulator goes: the streamer's time up ends here
        (nothing is served after), and the chaos starts nothing more."""
        with self.fleet.lock:
            self.fleet.stopping.set()
            if self.service is not None and self.service.running:
                self.fleet.down(self.name, "stop")

    def stop(self) -> None:
        """SIGTERM makes the streamer flush everything before it exits."""
        if self.service:
            self.service.stop()

    def summary(self) -> dict[str, Any]:
        if self.fleet.count == 1 or self.stack is None:
            return {}
        info: dict[str, Any] = {
            "log": self.log_path.name,
            "connections opened": connections_logged(self.log_path),
        }
        if self.killed:
            info["chaos"] = "killed (SIGKILL), never restarted"
        elif self.restarts:
            info["chaos"] = f"stopped (SIGTERM) and restarted {self.restarts}x"
        return info


def streamer_chaos_plan(scenario: str, count: int, run_s: float | None) -> list[float]:
    """Seconds from the chaos's start at which it acts. kill-one: once, half-way through
    what is left of the run. restart-in-turn: streamer i (1..count) goes down at the
    i-th of count + 1 equal slots less half a pause and comes back half a pause after,
    so one streamer is down at a time with a slot's gap between; returns the down times
    (the pause is `restart_pause_s`). Without --duration, a run of 15 minutes."""
    run_s = run_s if run_s is not None else 900.0
    if scenario == "kill-one":
        return [0.5 * run_s]
    if scenario == "restart-in-turn":
        slot = run_s / (count + 1)
        return [i * slot - restart_pause_s(count, run_s) / 2 for i in range(1, count + 1)]
    return []


def restart_pause_s(count: int, run_s: float | None) -> float:
    """How long a streamer stays down in restart-in-turn: half a slot, at most a minute
    (long enough for the other streamers alone to carry part of a minute)."""
    run_s = run_s if run_s is not None else 900.0
    return min(60.0, 0.5 * run_s / (count + 1))


class StreamerChaosComponent:
    """Chaos on the streamers, from when the pipeline is up to the end of --duration:
    "kill-one" kills streamer 1 (the one started first, whose connection gold follows
    while it lives) for good half-way; "restart-in-turn" stops each streamer in turn with
    SIGTERM and restarts it after a pause, waiting for it to connect again before the
    next one goes down."""

    name = "streamer chaos"

    def __init__(self, fleet: StreamerFleet) -> None:
        self.fleet = fleet
        self.thread: threading.Thread | None = None
        self.done: list[str] = []
        # The services are started through sandbox.child, whose PR_SET_PDEATHSIG fires
        # when the *thread* that started them ends: a streamer this thread restarted
        # would get SIGTERM the moment the thread returned. It ends only at stop(), once
        # the demo has stopped the streamers itself.
        self.released = threading.Event()

    def start(self, stack: Stack) -> None:
        duration = stack.opts.duration
        left = None if duration is None else stack.started_at + duration - time.monotonic()
        plan = streamer_chaos_plan(self.fleet.scenario, self.fleet.count, left)
        pause = restart_pause_s(self.fleet.count, left)
        self.thread = threading.Thread(
            target=self._run, args=(time.monotonic(), plan, pause), name="streamer-chaos"
        )
        self.thread.daemon = True
        self.thread.start()

    def _run(self, began: float, plan: list[float], pause: float) -> None:
        try:
            self._act(began, plan, pause)
        except Exception:
            log.exception("streamer chaos failed")
        finally:
            self.released.wait()

    def _act(self, began: float, plan: list[float], pause: float) -> None:
        stopping = self.fleet.stopping
        for member, at in zip(self.fleet.members, plan, strict=False):
            if stopping.wait(max(0.0, began + at - time.monotonic())):
                return
            if self.fleet.scenario == "kill-one":
                with self.fleet.lock:
                    if stopping.is_set():
                        return
                    member.kill()
                self.done.append(f"{member.name} killed")
                log.warning("chaos: %s killed (SIGKILL), not to be restarted", member.name)
                return
            with self.fleet.lock:
                if stopping.is_set():
                    return
                member.terminate()
            log.warning("chaos: %s stopped (SIGTERM); restart in %.0fs", member.name, pause)
            if stopping.wait(pause):
                return
            with self.fleet.lock:
                if stopping.is_set():
                    return
                seen = connections_logged(member.log_path)
                member.restart()
            self.done.append(f"{member.name} restarted")
            # Never two down at once: the next goes down only once this one is back.
            deadline = time.monotonic() + 60.0
            while connections_logged(member.log_path) <= seen:
                if stopping.wait(0.2) or time.monotonic() > deadline:
                    break

    def pause(self) -> None:
        self.fleet.stopping.set()

    def stop(self) -> None:
        """After the streamers (sources stop first): the thread may end now."""
        self.released.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def summary(self) -> dict[str, Any]:
        return {"scenario": self.fleet.scenario, "done": ", ".join(self.done) or "nothing"}


class PollerComponent:
    """The Lambda's handler logic on the EventBridge schedule (1 minute / speed)."""

    name = "poller"
    is_source = True

    def __init__(self) -> None:
        self.loop: PeriodicLoop | None = None
        self.blocks = 0
        self.reorgs = 0
        self.overlapping = 0

    def start(self, stack: Stack) -> None:
        from ingest import aws
        from ingest.mempool_api import MempoolApi
        from ingest.poller import Poller, PollOptions

        api = MempoolApi(stack.api_base, timeout_s=4.0)
        # As the Lambda's role, on the state key the Lambda's environment names.
        s3 = stack.role_session("poller").client("s3", config=aws.CLIENT_CONFIG)
        poller = Poller(
            api, s3, stack.landing.bucket, stack.landing.terraform.poller_state_key, PollOptions()
        )
        handler = logging.FileHandler(stack.ws.logs / "poller.log")
        poll_log = logging.getLogger("mempool.poll")
        poll_log.addHandler(handler)
        poll_log.propagate = False

        rng = random.Random(stack.opts.seed * 31 + 7)
        self.overlapping = 0

        def run_once() -> None:
            result = poller.run()
            self.blocks += result.blocks_written
            self.reorgs += 1 if result.reorg_depth else 0

        runs = itertools.count(1)

        def run() -> None:
            # Chaos: every fourth run from the second, and one in five of the others.
            overlap = stack.opts.chaos and (next(runs) % 4 == 2 or rng.random() < 0.2)
            if not overlap:
                run_once()
                return
            # Chaos: EventBridge delivers at least once, so two runs may overlap; only one
            # of them may advance the state (a conditional write).
            self.overlapping += 1
            other = threading.Thread(target=run_once, name="poller-overlap")
            other.start()
            run_once()
            other.join()

        # EventBridge's one minute, in demo time.
        self.loop = PeriodicLoop("poller", 60.0 / stack.opts.time_scale, run)
        self.loop.start()

    def stop(self) -> None:
        if self.loop:
            self.loop.stop()

    def summary(self) -> dict[str, Any]:
        if not self.loop:
            return {}
        return {
            "runs": self.loop.runs,
            "failed runs": self.loop.failures,
            "blocks written": self.blocks,
            "reorgs seen": self.reorgs,
            "overlapping runs": self.overlapping,
        }


# The demo's gold clock: the deploy's gold_refresh_minutes (REFRESH_GOLD's SCHEDULE, as
# the local runtime reads it from 60_tasks.sql; it runs when a run was requested) divided
# by --speed, like every other interval of the demo; never more often than every 30 s,
# the fixed cadence the demo had before, so at high speeds dbt (seconds a run on a
# shared 2-core machine) does not run back to back and starve the pipeline it reads.
MIN_GOLD_INTERVAL_S = 30.0


def local_dbt_command(args: str) -> list[str]:
    """A task's ARGS (production's target named) as the local dbt command: the same
    command and options, the local profile's target (run_dbt adds it)."""
    words = args.split() or ["build"]
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--target":
            skip = True
        elif not word.startswith("--target="):
            out.append(word)
    return out


class RefreshGold:
    """EXECUTE DBT PROJECT, locally: the dbt command a gold task's ARGS name
    (REFRESH_GOLD's `run`, TEST_GOLD's `test`) against the local warehouse; it raises
    when dbt fails, so the task's run is recorded FAILED in the task history. When it
    runs is the tasks' schedule (sandbox.snowflake_local.tasks)."""

    def __init__(self, warehouse: LocalWarehouse, target_dir: Path, log_file: Path) -> None:
        self.warehouse = warehouse
        self.target_dir = target_dir
        self.log_file = log_file
        self.runs: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        # One dbt at a time: the runs share a target directory, and Snowflake does not
        # overlap a task's runs (chaos may call this from the other lane).
        self._one_at_a_time = threading.Lock()

    def __call__(self, args: str = "run --target prod") -> str:
        command = local_dbt_command(args)
        with self._one_at_a_time:
            result = run_dbt(
                self.warehouse, *command, target_dir=self.target_dir, log_file=self.log_file
            )
            self.runs[command[0]] += 1
            if result.returncode != 0:
                self.failures[command[0]] += 1
        if result.returncode != 0:
            raise RuntimeError(
                f"dbt {' '.join(command)} exit {result.returncode} (see {self.log_file})"
            )
        return f"dbt {' '.join(command)} exit 0"


class SnowflakeRuntimeComponent:
    """Deploys the SQL to the local warehouse, then on a short cadence loads new landing
    objects (the pipes) and runs the task graph (the procedures). Two lanes, as Snowflake
    has two kinds of compute: the pipes, the serverless tasks and the alerts in one; the
    gold graph, on its warehouse, in the other, so SILVER keeps refreshing while dbt runs
    (sandbox.snowflake_local.base.RuntimeLock)."""

    name = "snowflake runtime"
    stop_waits_for = "a last pass: loading what landed, the task graph, then gold's run and tests"

    def __init__(
        self,
        interval_s: float = 5.0,
        dbt_interval_s: float | None = None,
        drill: AlertDrill | None = None,
    ) -> None:
        self.interval_s = interval_s
        # `mempool demo --alert-drill` (sandbox/alert_drill.py): acts at each cycle's start.
        self.drill = drill
        # None: the deploy's schedule on the demo's clock; a number overrides it (a test
        # that needs gold built at a given pace).
        self.dbt_interval_s = dbt_interval_s
        self.loop: PeriodicLoop | None = None
        self.warehouse_loop: PeriodicLoop | None = None
        self.runtime: Any = None
        self.refresh: RefreshGold | None = None
        self.chaos: RuntimeChaos | None = None

    def start(self, stack: Stack) -> None:
        from ingest import aws
        from sandbox.snowflake_local.runtime import LocalSnowflake
        from sandbox.snowflake_local.streams import TaskKilled

        assert stack.warehouse is not None
        self.runtime = LocalSnowflake(
            stack.warehouse,
            stack.landing.bucket,
            aws.client("s3"),
            # The queue is Snowflake's own in production: the administrator reads it here.
            aws.client("sqs"),
            stack.queue_url,
            # The pipes read the bucket as the storage integration's role.
            stage_s3=stack.role_session("snowflake").client("s3", config=aws.CLIENT_CONFIG),
        )
        self.runtime.deploy()
        dbt_log = stack.ws.logs / "dbt.log"
        target_dir = stack.ws.root / "dbt-target"
        warehouse = stack.warehouse

        self.refresh = RefreshGold(warehouse, target_dir, dbt_log)
        self.runtime.dbt_runner = self.refresh
        # The scheduled tasks run on production's schedule, scaled as the simulator's clock
        # is (the real site's runs at 1x).
        speed = stack.opts.speed if stack.opts.source == "sim" else 1.0
        self.runtime.schedule_scale = max(speed, 0.01)
        self.runtime.min_schedule_s = MIN_GOLD_INTERVAL_S
        self.runtime.schedule_override_s = self.dbt_interval_s
        handler = logging.FileHandler(stack.ws.logs / "snowflake-runtime.log")
        rt_log = logging.getLogger("mempool.snowflake")
        rt_log.addHandler(handler)
        rt_log.propagate = False

        chaos = (
            RuntimeChaos(stack.opts.seed, stack.landing.bucket, self.refresh)
            if stack.opts.chaos
            else None
        )
        self.chaos = chaos

        drill = self.drill
        if drill is None:
            # An earlier drill's record would be checked against this run's alerts.
            (stack.ws.root / DRILL_FILE).unlink(missing_ok=True)

        def cycle() -> None:
            with self.runtime.lock.held():
                serverless_cycle()

        def serverless_cycle() -> None:
            # The last pass after a stop runs clean: it finishes what chaos left half-done,
            # and delivers what it held back (a pipe refresh after an outage).
            last_pass = self.runtime.force_schedules
            active = chaos if chaos is not None and not last_pass else None
            if chaos is not None and last_pass:
                chaos.release_held(self.runtime, everything=True)
            if active:
                active.before_cycle(self.runtime)
            if drill is not None:
                # The alert drill acts on the warehouse here, in the runtime's thread; the
                # last pass puts back whatever it still holds.
                if last_pass:
                    drill.release_all(self.runtime)
                else:
                    drill.before_cycle(self.runtime)
            self.runtime.drain_notifications()
            if stack.opts.watched or last_pass:
                # A viewer's Live page asks for a silver run at each refresh, and the History
                # page for a gold run; the last pass asks too, so what landed before the stop
                # reaches SILVER and GOLD.
                self.runtime.request_silver("LOCAL_VIEWER")
                self.runtime.request_gold("LOCAL_VIEWER")
            if active:
                self.runtime.kill_switch = active.kill_switch
                self.runtime.between_statements = active.between_statements
            elif drill is not None:
                self.runtime.fail_switch = drill.fail_switch
            try:
                self.runtime.run_graph()
                if active and active.rng.random() < 0.2:
                    active.reruns += 1
                    # A task graph run twice: a second request, as a viewer's next refresh.
                    self.runtime.request_silver("LOCAL_VIEWER")
                    self.runtime.run_graph()
            except TaskKilled as exc:
                log.warning("chaos: a task run was killed half-way (%s)", exc)
                # Alerts do not wait on the task graph: a killed run is what they watch.
                self.runtime.run_alerts()
                return
            except Exception as exc:
                # A failed run is in the task history, as on Snowflake, whose scheduler
                # still runs gold and the alerts on their own schedules (TASKS_ALERT is
                # what watches for this).
                log.warning("a task run failed (OPS.TASK_RUNS has it): %s", exc)
            finally:
                self.runtime.kill_switch = None
                self.runtime.fail_switch = None
                self.runtime.between_statements = None
            # The stop's last pass runs the warehouse's graphs too (its lane has stopped).
            self.runtime.run_scheduled(None if last_pass else "serverless")

        def warehouse_cycle() -> None:
            with self.runtime.lock.held():
                self.runtime.run_scheduled("warehouse")

        self.loop = PeriodicLoop("snowflake-runtime", self.interval_s, cycle)
        self.warehouse_loop = PeriodicLoop("snowflake-warehouse", self.interval_s, warehouse_cycle)
        self.loop.start()
        self.warehouse_loop.start()

    def pause(self) -> None:
        """At the stop signal: no new cycle (or gold build) starts; the ones under way end."""
        for loop in (self.warehouse_loop, self.loop):
            if loop:
                loop.stop()

    def stop(self) -> None:
        if self.warehouse_loop:
            # The graph run under way ends first (a dbt run and its tests, each within
            # dbt's limit), so the last pass never starts a second REFRESH_GOLD beside it
            # (Snowflake's NO_OVERLAP).
            self.warehouse_loop.stop(timeout_s=2 * DBT_TIMEOUT_S)
        if self.loop:
            self.loop.stop()
            # A last pass so everything that landed before the stop is in SILVER and GOLD.
            if self.runtime:
                self.runtime.force_schedules = True
            try:
                self.loop.run_once_now()
            except Exception:
                log.exception("final snowflake runtime pass failed")
        if self.runtime:
            self.runtime.close()

    def summary(self) -> dict[str, Any]:
        if not self.runtime:
            return {}
        return {
            **self.runtime.counters,
            **(self.chaos.counts() if self.chaos else {}),
            "failed cycles": sum(
                loop.failures for loop in (self.loop, self.warehouse_loop) if loop
            ),
            "dbt runs": self.refresh.runs["run"] if self.refresh else 0,
            "failed dbt runs": self.refresh.failures["run"] if self.refresh else 0,
            "dbt tests": self.refresh.runs["test"] if self.refresh else 0,
            "failed dbt tests": self.refresh.failures["test"] if self.refresh else 0,
        }


def dashboard_service(warehouse: LocalWarehouse, home: Path, port: int, log_path: Path) -> Service:
    """`streamlit run` of the app as deployed to Snowflake (the bundle `snow streamlit
    deploy` uploads, built in `home`), pointed at a local warehouse through Streamlit's
    own connection settings in `home`."""
    app = build_dashboard(home / "app", {"MEMPOOL_DATABASE": warehouse.database})
    (home / ".streamlit").mkdir(parents=True, exist_ok=True)
    (home / ".streamlit" / "secrets.toml").write_text(warehouse.streamlit_secrets_toml())
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    service = Service(
        name="dashboard",
        argv=argv,
        log_path=log_path,
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/_stcore/health"),
    )
    service.cwd = home
    return service


class DashboardComponent:
    """The Streamlit app, as deployed to Snowflake, pointed at the local warehouse."""

    name = "dashboard"

    def __init__(self) -> None:
        self.url = ""

    def start(self, stack: Stack) -> None:
        assert stack.warehouse is not None
        port = stack.opts.dashboard_port or preferred_port(DASHBOARD_PORT)
        service = dashboard_service(
            stack.warehouse, stack.ws.root / "dashboard", port, stack.ws.logs / "dashboard.log"
        )
        stack.supervisor.start(service)
        self.url = f"http://localhost:{port}"
        stack.extra["dashboard"] = self.url
        log.info("dashboard on %s", self.url)

    def stop(self) -> None:
        """Stopped by the supervisor."""

    def summary(self) -> dict[str, Any]:
        return {"url": self.url} if self.url else {}


def components(opts: DemoOptions) -> list[Component]:
    parts: list[Component] = [SimulatorComponent()]
    if opts.chaos:
        parts.append(FirehoseFaultsComponent())
    fleet = StreamerFleet(opts.streamers, opts.streamer_chaos)
    parts += [StreamerComponent(n, fleet) for n in range(1, opts.streamers + 1)]
    drill = AlertDrill(opts.time_scale, fleet) if opts.alert_drill else None
    parts += [PollerComponent(), SnowflakeRuntimeComponent(drill=drill)]
    if opts.streamer_chaos != "none":
        # Last of the pipeline: its clock starts once everything is up.
        parts.append(StreamerChaosComponent(fleet))
    if drill is not None:
        # After the pipeline too: the drill's clock starts once everything is up.
        parts.append(AlertDrillComponent(drill))
    if opts.dashboard:
        parts.append(DashboardComponent())
    return parts
