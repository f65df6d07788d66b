"""Server-sent events: a job's event log, live (``GET …/{job_id}/events/stream``).

The events are the objects of ``GET …/{job_id}/events`` (encoded by
:func:`producer.reads.event_json`, which splices the stored JSON rather than parsing
it), each sent as one SSE message whose ``id`` is the event id,
so a client resumes where it stopped with ``Last-Event-ID`` (or ``?cursor=``).

What one stream may cost is bounded, so that open streams never hold up the other
routes (issue 13: 300 streams opening on a 3,003-event log once stalled every route for
up to 23 s and grew the API by 400 MB):

- The backlog is read and sent one page (:data:`PAGE` events) at a time: a page is read
  and encoded on a worker thread, sent as one chunk, and the next page is read only
  once the ASGI server has taken that chunk (its ``send`` waits while the client's
  socket is full). A stream holds one page, never the whole log.
- Page reads run on at most :data:`MAX_PAGE_READERS` threads of all streams together:
  they are CPU work (parsing and encoding events) and, under the GIL, many of them at
  once would starve the threads and the event loop the other routes need. That thread
  rests as long as each page took (:data:`PAGE_READERS_SHARE`), and opening a stream
  (authorising, checking the resume id) runs on :data:`MAX_OPENING` threads of its own,
  not on the pool every route shares.
- New events are waited for with bounded ``XREAD BLOCK`` calls on threads of their own
  (at most :data:`MAX_WAITING_STREAMS` at once), so that waiting streams never use up
  the threads other routes run on.
- A workspace (one API key) has at most ``max_streams_per_key`` streams open in one API
  process (``BATCHDIAL_MAX_STREAMS_PER_KEY``); one more is answered 429
  ``too_many_streams`` with ``Retry-After``. A stream's slot is given back when its
  response ends for whatever reason: the client went away, the server shut down, an
  error.

A comment is sent whenever nothing happened for ``keepalive_s`` so that proxies keep the
connection. The stream ends when the client goes away (noticed within one blocking
read, :data:`BLOCK_S`).

The route is not in the OpenAPI document: it never answers a finished body, which
request-response tooling (the schema fuzzer, generated clients) cannot consume.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the route's
# dependency (built inside :func:`event_stream_router`) as an object, not a name.
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, cast

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from domain.errors import InvalidInput, Problem
from producer.http.errors import error_response
from producer.reads import JobReads, event_json
from producer.service import Producer

#: A comment is sent after this long without an event (proxies drop silent connections).
KEEPALIVE_S = 15.0
#: How long one blocking read waits for a new event (bounds how long a thread is held).
BLOCK_S = 1.0
#: Event log entries read, encoded and sent as one chunk while catching up.
PAGE = 200
#: At most this many backlog pages (of all streams of one app) are read at once: the
#: work is CPU-bound, so under the GIL more threads add no throughput, only contention.
MAX_PAGE_READERS = 1
#: The share of one core (CPU time) the page readers may use; they rest the remainder.
PAGE_READERS_SHARE = 0.5
#: At most this many streams of one app wait on Redis at once; others wait for a turn.
MAX_WAITING_STREAMS = 64
#: At most this many streams of one app are being opened (authorised, checked) at once.
MAX_OPENING = 2
#: Default of ``max_streams_per_key`` (BATCHDIAL_MAX_STREAMS_PER_KEY says the same).
MAX_STREAMS_PER_KEY = 20
#: ``Retry-After`` of a stream refused for the per-key limit (seconds).
RETRY_AFTER_S = 5

_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each message on at once
}


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
    """Reads a job's events after a given id, a page at a time, and waits (bounded) for
    new ones. Its methods block: they run on worker threads."""

    def __init__(self, producer: Producer, ws: str, job_id: str, after: str | None) -> None:
        self._producer = producer
        self._ws = ws
        self._job_id = job_id
        self._reads = JobReads(producer.redis, producer.keys)
        self._stream_key = producer.keys.events(ws, job_id)
        self.after = after

    def next_page(self) -> tuple[str, bool]:
        """The SSE messages of up to :data:`PAGE` events after :attr:`after`, as one
        chunk (empty if none), and whether more are there; advances :attr:`after`.

        The job and the first id were checked when the stream opened; the ids after
        that come from the log itself.
        """
        cpu_started = time.thread_time()
        entries = self._reads.event_entries(self._ws, self._job_id, self.after, PAGE + 1)
        page = entries[:PAGE]
        if page:
            self.after = page[-1][0]
        chunk = "".join(
            f"id: {entry_id}\ndata: {event_json(entry_id, fields)}\n\n" for entry_id, fields in page
        )
        # Rest as long as the page took to compute (on the page readers' token, so this
        # bounds every stream's catching up together): at most PAGE_READERS_SHARE of a
        # core goes to backlogs, and the threads of other routes find the GIL free.
        spent = time.thread_time() - cpu_started
        time.sleep(min(spent * (1 - PAGE_READERS_SHARE) / PAGE_READERS_SHARE, 0.05))
        return chunk, len(entries) > PAGE

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for an entry after :attr:`after`; True if one came."""
        found = self._producer.redis.xread(
            {self._stream_key: self.after or "0-0"}, count=1, block=max(1, int(timeout_s * 1000))
        )
        return bool(found)


