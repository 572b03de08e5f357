"""Deterministic BTC prices: a smooth walk of time, the same for every query at time t."""

from __future__ import annotations

import hashlib
import math
import struct

# Rough cross rates against USD; the simulator needs plausible, not current, values.
CROSS_RATES = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "CAD": 1.37,
    "CHF": 0.88,
    "AUD": 1.52,
    "JPY": 151.0,
}


def _noise(seed: int, bucket: int) -> float:
    digest = hashlib.sha256(f"{seed}:{bucket}".encode()).digest()
    (value,) = struct.unpack(">Q", digest[:8])
    return float(value) / 2**64 - 0.5


def usd_price(seed: int, unix_s: int) -> int:
    days = unix_s / 86_400
    trend = 0.15 * math.sin(days / 30) + 0.05 * math.sin(days / 3.1 + seed)
    wiggle = 0.01 * _noise(seed, unix_s // 300)
    return round(90_000 * math.exp(trend + wiggle))


def conversions(seed: int, unix_s: int) -> dict[str, int]:
    usd = usd_price(seed, unix_s)
    out = {"time": unix_s}
    out.update({cur: round(usd * rate) for cur, rate in CROSS_RATES.items()})
    return out


def historical_price(seed: int, currency: str, unix_s: int) -> dict[str, object]:
    """As `/v1/historical-price`: the nearest hourly price at or before the timestamp, in
    the currency asked for and in USD (PricesRepository `$getNearestHistoricalPrice`)."""
    hour = unix_s - unix_s % 3600
    usd = usd_price(seed, hour)
    rate = CROSS_RATES.get(currency, 1.0)
    return {
        "prices": [{"time": hour, currency: round(usd * rate), "USD": usd}],
        "exchangeRates": {f"USD{c}": r for c, r in CROSS_RATES.items() if c != "USD"},
    }
