"""The job routes of SPEC §4: thin handlers over :class:`producer.service.Producer`.

Answers are the producer's dicts sent as they are (``JSONResponse``); the
``response_model`` of each route documents them (:mod:`producer.schemas.responses`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from domain.errors import MalformedBody
from producer.http.deps import Body, Cursor, EventCursor, Limit, Prod, Ws, body_doc, json_body
from producer.http.idempotent import idempotent
from producer.http.openapi import errors
from producer.idempotency import Fingerprint
from producer.multipart import boundary_of, parts
from producer.results import COLUMNS, csv_lines, ndjson_lines
from producer.rowformats import format_of, items_of
from producer.schemas.base import parse_body
from producer.schemas.jobs import JobCreate, JobUpdate, PausedIn
from producer.schemas.responses import (
    DialPage,
    EventPage,
    Job,
    JobPage,
    QueuePage,
    RowsAppended,
    RowsRequeued,
)
from producer.schemas.rows import RetryRowsIn, RowsIn
from producer.service import Producer

JOBS = "/api/batch_dial_jobs"
ONE = JOBS + "/{job_id}"

router = APIRouter(tags=["jobs"])


@router.post(
    JOBS,
    status_code=201,
    response_model=Job,
    openapi_extra=body_doc(JobCreate),
    responses=errors(400, 401, 413, 422),
)
async def create_job(ws: Ws, producer: Prod, request: Request) -> JSONResponse:
    """Create a job (state INIT) from the body of SPEC §4.1 (once per Idempotency-Key), or
    from a multipart/form-data body: a ``job`` part (that JSON, without rows) then a
    ``rows`` part (a CSV or NDJSON file, read as a stream)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return await _create_with_file(ws, producer, request, content_type)
    body = await json_body(request)
    fingerprint = Fingerprint("POST", JOBS)
    fingerprint.update(body)

    async def work() -> tuple[int, Any]:
        return 201, await run_in_threadpool(producer.create_job, ws, body)

    async def nothing_more() -> None:
        return None

    return await idempotent(request, ws, fingerprint, work, nothing_more)


async def _create_with_file(
    ws: str, producer: Producer, request: Request, content_type: str
) -> JSONResponse:
    boundary = boundary_of(content_type)
    max_json: int = request.app.state.max_body_bytes
    fingerprint = Fingerprint("POST", JOBS + " multipart")
    chunks = fingerprint.tee(_body_chunks(request))

    def run() -> dict[str, Any]:
        found = parts(chunks, boundary)
        job = next(found, None)
        if job is None or job.name != "job":
            raise MalformedBody("the first part of a multipart create must be 'job' (its JSON)")
        config = b"".join(job.body)
        if len(config) > max_json:
            raise MalformedBody(f"the 'job' part is over {max_json} bytes")
        rows = next(found, None)
        if rows is None or rows.name != "rows":
            raise MalformedBody("the second part of a multipart create must be 'rows' (a file)")
        kind = format_of(rows.content_type or "text/csv")
        created = producer.create_job_with_rows(ws, config, items_of(kind, rows.body, max_json))
        for _ in found:  # anything after the file is read and ignored
            pass
        return created

    async def work() -> tuple[int, Any]:
        return 201, await run_in_threadpool(run)

    async def read_rest() -> int:
        return await run_in_threadpool(lambda: sum(1 for _ in chunks))

    return await idempotent(request, ws, fingerprint, work, read_rest)


@router.get(JOBS, response_model=JobPage, responses=errors(401, 422))
def list_jobs(ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None) -> JSONResponse:
    """The workspace's jobs, newest first."""
    return JSONResponse(producer.list_jobs(ws, limit, cursor).as_dict())


@router.get(ONE, response_model=Job, responses=errors(401, 404))
def get_job(job_id: str, ws: Ws, producer: Prod) -> JSONResponse:
    """One job with its counters."""
    return JSONResponse(producer.get_job(ws, job_id))