class StreamSlots:
    """How many streams each workspace has open in this process, up to a limit.

    Used from the event loop only (the route and the response), so it needs no lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def take(self, ws: str) -> bool:
        """Take a slot of ``ws``; False when it has :attr:`limit` streams open."""
        if self._open[ws] >= self.limit:
            return False
        self._open[ws] += 1
        return True

    def give_back(self, ws: str) -> None:
        """Give back a slot :meth:`take` gave."""
        self._open[ws] -= 1
        if self._open[ws] <= 0:
            del self._open[ws]

    def open(self, ws: str) -> int:
        """Streams ``ws`` has open now."""
        return self._open[ws]


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its stream slot back when it ends, however it
    ends (the client went away, an error, shutdown), even if its body never started."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=_HEADERS)
        self._release: Callable[[], None] | None = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()

    def release(self) -> None:
        """Give the slot back (once)."""
        release, self._release = self._release, None
        if release is not None:
            release()


async def event_messages(
    request: Request,
    tail: EventTail,
    keepalive_s: float,
    limiters: tuple[anyio.CapacityLimiter, anyio.CapacityLimiter],
) -> AsyncIterator[str]:
    """The SSE body: a ``retry`` hint, the backlog, then each new event as it comes.

    ``limiters``: (page readers, waiters). Each page is one chunk; the next page is read
    once the server has taken it, so a stream holds one page at most.
    """
    pages, waits = limiters
    yield "retry: 2000\n\n"
    # Short blocking reads, so that a client gone away frees its thread within BLOCK_S.
    block_s = min(BLOCK_S, keepalive_s)
    quiet_since = time.monotonic()
    more = True
    while not await request.is_disconnected():
        if more:
            chunk, more = await anyio.to_thread.run_sync(tail.next_page, limiter=pages)
            if chunk:
                yield chunk
                quiet_since = time.monotonic()
                continue
        if await anyio.to_thread.run_sync(tail.wait, block_s, limiter=waits):
            more = True
            continue
        if time.monotonic() - quiet_since >= keepalive_s:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()


def on_threads_of(
    dependency: Callable[..., str], limiter: anyio.CapacityLimiter
) -> Callable[..., Awaitable[str]]:
    """``dependency`` (a blocking one, with the same parameters) run on a thread of
    ``limiter`` rather than on the pool FastAPI shares between every route."""

    @functools.wraps(dependency)
    async def run(*args: Any, **kwargs: Any) -> str:
        return await anyio.to_thread.run_sync(
            functools.partial(dependency, *args, **kwargs), limiter=limiter
        )

    return run


def too_many_streams(slots: StreamSlots) -> JSONResponse:
    """429: the workspace has ``slots.limit`` streams open already."""
    return error_response(
        429,
        "too_many_streams",
        f"this API key has {slots.limit} event streams open (the limit of one API "
        "process, BATCHDIAL_MAX_STREAMS_PER_KEY); close one, or retry later",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def event_stream_router(
    workspace_id: Callable[..., str],
    *,
    keepalive_s: float = KEEPALIVE_S,
    max_waiting: int = MAX_WAITING_STREAMS,
    max_page_readers: int = MAX_PAGE_READERS,
    max_streams_per_key: int = MAX_STREAMS_PER_KEY,
) -> APIRouter:
    """The SSE route, authorised by ``workspace_id`` exactly as the other job routes."""
    router = APIRouter()
    # Threads of the streams' own: blocked reads never use up the ones other routes run on.
    limiters = (anyio.CapacityLimiter(max_page_readers), anyio.CapacityLimiter(max_waiting))
    # Opening (authorising, checking the resume id) runs on threads of its own too: 300
    # streams opening at once must not queue ahead of other routes for the shared pool.
    opens = anyio.CapacityLimiter(MAX_OPENING)
    slots = StreamSlots(max_streams_per_key)
    ws_dep = Annotated[str, Depends(on_threads_of(workspace_id, opens))]

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
    ) -> Response:
        """The job's events as ``text/event-stream``, from after the given id."""
        producer = cast(Producer, request.app.state.producer)
        if slots.open(ws) >= slots.limit:
            return too_many_streams(slots)
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
            limiter=opens,
        )
        # Taken here, on the loop, with nothing awaited before the response owns it.
        if not slots.take(ws):
            return too_many_streams(slots)
        tail = EventTail(producer, ws, job_id, after)
        return SlotStreamingResponse(
            event_messages(request, tail, keepalive_s, limiters), lambda: slots.give_back(ws)
        )

    return router
