"""Prometheus metrics shared by the API and the workers, and the Redis collector.

Whichever process ends a dial counts it (a worker for simulated calls and provider
answers, the API for provider callbacks), once: the count follows the atomic end
script's answer. Totals that must be right whichever process is scraped (jobs by
status, rows queued, dials in progress, the dial queue, scheduler lag) are read from
Redis on every scrape by :class:`RedisCollector`. No job id, row id or phone number
is ever a label value. Redis memory against ``maxmemory`` is read with ``INFO memory``
(:mod:`domain.storage`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import redis
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from domain.health import number_families
from domain.keys import Keys
from domain.protocol import RecoveryReason, words
from domain.storage import FULL_RATIO, MemoryUse, read_memory

JOB_STATUSES = ("INIT", "ACTIVE", "PAUSED", "COMPLETE", "CANCELLED")
#: At most this many active jobs are inspected per scrape for `batchdial_jobs_stalled`.
STALLED_SCAN_LIMIT = 2_000

DIALS_FINISHED = Counter(
    "batchdial_dials_finished_total",
    "Dials ended by this process, by final status.",
    ["status"],
)
CALL_DURATION = Histogram(
    "batchdial_call_duration_seconds",
    "Time from a dial's start to its end.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
CALLBACK_REFILLS = Counter(
    "batchdial_callback_refills_total",
    "Rows pushed at once onto the refill list by the process that recorded a reported "
    "end (the API, for carriers' callbacks): the rows released into the freed slot.",
)
LEASE_RECOVERIES = Counter(
    "batchdial_lease_recoveries_total",
    "Dials ended because their holder stopped renewing or ran past the longest call.",
    ["reason"],
)

REPLICA_WAITS_FAILED = Counter(
    "batchdial_replica_waits_failed_total",
    "Claims, handoffs and ends that fewer replicas than BATCHDIAL_REDIS_MIN_REPLICAS "
    "acknowledged in time (a claim is put back, no call placed; a handed-off call stays "
    "renewed by its worker; an end is retried).",
    ["write"],
)

WEBHOOK_DELIVERIES = Counter(
    "batchdial_webhook_deliveries_total",
    "Webhook delivery attempts recorded by this process, by outcome.",
    ["outcome"],
)
WEBHOOK_ATTEMPT_DURATION = Histogram(
    "batchdial_webhook_attempt_duration_seconds",
    "Time of one webhook delivery attempt (address check and POST).",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15),
)
PREDIAL_VERDICTS = Counter(
    "batchdial_predial_verdicts_total",
    "Pre-dial checks by verdict (dial, skip, defer) and who decided it (the hook's "
    "answer, or onTimeout: no answer in time, an error, an answer that is not one).",
    ["action", "decided_by"],
)
PREDIAL_DURATION = Histogram(
    "batchdial_predial_duration_seconds",
    "Time of one pre-dial check (address check, POST and answer), up to its timeout.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)
#: Pending deliveries looked at per scrape for the oldest one's age.
WEBHOOK_AGE_SCAN = 1_000


#: Final statuses a dial may end with (pre-created so that every series exists at 0).
_FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled", "voicemail")
for _status in _FINAL_STATUSES:
    DIALS_FINISHED.labels(_status)
for _reason in words(RecoveryReason):
    LEASE_RECOVERIES.labels(_reason)
for _write in ("claim", "handoff", "end"):
    REPLICA_WAITS_FAILED.labels(_write)
for _outcome in ("delivered", "retrying", "failed"):
    WEBHOOK_DELIVERIES.labels(_outcome)
for _action in ("dial", "skip", "defer"):
    for _decided_by in ("hook", "onTimeout"):
        PREDIAL_VERDICTS.labels(_action, _decided_by)


class RedisCollector(Collector):
    """Namespace-wide figures read from Redis at scrape time."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield the metric families (nothing if Redis does not answer)."""
        try:
            with self._r.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._k.stats)
                pipe.llen(self._k.dial_queue)
                pipe.zrange(self._k.wakeups, 0, 0, withscores=True)
                pipe.time()
                stats, queue_len, oldest, now = pipe.execute()
            stalled = self._stalled()
            backlog, first_ids = self._webhook_queues()
            memory = read_memory(self._r)
            now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
            numbers = number_families(self._r, self._k, now_ms)
        except redis.RedisError:
            return
        stats = cast(dict[str, str], stats)
        jobs = GaugeMetricFamily("batchdial_jobs", "Jobs by status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], max(0, int(stats.get(f"jobs:{status}", 0))))
        yield jobs
        yield GaugeMetricFamily(
            "batchdial_rows_queued",
            "Rows waiting to be dialed, over all jobs.",
            value=max(0, int(stats.get("queued", 0))),
        )
        yield GaugeMetricFamily(
            "batchdial_dials_in_progress",
            "Dials in progress, over all jobs.",
            value=max(0, int(stats.get("inProgress", 0))),
        )
        finished = CounterMetricFamily(
            "batchdial_recorded_dials_finished",
            "Dials recorded as finished in Redis, by final status.",
            labels=["status"],
        )
        for field, value in sorted(stats.items()):
            if field.startswith("finished:"):
                finished.add_metric([field.removeprefix("finished:")], int(value))
        yield finished
        yield GaugeMetricFamily(
            "batchdial_dial_queue_messages",
            "Dial messages waiting on the broker.",
            value=int(queue_len),
        )
        now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
        lag = max(0.0, (now_ms - float(oldest[0][1])) / 1000) if oldest else 0.0
        yield GaugeMetricFamily(
            "batchdial_scheduler_lag_seconds",
            "How late the most overdue job wake-up is.",
            value=lag,
        )
        yield GaugeMetricFamily(
            "batchdial_jobs_stalled",
            "ACTIVE jobs with an open window and rows waiting but nothing dialing.",
            value=stalled,
        )
        yield GaugeMetricFamily(
            "batchdial_webhook_backlog",
            "Webhook deliveries not yet delivered nor failed, over all workspaces.",
            value=backlog,
        )
        yield GaugeMetricFamily(
            "batchdial_webhook_oldest_undelivered_seconds",
            "Age of the oldest event still waiting for a webhook delivery (among the "
            f"first {WEBHOOK_AGE_SCAN} of each of the endpoints due first).",
            value=_oldest_age_s(first_ids, now_ms),
        )
        yield from _memory_metrics(memory)
        yield from numbers

    def _webhook_queues(self) -> tuple[int, list[str]]:
        """Deliveries queued (endpoints due first, at most WEBHOOK_AGE_SCAN of them) and
        the first delivery ids of each queue."""
        members = cast(
            list[str], self._r.zrange(self._k.ns_key("K_WH_DUE"), 0, WEBHOOK_AGE_SCAN - 1)
        )
        if not members:
            return 0, []
        with self._r.pipeline(transaction=False) as pipe:
            for member in members:
                ws_id, _, ep_id = member.partition("|")
                queue = self._k.ws_key(ws_id, "k_wh_q", ep_id)
                pipe.zcard(queue)
                pipe.zrange(queue, 0, WEBHOOK_AGE_SCAN - 1)
            answers = pipe.execute()
        return sum(answers[0::2]), [i for ids in answers[1::2] for i in ids]

    def _stalled(self) -> int:
        members = cast(list[str], self._r.zrange(self._k.wakeups, 0, STALLED_SCAN_LIMIT - 1))
        if not members:
            return 0
        with self._r.pipeline(transaction=False) as pipe:
            for member in members:
                ws_id, _, job_id = member.partition("|")
                pipe.hmget(self._k.job(ws_id, job_id), ["status", "window"])
                pipe.zcard(self._k.queue(ws_id, job_id))
                pipe.hlen(self._k.dialing(ws_id, job_id))
            answers = pipe.execute()
        stalled = 0
        for i in range(0, len(answers), 3):
            (status, window), waiting, dialing = answers[i], answers[i + 1], answers[i + 2]
            if status == "ACTIVE" and window == "open" and waiting and not dialing:
                stalled += 1
        return stalled


def _oldest_age_s(members: list[str], now_ms: int) -> float:
    """Age of the oldest event among delivery ids ``msg_<13-digit ms>...``."""
    times = [int(m.partition("msg_")[2][:13] or now_ms) for m in members]
    return max(0.0, (now_ms - min(times)) / 1000) if times else 0.0


def _memory_metrics(memory: MemoryUse | None) -> Iterator[GaugeMetricFamily]:
    """Redis memory against maxmemory (nothing when INFO is not answered)."""
    if memory is None:
        return
    yield GaugeMetricFamily(
        "batchdial_redis_memory_used_bytes",
        "Redis memory used, as maxmemory counts it (less the AOF and replication buffers).",
        value=memory.used,
    )
    yield GaugeMetricFamily(
        "batchdial_redis_memory_max_bytes",
        "Redis' maxmemory (0: no limit).",
        value=memory.limit,
    )
    yield GaugeMetricFamily(
        "batchdial_storage_full",
        f"1 while Redis is at {FULL_RATIO:.0%} or more of its maxmemory: writes are refused"
        " (503 storage_full), reads still work.",
        value=1 if memory.full else 0,
    )


def observe_end(status: str, started_ms: int | None, ended_ms: int | None) -> None:
    """Count one ended dial and its duration."""
    DIALS_FINISHED.labels(status).inc()
    if started_ms is not None and ended_ms is not None:
        CALL_DURATION.observe(max(0.0, (ended_ms - started_ms) / 1000))
