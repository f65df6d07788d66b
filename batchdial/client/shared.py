"""What :class:`~batchdial.client.Client` and :class:`~batchdial.client.AsyncClient` share:
the connection options, how one request is built and whether it may be retried, and how
an answer is read as a JSON object. Each client only sends (blocking or awaited)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict
from urllib.parse import quote

import httpx

from batchdial.client.errors import ApiError
from batchdial.client.retrying import may_retry

JSON = dict[str, Any]
JOBS = "/api/batch_dial_jobs"

#: The page size the iterating methods ask for (the API's maximum).
PAGE_SIZE = 500


def _id(value: str) -> str:
    return quote(value, safe="")


class HttpOptions(TypedDict):
    """The options both clients open their ``httpx`` client with (but the transport)."""

    base_url: str
    headers: dict[str, str]
    timeout: float


def http_options(base_url: str, api_key: str, timeout_s: float) -> HttpOptions:
    """The ``httpx`` client options of a client of ``api_key`` at ``base_url``."""
    return HttpOptions(
        base_url=base_url.rstrip("/"),
        # Bearer rather than api_key: proxies such as nginx drop headers whose name
        # has an underscore unless told otherwise.
        headers={"authorization": f"Bearer {api_key}", "user-agent": "batchdial-client"},
        timeout=timeout_s,
    )


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    method: str,
    path: str,
    *,
    body: Any,
    params: Mapping[str, Any] | None,
    content: bytes | str | None,
    headers: Mapping[str, str] | None,
) -> httpx.Request:
    """One request: JSON ``body`` or raw ``content``; ``params`` that are None are left out."""
    query = {k: v for k, v in (params or {}).items() if v is not None}
    return http.build_request(
        method,
        path,
        json=body if content is None and body is not None else None,
        content=content,
        params=query,
        headers=dict(headers or {}),
    )


def results_request(
    http: httpx.Client | httpx.AsyncClient, job_id: str, accept: str
) -> httpx.Request:
    """``GET …/results`` of the job, in the format ``accept`` names."""
    return http.build_request("GET", f"{JOBS}/{_id(job_id)}/results", headers={"accept": accept})


def should_retry(request: httpx.Request, retry: bool | None) -> bool:
    """Whether ``request`` is retried: when it is safe to repeat, or the caller says so."""
    return may_retry(request) or bool(retry)


def json_object(response: httpx.Response) -> JSON:
    """The JSON object ``response`` holds; :class:`ApiError` ``bad_response`` if not one."""
    data = response.json()
    if not isinstance(data, dict):
        raise ApiError(response.status_code, "bad_response", "expected a JSON object")
    return data
