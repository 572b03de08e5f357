"""EC2 entry point of the streamer (systemd: `python -m ingest.stream_main`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from ingest import aws, contract
from ingest.config import ConfigError, Settings, resolve_region
from ingest.firehose_sink import FirehoseSink
from ingest.spool import Spool
from ingest.streamer import Streamer, StreamerOptions

log = logging.getLogger("mempool.stream")


def build_streamer(
    settings: Settings, region: str, opts: StreamerOptions | None = None
) -> Streamer:
    sink = FirehoseSink(
        firehose=aws.client("firehose", region, aws.STREAM_CLIENT_CONFIG),
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
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    log.info(
        "region %s (from %s); streaming %s to %s / %s",
        region,
        source,
        settings.ws_url,
        settings.stream_delivery,
        settings.conversions_delivery,
    )
    asyncio.run(run_until_signalled(build_streamer(settings, region)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
