"""The Python client's retries and errors, over an in-memory transport (no network)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from batchdial.client import ApiError, AsyncClient, Client, Retries

FAST = Retries(attempts=3, backoff_s=0.0, max_backoff_s=0.0)


def _client(handler: httpx.MockTransport, retries: Retries = FAST) -> Client:
    return Client("http://api.test", api_key="bd_k", transport=handler, retries=retries)


def test_an_idempotent_request_is_retried_until_it_is_answered() -> None:
    """A GET that met a dropped connection and then a 503 is sent again, and succeeds."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(seen) == 2:
            return httpx.Response(503, headers={"retry-after": "0"})
        return httpx.Response(200, json={"id": "job_1", "status": "INIT"})

    with _client(httpx.MockTransport(handle)) as client:
        assert client.get_job("job_1")["status"] == "INIT"
    assert seen == ["Bearer bd_k"] * 3


def test_retries_are_bounded_and_end_in_an_api_error() -> None:
    """A GET that never gets an answer raises ApiError(status 0, unreachable) after the
    configured number of sends."""
    sends = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        sends += 1
        raise httpx.ReadTimeout("slow", request=request)

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(ApiError) as caught:
        client.get_job("job_1")
    assert sends == 3
    assert (caught.value.status, caught.value.code) == (0, "unreachable")


def test_a_create_carries_an_idempotency_key_and_is_retried_with_the_same_one() -> None:
    """create_job sends an Idempotency-Key, and its retry after a lost answer sends the same
    key and body again."""
    keys: list[str] = []
    bodies: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["idempotency-key"])
        bodies.append(request.content)
        if len(keys) == 1:
            raise httpx.RemoteProtocolError("dropped", request=request)
        return httpx.Response(201, json={"id": "job_1"})

    with _client(httpx.MockTransport(handle)) as client:
        assert client.create_job({"name": "n"})["id"] == "job_1"
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0]
    assert bodies[0] == bodies[1]


def test_a_post_without_idempotency_key_is_sent_once() -> None:
    """A retry request (POST …/retry, not idempotent) is not repeated after a 503."""
    sends = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        sends += 1
        return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(ApiError) as caught:
        client.retry_job("job_1", ["busy"])
    assert sends == 1
    assert caught.value.status == 503
    assert caught.value.code == "busy"


def test_an_error_is_raised_as_the_api_sent_it() -> None:
    """A 422 becomes ApiError with the API's status, code, message and details, and a 4xx
    is never retried."""
    error = {
        "code": "invalid_input",
        "message": "the job is invalid",
        "details": [{"path": "rows[3].toNumber", "message": "is too short"}],
    }
    sends = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        sends += 1
        return httpx.Response(422, content=json.dumps({"error": error}))

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(ApiError) as caught:
        client.update_job("job_1", {"maxConcurrentDials": 0})
    assert sends == 1
    exc = caught.value
    assert (exc.status, exc.code, exc.message, exc.details) == (
        422,
        "invalid_input",
        "the job is invalid",
        error["details"],
    )
    assert "rows[3].toNumber: is too short" in exc.describe()


def test_lists_iterate_every_page() -> None:
    """list_jobs follows nextCursor until the last page."""
    pages = {
        None: {"data": [{"id": "a"}, {"id": "b"}], "nextCursor": "c1"},
        "c1": {"data": [{"id": "c"}], "nextCursor": "c2"},
        "c2": {"data": [], "nextCursor": None},
    }

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    with _client(httpx.MockTransport(handle)) as client:
        assert [j["id"] for j in client.list_jobs()] == ["a", "b", "c"]


def test_the_async_twin_retries_and_raises_the_same_way() -> None:
    """AsyncClient: a GET after a dropped connection is sent again; a 409 is ApiError."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith("/paused"):
            error = {"code": "conflict", "message": "the job is COMPLETE", "details": []}
            return httpx.Response(409, json={"error": error})
        return httpx.Response(200, json={"id": "job_1", "status": "INIT"})

    async def run() -> None:
        async with AsyncClient(
            "http://api.test", api_key="bd_k", transport=httpx.MockTransport(handle), retries=FAST
        ) as client:
            assert (await client.get_job("job_1"))["status"] == "INIT"
            with pytest.raises(ApiError) as caught:
                await client.start_job("job_1")
            assert (caught.value.status, caught.value.message) == (409, "the job is COMPLETE")

    asyncio.run(run())
    assert seen == ["/api/batch_dial_jobs/job_1"] * 2 + ["/api/batch_dial_jobs/job_1/paused"]
