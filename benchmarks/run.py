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


def run_benchmark(module: str, *args: str) -> dict[str, Any]:
    """One benchmark in its own process (its servers and caches die with it)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args, "--json", str(path)],
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
        f"({data['records_per_frame']} contract records each) replayed over loopback "
        f"({base['frames']:,} for the baseline, which takes a minute for them); baseline "
        "and streamer deliver into the local Firehose (moto) -> S3 and a run ends when "
        "every record is in S3.",
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
    cpu_share = ceiling["cpu_ms_per_frame"] / stream["cpu_ms_per_frame"]
    lines += [
        "",
        f"Streamer vs baseline: **{ratio:.2f}x** (target >= 5x: {verdict_speed}); "
        f"streamer vs ceiling: **{share:.0%}** (target >= 65 %: {verdict_ceiling}).",
        "",
        f"Why the ceiling share misses: the streamer's run ends when its last record is in "
        f"S3, and it flushes once a second (the Firehose batch window it is built for), so "
        f"its {stream['seconds_from_first_frame']} s include up to a second of waiting for "
        "that last flush and the S3 poll; the ceiling only counts frames. Per frame of "
        f"CPU, which is what a longer stream is bound by, the streamer does "
        f"{stream['cpu_ms_per_frame']:.3f} ms against the ceiling's "
        f"{ceiling['cpu_ms_per_frame']:.3f} ms: **{cpu_share:.0%}** of the ceiling's "
        "throughput (decode, contract records, JSON lines, packing), still under 65 %.",
        "",
    ]
    return lines


def procedures_section(data: dict[str, Any], command: str) -> list[str]:
    results = sorted(data["results"], key=lambda r: r["history_rows"])
    small, large = results[0], results[-1]
    lines = [
        "## Procedures: cost follows new data",
        "",
        f"`{command}`: {data['new_records']:,} new records (one a new block) per round, "
        f"{data['rounds']} rounds, against SILVER.EVENTS and SILVER.BLOCKS already holding "
        "the history; median seconds per call on the local engine (fakesnow/DuckDB).",
        "",
        "| history rows | LOAD_EVENTS s | BUILD_BLOCKS s | whole chain re-derived s |",
        "|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['history_rows']:,} | {r['load_events_median_s']:.3f} | "
            f"{r['build_blocks_median_s']:.3f} | {r['whole_chain_s']:.3f} |"
        )
    ratios = {
        name: large[f"{name}_median_s"] / small[f"{name}_median_s"]
        for name in ("load_events", "build_blocks")
    }
    lines += [
        "",
        f"Ratio {large['history_rows']:,} vs {small['history_rows']:,} rows: LOAD_EVENTS "
        f"**{ratios['load_events']:.2f}x**, BUILD_BLOCKS **{ratios['build_blocks']:.2f}x** "
        f"(target <= 1.5: {'meets' if max(ratios.values()) <= 1.5 else 'misses'}). The last "
        "column is BUILD_BLOCKS' old way (the whole chain read on every new block), timed "
        "in the same run. DuckDB's hash join finds keys in a million rows in well under a "
        "second, so locally LOAD_EVENTS barely grows either way; on Snowflake its key "
        "lookup is bounded by the batch's received_at window, which prunes SILVER.EVENTS "
        "(appended in that order) to the batch's micro-partitions. That pruning cannot be "
        "measured offline.",
        "",
    ]
    return lines


def cache_ttl_s() -> float:
    """The app's query cache TTL, as `mempool budget` reads it."""
    from operations.budget import APP_CACHE, app_seconds

    return app_seconds()[APP_CACHE]


