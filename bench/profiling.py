"""py-spy profiles of a running process: record, load, summarise as markdown."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT


@contextmanager
def py_spy(tool: str, pid: int, seconds: float, out: Path) -> Iterator[None]:
    """Sample ``pid`` with py-spy (only the thread holding the GIL: where the CPU goes)
    for ``seconds`` from entering the block; waits for the recording at exit."""
    spy = subprocess.Popen(
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "250",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        yield
        spy.wait(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)


#: Frames every stack of a thread goes through: not worth listing.
_PROFILE_FRAMEWORK = ("threading.py", "dramatiq/worker.py", "dramatiq/actor.py", "asyncio/")


def load_pyspy(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """Inclusive and own samples per function of a py-spy raw file, and the total."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return inclusive, own, 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    return inclusive, own, total


def share(inclusive: Counter[str], total: int, *needles: str) -> float:
    """The largest inclusive share of a function whose name contains every needle."""
    found = [n for f, n in inclusive.items() if all(x in f for x in needles)]
    return max(found, default=0) / total if total else 0.0


def summarize_pyspy(path: Path, what: str, top: int = 22) -> list[str]:
    """Markdown lines: the functions that most CPU samples went through (inclusive)."""
    inclusive, own, total = load_pyspy(path)
    if not total:
        return ["(py-spy recorded no samples: not installed, or ptrace refused)"]
    listed = [
        (frame, n)
        for frame, n in inclusive.most_common()
        if not any(x in frame for x in _PROFILE_FRAMEWORK) and n / total >= 0.02
    ][:top]
    return [
        f"py-spy of {what} ({total} samples of the thread holding the GIL): the functions "
        "the most samples went through (inclusive), then by own samples",
        "",
        "| function (inclusive) | share |",
        "| --- | --- |",
        *(f"| `{frame}` | {n / total:.0%} |" for frame, n in listed),
        "",
        "| function (own) | share |",
        "| --- | --- |",
        *(f"| `{frame}` | {n / total:.0%} |" for frame, n in own.most_common(8)),
    ]


def _short(frame: str) -> str:
    """``fn (path/to/site-packages/pkg/mod.py:12)`` -> ``fn (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})".replace("|", "/")
