"""Size and shape limits: each abusive body is a clear 4xx in the SPEC shape, and a real
``batchdial api`` process keeps its memory bounded while it refuses them.

One table of abuses serves both tests: in-process (one test per abuse, with the exact
status, the SPEC shape, and Redis unchanged) and against a real process over HTTP
(every abuse, five times, with the process's RSS read before and after).
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from domain.signing import SIGNATURE_HEADER, sign
from producer.http.app import create_app
from producer.service import Producer
from producer.validation import Limits
from tests.abuse.shape import JOBS, SECRET, assert_spec_error, error_shape_problems, snapshot
from tests.support.bodies import job_body
from tests.support.engine import start_one_dial
from tests.support.procs import env_for, free_port, running
from tests.support.redis_server import REDIS_URL
from tests.support.waits import wait_for

MAX_BODY = 8 * 1024 * 1024
MAX_ROWS = 1000
MB = 1024 * 1024
#: Rounds of every abuse sent to the real process.
ROUNDS = 5
#: Growth of the API's RSS over all rounds that counts as a blow-up.
RSS_BUDGET_MB = 100
JSON = "application/json"


@dataclass(frozen=True)
class Target:
    """What an abuse needs to know: the caller's workspace, its job and a live dial."""

    ws: dict[str, Any]
    job_id: str
    dial_id: str


@dataclass(frozen=True)
class Abuse:
    """One abusive request and the answer it must get."""

    id: str
    method: str
    #: "create", "job", "paused" or "status" (the provider callback, body signed).
    route: str
    body: Callable[[Target], bytes]
    status: int | frozenset[int]
    content_type: str | None = JSON
    #: The body is streamed with Transfer-Encoding: chunked (no Content-Length).
    chunked: bool = False
    #: For a 422: the path of every problem listed in details.
    paths: tuple[str, ...] | None = None
    code: str | None = None

    def path(self, t: Target) -> str:
        return {
            "create": JOBS,
            "job": f"{JOBS}/{t.job_id}",
            "paused": f"{JOBS}/{t.job_id}/paused",
            "status": f"/api/dials/{t.dial_id}/status",
        }[self.route]

    def headers(self, t: Target, body: bytes) -> dict[str, str]:
        headers = {"api_key": t.ws["apiKey"]}
        if self.content_type:
            headers["content-type"] = self.content_type
        if self.route == "status":
            headers[SIGNATURE_HEADER] = sign(SECRET, t.dial_id, body)
        return headers


def _create(t: Target, **overrides: Any) -> dict[str, Any]:
    body = job_body(t.ws, rows=1, schedule=None)
    body.update(overrides)
    return body


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _with_duplicate(doc: dict[str, Any], key: str, first: Any) -> bytes:
    """``doc`` as JSON with ``key`` given twice: ``first``, then ``doc[key]``."""
    text = json.dumps(doc)
    return ("{" + json.dumps(key) + ": " + json.dumps(first) + ", " + text[1:]).encode()


NESTED_ARRAYS = b"[" * 100_000 + b"]" * 100_000
NESTED_OBJECTS = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
BIG = b"x" * (MAX_BODY + MB)
ANY_4XX = frozenset({400, 422})

