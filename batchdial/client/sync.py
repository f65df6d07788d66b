"""``Client``: the HTTP API of batchdial from Python, one method per route.

Lists come two ways: ``list_jobs()`` / ``queue()`` / ``dials()`` / ``events()`` /
``list_webhooks()`` ... iterate every item, following ``nextCursor`` page by page as the
loop goes on; ``page(path)`` returns one page (``{"data", "nextCursor"}``) for callers
that keep cursors themselves (an events reader resuming where it stopped).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO, Literal

import httpx

from batchdial.client.errors import ApiError
from batchdial.client.retrying import Retries, send
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


class Client:
    """A client of one workspace (``api_key``) of the API at ``base_url``.

    Every method raises :class:`ApiError` when the API refuses (``.status``, ``.code``,
    ``.message``, ``.details``). Idempotent requests (GET, PUT, DELETE, the start, pause
    and cancel commands, whose repeat is a no-op, and POSTs sent with an
    ``Idempotency-Key``) are retried with backoff when no answer came or the API answered
    429/502/503/504; others are sent once. Use it as a context manager, or call
    :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        retries: Retries | None = None,
        transport: httpx.BaseTransport | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.retries = retries or Retries()
        #: ``limit`` of each page the iterating methods fetch (1..500).
        self.page_size = page_size
        self._http = httpx.Client(**http_options(base_url, api_key, timeout_s), transport=transport)

    # -- plumbing -------------------------------------------------------------------

    def request(
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
        return send(self._http, request, self.retries, retry=should_retry(request, retry))

    def _json(self, method: str, path: str, **kw: Any) -> JSON:
        return json_object(self.request(method, path, **kw))

    def page(self, path: str, *, limit: int | None = None, cursor: str | None = None) -> JSON:
        """One page of the list at ``path``: ``{"data": [...], "nextCursor": ...}``."""
        return self._json("GET", path, params={"limit": limit, "cursor": cursor})

    def iterate(self, path: str, *, cursor: str | None = None) -> Iterator[JSON]:
        """Every item of the list at ``path`` from ``cursor`` on, page after page."""
        while True:
            page = self.page(path, limit=self.page_size, cursor=cursor)
            yield from page["data"]
            cursor = page.get("nextCursor")
            if not cursor:
                return

    # -- jobs -----------------------------------------------------------------------

    def create_job(self, body: Mapping[str, Any], *, idempotency_key: str | None = None) -> JSON:
        """Create a job (state INIT) from a create body; the job. An ``Idempotency-Key``
        (a fresh one unless given) makes the create safe to retry."""
        key = idempotency_key or str(uuid.uuid4())
        return self._json("POST", JOBS, body=dict(body), headers={"Idempotency-Key": key})

    def get_job(self, job_id: str) -> JSON:
        """The job with its counts."""
        return self._json("GET", f"{JOBS}/{_id(job_id)}")

    def list_jobs(self) -> Iterator[JSON]:
        """Every job of the workspace, newest first."""
        return self.iterate(JOBS)

    def update_job(self, job_id: str, changes: Mapping[str, Any]) -> JSON:
        """Change ``name``, ``callAgentId``, ``maxConcurrentDials``, ``fromPhoneNumberIds``,
        ``schedule``... (staged while the job is ACTIVE); the job."""
        return self._json("PUT", f"{JOBS}/{_id(job_id)}", body=dict(changes))

    def set_paused(self, job_id: str, paused: bool) -> JSON:
        """``POST …/paused``: start or resume (False) or pause (True); the job."""
        path = f"{JOBS}/{_id(job_id)}/paused"
        return self._json("POST", path, body={"paused": paused}, retry=True)

    def start_job(self, job_id: str) -> JSON:
        """Start an INIT job (a no-op on an ACTIVE one); the job."""
        return self.set_paused(job_id, False)

    def resume_job(self, job_id: str) -> JSON:
        """Resume a PAUSED job; the job."""
        return self.set_paused(job_id, False)

    def pause_job(self, job_id: str) -> JSON:
        """Pause an ACTIVE job: no new dial starts; the job."""
        return self.set_paused(job_id, True)

    def cancel_job(self, job_id: str) -> JSON:
        """Cancel the job (terminal; a no-op on a cancelled job); the job."""
        return self._json("POST", f"{JOBS}/{_id(job_id)}/cancel", retry=True)

    def append_rows(
        self,
        job_id: str,
        rows: Iterable[Mapping[str, Any]] | None = None,
        *,
        csv: bytes | str | None = None,
        ndjson: bytes | str | None = None,
        idempotency_key: str | None = None,
    ) -> JSON:
        """Append rows (a list of row objects, or a CSV or NDJSON text); answers
        ``{"appended", "duplicates", "rows"}``. Retried only with an ``idempotency_key``."""
        path = f"{JOBS}/{_id(job_id)}/rows"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if csv is not None:
            headers["content-type"] = "text/csv"
            return self._json("POST", path, content=csv, headers=headers)
        if ndjson is not None:
            headers["content-type"] = "application/x-ndjson"
            return self._json("POST", path, content=ndjson, headers=headers)
        return self._json(
            "POST", path, body={"rows": [dict(r) for r in rows or ()]}, headers=headers
        )

    def queue(self, job_id: str) -> Iterator[JSON]:
        """The rows still waiting to be dialed, in dialing order."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/queue")

    def dials(self, job_id: str) -> Iterator[JSON]:
        """Every dial attempt of the job, newest first."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/dials")

    def events(self, job_id: str, *, after: str | None = None) -> Iterator[JSON]:
        """The job's events in order, from the one after event id ``after`` on."""
        return self.iterate(f"{JOBS}/{_id(job_id)}/events", cursor=after)

    def results(self, job_id: str) -> Iterator[JSON]:
        """One result per row (``rowId``, ``outcome``, ``attempts``, ...), streamed."""
        request = results_request(self._http, job_id, "application/x-ndjson")
        response = send(self._http, request, self.retries, retry=True, stream=True)
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()

    def export_results(
        self, job_id: str, out: BinaryIO, *, format: Literal["csv", "ndjson"] = "csv"
    ) -> int:
        """Write the job's results to ``out`` as CSV or NDJSON; the bytes written."""
        accept = "text/csv" if format == "csv" else "application/x-ndjson"
        request = results_request(self._http, job_id, accept)
        response = send(self._http, request, self.retries, retry=True, stream=True)
        written = 0
        try:
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        finally:
            response.close()
        return written

    def retry_job(self, job_id: str, outcomes: Iterable[str]) -> JSON:
        """Send the finished rows with these outcomes back to the queue (next attempt)."""
        body = {"outcomes": list(outcomes)}
        return self._json("POST", f"{JOBS}/{_id(job_id)}/retry", body=body)

    def forecast(self, job_id: str) -> JSON:
        """When the job is expected to finish, and the hours of dialing per day."""
        return self._json("GET", f"{JOBS}/{_id(job_id)}/forecast")

    def get_dial(self, dial_id: str) -> JSON:
        """One dial with its job, agent, numbers and the row's inputs."""
        return self._json("GET", f"/api/dials/{_id(dial_id)}")

    # -- workspace, suppressions, webhooks -----------------------------------------

    def workspace(self) -> JSON:
        """The workspace: name, dial limit, numbers, settings."""
        return self._json("GET", "/api/workspace")

    def update_workspace(self, changes: Mapping[str, Any]) -> JSON:
        """Change workspace settings (``None`` turns one off); the workspace."""
        return self._json("PATCH", "/api/workspace", body=dict(changes))

    def suppressions(self) -> Iterator[JSON]:
        """Every suppressed number."""
        return self.iterate("/api/suppressions")

    def add_suppressions(self, numbers: Iterable[str], reason: str | None = None) -> JSON:
        """Never dial ``numbers`` (idempotent); ``{"added", "alreadySuppressed"}``."""
        body: JSON = {"numbers": list(numbers)}
        if reason is not None:
            body["reason"] = reason
        return self._json("POST", "/api/suppressions", body=body, retry=True)

    def remove_suppression(self, number: str) -> JSON:
        """Take ``number`` off the suppression list."""
        return self._json("DELETE", f"/api/suppressions/{_id(number)}")

    def create_webhook(
        self, url: str, events: Iterable[str] = ("*",), description: str | None = None
    ) -> JSON:
        """Add a webhook endpoint; the answer holds its ``secret`` (shown this once)."""
        body: JSON = {"url": url, "events": list(events)}
        if description is not None:
            body["description"] = description
        return self._json("POST", "/api/webhooks", body=body)

    def webhooks(self) -> Iterator[JSON]:
        """Every webhook endpoint of the workspace."""
        return self.iterate("/api/webhooks")

    def get_webhook(self, webhook_id: str) -> JSON:
        """One webhook endpoint."""
        return self._json("GET", f"/api/webhooks/{_id(webhook_id)}")

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> JSON:
        """Change ``url``, ``events``, ``description`` or ``enabled``."""
        return self._json("PATCH", f"/api/webhooks/{_id(webhook_id)}", body=dict(changes))

    def delete_webhook(self, webhook_id: str) -> JSON:
        """Remove a webhook endpoint."""
        return self._json("DELETE", f"/api/webhooks/{_id(webhook_id)}")

    def rotate_webhook_secret(self, webhook_id: str) -> JSON:
        """A new secret for the endpoint (in the answer)."""
        return self._json("POST", f"/api/webhooks/{_id(webhook_id)}/rotate-secret")

    def deliveries(self, webhook_id: str) -> Iterator[JSON]:
        """The endpoint's delivery attempts, newest first."""
        return self.iterate(f"/api/webhooks/{_id(webhook_id)}/deliveries")

    def retry_delivery(self, webhook_id: str, delivery_id: str) -> JSON:
        """Attempt a delivery again now."""
        path = f"/api/webhooks/{_id(webhook_id)}/deliveries/{_id(delivery_id)}/retry"
        return self._json("POST", path)

    def ready(self) -> bool:
        """Whether the API answers and reaches its Redis (``GET /readyz``)."""
        try:
            self.request("GET", "/readyz", retry=False)
        except ApiError:
            return False
        return True

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
