"""What the benchmarks share to report a run: percentiles of one run's measurements, the machine it ran on, tables."""

from __future__ import annotations

import os
import platform
from collections.abc import Collection, Sequence


def percentile(values: list[float], p: float) -> float:
    """The value at `p` percent of the sorted measurements (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine(setup: dict, *details: str) -> list[str]:
    """Two lines on where the figures come from: Python and the machine (and `details`), then the load before the run,
    with a warning when something else was running."""
    busy = setup["load_start"] > (os.cpu_count() or 2) / 2
    return [
        "  " + ", ".join([f"{platform.python_implementation()} {platform.python_version()}", *details[:-1],
                          f"{os.cpu_count()} CPUs", platform.machine()]) + "; " + details[-1],
        f"  load average (1 min) before the run: {setup['load_start']:.2f}"
        + ("  (something else was running: figures are noisier)" if busy else ""),
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: Collection[int] = (0,)) -> list[str]:
    """A plain-text table: the headers, a rule, the rows; the columns in `left` flush left (names), the others right (figures)."""
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = (cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *map(line, rows)]
