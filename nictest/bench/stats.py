"""Summaries of repeated measurements: median and spread, percentiles, ratios of medians."""
from __future__ import annotations

import math
from typing import Optional, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q}: must be within 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict:
    """{n, median, min, max, q1, q3} of repeated figures (the spread the table shows)."""
    if not values:
        raise ValueError("summary of no values: the measurement produced nothing")
    return {"n": len(values), "median": percentile(values, 50), "min": min(values), "max": max(values),
            "q1": percentile(values, 25), "q3": percentile(values, 75)}


def latency_summary(samples_ns: Sequence[int]) -> dict:
    """Round-trip samples (ns) -> microseconds: {n, median_us, p99_us, min_us, max_us}."""
    if not samples_ns:
        raise ValueError("no round trip was answered")
    us = [s / 1000 for s in samples_ns]
    return {"n": len(us), "median_us": percentile(us, 50), "p99_us": percentile(us, 99),
            "min_us": min(us), "max_us": max(us)}


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator, None when either is missing or the denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator
