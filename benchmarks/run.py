"""`make bench`: run every benchmark and rewrite docs/performance.md with the figures,
the machine, the date and the command. Benchmarks measure; they assert nothing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "performance.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem_gib:.0f} GiB, Python {platform.python_version()}"
    )


def run_streamer(frames: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.streamer", "--frames", str(frames), "--json", str(path)],
        check=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    return result


def streamer_section(data: dict[str, Any], command: str) -> list[str]:
    by = {r["client"]: r for r in data["results"]}
    base, stream, ceiling = by["baseline"], by["streamer"], by["ceiling"]
    ratio = stream["frames_per_s"] / base["frames_per_s"]
    share = stream["frames_per_s"] / ceiling["frames_per_s"]
    lines = [
        "## Streamer",
        "",
        f"`{command}`: {data['frames']:,} stats frames of {data['frame_bytes']:,} bytes "
        f"({data['records_per_frame']} contract records each) replayed over loopback; "
        "baseline and streamer deliver into the local Firehose (moto) -> S3 and a run "
        "ends when every record is in S3.",
        "",
        "| client | frames/s | s from first frame | CPU ms/frame | peak RSS MiB "
        "| Firehose records/frame | billed KB/frame |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (ceiling, base, stream):
        lines.append(
            f"| {r['client']} | {r['frames_per_s']:,.0f} | {r['seconds_from_first_frame']} | "
            f"{r['cpu_ms_per_frame']:.3f} | "
            f"{r['peak_rss_mib']} | {r.get('firehose_records_per_frame', 'n/a')} | "
            f"{r.get('billed_kb_per_frame', 'n/a')} |"
        )
    verdict_speed = "meets" if ratio >= 5 else "misses"
    verdict_ceiling = "meets" if share >= 0.65 else "misses"
    lines += [
        "",
        f"Streamer vs baseline: **{ratio:.2f}x** (target >= 5x: {verdict_speed}); "
        f"streamer vs ceiling: **{share:.0%}** (target >= 65 %: {verdict_ceiling}).",
        "",
    ]
    return lines


NOT_YET = [
    "## Not measured yet",
    "",
    "Each of these is a target of the performance issue without a benchmark so far:",
    "",
    "- LOAD_EVENTS and BUILD_BLOCKS cost for 1,000 new events against 10k and 1M rows "
    "(target ratio <= 1.5); both still read all of SILVER.EVENTS / SILVER.BLOCKS.",
    "- Freshness, simulator event -> GOLD row, p50/p95 at speed 1 (target p95 <= 15 s), "
    "and the production budget from buffers, pipe latency and task intervals "
    "(target <= 2.5 min).",
    "- Backfill request rate against the configured limit (>= 90 %) and the refetch "
    "after a kill mid-run (<= 1 page).",
    "- Dashboard render time per page on 30 days of simulated data (<= 2 s).",
    "- Streamer memory during a 10-minute Firehose outage (the spool is on disk).",
    "",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The synchronous baseline manages some tens of frames a second against moto: 5,000
    # frames keep `make bench` within minutes while the streamer runs long enough to
    # reach its steady rate.
    parser.add_argument("--frames", type=int, default=5_000)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    started = time.monotonic()
    command = f"python -m benchmarks.streamer --frames {args.frames}"
    streamer = run_streamer(args.frames)
    body = [
        "# Performance",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Benchmarks took {time.monotonic() - started:.0f} s in all.",
        "",
        "Figures from one run on a shared machine: read the ratios, not the absolute numbers.",
        "Frames/s count from the moment each client has subscribed (the replay server "
        "notes it) to its last record in S3 (or its exit), so process start-up is left "
        "out.",
        "",
        *streamer_section(streamer, command),
        *NOT_YET,
    ]
    args.doc.write_text("\n".join(body) + "\n")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
