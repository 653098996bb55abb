"""What the benchmarks share to report a run: percentiles of one run's measurements."""

from __future__ import annotations


def percentile(values: list[float], p: float) -> float:
    """The value at `p` percent of the sorted measurements (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
