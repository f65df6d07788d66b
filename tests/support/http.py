"""Talking to the API in tests: the auth header, the SPEC error shape, paging."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from producer.service import Producer
from tests.support.procs import workspace


def h(ws: dict[str, Any]) -> dict[str, str]:
    """The auth header of workspace ``ws`` (as `workspace create` returned it)."""
    return {"api_key": ws["apiKey"]}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is an error of ``status`` in the SPEC shape; returns its body."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code:
        assert error["code"] == code
    return dict(error)


def read_all(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every item of a paged list route, following ``nextCursor`` to the end."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = http.get(url, params=params).json()
        out += page["data"]
        cursor = page["nextCursor"]
        if cursor is None:
            return out


def job_url(job: dict[str, Any]) -> str:
    """The route of ``job`` (a job view)."""
    return f"/api/batch_dial_jobs/{job['id']}"


def producer_of(client: TestClient) -> Producer:
    """The producer behind an in-process API client."""
    producer: Producer = client.app.state.producer  # type: ignore[attr-defined]
    return producer


def last_dials(dials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each number's dial of the highest attempt."""
    out: dict[str, dict[str, Any]] = {}
    for dial in sorted(dials, key=lambda d: d["attempt"]):
        out[dial["toNumber"]] = dial
    return out


def check_dial_view(
    http: httpx.Client, env: dict[str, str], dial: dict[str, Any], inputs: dict[str, Any]
) -> dict[str, Any]:
    """``GET /api/dials/{dialId}`` of ``dial`` (an item of a job's dials): the dial with
    its row's ``inputs`` (returned, for the caller's further checks), and 404 for another
    workspace (made with ``env``)."""
    view = http.get(f"/api/dials/{dial['dialId']}")
    assert view.status_code == 200, view.text
    body: dict[str, Any] = view.json()
    assert body["inputs"] == inputs
    other = workspace(env, dial_limit=1, per_number=1)
    foreign = http.get(f"/api/dials/{dial['dialId']}", headers={"api_key": other["apiKey"]})
    assert foreign.status_code == 404
    return body
