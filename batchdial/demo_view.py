"""What ``batchdial demo`` shows while its job runs, and the summary after.

On a terminal: a live rich display (rows finished, calls in progress against the cap,
each pool number's calls now against its own limit and its dials so far). Elsewhere (a
pipe, a CI log): one plain line at most every second, when something changed. Then a
summary table in both cases.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


@dataclass(slots=True)
class Snapshot:
    """The job at one instant, as the demo shows it."""

    status: str
    counts: dict[str, Any]
    cap: int
    #: number -> (calls in progress now, dials so far)
    per_number: dict[str, tuple[int, int]] = field(default_factory=dict)


def snapshot(job: dict[str, Any], dials: list[dict[str, Any]], pool: tuple[str, ...]) -> Snapshot:
    """The snapshot of ``job`` and its dials so far."""
    live = Counter(d["fromNumber"] for d in dials if d.get("endedAt") is None)
    total = Counter(d["fromNumber"] for d in dials)
    return Snapshot(
        job["status"],
        job["counts"],
        int(job["maxConcurrentDials"]),
        {n: (live[n], total[n]) for n in pool},
    )


def console_for(out: TextIO) -> Console:
    """A rich console on ``out`` (no colours or cursor moves off a terminal)."""
    tty = out.isatty()
    return Console(file=out, width=None if tty else 100, force_terminal=tty, no_color=not tty)


def print_table(out: TextIO, table: Table) -> None:
    """Print ``table`` on ``out``; off a terminal without the padding of each line."""
    console = console_for(out)
    if out.isatty():
        console.print()
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    out.write("\n" + "\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


class LiveView:
    """The live display of a terminal (a context manager)."""

    def __init__(self, out: TextIO, name: str, per_number_limit: int) -> None:
        self._name = name
        self._limit = per_number_limit
        self._live = Live(
            Text("starting…"), console=console_for(out), refresh_per_second=8, transient=False
        )

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, snap: Snapshot) -> None:
        """Show ``snap``."""
        c = snap.counts
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", style="bold")
        grid.add_column(width=40)
        grid.add_column()
        rows = max(int(c["rows"]), 1)
        grid.add_row(
            "finished", ProgressBar(total=rows, completed=c["finished"]), f"{c['finished']}/{rows}"
        )
        grid.add_row(
            "in progress",
            ProgressBar(total=snap.cap, completed=c["inProgress"]),
            f"{c['inProgress']}/{snap.cap} (the job's cap)",
        )
        grid.add_row("queued", "", str(c["queued"]))
        for number, (live, total) in snap.per_number.items():
            grid.add_row(
                number,
                ProgressBar(total=self._limit, completed=live),
                f"{live}/{self._limit} now, {total} dials",
            )
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c.get("byStatus", {}).items()))
        title = Text.assemble((self._name, "bold"), "  ", (snap.status, "cyan"))
        self._live.update(Group(title, grid, Text(f"outcomes: {outcomes or 'none yet'}")))


class PlainView:
    """Periodic plain lines, for output that is not a terminal."""

    def __init__(self, out: TextIO, every_s: float = 1.0) -> None:
        self._out = out
        self._every_s = every_s
        self._last = ""
        self._at = 0.0

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, snap: Snapshot) -> None:
        """Write a line for ``snap`` if it changed and the last line is old enough (or
        the job just ended)."""
        c = snap.counts
        numbers = ", ".join(f"{n} {live}" for n, (live, _) in snap.per_number.items())
        line = (
            f"{snap.status:<8} finished {c['finished']}/{c['rows']}  "
            f"in progress {c['inProgress']}/{snap.cap}  queued {c['queued']}  "
            f"now per number: {numbers}"
        )
        ended = snap.status in {"COMPLETE", "CANCELLED"}
        due = time.monotonic() - self._at >= self._every_s
        if line != self._last and (due or ended):
            self._out.write(line + "\n")
            self._out.flush()
            self._last, self._at = line, time.monotonic()


def summary_table(
    final: dict[str, Any],
    *,
    dials: list[dict[str, Any]],
    events: list[dict[str, Any]],
    pool: tuple[str, ...],
    peak: int,
    elapsed_s: float,
) -> Table:
    """The table printed after the job: outcomes, numbers used, peak calls, events."""
    c = final["counts"]
    table = Table(title=f"{final['name']}: {final['status']} in {elapsed_s:.1f}s", box=None)
    table.add_column("", style="bold", justify="right")
    table.add_column("")
    table.add_row("rows", str(c["rows"]))
    table.add_row("dials", str(len(dials)))
    total = max(sum(c["byStatus"].values()), 1)
    for status, count in sorted(c["byStatus"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"outcome {status}", f"{count} ({100 * count / total:.0f}%)")
    by_number = Counter(d["fromNumber"] for d in dials)
    for number in pool:
        table.add_row(f"from {number}", f"{by_number[number]} dials")
    table.add_row("peak calls", f"{peak} at once (cap {final['maxConcurrentDials']})")
    types = Counter(e["type"] for e in events)
    table.add_row(
        "events", f"{len(events)} (" + ", ".join(f"{k} {v}" for k, v in sorted(types.items())) + ")"
    )
    return table
