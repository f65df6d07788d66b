"""Retry by outcome (SPEC §8.3, issue 17): ``POST /api/batch_dial_jobs/{id}/retry``.

The job's rows are read page by page as the results are (:mod:`producer.results`); the
finished rows whose outcome is asked for go, a batch at a time, to
``requeue_rows.lua``, which checks each again and puts it back in the queue as its next
attempt (a COMPLETE job becomes ACTIVE again, ``job.reopened``). The job's retry
policy's ``maxAttempts`` does not stop a manual retry; suppression, the daily cap and
the calling hours still apply when the row's turn comes.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import redis
import structlog

from domain.errors import Conflict, NotFound
from domain.keys import Keys
from domain.members import job_member
from domain.protocol_rows import parse_requeue_rows
from domain.scripts import Scripts
from producer.results import JobResults
from producer.schemas.base import parse_body
from producer.schemas.rows import RetryRowsIn

log = structlog.get_logger(__name__)

#: Rows requeued per script call.
BATCH_ROWS = 2_000


class RowRetries:
    """Manual retries of finished rows, by outcome."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._results = JobResults(client, keys)
        self._scripts = Scripts(client)

    def retry(self, ws_id: str, job_id: str, body: bytes | str | dict[str, Any]) -> int:
        """Requeue the job's finished rows whose outcome ``body`` names; how many."""
        outcomes = parse_body(RetryRowsIn, body).outcomes
        status = self._r.hget(self._k.job(ws_id, job_id), "status")
        if status is None:
            raise NotFound(f"no batch dial job {job_id}")
        if status == "CANCELLED":
            raise Conflict("the job is CANCELLED; a cancelled job's rows cannot be retried")
        wanted = set(outcomes)
        candidates = (
            line["rowId"].rsplit(".", 1)[1]
            for line in self._results.rows(ws_id, job_id)
            if line["outcome"] in wanted
        )
        total = 0
        while batch := list(islice(candidates, BATCH_ROWS)):
            result = parse_requeue_rows(
                self._scripts(
                    "requeue_rows",
                    self._k.script_keys(ws_id, job_id),
                    [job_id, job_member(ws_id, job_id), ",".join(outcomes), *batch],
                )
            )
            if result.outcome == "missing":
                raise NotFound(f"no batch dial job {job_id}")
            if result.outcome == "conflict":
                raise Conflict(f"the job is {result.detail}; its rows cannot be retried")
            total += result.appended
        log.info("rows_retried", ws_id=ws_id, job_id=job_id, rows=total, outcomes=outcomes)
        return total
