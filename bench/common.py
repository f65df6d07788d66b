"""What every benchmark shares: the run's context, figures and sections, statistics,
event replays.

The rest of the shared machinery has a module each: scratch namespaces and jobs
(``bench/scratch.py``), worker processes and Redis server facts (``bench/procs.py``),
py-spy profiles (``bench/profiling.py``). Nothing here asserts on speed.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REDIS_URL = os.environ.get("BATCHDIAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Worker threads per process of every benchmark's ``batchdial worker``.
THREADS = 8


class BenchError(RuntimeError):
    """A benchmark could not measure what it wanted (not a slow result: a failure)."""


@dataclass
class Ctx:
    """What every benchmark gets: where Redis is, how hard to try, where to put files."""

    url: str
    tmp: Path
    quick: bool
    runs: int
    profile: bool
    py_spy: str | None
    extra_args: str = ""
    #: True when --runs was given (utilisation otherwise uses 2 runs, to fit 10 minutes).
    runs_given: bool = False

    def command(self, name: str) -> str:
        """The command that reproduces the figures of benchmark ``name``."""
        return f".venv/bin/python -m bench --only {name}{self.extra_args}"

    def log(self, text: str) -> None:
        """Progress on stderr."""
        sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
        sys.stderr.flush()


# -- figures -----------------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure, with its target and the baseline measured in the same run."""

    label: str
    value: float | None
    unit: str = ""
    digits: int = 3
    target: str = ""
    met: bool | None = None
    baseline_label: str = ""
    baseline: float | None = None
    baseline_unit: str | None = None
    ratio: float | None = None
    runs: list[float] = field(default_factory=list)
    command: str = ""
    note: str = ""

    def show(self, value: float | None = None, unit: str | None = None) -> str:
        """``value`` (default: the figure) with its unit, formatted."""
        v = self.value if value is None else value
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        text = f"{v:,.{self.digits}f}"
        return f"{text} {self.unit if unit is None else unit}".strip()

    def show_baseline(self) -> str:
        """The baseline with its unit."""
        return self.show(self.baseline, self.baseline_unit)


@dataclass
class Section:
    """What one benchmark reports: its figures and notes (markdown lines)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What holds back the figures not met, with the evidence (markdown lines).
    holdback: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def median(values: list[float]) -> float:
    """Median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def runs_text(values: list[float], digits: int = 0) -> str:
    """``a, b, c`` for the runs of a figure."""
    return ", ".join(f"{v:,.{digits}f}" for v in values)


# -- event replays ------------------------------------------------------------------
def marks_of(events: list[tuple[int, str, dict[str, Any]]]) -> list[tuple[float, int]]:
    """(ms, +1/-1) of every dial.started / dial.finished, in log order."""
    return [
        (float(ms), 1 if kind == "dial.started" else -1)
        for ms, kind, _ in events
        if kind in ("dial.started", "dial.finished")
    ]


def marks_of_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(ms, +1/-1) of (start s, end s) intervals, in time order (ends first on ties)."""
    marks = [(t0 * 1000, 1) for t0, _ in intervals] + [(t1 * 1000, -1) for _, t1 in intervals]
    marks.sort(key=lambda m: (m[0], m[1]))
    return marks


def utilisation(marks: list[tuple[float, int]], cap: int) -> tuple[float, int, float]:
    """Mean calls in progress / cap, time-weighted, from the first start to the last start
    (while rows remain); also the peak and the span in seconds."""
    starts = [t for t, d in marks if d > 0]
    if not starts:
        return float("nan"), 0, 0.0
    first, end = starts[0], starts[-1]
    live = peak = 0
    last: float | None = None
    area = 0.0
    for t, d in marks:
        if t > end:
            break
        if last is not None:
            area += live * (t - last)
        last = t
        live += d
        peak = max(peak, live)
    span = end - first
    return (area / span / cap if span > 0 else 1.0), peak, span / 1000


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``check`` until it is true; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()