def dashboard_section(data: dict[str, Any], command: str) -> list[str]:
    loading, runs = data["loading"], data["app_runs_s"]
    gold = ", ".join(f"{t} {n:,}" for t, n in loading["gold_rows"].items())
    median = {name: sorted(times)[len(times) // 2] for name, times in runs.items()}
    slowest = max(median.values())
    lines = [
        "## Dashboard",
        "",
        f"`{command}`: {data['days']:g} days of simulated history ({loading['records']:,} "
        f"records) landed in S3 in {loading['land_s']:.0f} s, loaded into SILVER by the "
        f"pipes and procedures in {loading['silver_s']:.0f} s, gold built by dbt in "
        f"{loading['dbt_s']:.0f} s ({gold} rows). Each app run renders all three tabs "
        "(Streamlit runs every tab), from the deploy bundle, with AppTest; median of 3.",
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| first (nothing cached) | {median['first']:.2f} |",
        f"| rerun (cached, {cache_ttl_s():g} s TTL) | {median['rerun']:.2f} |",
        f"| History switched to 30 days | {median['history_30_days']:.2f} |",
    ]
    live = median.get("live_first")
    if live is not None:
        lines += [
            f"| Live alone, first (nothing cached) | {live:.2f} |",
            f"| Live alone, rerun | {median['live_rerun']:.2f} |",
        ]
    browser = data.get("browser_loads_s")
    if browser:
        lines.append(
            f"| in Chromium: first visit, then reloads | "
            f"{' / '.join(f'{b:.2f}' for b in browser)} |"
        )
    lines += [
        "",
        f"Every page renders in **{slowest:.2f} s** at most on the server (target <= 2 s: "
        f"{'meets' if slowest <= 2 else 'misses'}).",
    ]
    if live is not None:
        lines.append(
            f"Live alone renders in **{live:.2f} s** with nothing cached (target <= 1 s: "
            f"{'meets' if live <= 1 else 'misses'})."
        )
    if browser:
        lines.append(
            f"In the browser, reloads take {min(browser[1:] or browser):.2f} to "
            f"{max(browser[1:] or browser):.2f} s; the very first visit "
            f"({browser[0]:.2f} s) also opens the app's Snowpark session and loads "
            "Streamlit's scripts."
        )
    lines.append("")
    return lines


def freshness_section(data: dict[str, Any], command: str) -> list[str]:
    from operations.budget import APP_CACHE, LIVE_REFRESH, app_seconds

    p50, p95 = data["p50_s"], data["p95_s"]
    app = app_seconds()
    names = {
        "silver": "SILVER (PROJECTED_BLOCK_STATES)",
        "live": "Live view (GOLD.LIVE_PROJECTED_BLOCK)",
        "live tile": "Live tile (the view through the app's cache and refresh)",
        "history": "History chart (GOLD.HISTORY_MEMPOOL_MINUTELY, newest minute's start)",
        "gold": "mart (GOLD.FCT_PROJECTED_BLOCK)",
    }
    rows = [
        f"| {label} | {p50.get(layer, 'n/a')} | {p95.get(layer, 'n/a')} | "
        f"{data['samples'].get(layer, 0)} |"
        for layer, label in names.items()
    ]
    lat50, lat95, events = data["latency_p50_s"], data["latency_p95_s"], data["events"]
    latency_rows = [
        f"| {names[layer].split(' (')[0]} | {lat50.get(layer, 'n/a')} | "
        f"{lat95.get(layer, 'n/a')} | {events.get(layer, 0)} |"
        for layer in ("silver", "live", "live tile")
    ]
    tile, tile_age, history = lat95.get("live tile"), p95.get("live tile"), p95.get("history")
    return [
        "## Local freshness at speed 1",
        "",
        f"`{command}`: `mempool demo --speed 1` for a minute of warm-up, then "
        f"{data['seconds']:g} s of sampling, once a second, of how old the newest row is "
        "in each layer (the simulator sends a projected-block state every 2 s).",
        "",
        "| layer | p50 s | p95 s | samples |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "Each event's latency: every projected-block state SILVER received while sampling, "
        "to the first sample at which the layer shows a state at least that new (the ages "
        "above also count the up to 2 s since the simulator last sent one, and only the "
        "states a sample caught as the newest).",
        "",
        "| layer | p50 s | p95 s | events |",
        "|---|---:|---:|---:|",
        *latency_rows,
        "",
        f"Event to Live tile p95: **{tile} s** (target <= 15 s: "
        f"{'meets' if tile is not None and tile <= 15 else 'misses'}; the tile's age p95 "
        f"{tile_age} s). The tile is the "
        f"view as the app last fetched it: up to a page refresh ({app[LIVE_REFRESH]:g} "
        f"s, through a {app[APP_CACHE]:g} s cache) after the fetch, "
        "and the fetch up to SILVER's lag behind the event; the local runtime loads and "
        "runs the silver task every 5 s (or as soon as its last run ends), while gold's "
        "dbt runs in a lane of its own, as on its warehouse in production. Event to "
        "History's mempool chart p95: "
        f"**{history} s**, read from its newest minute's start (a minute's samples "
        "count from their minute's start, so up to 60 s of it is the minute itself); it "
        "does not wait for gold. The marts trail by up to the demo's gold interval "
        "(the deploy's `gold_refresh_minutes` at this speed, REFRESH_GOLD's checks, the "
        "demo requesting a run as an open dashboard does).",
        "",
    ]


def backfill_section(data: dict[str, Any], command: str) -> list[str]:
    share = data["share_of_limit"]
    return [
        "## Backfill",
        "",
        f"`{command}`: {data['hours']:,} hourly prices from the simulator over HTTP at a "
        f"limit of {data['rate_limit_per_s']:g} requests/s, into the local S3.",
        "",
        f"- Rate: {data['requests']:,} requests in {data['seconds']} s = "
        f"**{data['achieved_per_s']} requests/s, {share:.0%} of the limit** (target >= 90 %: "
        f"{'meets' if share >= 0.9 else 'misses'}).",
        f"- Resume: stopped dead after {data['stopped_after_requests']} requests, the "
        f"second run made {data['resumed_requests']}: **{data['refetched']} refetched** "
        f"(target <= 1 page: {'meets' if data['refetched'] <= 1 else 'misses'}). Fetched "
        "pages travel in the checkpoint until their object is written.",
        "",
    ]


def outage_section(data: dict[str, Any], command: str) -> list[str]:
    start, end = data["rss_mib_at_10_s"], data["rss_mib_at_end"]
    flat = end <= start * 1.1
    verdict = (
        "does not grow with the outage (target: bounded: meets)"
        if flat
        else "grows with the outage (target: bounded: misses)"
    )
    counters = data["streamer_counters"]
    return [
        "## Streamer during a Firehose outage",
        "",
        f"`{command}`: the streamer receives a burst of {data['frames_replayed']:,} frames "
        f"(as fast as it reads them) while nothing answers on its Firehose endpoint, "
        f"for {data['seconds']:g} s.",
        "",
        f"- Resident memory: {start} MiB after 10 s, {end} MiB at the end, peak "
        f"{data['peak_rss_mib']} MiB; the spool on disk grew to {data['spool_mib_at_end']} "
        f"MiB ({counters.get('spooled', 0):,} records). Memory "
        f"{verdict}: once records wait in the spool, a flush probes Firehose with one call and "
        "puts new records on disk at once, and lines are held at their own size (orjson's "
        "results kept a 4 KiB buffer each: 8x).",
        f"- The peak is the burst: frames arrive faster than the first failing flush "
        f"(five attempts with backoff) gives up. The burst also delays pongs behind "
        f"thousands of frames, so the streamer took its connection for dead "
        f"{counters.get('dead_connections', 0)} time(s) and the replay started over "
        f"({counters.get('frames', 0):,} frames received). At mempool.space's pace, a "
        "frame every ~2 s, a 10-minute outage is 300 frames.",
        "",
    ]


def budget_section() -> list[str]:
    from operations.bill import compute, read_settings, render_text
    from operations.budget import Assumptions, gold_stages, render, silver_stages
    from operations.deploy import DeployConfig
    from operations.tradeoffs import render_profiles

    assume = Assumptions()
    config = DeployConfig()
    minutes, trigger = config.gold_refresh_minutes, config.silver_trigger_seconds
    idle, gold_idle = config.silver_idle_minutes, config.gold_idle_minutes
    table = render(
        silver_stages(assume, trigger),
        gold_stages(assume, minutes),
        idle=silver_stages(assume, trigger, idle_minutes=idle),
        assume=assume,
    )
    settings = read_settings(
        minutes,
        silver_trigger_seconds=trigger,
        silver_idle_minutes=idle,
        gold_idle_minutes=gold_idle,
    )
    bill = render_text(compute(settings))
    return [
        "## Production freshness budget",
        "",
        "`mempool budget` (defaults): each stage bounded by a setting of the project or, "
        "where Snowflake sets it, a stated assumption. From SILVER the paths part: the Live "
        "tab reads the GOLD.LIVE_* views (snowflake/dbt/models/live/), computed from "
        "SILVER's last hours when queried, so it waits only for the app's query cache and "
        "its own refresh, never for REFRESH_GOLD; History's mempool, fee and block charts "
        "read GOLD.HISTORY_* (each mart, then SILVER from where it ends), its other charts "
        "the marts REFRESH_GOLD rebuilds. Both refresh on demand: while the dashboard is "
        "open SILVER at the trigger interval and GOLD at REFRESH_GOLD's checks (the Live "
        "and History paths), with nobody watching at their idle ticks (the bill, and the "
        "first look before the dashboard's own requests catch it up).",
        "",
        "```",
        table,
        "```",
        "",
        "What the same settings cost a month (`mempool budget`, the table docs/deploy.md "
        "holds): lines marked estimated rest on a stated assumption, the rest on settings "
        "and list prices.",
        "",
        "```",
        bill,
        "```",
        "",
        render_profiles(assume),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The synchronous baseline manages some tens of frames a second against moto: it gets
    # 1,000 frames, the others 5,000, which keep `make bench` within minutes while the
    # streamer runs long enough to reach its steady rate.
    parser.add_argument("--frames", type=int, default=5_000)
    parser.add_argument("--baseline-frames", type=int, default=1_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--freshness-seconds", type=float, default=120)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    started = time.monotonic()
    streamer_cmd = (
        f"python -m benchmarks.streamer --frames {args.frames} "
        f"--baseline-frames {args.baseline_frames}"
    )
    streamer = run_benchmark(
        "streamer", "--frames", str(args.frames), "--baseline-frames", str(args.baseline_frames)
    )
    procedures_cmd = "python -m benchmarks.procedures --sizes 10000 1000000"
    procedures = run_benchmark("procedures", "--sizes", "10000", "1000000")
    dashboard_cmd = f"python -m benchmarks.dashboard --days {args.days:g}"
    dashboard = run_benchmark("dashboard", "--days", f"{args.days:g}")
    freshness_cmd = f"python -m benchmarks.freshness --seconds {args.freshness_seconds:g}"
    freshness = run_benchmark("freshness", "--seconds", f"{args.freshness_seconds:g}")
    backfill_cmd = "python -m benchmarks.backfill --hours 240 --rate 20"
    backfill = run_benchmark("backfill", "--hours", "240", "--rate", "20")
    outage_cmd = "python -m benchmarks.outage --seconds 90 --frames 20000"
    outage = run_benchmark("outage", "--seconds", "90", "--frames", "20000")
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
        *streamer_section(streamer, streamer_cmd),
        *procedures_section(procedures, procedures_cmd),
        *dashboard_section(dashboard, dashboard_cmd),
        *freshness_section(freshness, freshness_cmd),
        *backfill_section(backfill, backfill_cmd),
        *outage_section(outage, outage_cmd),
        *budget_section(),
    ]
    args.doc.write_text("\n".join(body) + "\n")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
