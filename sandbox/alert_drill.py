"""`mempool demo --alert-drill`: each alert of snowflake/sql/80_alerts.sql provoked once
during a demo, the time of each provocation recorded, and a check (run by `mempool
verify`) that each alert fired within its window after its provocation, and not before,
and that the pipeline recovered after the provocation was undone.

What the drill does, once the pipeline has run WARMUP_S and every alert's latest run is
clear (then one more run of the 15-minute alerts, inside the range the check reads):
- a builder failing: BUILD_STATS fails after it took its events (TASKS_ALERT: REFRESH_SILVER's
  runs fail, the other stages still running; BACKLOG_ALERT: the events it holds
  unfinished), then let be once both fired;
- a pipe paused: RAW.PRICES_PIPE (PIPES_ALERT), resumed once the alert fired;
- a poison-pill burst: records of a contract version nobody writes (QUARANTINE_ALERT);
- the streamers held: every streamer stopped (SIGTERM) and restarted once the alert fired
  (FRESHNESS_ALERT: the SILVER tables only they feed pass their target, which is on the
  data's own clock, so this provocation takes real minutes whatever the speed: the drill
  tightens those tables' targets in OPS.FRESHNESS_TARGETS from 5 minutes to
  DRILL_FRESHNESS_MINUTES for the provocation, as an operator may, and puts them back);
- a block delivered late: while the streamers are held (they deliver every block too), a
  poller's blocks object held back until a later block is loaded, which opens a gap
  (HEIGHT_GAPS_ALERT), then delivered, which closes it; the streamers come back after.

Two alerts are not provoked. STREAMS_ALERT: its condition is DATEADD(DAY, -<threshold>,
...), whole days (the local engine drops a fraction: a threshold of a minute, tried, made
every stream fire, consumed or not), so it needs a stream unconsumed for a day at least;
tests/test_alerts.py tests its condition with a backdated offset. CREDITS_ALERT: nothing
bills locally, so OPS.CREDIT_USAGE has no rows to go over the budget with (made-up
credits would prove only the condition's SQL, which tests/test_alerts.py does).

Timing: alerts run on their schedule divided by --speed (the runtime's schedule_scale); a
provocation's window is how long its condition takes to hold (its lead) plus one interval of
its alert plus SLACK_S (a runtime cycle and a gold build). At the end, after CONFIRM_S,
each provoked alert but QUARANTINE_ALERT (whose condition counts a whole day) is run once
more, as an operator would to confirm it cleared: every one must end CONDITION_FALSE.

Length: one provocation and its undoing per alert, the drill's schedule, and the check
`mempool verify` runs, which must agree on the same record.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from ingest import contract

log = logging.getLogger("mempool.demo")

DRILL_FILE = "alert-drill.json"
WARMUP_S = 30.0
# A runtime cycle and a gold build, which run in the same thread as the alerts: an
# alert due during a build runs after it. The drill's builds took up to 65 s on two busy
# cores while fct_block_projection_accuracy recounted every height in its lookback; up
# to 20 s since it counts only what changed.
SLACK_S = 90.0
BASELINE_MAX_S = 60.0
CONFIRM_S = 60.0
# The builder the drill makes fail: the first of the silver builders, fed every poller
# run (REST fees and mempool), so its backlog does not wait for the streamers.
BUILDER = "BUILD_STATS"
SILVER_TASK = "REFRESH_SILVER"  # the task that runs it (60_tasks.sql)
BUILDER_CONSUMER = "stats"  # its name in OPS.CONSUMER_BATCH (build_stats.CONSUMER)
PAUSED_PIPE = "RAW.PRICES_PIPE"
POISON_RECORDS = 20
# The SILVER tables only the streamers feed, and the freshness target the drill gives
# them while it holds the streamers (OPS.FRESHNESS_TARGETS; the deploy's is 5 minutes).
STREAMER_TABLES = ("MEMPOOL_BLOCKS", "PROJECTED_BLOCK_STATES", "VBYTES_PER_SECOND")
DRILL_FRESHNESS_MINUTES = 2
FRESHNESS_TARGET_S = DRILL_FRESHNESS_MINUTES * 60
# Minutes in each alert's SCHEDULE (80_alerts.sql).
SCHEDULE_MINUTES = {
    "FRESHNESS_ALERT": 15,
    "BACKLOG_ALERT": 15,
    "QUARANTINE_ALERT": 60,
    "TASKS_ALERT": 15,
    "PIPES_ALERT": 15,
    "STREAMS_ALERT": 720,
    "HEIGHT_GAPS_ALERT": 60,
    "CREDITS_ALERT": 60,
}
SKIPPED = {
    "STREAMS_ALERT": "its threshold is whole days (DATEADD(DAY, ...)): a stream would have "
    "to stay unconsumed a day; tests/test_alerts.py backdates an offset instead",
    "CREDITS_ALERT": "nothing bills locally: OPS.CREDIT_USAGE has no rows, and made-up "
    "credits would test only the condition's SQL (tests/test_alerts.py does)",
}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Provocation:
    alert: str
    what: str
    at: str  # UTC, ISO: from here the alert may fire
    window_s: float  # ... until at + window_s it must have
    expect: str  # a text its notification must carry
    undone_at: str | None = None  # when the drill put things back
    recovers: bool = True  # the alert clears once undone (not QUARANTINE_ALERT: a day)


@dataclass
class DrillRecord:
    speed: float
    started_at: str
    provocations: list[Provocation] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=lambda: dict(SKIPPED))
    confirmed_at: str | None = None
    done: bool = False

    def provoked(self, alert: str) -> Provocation | None:
        return next((p for p in self.provocations if p.alert == alert), None)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)  # whole or not at all: verify may read it meanwhile

    @classmethod
    def read(cls, path: Path) -> DrillRecord:
        data = json.loads(path.read_text())
        data["provocations"] = [Provocation(**p) for p in data["provocations"]]
        return cls(**data)


class AlertDrill:
    """The drill's state. `before_cycle` runs in the runtime's thread at the start of each
    cycle (everything done to the warehouse is done there, on the runtime's connection);
    the streamers are stopped and restarted by `StreamerHold`'s thread."""

    def __init__(self, speed: float, fleet: Any) -> None:
        self.speed = speed
        self.path = Path(DRILL_FILE)  # in the workspace, once the drill starts
        self.fleet = fleet  # sandbox.pipeline.StreamerFleet
        self.interval_s = {a: m * 60.0 / speed for a, m in SCHEDULE_MINUTES.items()}
        self.began: float | None = None
        self.record = DrillRecord(speed, now_utc().isoformat())
        self.fail_builder = False
        self.freshness_targets: list[Any] = []  # the deploy's, while the drill's apply
        self.held_block: str | None = None
        self.held_heights: set[int] = set()
        # The last moment SILVER.BLOCK_GAPS was seen without the held heights' gap.
        self.gap_absent_at: datetime | None = None
        self.holding_blocks = False
        self.hold_streamers = threading.Event()
        self.release_streamers = threading.Event()
        self.streamers_back: str | None = None
        self.finished = False
        self.baseline: float | None = None
        self.min_interval = min(self.interval_s.values())

    def start(self, workspace_root: Path) -> None:
        self.path = workspace_root / DRILL_FILE
        self.began = time.monotonic()
        self.record = DrillRecord(self.speed, now_utc().isoformat())
        self.record.write(self.path)

    # -- in the runtime's thread ---------------------------------------------------------

    def all_clear(self, runtime: Any) -> bool:
        """Every alert has run, and its latest run was CONDITION_FALSE."""
        rows = runtime.execute(
            "SELECT ALERT_NAME, MAX_BY(STATE, COMPLETED_AT) "
            f"FROM {runtime.database}.OPS.ALERT_RUNS GROUP BY ALERT_NAME"
        )
        latest = dict(rows)
        due = [a for a in SCHEDULE_MINUTES if self.interval_s[a] <= self.min_interval]
        return all(latest.get(a) == "CONDITION_FALSE" for a in due) and all(
            state == "CONDITION_FALSE" for state in latest.values()
        )

    def fail_switch(self, procedure: str) -> int | None:
        """The failing builder: fails before its second statement (its events taken into
        OPS.CONSUMER_BATCH by the first, and left there)."""
        return 1 if self.fail_builder and procedure.upper().endswith(BUILDER) else None

    def provoke(
        self,
        alert: str,
        what: str,
        lead_s: float,
        expect: str,
        interval_s: float | None = None,
        at: datetime | None = None,
        **kw: Any,
    ) -> None:
        """Record a provocation, made now or (`at`) known to have begun after then."""
        interval = self.interval_s[alert] if interval_s is None else interval_s
        window = lead_s + interval + SLACK_S
        self.record.provocations.append(
            Provocation(alert, what, (at or now_utc()).isoformat(), window, expect, **kw)
        )
        log.warning("alert drill: %s (%s must fire within %.0fs)", what, alert, window)
        self.record.write(self.path)

    def undo(self, alert: str) -> None:
        provocation = self.record.provoked(alert)
        if provocation is not None and provocation.undone_at is None:
            provocation.undone_at = now_utc().isoformat()
            self.record.write(self.path)

    def fired(self, runtime: Any, alert: str) -> bool:
        provocation = self.record.provoked(alert)
        if provocation is None:
            return False
        # Fired for this provocation: its notification names what the drill did.
        rows = runtime.execute(
            f"SELECT MESSAGE FROM {runtime.database}._LOCAL.ALERT_NOTIFICATIONS "
            "WHERE ALERT_NAME = ? AND RECORDED_AT >= ?",
            [f"OPS.{alert}", datetime.fromisoformat(provocation.at)],
        )
        return any(provocation.expect in str(m) for (m,) in rows)

    def overdue(self, alert: str) -> bool:
        """Past its window: the drill undoes it anyway (the check says it did not fire)."""
        p = self.record.provoked(alert)
        return p is not None and now_utc() > datetime.fromisoformat(p.at) + timedelta(
            seconds=p.window_s
        )

    def done_with(self, runtime: Any, alert: str) -> bool:
        return self.fired(runtime, alert) or self.overdue(alert)

    def before_cycle(self, runtime: Any) -> None:
        if self.began is None or self.finished:
            return
        if time.monotonic() - self.began < WARMUP_S:
            return
        db = runtime.database
        if self.baseline is None:
            # A fresh pipeline's FRESHNESS_ALERT fires while a table has no rows yet (the
            # first block's projection can take minutes): the drill starts once every
            # alert's latest run is clear, or after BASELINE_MAX_S more; its record (the
            # range the check reads) starts there. The check tells such firings from the
            # drill's by what the notification names.
            waited = time.monotonic() - self.began - WARMUP_S
            if waited < BASELINE_MAX_S and not self.all_clear(runtime):
                return
            self.baseline = time.monotonic()
            self.record = DrillRecord(self.speed, now_utc().isoformat())
            self.record.write(self.path)
            log.warning("alert drill: every alert clear; provoking in %.0fs", self.min_interval)
        if time.monotonic() - self.baseline < self.min_interval + 5.0:
            return  # one clean run of the 15-minute alerts inside the checked range
        if not self.record.provocations:
            self.provoke(
                "TASKS_ALERT",
                f"{BUILDER} failing after taking its events",
                0.0,
                f"OPS.{SILVER_TASK}",
            )
            self.provoke(
                "BACKLOG_ALERT",
                f"{BUILDER} holding events it does not finish",
                0.0,
                f"OPS.{BUILDER_CONSUMER}: ",
            )
            self.fail_builder = True
            runtime._apply(f"ALTER PIPE {db}.{PAUSED_PIPE} SET PIPE_EXECUTION_PAUSED = TRUE")
            self.provoke("PIPES_ALERT", f"{PAUSED_PIPE} paused", 0.0, f"{PAUSED_PIPE}: PAUSED")
            self.poison_burst(runtime)
            self.provoke(
                "QUARANTINE_ALERT",
                f"a poison-pill burst ({POISON_RECORDS} records of contract version 99)",
                0.0,
                "unsupported contract version",
                recovers=False,
            )
            self.tighten_freshness(runtime)
            self.hold_streamers.set()
            self.provoke(
                "FRESHNESS_ALERT",
                "every streamer held",
                FRESHNESS_TARGET_S,
                "SILVER.PROJECTED_BLOCK_STATES",
            )
            return
        self._step(runtime, db)

    def _step(self, runtime: Any, db: str) -> None:
        provoked = self.record.provoked
        pipes = provoked("PIPES_ALERT")
        if pipes is not None and pipes.undone_at is None and self.done_with(runtime, pipes.alert):
            runtime._apply(f"ALTER PIPE {db}.{PAUSED_PIPE} SET PIPE_EXECUTION_PAUSED = FALSE")
            self.undo("PIPES_ALERT")
        both = ("TASKS_ALERT", "BACKLOG_ALERT")
        if self.fail_builder and all(self.done_with(runtime, a) for a in both):
            self.fail_builder = False
            self.undo("TASKS_ALERT")
            self.undo("BACKLOG_ALERT")
            self.holding_blocks = True  # the builders run again: a gap can be seen
        if self.holding_blocks:
            self.hold_blocks(runtime)
        self.observe_gap(runtime)
        gap = provoked("HEIGHT_GAPS_ALERT")
        if gap is not None and self.held_block is not None and self.done_with(runtime, gap.alert):
            key, self.held_block, self.holding_blocks = self.held_block, None, False
            runtime.load_object(key)
            self.undo("HEIGHT_GAPS_ALERT")
        # The streamers come back only once the gap is closed too: their first message
        # lists the latest blocks, the held one among them, which would close the gap
        # before the alert's next run (and a streamer running delivers every new block,
        # so no late poller object could open one).
        if (
            self.hold_streamers.is_set()
            and not self.release_streamers.is_set()
            and self.done_with(runtime, "FRESHNESS_ALERT")
            and gap is not None
            and gap.undone_at is not None
        ):
            self.restore_freshness(runtime)
            self.release_streamers.set()
        freshness = provoked("FRESHNESS_ALERT")
        if self.streamers_back and freshness is not None and freshness.undone_at is None:
            freshness.undone_at = self.streamers_back
            self.record.write(self.path)
        self._confirm(runtime)

    def _confirm(self, runtime: Any) -> None:
        """Once every provocation is undone and CONFIRM_S has passed, each alert that
        should have cleared is run once more (EXECUTE ALERT), as an operator checks."""
        ps = self.record.provocations
        if len(ps) < 6 or any(p.recovers and p.undone_at is None for p in ps):
            return
        last = max(datetime.fromisoformat(p.undone_at) for p in ps if p.undone_at)
        if now_utc() < last + timedelta(seconds=CONFIRM_S):
            return
        for p in ps:
            if p.recovers:
                runtime.execute_alert(f"OPS.{p.alert}")
        self.record.confirmed_at = now_utc().isoformat()
        self.record.done = True
        self.finished = True
        self.record.write(self.path)
        log.warning("alert drill: done; `mempool verify` checks it")

    def poison_burst(self, runtime: Any) -> None:
        """Well-formed JSON lines the contract refuses (a version nobody writes): the load
        quarantines them, and nothing else is touched."""
        received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines = [
            json.dumps(
                {
                    "v": 99,
                    "source": "ws",
                    "topic": "stats",
                    "origin_id": "alert-drill-poison",
                    "frame_seq": n,
                    "received_at": received,
                    "payload": {},
                },
                separators=(",", ":"),
            )
            for n in range(POISON_RECORDS)
        ]
        stamp = datetime.now(UTC).strftime("%Y/%m/%d/%H")
        runtime.s3.put_object(
            Bucket=runtime.bucket,
            Key=f"mempool-data/stream/{stamp}/alert-drill-poison-{uuid.uuid4().hex[:8]}.ndjson",
            Body=("\n".join(lines) + "\n").encode(),
        )

    def hold_blocks(self, runtime: Any) -> None:
        """Before the runtime drains its notifications: the first object with blocks in it
        is held back (the blocks prefix also carries objects of mined txids alone, which
        open no gap); every other object is loaded, and the first later block opens the
        gap, which `observe_gap` sees in SILVER."""
        while True:
            resp = runtime.sqs.receive_message(
                QueueUrl=runtime.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = resp.get("Messages", [])
            if not messages:
                return
            for message in messages:
                for record in json.loads(message["Body"]).get("Records", []):
                    if not record.get("eventName", "").startswith("ObjectCreated"):
                        continue
                    key = unquote_plus(record["s3"]["object"]["key"])
                    heights = (
                        block_heights(runtime, key)
                        if key.startswith("mempool-data/blocks/")
                        else set()
                    )
                    if heights and self.held_block is None:
                        self.held_block, self.held_heights = key, heights
                        self.gap_absent_at = now_utc()  # nothing loaded can open it yet
                        log.warning("alert drill: %s held back", key)
                        continue
                    runtime.load_object(key)
                runtime.sqs.delete_message(
                    QueueUrl=runtime.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def observe_gap(self, runtime: Any) -> None:
        """HEIGHT_GAPS_ALERT's provocation is the gap itself, seen in SILVER.BLOCK_GAPS over
        a held height, not the drill's act: whatever opened it (a later poller object, a
        streamer's block, an object that repeats one held height and not another), the
        alert cannot have seen it before the last check that found it absent, which is
        the provocation's time. Runs at the cycle's start, before the graph and alerts."""
        if self.held_block is None or self.record.provoked("HEIGHT_GAPS_ALERT"):
            return
        low, high = min(self.held_heights), max(self.held_heights)
        rows = runtime.execute(
            f"SELECT COUNT(*) FROM {runtime.database}.SILVER.BLOCK_GAPS "
            f"WHERE HEIGHT <= {int(high)} AND LAST_HEIGHT >= {int(low)}"
        )
        if rows and rows[0][0]:
            self.provoke(
                "HEIGHT_GAPS_ALERT",
                f"a block delivered late ({self.held_block}), a later one loaded",
                0.0,
                "SILVER.BLOCK_GAPS",
                at=self.gap_absent_at,
            )
        else:
            self.gap_absent_at = now_utc()

    def release_all(self, runtime: Any) -> None:
        """The demo's last pass: whatever the drill still holds is put back, so what
        landed verifies (the check then says which alert the drill did not see through)."""
        db = runtime.database
        self.fail_builder = False
        self.holding_blocks = False
        if self.record.provoked("PIPES_ALERT"):
            runtime._apply(f"ALTER PIPE {db}.{PAUSED_PIPE} SET PIPE_EXECUTION_PAUSED = FALSE")
        if self.held_block is not None:
            key, self.held_block = self.held_block, None
            runtime.load_object(key)
        self.restore_freshness(runtime)
        self.release_streamers.set()

    def tighten_freshness(self, runtime: Any) -> None:
        """The streamer-only tables' targets down to the drill's, with no idle allowance
        (the drill's viewer is watching), the deploy's kept."""
        table = f"{runtime.database}.OPS.FRESHNESS_TARGETS"
        names = ", ".join(f"'{n}'" for n in STREAMER_TABLES)
        where = f"TABLE_SCHEMA = 'SILVER' AND TABLE_NAME IN ({names})"
        self.freshness_targets = runtime.execute(
            f"SELECT TABLE_NAME, TARGET_MINUTES, IDLE_MINUTES FROM {table} WHERE {where}"
        )
        runtime.execute(
            f"UPDATE {table} SET TARGET_MINUTES = {DRILL_FRESHNESS_MINUTES}, IDLE_MINUTES = 0 "
            f"WHERE {where}"
        )

    def restore_freshness(self, runtime: Any) -> None:
        table = f"{runtime.database}.OPS.FRESHNESS_TARGETS"
        for name, minutes, idle in self.freshness_targets:
            runtime.execute(
                f"UPDATE {table} SET TARGET_MINUTES = ?, IDLE_MINUTES = ? "
                f"WHERE TABLE_SCHEMA = 'SILVER' AND TABLE_NAME = ?",
                [minutes, idle, name],
            )
        self.freshness_targets = []


class AlertDrillComponent:
    """The drill's clock starts once the pipeline is up; its thread holds the streamers
    and restarts them. It ends only at stop(): a process started by a thread gets SIGTERM
    when that thread ends (sandbox.child's PR_SET_PDEATHSIG), as StreamerChaosComponent
    notes."""

    name = "alert drill"

    def __init__(self, drill: AlertDrill) -> None:
        self.drill = drill
        self.thread: threading.Thread | None = None
        self.released = threading.Event()

    def start(self, stack: Any) -> None:
        self.drill.start(stack.ws.root)
        self.thread = threading.Thread(target=self._run, name="alert-drill", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._hold()
        except Exception:
            log.exception("alert drill failed")
        finally:
            self.released.wait()

    def _hold(self) -> None:
        fleet, drill = self.drill.fleet, self.drill
        while not drill.hold_streamers.wait(1.0):
            if fleet.stopping.is_set():
                return
        with fleet.lock:
            if fleet.stopping.is_set():
                return
            for member in fleet.members:
                member.terminate()
        log.warning("alert drill: every streamer stopped (SIGTERM)")
        while not drill.release_streamers.wait(1.0):
            if fleet.stopping.is_set():
                return
        with fleet.lock:
            if fleet.stopping.is_set():
                return
            for member in fleet.members:
                member.restart()
            drill.streamers_back = now_utc().isoformat()
        log.warning("alert drill: the streamers restarted")

    def pause(self) -> None:
        self.drill.fleet.stopping.set()

    def stop(self) -> None:
        self.released.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def summary(self) -> dict[str, Any]:
        r = self.drill.record
        return {
            "provoked": ", ".join(p.alert for p in r.provocations) or "nothing",
            "finished": "yes" if r.done else "no",
        }


# -- the check -------------------------------------------------------------------------


def check_drill(conn: Any, record: DrillRecord) -> tuple[list[str], list[str]]:
    """(what was seen, what is wrong) for a drill's record against OPS.ALERT_RUNS and the
    recorded notifications of the warehouse it ran on."""
    began = datetime.fromisoformat(record.started_at)
    cur = conn.cursor()
    # Filtered here, not in SQL: the connection's parameter style is the caller's.
    cur.execute("SELECT ALERT_NAME, STATE, SCHEDULED_AT FROM OPS.ALERT_RUNS")
    runs = sorted(
        ((str(a), str(s), at) for a, s, at in cur.fetchall() if at >= began), key=lambda r: r[2]
    )
    cur.execute("SELECT ALERT_NAME, MESSAGE, RECORDED_AT FROM _LOCAL.ALERT_NOTIFICATIONS")
    notes = [(str(a).rsplit(".", 1)[-1], str(m), at) for a, m, at in cur.fetchall() if at >= began]
    seen: list[str] = []
    wrong: list[str] = []
    if not record.done:
        wrong.append("the drill did not finish (run longer: docs/runbook.md#alert-drill)")
    for alert in SCHEDULE_MINUTES:
        if alert in record.skipped:
            seen.append(f"{alert}: not provoked ({record.skipped[alert]})")
            if any(a == alert and s == "TRIGGERED" for a, s, _ in runs):
                wrong.append(f"{alert}: fired, and nothing provoked it")
            continue
        p = record.provoked(alert)
        if p is None:
            wrong.append(f"{alert}: never provoked")
            continue
        at = datetime.fromisoformat(p.at)
        end = at + timedelta(seconds=p.window_s)
        mine = [(s, t) for a, s, t in runs if a == alert]
        # A firing is the provocation's when its notification names what the drill did
        # (a fresh pipeline's FRESHNESS_ALERT may fire for a table with no rows yet).
        named = sorted(t for a, m, t in notes if a == alert and p.expect in m)
        early = [t for t in named if t < at]
        fired = [t for t in named if at <= t <= end]
        if early:
            wrong.append(f"{alert}: fired at {early[0]}, before its provocation at {at}")
        if not fired:
            said = [m for a, m, t in notes if a == alert and at <= t <= end]
            wrong.append(
                f"{alert}: did not fire naming {p.expect!r} within {p.window_s:.0f}s of "
                f"{p.what} at {at} (said: {said[:1]})"
            )
            continue
        seen.append(
            f"{alert}: fired {(fired[0] - at).total_seconds():.0f}s after {p.what} "
            f"(window {p.window_s:.0f}s)"
        )
        if not p.recovers:
            continue
        if p.undone_at is None:
            wrong.append(f"{alert}: its provocation was never undone")
            continue
        after = [s for s, t in mine if t > datetime.fromisoformat(p.undone_at)]
        if not after or after[-1] != "CONDITION_FALSE":
            wrong.append(f"{alert}: not clear after {p.what} was undone (runs since: {after})")
    failed = sorted({f"{a} {s}" for a, s, _ in runs if s.endswith("_FAILED")})
    if failed:
        wrong.append(f"runs that failed during the drill: {', '.join(failed)}")
    return seen, wrong


def drill_record(workspace_root: Path) -> DrillRecord | None:
    path = workspace_root / DRILL_FILE
    return DrillRecord.read(path) if path.exists() else None


# The poller's one block a record, the WebSocket's list of them.
BLOCK_TOPICS = (contract.TOPIC_BLOCK, contract.TOPIC_BLOCKS)


def block_heights(runtime: Any, key: str) -> set[int]:
    """The heights of the blocks records in a landed object (none in one of txids alone)."""
    body = runtime.s3.get_object(Bucket=runtime.bucket, Key=key)["Body"].read()
    heights = set()
    for record in contract.iter_ndjson(body):
        if record.topic not in BLOCK_TOPICS:
            continue
        payload = record.payload
        for block in payload if isinstance(payload, list) else [payload]:
            height = block.get("height") if isinstance(block, dict) else None
            if isinstance(height, int):
                heights.add(height)
    return heights
