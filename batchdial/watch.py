"""``batchdial jobs watch``: a job's progress until it ends.

On a terminal, a live rich progress bar (finished of rows, calls in progress against
the cap, queued, outcomes so far, the forecast finish); elsewhere one plain line each
time the counts change; with ``--json`` one job object per line (NDJSON).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from batchdial.client import ApiError, Client

#: The exit code of ``watch`` for each state a job ends in.
EXIT_OF_END = {"COMPLETE": 0, "CANCELLED": 3}
ENDED = frozenset(EXIT_OF_END)


def summary_line(job: dict[str, Any]) -> str:
    """``ACTIVE  finished 12/300  in progress 5/5  queued 283  completed 9, busy 3``."""
    c = job["counts"]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c.get("byStatus", {}).items()))
    line = (
        f"{job['status']:<9} finished {c['finished']}/{c['rows']}  "
        f"in progress {c['inProgress']}/{job['maxConcurrentDials']}  queued {c['queued']}"
    )
    return line + (f"  {outcomes}" if outcomes else "")


_REASONS = {
    "never_open": "its window does not open within a year",
    "no_capacity": "no calls can run (cap, dial limit or pool limits are 0)",
}


def forecast_line(forecast: dict[str, Any] | None) -> str:
    """``finish ~2026-12-03T17:20:00.000Z (2 days of dialing, 4.5 h; calls 60 s,
    default)`` or empty."""
    if not forecast or forecast.get("reason") in {"complete", "cancelled"}:
        return ""
    finish = forecast.get("finishAt")
    if finish is None:
        return f"finish: never ({_REASONS.get(forecast.get('reason') or '', 'unknown')})"
    days = forecast.get("days") or []
    hours = sum(float(d["dialingHours"]) for d in days)
    mean = forecast.get("meanCallSeconds")
    source = forecast.get("meanCallSecondsSource")
    calls = f"; calls {mean:g} s, {source}" if isinstance(mean, int | float) else ""
    span = f"{len(days)} day{'s' if len(days) != 1 else ''} of dialing, {hours:.1f} h"
    return f"finish ~{finish} ({span}{calls})"


class _Forecasts:
    """The job's forecast, re-read every ``every_s``; off once the API has no such route."""

    def __init__(self, client: Client, job_id: str, every_s: float = 10.0) -> None:
        self._client, self._job_id, self._every_s = client, job_id, every_s
        self._at = -every_s
        self._off = False
        self.last: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        if self._off or time.monotonic() - self._at < self._every_s:
            return self.last
        self._at = time.monotonic()
        try:
            self.last = self._client.forecast(self._job_id)
        except ApiError:
            self._off, self.last = True, None
        return self.last


def watch(
    client: Client,
    job_id: str,
    *,
    interval_s: float = 1.0,
    out: TextIO | None = None,
    as_json: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow the job until it is COMPLETE (0) or CANCELLED (3), writing to ``out``
    (default: stdout); raises ApiError."""
    out = out if out is not None else sys.stdout
    forecasts = _Forecasts(client, job_id)
    if as_json or not out.isatty():
        return _plain(
            client,
            job_id,
            interval_s=interval_s,
            out=out,
            as_json=as_json,
            forecasts=forecasts,
            sleep=sleep,
        )
    return _live(client, job_id, interval_s=interval_s, out=out, forecasts=forecasts, sleep=sleep)


def _plain(
    client: Client,
    job_id: str,
    *,
    interval_s: float,
    out: TextIO,
    as_json: bool,
    forecasts: _Forecasts,
    sleep: Callable[[float], None],
) -> int:
    last = None
    while True:
        job = client.get_job(job_id)
        if as_json:
            line = json.dumps(job, separators=(",", ":"))
            key = json.dumps({**job, "updatedAt": None, "window": None})
        else:
            extra = forecast_line(forecasts.get()) if job["status"] not in ENDED else ""
            line = summary_line(job) + (f"  {extra}" if extra else "")
            key = line
        if key != last:  # a line only when something changed
            out.write(line + "\n")
            out.flush()
            last = key
        if job["status"] in ENDED:
            return EXIT_OF_END[job["status"]]
        sleep(interval_s)


def _live(
    client: Client,
    job_id: str,
    *,
    interval_s: float,
    out: TextIO,
    forecasts: _Forecasts,
    sleep: Callable[[float], None],
) -> int:
    """The bar on one line, outcomes and the forecast on the next (so that a long
    forecast never squeezes the bar)."""
    console = Console(file=out)
    job = client.get_job(job_id)
    progress = Progress(
        TextColumn("[bold]{task.fields[status]:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("in progress {task.fields[live]}  queued {task.fields[queued]}"),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task(
        job["name"], total=max(job["counts"]["rows"], 1), status=job["status"], live="", queued=""
    )
    with Live(progress, console=console, refresh_per_second=4) as live:
        while True:
            c = job["counts"]
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c.get("byStatus", {}).items()))
            ended = job["status"] in ENDED
            extra = " · ".join(
                p for p in (outcomes, "" if ended else forecast_line(forecasts.get())) if p
            )
            progress.update(
                task,
                total=max(c["rows"], 1),
                completed=c["finished"] + c["cancelled"],
                status=job["status"],
                live=f"{c['inProgress']}/{job['maxConcurrentDials']}",
                queued=c["queued"],
            )
            # Every reading drawn, not only those a refresh tick happens to meet.
            live.update(Group(progress, Text(extra or "no outcome yet")), refresh=True)
            if ended:
                break
            sleep(interval_s)
            job = client.get_job(job_id)
    return EXIT_OF_END[job["status"]]
