"""What the local stack's parts share: the demo's options, the `Stack` every part reads
and fills in as it starts, and the `Component` protocol each part implements. The demo
(sandbox/demo.py) runs the components; the pipeline (sandbox/pipeline.py) defines most
of them; both import these types from here, neither imports the other's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3

from sandbox import aws_local
from sandbox.paths import Workspace
from sandbox.services import Supervisor
from sandbox.warehouse import LocalWarehouse

# Production's default (terraform's streamer count): each streamer on its own instance,
# with its own WebSocket connection, all writing to the same Firehose streams.
DEFAULT_STREAMERS = 2
# Chaos on the streamers (sandbox/pipeline.py, StreamerChaosComponent): the first one
# killed for good half-way through the run, or each stopped and restarted in turn.
STREAMER_CHAOS = ("none", "kill-one", "restart-in-turn")


def streamer_chaos_for(chaos: bool, chosen: str | None, seed: int, streamers: int) -> str:
    """The streamer scenario of a run: the one asked for, else with --chaos and two
    streamers or more one drawn from the seed (a chaos run on a seed is reproducible, and
    `make chaos`'s seeds see both), else none."""
    if chosen is not None:
        return chosen
    if not chaos or streamers < 2:
        return "none"
    return STREAMER_CHAOS[1 + seed % 2]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration: float | None = None
    seed: int = 1
    speed: float = 10.0
    source: str = "sim"
    chaos: bool = False
    dashboard: bool = True
    moto_port: int = 0
    fakesnow_port: int = 0
    sim_port: int = 0
    dashboard_port: int = 0
    fresh: bool = False
    mix_chains: bool = False
    streamers: int = DEFAULT_STREAMERS
    streamer_chaos: str = "none"
    alert_drill: bool = False
    # Someone watching: the runtime requests a silver and a gold run each cycle, as the
    # open Live and History pages do. Unwatched, SILVER and GOLD refresh at their ticks'
    # schedules (the deploy's silver_idle_minutes and gold_idle_minutes on the demo's
    # clock) unless a page is open.
    watched: bool = True

    @property
    def time_scale(self) -> float:
        """Production seconds one second of the demo stands for: --speed with the simulator
        (its network is that many times as busy), 1 with the real mempool.space. The one
        factor the demo's schedules (the poller's, the alerts') are divided by."""
        return max(self.speed, 0.01) if self.source == "sim" else 1.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoOptions:
        return cls(
            duration=args.duration,
            seed=args.seed,
            speed=args.speed,
            source=args.source,
            chaos=args.chaos,
            dashboard=not args.no_dashboard,
            moto_port=args.moto_port,
            fakesnow_port=args.fakesnow_port,
            sim_port=args.sim_port,
            dashboard_port=args.dashboard_port,
            fresh=args.fresh,
            mix_chains=args.mix_chains,
            streamers=args.streamers,
            streamer_chaos=streamer_chaos_for(
                args.chaos, args.streamer_chaos, args.seed, args.streamers
            ),
            alert_drill=getattr(args, "alert_drill", False),
            watched=not getattr(args, "unwatched", False),
        )


@dataclass
class Stack:
    """What the running stack offers to the components plugged into it."""

    ws: Workspace
    opts: DemoOptions
    supervisor: Supervisor = field(default_factory=Supervisor)
    landing: aws_local.Landing = field(default_factory=aws_local.Landing)
    aws_endpoint: str = ""
    queue_url: str = ""
    warehouse: LocalWarehouse | None = None
    api_base: str = ""
    ws_url: str = ""
    # Component -> the ARN of the role Terraform gives it (provisioned in moto).
    roles: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # When the run began (before the first component starts): --duration counts from here.
    started_at: float = field(default_factory=time.monotonic)

    def aws_env(self) -> dict[str, str]:
        """The local administrator's settings (provisioning, the demo's own reads)."""
        return aws_local.client_env(self.aws_endpoint)

    def role_env(self, component: str) -> dict[str, str]:
        """Settings for a process that runs as `component`'s role."""
        return aws_local.role_env(self.aws_endpoint, self.roles[component], component)

    def role_session(self, component: str) -> boto3.Session:
        return aws_local.role_session(self.aws_endpoint, self.roles[component], component)

    def write_runtime_file(self) -> None:
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "aws_endpoint": self.aws_endpoint,
            "bucket": self.landing.bucket,
            "queue_url": self.queue_url,
            "roles": self.roles,
            "api_base": self.api_base,
            "ws_url": self.ws_url,
            **self.extra,
        }
        if self.warehouse:
            info["fakesnow"] = {"host": self.warehouse.host, "port": self.warehouse.port}
            self.ws.connections_file.write_text(self.warehouse.connections_toml())
        self.ws.runtime_file.write_text(json.dumps(info, indent=2))


class Component(Protocol):
    name: str

    def start(self, stack: Stack) -> None: ...

    def stop(self) -> None: ...

    def summary(self) -> dict[str, Any]: ...
