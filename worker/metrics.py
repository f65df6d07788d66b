"""Prometheus metrics of the worker processes (multiprocess mode: each process writes
its own files under PROMETHEUS_MULTIPROC_DIR; the supervisor serves the sum)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from domain.protocol import Limit, PaceLimit, SchedulerOutcome, words

DIALS_STARTED = Counter("batchdial_dials_started_total", "Dials started (slots taken).")
SEMAPHORE_REFUSALS = Counter(
    "batchdial_semaphore_refusals_total",
    "Claims refused because a limit was full, by the limit that refused.",
    ["limit"],
)
PACING_REFUSALS = Counter(
    "batchdial_pacing_refusals_total",
    "Claims refused because a start now would exceed a dials-per-second limit, by limit.",
    ["limit"],
)
PUMP_RUNS = Counter(
    "batchdial_pump_runs_total", "Runs of a job's scheduler pump, by what it found.", ["outcome"]
)
PUMP_RELEASED = Counter(
    "batchdial_pump_released_rows_total", "Rows released to the broker by the pump."
)
WINDOW_TO_FIRST_DIAL = Histogram(
    "batchdial_window_open_to_first_dial_seconds",
    "Time from a job's window opening (or the job starting in an open window) to its first dial.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60),
)
PROVIDER_ERRORS = Counter(
    "batchdial_provider_errors_total",
    "Failed dial requests to the http provider, by kind (connect, timeout, 5xx, 4xx).",
    ["kind"],
)
PROVIDER_RETRIES = Counter(
    "batchdial_provider_retries_total", "Dial requests retried after a transient failure."
)

# Every series exists from the start (at 0), so dashboards and alerts see them at once.
for _limit in words(Limit):
    SEMAPHORE_REFUSALS.labels(_limit)
for _pace in words(PaceLimit):
    PACING_REFUSALS.labels(_pace)
for _kind in ("connect", "timeout", "5xx", "4xx"):
    PROVIDER_ERRORS.labels(_kind)
for _outcome in words(SchedulerOutcome):
    PUMP_RUNS.labels(_outcome)
