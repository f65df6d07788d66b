"""Server-sent events: a job's event log, live (``GET …/{job_id}/events/stream``).

The events are the objects of ``GET …/{job_id}/events`` (read through the same
:meth:`Producer.events`), each sent as one SSE message whose ``id`` is the event id,
so a client resumes where it stopped with ``Last-Event-ID`` (or ``?cursor=``). New
events are waited for with bounded ``XREAD BLOCK`` calls on worker threads of their
own (at most :data:`MAX_WAITING_STREAMS` at once), so open streams never starve the
threads the other routes run on; a comment is sent whenever nothing happened for ``keepalive_s`` so
that proxies keep the connection. The stream ends when the client goes away (noticed
within one blocking read, :data:`BLOCK_S`).

The route is not in the OpenAPI document: it never answers a finished body, which
request-response tooling (the schema fuzzer, generated clients) cannot consume.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the route's
# dependency (built inside :func:`event_stream_router`) as an object, not a name.
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, cast

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from domain.errors import InvalidInput, Problem
from producer.service import Producer

#: A comment is sent after this long without an event (proxies drop silent connections).
KEEPALIVE_S = 15.0
#: How long one blocking read waits for a new event (bounds how long a thread is held).
BLOCK_S = 1.0
#: Event log entries read per page while catching up.
PAGE = 500
#: At most this many streams of one app wait on Redis at once; others wait for a turn.
MAX_WAITING_STREAMS = 64

_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each message on at once
}


def sse_message(event: dict[str, Any]) -> str:
    """One SSE message: ``id`` = the event id, ``data`` = the event object as JSON."""
    return f"id: {event['id']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def _start_after(
    producer: Producer, ws: str, job_id: str, candidates: list[tuple[str, str | None]]
) -> str | None:
    """The first given event id to resume after, checked; None: from the start.

    ``candidates`` are (where it came from, value), the ``Last-Event-ID`` header first:
    a browser's EventSource reconnects to the URL it was opened with and says in the
    header how far it got, which must win over the query of that URL.
    """
    path, chosen = next(((p, v) for p, v in candidates if v), ("cursor", None))
    if not chosen:
        # Checks the job exists (404 otherwise) before the stream starts.
        producer.events(ws, job_id, limit=1)
        return None
    try:
        producer.events(ws, job_id, limit=1, cursor=chosen)
    except InvalidInput:
        raise InvalidInput(
            [Problem(path, "is not an event id of this log (such as 1795938570743-0)")]
        ) from None
    return chosen


class EventTail:
    """Reads a job's events after a given id, and waits (bounded) for new ones."""

    def __init__(self, producer: Producer, ws: str, job_id: str, after: str | None) -> None:
        self._producer = producer
        self._ws = ws
        self._job_id = job_id
        self._stream_key = producer.keys.events(ws, job_id)
        self.after = after

    def read_new(self) -> list[dict[str, Any]]:
        """Every event after :attr:`after` (possibly none); advances :attr:`after`."""
        out: list[dict[str, Any]] = []
        while True:
            page = self._producer.events(self._ws, self._job_id, limit=PAGE, cursor=self.after)
            out.extend(page.data)
            if page.data:
                self.after = page.data[-1]["id"]
            if page.next_cursor is None:
                return out

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for an entry after :attr:`after`; True if one came."""
        found = self._producer.redis.xread(
            {self._stream_key: self.after or "0-0"}, count=1, block=max(1, int(timeout_s * 1000))
        )
        return bool(found)


async def event_messages(
    request: Request, tail: EventTail, keepalive_s: float, limiter: anyio.CapacityLimiter
) -> AsyncIterator[str]:
    """The SSE body: a ``retry`` hint, the backlog, then each new event as it comes."""
    yield "retry: 2000\n\n"
    # Short blocking reads, so that a client gone away frees its thread within BLOCK_S.
    block_s = min(BLOCK_S, keepalive_s)
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        events = await anyio.to_thread.run_sync(tail.read_new, limiter=limiter)
        for event in events:
            yield sse_message(event)
        if events:
            quiet_since = time.monotonic()
            continue
        if await anyio.to_thread.run_sync(tail.wait, block_s, limiter=limiter):
            continue
        if time.monotonic() - quiet_since >= keepalive_s:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()


def event_stream_router(
    workspace_id: Callable[..., str],
    *,
    keepalive_s: float = KEEPALIVE_S,
    max_waiting: int = MAX_WAITING_STREAMS,
) -> APIRouter:
    """The SSE route, authorised by ``workspace_id`` exactly as the other job routes."""
    router = APIRouter()
    # Threads of the streams' own: blocked reads never use up the ones other routes run on.
    limiter = anyio.CapacityLimiter(max_waiting)
    ws_dep = Annotated[str, Depends(workspace_id)]

    @router.get(
        "/api/batch_dial_jobs/{job_id}/events/stream",
        include_in_schema=False,
        response_class=StreamingResponse,
    )
    async def stream_events(
        job_id: str,
        request: Request,
        *,
        ws: ws_dep,
        cursor: Annotated[str | None, Query(description="resume after this event id")] = None,
        last_event_id_query: Annotated[
            str | None, Query(alias="lastEventId", description="same as cursor")
        ] = None,
        last_event_id: Annotated[
            str | None, Header(alias="Last-Event-ID", convert_underscores=False)
        ] = None,
    ) -> StreamingResponse:
        """The job's events as ``text/event-stream``, from after the given id."""
        producer = cast(Producer, request.app.state.producer)
        after = await anyio.to_thread.run_sync(
            _start_after,
            producer,
            ws,
            job_id,
            [
                ("Last-Event-ID", last_event_id),
                ("cursor", cursor),
                ("lastEventId", last_event_id_query),
            ],
        )
        tail = EventTail(producer, ws, job_id, after)
        return StreamingResponse(
            event_messages(request, tail, keepalive_s, limiter),
            media_type="text/event-stream",
            headers=_HEADERS,
        )

    return router