ABUSES = [
    # -- bodies over BATCHDIAL_MAX_BODY_BYTES
    Abuse("over-limit-content-length", "POST", "create", lambda t: BIG, 413, code="too_large"),
    Abuse(
        "over-limit-chunked", "POST", "create", lambda t: BIG, 413, chunked=True, code="too_large"
    ),
    Abuse("over-limit-put", "PUT", "job", lambda t: BIG, 413, code="too_large"),
    # -- too many, too long
    Abuse(
        "too-many-rows",
        "POST",
        "create",
        lambda t: _dumps(job_body(t.ws, rows=MAX_ROWS + 1, schedule=None)),
        422,
        paths=("rows",),
    ),
    Abuse(
        "huge-input-value",
        "POST",
        "create",
        lambda t: _dumps(
            _create(t, rows=[{"toNumber": "+12125550000", "inputs": {"k": "v" * MB}}])
        ),
        422,
        paths=("rows[0].inputs",),
    ),
    Abuse(
        "too-many-inputs",
        "POST",
        "create",
        lambda t: _dumps(
            _create(
                t, rows=[{"toNumber": "+12125550000", "inputs": {f"k{i}": "v" for i in range(51)}}]
            )
        ),
        422,
        paths=("rows[0].inputs",),
    ),
    Abuse(
        "1mb-name",
        "POST",
        "create",
        lambda t: _dumps(_create(t, name="n" * MB)),
        422,
        paths=("name",),
    ),
    Abuse("1mb-name-put", "PUT", "job", lambda t: _dumps({"name": "n" * MB}), 422, paths=("name",)),
    Abuse(
        "huge-integer",
        "POST",
        "create",
        lambda t: _dumps(_create(t)).replace(
            b'"maxConcurrentDials": 5', b'"maxConcurrentDials": 1' + b"0" * 5000
        ),
        ANY_4XX,
    ),
    # -- shapes
    Abuse("nested-arrays-100k", "POST", "create", lambda t: NESTED_ARRAYS, 400),
    Abuse("nested-objects-100k", "POST", "create", lambda t: NESTED_OBJECTS, 400),
    Abuse(
        "nested-in-a-value", "POST", "create", lambda t: b'{"name": ' + NESTED_ARRAYS + b"}", 400
    ),
    Abuse("nested-put", "PUT", "job", lambda t: NESTED_ARRAYS, 400),
    Abuse("nested-paused", "POST", "paused", lambda t: NESTED_ARRAYS, 400),
    Abuse("nested-status", "POST", "status", lambda t: b'{"status": ' + NESTED_ARRAYS + b"}", 400),
    Abuse(
        "not-utf8",
        "POST",
        "create",
        lambda t: _dumps(_create(t)).replace(b"Customer", b"Cust\xffmer"),
        400,
    ),
    Abuse("not-utf8-paused", "POST", "paused", lambda t: b'{"paused": "\xff"}', 400),
    Abuse("not-utf8-status", "POST", "status", lambda t: b'{"status": "\xff"}', 400),
    Abuse("utf16-create", "POST", "create", lambda t: json.dumps(_create(t)).encode("utf-16"), 400),
    Abuse(
        "utf16-paused",
        "POST",
        "paused",
        lambda t: b'{"paused": true}'.decode().encode("utf-16"),
        400,
    ),
    Abuse(
        "text-plain-create",
        "POST",
        "create",
        lambda t: _dumps(_create(t)),
        400,
        content_type="text/plain",
    ),
    Abuse(
        "text-plain-put", "PUT", "job", lambda t: b'{"name": "x"}', 400, content_type="text/plain"
    ),
    Abuse(
        "form-paused",
        "POST",
        "paused",
        lambda t: b"paused=true",
        400,
        content_type="application/x-www-form-urlencoded",
    ),
    Abuse(
        "text-plain-paused",
        "POST",
        "paused",
        lambda t: b'{"paused": true}',
        400,
        content_type="text/plain",
    ),
    Abuse(
        "duplicate-keys-create",
        "POST",
        "create",
        lambda t: _with_duplicate(_create(t), "name", "first name"),
        ANY_4XX,
    ),
    Abuse("duplicate-keys-put", "PUT", "job", lambda t: b'{"name": "a", "name": "b"}', ANY_4XX),
    Abuse(
        "duplicate-keys-paused",
        "POST",
        "paused",
        lambda t: b'{"paused": true, "paused": false}',
        ANY_4XX,
    ),
    Abuse(
        "duplicate-keys-status",
        "POST",
        "status",
        lambda t: b'{"status": "ringing", "status": "completed"}',
        ANY_4XX,
    ),
    Abuse(
        "numbers-for-strings",
        "POST",
        "create",
        lambda t: _dumps(
            _create(
                t,
                name=123,
                callAgentId=4.5,
                rows=[{"toNumber": 12125550000, "inputs": {"k": 7}}],
            )
        ),
        422,
        paths=("name", "callAgentId", "rows[0].toNumber", "rows[0].inputs.k"),
    ),
    Abuse(
        "number-for-bool-paused",
        "POST",
        "paused",
        lambda t: b'{"paused": 0}',
        422,
        paths=("paused",),
    ),
    Abuse(
        "number-for-status", "POST", "status", lambda t: b'{"status": 200}', 422, paths=("status",)
    ),
]


# -- in-process: one test per abuse ------------------------------------------------


