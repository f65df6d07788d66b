"""The Batch Dials page's server side: its files, the job's ``window``, and the SSE route.

The event stream never ends by itself, so these tests serve the app with a real
uvicorn on a thread of the test (the in-process TestClient waits for a whole body)
and read the stream with httpx, over the real Redis in the test's namespace.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from producer.http.app import create_app
from producer.http.deps import workspace_id
from producer.http.errors import install_error_handlers
from producer.http.routes.events_stream import event_stream_router
from producer.service import Producer
from producer.validation import Limits
from tests.support.bodies import job_body
from tests.support.procs import free_port
from tests.support.waits import wait_for

pytestmark = pytest.mark.redis

STREAM = "/api/batch_dial_jobs/{}/events/stream"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a real uvicorn (on a thread of this test); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 10, "uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def read_sse(
    base: str, path: str, headers: dict[str, str], until: Callable[[list[dict[str, Any]]], bool]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read SSE messages until ``until(messages)``; returns (messages, comment lines)."""
    messages: list[dict[str, Any]] = []
    comments: list[str] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + 15
    with httpx.stream("GET", base + path, headers=headers, timeout=15) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                messages.append(current)
                current = {}
            if until(messages) and (not comments or line == "" or line.startswith(":")):
                break
            assert time.monotonic() < deadline, f"stream did not deliver: {messages}"
    return messages, comments


@pytest.fixture
def app(real_redis: redis.Redis, namespace: str) -> FastAPI:
    """The API (with the page and the stream) over the test's namespace."""
    return create_app(real_redis, namespace, limits=Limits(max_rows=100))


@pytest.fixture
def setup(app: FastAPI) -> dict[str, Any]:
    """A workspace with one INIT job, and a second workspace."""
    producer: Producer = app.state.producer
    ws = producer.workspaces.create("acme", 5, ["+12125550100"])
    other = producer.workspaces.create("other", 5, ["+14155550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2))
    return {"ws": ws, "other": other, "job": job, "producer": producer}


def test_the_page_and_its_assets_are_served_with_a_strict_policy(app: FastAPI) -> None:
    """``/`` is the page, with a CSP that allows only this origin; only its files are served."""
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/assets/app.js">' in page.text
    script = client.get("/assets/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/style.css").headers["content-type"].startswith("text/css")
    for name in ("index.html", "..%2fapi.py", "nope.js"):
        missing = client.get(f"/assets/{name}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.endswith("/events/stream")]


def test_the_job_view_says_whether_the_window_is_open(app: FastAPI, setup: dict[str, Any]) -> None:
    """GET job has ``window`` with openNow and the next opening or closing."""
    client = TestClient(app)
    view = client.get(
        f"/api/batch_dial_jobs/{setup['job']['id']}", headers={"api_key": setup["ws"]["apiKey"]}
    ).json()
    window = view["window"]
    assert set(window) == {"openNow", "nextOpenAt", "nextCloseAt", "alwaysOpen"}
    assert window["alwaysOpen"] is False
    assert (window["nextCloseAt"] if window["openNow"] else window["nextOpenAt"]) is not None


def test_stream_authorises_as_the_other_job_routes(app: FastAPI, setup: dict[str, Any]) -> None:
    """No key: 401; another workspace's job or no job: 404; a bad resume id: 422."""
    client = TestClient(app)
    path = STREAM.format(setup["job"]["id"])
    assert client.get(path).status_code == 401
    bearer = {"Authorization": f"Bearer {setup['other']['apiKey']}"}
    assert client.get(path, headers=bearer).json()["error"]["code"] == "not_found"
    own = {"api_key": setup["ws"]["apiKey"]}
    assert client.get(STREAM.format("job_nope"), headers=own).status_code == 404
    bad = client.get(path, headers={**own, "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "Last-Event-ID"
    assert client.get(path + "?cursor=1-x", headers=own).status_code == 422


def test_stream_sends_the_log_then_new_events_as_they_happen(
    app: FastAPI, setup: dict[str, Any]
) -> None:
    """The backlog comes first, each with id = event id and the /events object; then live."""
    key = {"api_key": setup["ws"]["apiKey"]}
    job_id, ws_id = setup["job"]["id"], setup["ws"]["workspaceId"]
    producer: Producer = setup["producer"]
    with serving(app) as base:
        listed = httpx.get(f"{base}/api/batch_dial_jobs/{job_id}/events", headers=key).json()
        started: list[bool] = []

        def until(messages: list[dict[str, Any]]) -> bool:
            if len(messages) == len(listed["data"]) and not started:
                # The backlog is in: a change now must arrive on the open stream.
                producer.set_paused(ws_id, job_id, False)
                started.append(True)
            return any(m["data"]["type"] == "job.started" for m in messages)

        messages, _ = read_sse(base, STREAM.format(job_id), key, until)
    assert [m["data"] for m in messages[: len(listed["data"])]] == listed["data"]
    assert all(m["id"] == m["data"]["id"] for m in messages)
    assert messages[-1]["data"]["type"] == "job.started"


def test_stream_resumes_after_the_last_event_id(app: FastAPI, setup: dict[str, Any]) -> None:
    """``Last-Event-ID`` (which wins over the query) and ``cursor``/``lastEventId`` resume."""
    key = {"api_key": setup["ws"]["apiKey"]}
    job_id, ws_id = setup["job"]["id"], setup["ws"]["workspaceId"]
    producer: Producer = setup["producer"]
    producer.set_paused(ws_id, job_id, False)
    producer.set_paused(ws_id, job_id, True)
    log = producer.events(ws_id, job_id).data
    types = [e["type"] for e in log]
    assert types[:2] == ["job.created", "job.started"]
    first, last = log[0]["id"], log[-1]["id"]
    with serving(app) as base:
        path = STREAM.format(job_id)
        for query, headers in [
            (f"?cursor={last}", {"Last-Event-ID": first}),
            (f"?cursor={first}", {}),
            (f"?lastEventId={first}", {}),
        ]:
            messages, _ = read_sse(
                base, path + query, {**key, **headers}, lambda m: len(m) == len(log) - 1
            )
            assert [m["data"] for m in messages] == log[1:]


def test_stream_keeps_the_connection_alive_while_nothing_happens(
    real_redis: redis.Redis, namespace: str
) -> None:
    """With no event for a keep-alive period, a comment line is sent."""
    producer = Producer(real_redis, namespace, Limits(max_rows=10))
    app = FastAPI()
    app.state.producer = producer
    install_error_handlers(app)
    app.include_router(event_stream_router(workspace_id, keepalive_s=0.2))
    ws = producer.workspaces.create("acme", 5, ["+12125550100"])
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=1))
    with serving(app) as base:
        started = time.monotonic()
        messages, comments = read_sse(
            base,
            STREAM.format(job["id"]),
            {"api_key": ws["apiKey"]},
            lambda m: len(m) == 1 and time.monotonic() - started > 0.5,
        )
    assert [m["data"]["type"] for m in messages] == ["job.created"]
    assert ": keep-alive" in comments
