"""``AsyncClient``: the asyncio twin of :class:`batchdial.client.Client` for the job routes.

The same methods, names, errors and retries as ``Client`` for everything about jobs
(create, read, steer, rows, queue, dials, events, results, retry, forecast) and the
workspace; each is a coroutine, and the lists are async iterators. For the other routes
(suppressions, webhooks) use :meth:`AsyncClient.request` or the sync client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from batchdial.client.retrying import Retries, send_async
from batchdial.client.shared import (
    JOBS,
    JSON,
    PAGE_SIZE,
    _id,
    build_request,
    http_options,
    json_object,
    results_request,
    should_retry,
)


class AsyncClient:
    """An asyncio client of one workspace (``api_key``) of the API at ``base_url``;
    ``async with AsyncClient(...) as client: job = await client.get_job(id)``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        retries: Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.retries = retries or Retries()
        self.page_size = page_size
        self._http = httpx.AsyncClient(
            **http_options(base_url, api_key, timeout_s), transport=transport
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        """Send one request (JSON ``body`` or raw ``content``); the response (< 400)."""
        request = build_request(
            self._http, method, path, body=body, params=params, content=content, headers=headers
        )
        return await send_async(
            self._http, request, self.retries, retry=should_retry(request, retry)
        )

    async def _json(self, method: str, path: str, **kw: Any) -> JSON:
        return json_object(await self.request(method, path, **kw))

    async def page(self, path: str, *, limit: int | None = None, cursor: str | None = None) -> JSON:
        """One page of the list at ``path``: ``{"data": [...], "nextCursor": ...}``."""
        return await self._json("GET", path, params={"limit": limit, "cursor": cursor})

    async def iterate(self, path: str, *, cursor: str | None = None) -> AsyncIterator[JSON]:
        """Every item of the list at ``path`` from ``cursor`` on, page after page."""
        while True:
            page = await self.page(path, limit=self.page_size, cursor=cursor)
            for item in page["data"]:
                yield item
            cursor = page.get("nextCursor")
            if not cursor:
                return

    async def create_job(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> JSON:
        """Create a job (with an ``Idempotency-Key``, so that it may be retried)."""
        key = idempotency_key or str(uuid.uuid4())
        return await self._json("POST", JOBS, body=dict(body), headers={"Idempotency-Key": key})

    async def get_job(self, job_id: str) -> JSON:
        """The job with its counts."""
        return await self._json("GET", f"{JOBS}/{_id(job_id)}")

    def list_jobs(self) -> AsyncIterator[JSON]:
        """Every job of the workspace, newest first."""
        return self.iterate(JOBS)

    async def update_job(self, job_id: str, changes: Mapping[str, Any]) -> JSON:
        """Change the job's configuration (staged while ACTIVE)."""
        return await self._json("PUT", f"{JOBS}/{_id(job_id)}", body=dict(changes))

    async def set_paused(self, job_id: str, paused: bool) -> JSON:
        """Start or resume (False) or pause (True)."""
        path = f"{JOBS}/{_id(job_id)}/paused"
        return await self._json("POST", path, body={"paused": paused}, retry=True)

    async def start_job(self, job_id: str) -> JSON:
        """Start an INIT job."""
        return await self.set_paused(job_id, False)

    async def resume_job(self, job_id: str) -> JSON:
        """Resume a PAUSED job."""
        return await self.set_paused(job_id, False)

    async def pause_job(self, job_id: str) -> JSON:
        """Pause an ACTIVE job."""
        return await self.set_paused(job_id, True)

    async def cancel_job(self, job_id: str) -> JSON:
        """Cancel the job (terminal)."""
        return await self._json("POST", f"{JOBS}/{_id(job_id)}/cancel", retry=True)

    async def append_rows(
        self,
        job_id: str,
        rows: Iterable[Mapping[str, Any]] | None = None,
        *,
        csv: bytes | str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Append rows (row objects, or a CSV text)."""
        path = f"{JOBS}/{_id(job_id)}/rows"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if csv is not None:
            headers["content-type"] = "text/csv"
            return await self._json("POST", path, content=csv, headers=headers)
        body = {"rows": [dict(r) for r in rows or ()]}
        return await self._json("POST", path, body=body, headers=headers)

    def queue(self, job_id: str) -> AsyncIterator[JSON]:
        """The rows still waiting to be dialed, in dialing order."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/queue")

    def dials(self, job_id: str) -> AsyncIterator[JSON]:
        """Every dial attempt of the job, newest first."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/dials")

    def events(self, job_id: str, *, after: str | None = None) -> AsyncIterator[JSON]:
        """The job's events in order, after event id ``after``."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/events", cursor=after)

    async def results(self, job_id: str) -> AsyncIterator[JSON]:
        """One result per row, streamed (NDJSON)."""
        request = results_request(self._http, job_id, "application/x-ndjson")
        response = await send_async(self._http, request, self.retries, retry=True, stream=True)
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            await response.aclose()

    async def retry_job(self, job_id: str, outcomes: Iterable[str]) -> JSON:
        """Send the finished rows with these outcomes back to the queue."""
        body = {"outcomes": list(outcomes)}
        return await self._json("POST", f"{JOBS}/{_id(job_id)}/retry", body=body)

    async def forecast(self, job_id: str) -> JSON:
        """When the job is expected to finish."""
        return await self._json("GET", f"{JOBS}/{_id(job_id)}/forecast")

    async def workspace(self) -> JSON:
        """The workspace: name, dial limit, numbers, settings."""
        return await self._json("GET", "/api/workspace")

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