@pytest.fixture
def limited_api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """The in-process API with the limits the real process below runs with."""
    app = create_app(
        real_redis,
        namespace,
        limits=Limits(max_rows=MAX_ROWS),
        max_body_bytes=MAX_BODY,
        dialer_secret=SECRET,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _target(client: redis.Redis, producer: Producer) -> Target:
    ws = producer.workspaces.create("w", 10, ["+12125550100", "+14155550100"])
    live = start_one_dial(client, producer, ws)
    job = producer.create_job(ws["workspaceId"], job_body(ws, rows=2, schedule=None))
    # The job routes act on a PAUSED job (PUT applies at once there); the dial is live.
    producer.set_paused(ws["workspaceId"], job["id"], False)
    producer.set_paused(ws["workspaceId"], job["id"], True)
    return Target(ws, job["id"], live["dial_id"])


@pytest.mark.parametrize("abuse", ABUSES, ids=[a.id for a in ABUSES])
def test_each_abuse_is_a_clear_4xx_and_stores_nothing(
    limited_api: TestClient, real_redis: redis.Redis, namespace: str, abuse: Abuse
) -> None:
    """The expected 4xx, in the SPEC shape, with every problem's path; Redis unchanged."""
    producer: Producer = limited_api.app.state.producer  # type: ignore[attr-defined]
    target = _target(real_redis, producer)
    body = abuse.body(target)
    before = snapshot(real_redis, namespace)
    content: Any = body
    if abuse.chunked:
        content = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response = limited_api.request(
        abuse.method, abuse.path(target), content=content, headers=abuse.headers(target, body)
    )
    allowed = abuse.status if isinstance(abuse.status, frozenset) else {abuse.status}
    assert response.status_code in allowed, (
        f"{abuse.method} {abuse.route} {abuse.id}: expected {sorted(allowed)}, "
        f"got {response.status_code}: {response.text[:300]}"
    )
    error = assert_spec_error(response, code=abuse.code)
    if abuse.paths is not None:
        assert sorted(d["path"] for d in error["details"]) == sorted(abuse.paths), error
    assert snapshot(real_redis, namespace) == before, f"{abuse.id} changed Redis"


# -- a real process: memory stays bounded -------------------------------------------


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, int, int]]:
    """A real ``batchdial api`` on a free port: (host, port, pid) once it answers."""
    port = free_port()
    with running("api", "--port", str(port), env=env, log=log) as proc:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the API exited: {log.read_text()[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, "the API to answer")
        yield "127.0.0.1", port, proc.pid


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def raw_request(
    host: str,
    port: int,
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    chunked: bool,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on its own connection; stops sending once the server answers.

    A server that refuses a body early answers before reading it; sending on would only
    get the connection reset, so the body goes out in pieces and each piece is sent only
    while no answer is waiting.
    """
    head = [f"{method} {path} HTTP/1.1", f"host: {host}:{port}", "connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("transfer-encoding: chunked" if chunked else f"content-length: {len(body)}")
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        sent = 0
        try:
            for i in range(0, len(body), 65536):
                # Over the limit an early answer is due: give it time to arrive.
                wait = 2.0 if sent > MAX_BODY or (not chunked and len(body) > MAX_BODY) else 0
                if select.select([sock], [], [], wait)[0]:
                    break  # answered before the whole body: do not send the rest
                piece = body[i : i + 65536]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            if b"\r\n\r\n" not in data:
                raise
    head_text, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_text.lower():
        decoded, rest = b"", payload
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        payload = decoded
    return status, payload


@pytest.mark.e2e
def test_a_real_api_keeps_its_memory_while_refusing_abuse(
    real_redis: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    """Rounds of every abuse against ``batchdial api``: no 5xx, RSS grows < 100 MB."""
    env = env_for(
        namespace,
        REDIS_URL,
        BATCHDIAL_MAX_BODY_BYTES=str(MAX_BODY),
        BATCHDIAL_MAX_ROWS_PER_JOB=str(MAX_ROWS),
        BATCHDIAL_DIALER_SECRET=SECRET,
        BATCHDIAL_LOG_LEVEL="WARNING",
    )
    producer = Producer(real_redis, namespace)
    target = _target(real_redis, producer)
    bodies = {abuse.id: abuse.body(target) for abuse in ABUSES}
    with api_process(env, tmp_path / "api.log") as (host, port, pid):
        # Warm up: one valid create, so imports and caches are in the first figure.
        status, _ = raw_request(
            host,
            port,
            method="POST",
            path=JOBS,
            headers={"api_key": target.ws["apiKey"], "content-type": JSON},
            body=_dumps(job_body(target.ws, rows=100, schedule=None)),
            chunked=False,
        )
        assert status == 201
        figures = [rss_mb(pid)]
        answers: dict[str, int] = {}
        problems: list[str] = []
        started = time.perf_counter()
        for _round in range(ROUNDS):
            for abuse in ABUSES:
                body = bodies[abuse.id]
                status, payload = raw_request(
                    host,
                    port,
                    method=abuse.method,
                    path=abuse.path(target),
                    headers=abuse.headers(target, body),
                    body=body,
                    chunked=abuse.chunked,
                )
                answers[abuse.id] = status
                if status >= 500:
                    problems.append(f"{abuse.id}: {status} {payload[:200]!r}")
                elif status >= 400 and (problem := error_shape_problems(status, payload)):
                    problems.append(f"{abuse.id}: {problem}")
            figures.append(rss_mb(pid))
        elapsed = time.perf_counter() - started
        assert os.path.exists(f"/proc/{pid}"), "the API process died"
    print(
        f"batchdial api RSS (MiB) before and after each round of {len(ABUSES)} abuses: "
        + ", ".join(f"{f:.1f}" for f in figures)
        + f" (growth {figures[-1] - figures[0]:+.1f} MiB over {ROUNDS * len(ABUSES)} requests"
        + f" in {elapsed:.1f}s); answers {answers}"
    )
    assert answers["over-limit-content-length"] == 413
    assert answers["over-limit-chunked"] == 413
    assert not problems, "\n".join(problems)
    assert figures[-1] - figures[0] < RSS_BUDGET_MB, figures
