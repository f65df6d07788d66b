"""Shared checks of the abuse suite: the SPEC error shape and snapshots of a namespace."""

from __future__ import annotations

import json
from typing import Any

import redis

JOBS = "/api/batch_dial_jobs"

#: BATCHDIAL_DIALER_SECRET of the in-process API of this suite (``secured_api``).
SECRET = "abuse-secret"
#: The operator's key of the abuse suite's API (BATCHDIAL_ADMIN_KEY).
ADMIN_KEY = "abuse-operator-key"


def error_shape_problems(status: int, body: bytes) -> str | None:
    """Why ``body`` is not ``{"error": {"code": str, "message": str, "details": list}}``.

    None when it is. Each entry of ``details`` must be ``{"path": str, "message": str}``.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status} body is not JSON: {body[:200]!r}"
    error = doc.get("error") if isinstance(doc, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    checks = [
        (isinstance(doc, dict) and set(doc) == {"error"}, "the body is not {'error': ...}"),
        (
            isinstance(error, dict) and set(error) == {"code", "message", "details"},
            "error must have exactly code, message, details",
        ),
        (isinstance(error, dict) and _text(error.get("code")), "error.code is not a string"),
        (isinstance(error, dict) and _text(error.get("message")), "error.message is not a string"),
        (isinstance(details, list), "error.details is not a list"),
        (
            isinstance(details, list) and all(_detail(d) for d in details),
            "a detail is not {path: str, message: str}",
        ),
    ]
    for ok, why in checks:
        if not ok:
            return f"{status}: {why}: {body[:300]!r}"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _detail(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"path", "message"}
        and all(isinstance(value[k], str) for k in ("path", "message"))
    )


def assert_spec_error(
    response: Any, status: int | None = None, code: str | None = None
) -> dict[str, Any]:
    """``response`` is a 4xx (``status`` if given) in the SPEC error shape; returns ``error``."""
    got = response.status_code
    text = response.content[:500]
    if status is not None:
        assert got == status, f"expected {status}, got {got}: {text!r}"
    assert 400 <= got < 500, f"expected a 4xx, got {got}: {text!r}"
    problem = error_shape_problems(got, response.content)
    assert problem is None, problem
    error: dict[str, Any] = json.loads(response.content)["error"]
    if code is not None:
        assert error["code"] == code, error
    return error


def snapshot(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every key of ``namespace`` with its type, value and TTL presence (for before/after)."""
    state: dict[str, Any] = {}
    for key in sorted(str(k) for k in client.scan_iter(match=f"{namespace}:*", count=1000)):
        kind = client.type(key)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        state[key] = (kind, value, client.ttl(key) >= 0)
    return state
