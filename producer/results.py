"""A job's results, one line per row (SPEC §8.3, issue 17), read page by page.

``GET /api/batch_dial_jobs/{id}/results`` streams these lines: the rows are read in
index order, :data:`PAGE_ROWS` at a time (the row, its last dial from the job's
``last`` hash, where it waits if it is not done), so a job of a million rows is never
held whole by the API.

A row's ``outcome`` is its last dial's status once its dialing is over (``completed``,
``busy``, ``no-answer``, ``failed``, ``voicemail``, ...), ``suppressed`` or
``cancelled`` or ``expired`` for a row that ended without a call, and while it is not over:
``queued`` (waiting, held for a retry or a cap, or released to a worker) or
``in-progress``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, cast

import redis

from domain.errors import NotFound
from domain.keys import Keys
from domain.rowform import row_extra
from domain.time.timefmt import iso_ms

#: Rows read per round trip.
PAGE_ROWS = 500
#: The columns of a result line, in order (the CSV header).
COLUMNS = (
    "rowId",
    "externalId",
    "callAgentId",
    "toNumber",
    "inputs",
    "outcome",
    "attempts",
    "status",
    "startedAt",
    "endedAt",
    "durationSeconds",
)
_DIAL_FIELDS = ("status", "startedAt", "endedAt", "attempt")


class JobResults:
    """The results of jobs on one Redis."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def rows(self, ws_id: str, job_id: str) -> Iterator[dict[str, Any]]:
        """Every row's result line, in row order; :class:`NotFound` before the first if
        the job is not the workspace's."""
        total = self._r.hget(self._k.job(ws_id, job_id), "rows")
        if total is None:
            raise NotFound(f"no batch dial job {job_id}")
        return self._lines(ws_id, job_id, int(cast(str, total)))

    def _lines(self, ws_id: str, job_id: str, total: int) -> Iterator[dict[str, Any]]:
        k = self._k
        for start in range(0, total, PAGE_ROWS):
            indexes = [str(i) for i in range(start, min(start + PAGE_ROWS, total))]
            with self._r.pipeline(transaction=False) as pipe:
                pipe.hmget(k.rows(ws_id, job_id), indexes)
                pipe.hmget(k.job_key(ws_id, job_id, "K_LAST"), indexes)
                pipe.hmget(k.dialing(ws_id, job_id), indexes)
                pipe.zmscore(k.cancelled(ws_id, job_id), indexes)
                for waiting in (k.queue, k.held, k.released):
                    pipe.zmscore(waiting(ws_id, job_id), indexes)
                raws, lasts, dialing, cancelled, *waits = cast(list[list[Any]], pipe.execute())
            dial_ids = [d for d in lasts if d and not d.startswith(":")]
            dials: dict[str, list[str | None]] = {}
            if dial_ids:
                with self._r.pipeline(transaction=False) as pipe:
                    for dial_id in dial_ids:
                        pipe.hmget(k.dial(ws_id, dial_id), list(_DIAL_FIELDS))
                    dials = dict(zip(dial_ids, pipe.execute(), strict=True))
            for i, index in enumerate(indexes):
                last = lasts[i]
                if dialing[i]:
                    where = "in-progress"
                elif cancelled[i] is not None:
                    where = "cancelled"
                elif any(w[i] is not None for w in waits):
                    where = "queued"
                else:
                    where = ""
                yield _line(f"{job_id}.{index}", raws[i], last, dials.get(last or ""), where)


def _line(
    row_id: str,
    raw: str | None,
    last: str | None,
    dial: list[str | None] | None,
    where: str,
) -> dict[str, Any]:
    """One row's result; ``where`` is where an unfinished row is ('' once finished)."""
    data = json.loads(raw) if raw else ["", {}]
    extra = row_extra(data)
    status, started, ended, attempt = dial or (None, None, None, None)
    if where:
        outcome = where
    elif last in (":suppressed", ":expired"):
        outcome = last[1:]
    else:
        outcome = status or "queued"
    duration = None
    if started and ended:
        duration = round((int(ended) - int(started)) / 1000, 3)
    return {
        "rowId": row_id,
        "externalId": extra.get("externalId"),
        "callAgentId": extra.get("callAgentId"),
        "toNumber": data[0],
        "inputs": data[1] if len(data) > 1 else {},
        "outcome": outcome,
        "attempts": int(attempt) if attempt else 0,
        "status": status,
        "startedAt": iso_ms(started),
        "endedAt": iso_ms(ended),
        "durationSeconds": duration,
    }


def ndjson_lines(lines: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """The result lines as NDJSON, a page of rows per chunk."""
    buf: list[bytes] = []
    for line in lines:
        buf.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        if len(buf) >= PAGE_ROWS:
            yield b"".join(buf)
            buf.clear()
    if buf:
        yield b"".join(buf)


def csv_lines(lines: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """The result lines as CSV (``inputs`` as JSON text in one column; empty for null)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, line in enumerate(lines, 1):
        cells = [line[c] for c in COLUMNS]
        cells[4] = json.dumps(cells[4], ensure_ascii=False, separators=(",", ":"))
        writer.writerow(["" if c is None else c for c in cells])
        if n % PAGE_ROWS == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