@router.put(
    ONE,
    response_model=Job,
    openapi_extra=body_doc(JobUpdate),
    responses=errors(400, 401, 404, 409, 413, 422),
)
async def update_job(job_id: str, ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Change a job's configuration; staged while ACTIVE, applied at the next pause."""
    job = await run_in_threadpool(producer.update_job, ws, job_id, body)
    return JSONResponse(job)


@router.post(
    ONE + "/paused",
    response_model=Job,
    openapi_extra=body_doc(PausedIn),
    responses=errors(400, 401, 404, 409, 413, 422),
)
async def set_paused(job_id: str, ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Start or resume (``paused: false``), or pause (``paused: true``) a job."""
    paused = parse_body(PausedIn, body).paused
    job = await run_in_threadpool(producer.set_paused, ws, job_id, paused)
    return JSONResponse(job)


@router.post(ONE + "/cancel", response_model=Job, responses=errors(401, 404, 409))
def cancel_job(job_id: str, ws: Ws, producer: Prod) -> JSONResponse:
    """Cancel a job: no new dial starts; rows still waiting are cancelled."""
    return JSONResponse(producer.cancel_job(ws, job_id))


@router.get(ONE + "/queue", response_model=QueuePage, responses=errors(401, 404, 422))
def queue(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """Rows still waiting to be dialed, in dialing order."""
    return JSONResponse(producer.queue(ws, job_id, limit, cursor).as_dict())


@router.get(ONE + "/dials", response_model=DialPage, responses=errors(401, 404, 422))
def dials(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """Every dial attempt of the job, newest first."""
    return JSONResponse(producer.dials(ws, job_id, limit, cursor).as_dict())


@router.get(ONE + "/events", response_model=EventPage, responses=errors(401, 404, 422))
def events(
    job_id: str, ws: Ws, producer: Prod, limit: Limit = None, cursor: EventCursor = None
) -> JSONResponse:
    """The job's event log in order; ``cursor`` is the id of the last event read."""
    return JSONResponse(producer.events(ws, job_id, limit, cursor).as_dict())


def _body_chunks(request: Request) -> Iterator[bytes]:
    """The request body chunk by chunk, for code in a worker thread (it waits on the
    event loop for each chunk, so the body is never held whole)."""
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


_ROWS_DOC = body_doc(RowsIn)
_ROWS_DOC["requestBody"]["description"] = (
    "Also application/x-ndjson (one row object a line) or text/csv (a header line with a "
    "toNumber column, optional externalId and timezone columns, every other column an "
    "input); both are read as a stream. Errors name rows[i] and, for NDJSON and CSV, the "
    "line."
)


@router.post(
    ONE + "/rows",
    response_model=RowsAppended,
    openapi_extra=_ROWS_DOC,
    responses=errors(400, 401, 404, 409, 413, 422),
)
async def append_rows(job_id: str, ws: Ws, producer: Prod, request: Request) -> JSONResponse:
    """Append rows to an INIT, ACTIVE or PAUSED job, all or nothing (SPEC §8.3)."""
    kind = format_of(request.headers.get("content-type"))
    max_json: int = request.app.state.max_body_bytes
    fingerprint = Fingerprint("POST", f"{JOBS}/{job_id}/rows")
    fingerprint.update(f"{kind}\n".encode())
    chunks = fingerprint.tee(_body_chunks(request))

    async def work() -> tuple[int, Any]:
        items = items_of(kind, chunks, max_json)
        return 200, await run_in_threadpool(producer.append_rows, ws, job_id, items)

    async def read_rest() -> int:
        return await run_in_threadpool(lambda: sum(1 for _ in chunks))

    return await idempotent(request, ws, fingerprint, work, read_rest)


_RESULTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "one line per row, in row order (NDJSON, or CSV with Accept: text/csv): "
        + ", ".join(COLUMNS),
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    **errors(401, 404),
}


@router.get(ONE + "/results", response_class=StreamingResponse, responses=_RESULTS_DOC)
def results(job_id: str, ws: Ws, producer: Prod, request: Request) -> StreamingResponse:
    """Every row's outcome, attempts and last dial, streamed page by page (SPEC §8.3)."""
    lines = producer.results(ws, job_id)
    if "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(csv_lines(lines), media_type="text/csv; charset=utf-8")
    return StreamingResponse(ndjson_lines(lines), media_type="application/x-ndjson")


@router.post(
    ONE + "/retry",
    response_model=RowsRequeued,
    openapi_extra=body_doc(RetryRowsIn),
    responses=errors(400, 401, 404, 409, 413, 422),
)
async def retry_rows(job_id: str, ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Put finished rows with the given outcomes back in the queue as their next attempt
    (a COMPLETE job becomes ACTIVE again)."""
    return JSONResponse(await run_in_threadpool(producer.retry_rows, ws, job_id, body))
