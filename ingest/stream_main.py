"""EC2 entry point of the streamer (systemd: `python -m ingest.stream_main`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from ingest import aws, contract
from ingest.config import ConfigError, Settings, resolve_region
from ingest.firehose_sink import FirehoseSink
from ingest.launch_hook import LaunchHook, LaunchReadiness, ReportingFirehose
from ingest.spool import Spool
from ingest.streamer import Streamer, StreamerOptions

log = logging.getLogger("mempool.stream")


def build_streamer(
    settings: Settings,
    region: str,
    opts: StreamerOptions | None = None,
    on_delivered: Callable[[], None] | None = None,
) -> Streamer:
    """`on_delivered` is called after every batch Firehose accepted (LaunchReadiness)."""
    firehose = aws.client("firehose", region, aws.STREAM_CLIENT_CONFIG)
    if on_delivered is not None:
        firehose = ReportingFirehose(firehose, on_delivered)
    sink = FirehoseSink(
        firehose=firehose,
        s3=aws.client("s3", region, aws.STREAM_CLIENT_CONFIG),
        bucket=settings.require_bucket(),
        deliveries={
            "stream": settings.stream_delivery,
            "conversions": settings.conversions_delivery,
        },
        spool=Spool(settings.spool_dir),
        landing={"stream": contract.PREFIX_STREAM, "conversions": contract.PREFIX_CONVERSIONS},
    )
    return Streamer(settings.ws_url, sink, opts)


async def run_until_signalled(streamer: Streamer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await streamer.run(stop)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.load()
        region, source = resolve_region()
        hook = LaunchHook.load()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    readiness = None
    if hook is not None:
        # In an Auto Scaling group with a launch hook (the boot script's MEMPOOL_ASG_NAME
        # and MEMPOOL_LAUNCH_HOOK): the first accepted batch makes this instance InService.
        readiness = LaunchReadiness(hook, aws.client("autoscaling", region))
        log.info(
            "will complete launch hook %s of %s after the first delivery", hook.hook, hook.group
        )
    log.info(
        "region %s (from %s); streaming %s to %s / %s",
        region,
        source,
        settings.ws_url,
        settings.stream_delivery,
        settings.conversions_delivery,
    )
    on_delivered = readiness.delivered if readiness is not None else None
    asyncio.run(run_until_signalled(build_streamer(settings, region, on_delivered=on_delivered)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
