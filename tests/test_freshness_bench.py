"""The freshness benchmark's arithmetic (benchmarks/freshness.py): what the Live tile
shows through the app's refresh and cache, and each event's latency to a layer."""

from __future__ import annotations

from benchmarks.freshness import event_latencies, tile_view


def test_every_event_waits_for_the_first_sample_that_shows_it() -> None:
    # Samples once a second: (time, newest row's time). A run at t=10 shows the events of
    # t=2..6 at once; the next, at t=14, those up to t=12.
    shown = [(t, 0.0 if t < 10 else 6.0 if t < 14 else 12.0) for t in range(0, 17)]
    events = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0]
    # t=0 was shown before sampling began; t=16 is not shown yet: both left out. Every
    # event of a batch counts, not only the newest (which an age would see).
    assert event_latencies(events, shown) == [8.0, 6.0, 4.0, 6.0, 4.0, 2.0]


def test_a_layer_that_goes_back_does_not_unshow_an_event() -> None:
    # A read served by an older copy at t=12 (the newest back at 3): the event of t=5 was
    # shown at t=11, and the one of t=6 waits for t=13.
    shown = [(10.0, 1.0), (11.0, 5.0), (12.0, 3.0), (13.0, 7.0)]
    assert event_latencies([4.0, 5.0, 6.0], shown) == [7.0, 6.0, 7.0]


def test_the_tile_shows_the_last_fetch_until_its_cache_expires() -> None:
    view = [(float(t), float(t)) for t in range(0, 12)]  # the view is always current
    # Refresh every 5 s through the app's 3 s cache: fetched at 0, 5 and 10.
    assert tile_view(view, 5.0, 3.0) == [(float(t), float(t // 5 * 5)) for t in range(0, 12)]
    # Samples between refreshes: a refresh reads the view as the last sample before it
    # saw it (not the later one), and the cache's age counts from that refresh.
    drifting = [(t * 1.3, t * 1.3) for t in range(0, 10)]  # 0, 1.3, ... 11.7
    assert [round(at, 1) for _, at in tile_view(drifting, 5.0, 3.0)] == (
        [0.0] * 4 + [3.9] * 4 + [9.1] * 2
    )
    # A cache as long as two refreshes: the refresh at 5 s is served from it.
    assert [at for _, at in tile_view(view, 5.0, 10.0)] == [0.0] * 10 + [10.0, 10.0]
