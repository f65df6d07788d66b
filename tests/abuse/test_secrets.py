"""Secrets: API keys stored hashed and compared in constant time; callbacks unforgeable."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import redis
from fastapi.testclient import TestClient

from domain.pagination import collect
from domain.signing import SIGNATURE_HEADER, TOLERANCE_S, FixedClock, sign
from tests.abuse.shape import JOBS, SECRET, assert_spec_error, snapshot
from tests.support.engine import start_one_dial
from tests.support.http import producer_of

# -- API keys ------------------------------------------------------------------


def test_the_plain_api_key_is_nowhere_in_redis(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """No key name or value of any type in the namespace holds the plain key; its hash is."""
    api = secured_api
    producer = producer_of(api)
    ws = producer.workspaces.create("w", 10, ["+12125550100"])
    start_one_dial(real_redis, producer, ws)  # jobs, rows, dials, events: every kind of key
    for headers in ({"api_key": ws["apiKey"]}, {"Authorization": f"Bearer {ws['apiKey']}"}):
        assert api.get(JOBS, headers=headers).status_code == 200
    state = snapshot(real_redis, namespace)
    dump = json.dumps(state, default=str)
    assert ws["apiKey"] not in dump
    assert ws["apiKey"].removeprefix("bd_") not in dump
    assert hashlib.sha256(ws["apiKey"].encode()).hexdigest() in dump, "scanned the wrong keys"
    kinds = {kind for kind, _, _ in state.values()}
    assert {"hash", "zset", "stream"} <= kinds


def test_keys_and_signatures_are_compared_with_hmac_compare_digest(
    secured_api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored and presented key hash, and callback signatures, compare in constant time."""
    api = secured_api
    ws = producer_of(api).workspaces.create("w", 10, ["+12125550100"])
    real = hmac.compare_digest
    calls: list[tuple[str, Any, Any, bool]] = []

    def recording(a: Any, b: Any) -> bool:
        result = real(a, b)
        calls.append((sys._getframe(1).f_globals.get("__name__", "?"), a, b, result))
        return result

    # producer.workspaces.hmac is the hmac module: patched for every caller, and undone.
    monkeypatch.setattr("producer.workspaces.hmac.compare_digest", recording)
    digest = hashlib.sha256(ws["apiKey"].encode()).hexdigest()
    for headers in ({"api_key": ws["apiKey"]}, {"Authorization": f"Bearer {ws['apiKey']}"}):
        calls.clear()
        assert api.get(JOBS, headers=headers).status_code == 200
        assert calls == [("producer.workspaces", digest, digest, True)], calls
    # A wrong key is looked up by its hash: no stored value is compared with it at all.
    calls.clear()
    assert_spec_error(api.get(JOBS, headers={"api_key": "bd_wrong"}), 401)
    assert all(name != "producer.workspaces" or not ok for name, _, _, ok in calls)
    # Callback signatures are compared the same way (then: no such dial, 404).
    calls.clear()
    body = b'{"status":"completed"}'
    signature = sign(SECRET, "dial_x_0_1_y", body)
    assert _callback(api, "dial_x_0_1_y", body, signature).status_code == 404
    # (The fast path checks it, then hands the unknown dial to the route, which checks
    # it again and answers 404: producer/http/fastpath.py.)
    mac = signature.split("v1=")[1]
    assert calls and all(c == ("domain.signing", mac, mac, True) for c in calls), calls


# -- provider status callbacks ------------------------------------------------------


def _callback(
    api: TestClient, dial_id: str, body: bytes, signature: str | bytes | None
) -> httpx2.Response:
    headers: dict[str, Any] = {"content-type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    response: httpx2.Response = api.post(
        f"/api/dials/{dial_id}/status", content=body, headers=headers
    )
    return response


def _hex(dial_id: str, body: bytes, t: int, secret: str = SECRET) -> str:
    base = f"{t}.{dial_id}.".encode() + body
    return hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _live(api: TestClient, client: redis.Redis) -> dict[str, Any]:
    producer = producer_of(api)
    ws = producer.workspaces.create("w", 10, ["+12125550100"])
    live = start_one_dial(client, producer, ws)
    return {**live, "ws": ws["workspaceId"]}


def _dial_events(api: TestClient, live: dict[str, Any]) -> list[dict[str, Any]]:
    producer = producer_of(api)
    return collect(lambda **kw: producer.events(live["ws"], live["job_id"], **kw))


BODY = b'{"status":"completed"}'


#: Each bad header, made from the dial id and the API's (pinned) time in whole seconds.
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d, now: None, id="missing"),
        pytest.param(lambda d, now: "", id="empty"),
        pytest.param(lambda d, now: sign("other", d, BODY, now), id="wrong-secret"),
        pytest.param(
            lambda d, now: sign(SECRET, d, b'{"status":"busy"}', now),
            id="signature-of-another-body",
        ),
        pytest.param(lambda d, now: f"v1={_hex(d, BODY, now)}", id="no-t"),
        pytest.param(lambda d, now: f"t={now}", id="no-v1"),
        pytest.param(lambda d, now: f"t={now},v1={_hex(d, BODY, now)[:32]}", id="v1-truncated"),
        pytest.param(lambda d, now: f"t={now},v1={_hex(d, BODY, now).upper()}", id="v1-upper-case"),
        pytest.param(
            lambda d, now: f"t={now + 1},v1={_hex(d, BODY, now)}",
            id="t-signed-but-header-t-changed",
        ),
        pytest.param(lambda d, now: f"t=-{now},v1={_hex(d, BODY, -now)}", id="t-negative"),
        pytest.param(lambda d, now: f"t={now}.0,v1={_hex(d, BODY, now)}", id="t-float"),
        pytest.param(lambda d, now: f"t={'9' * 400},v1=00", id="t-huge"),
        pytest.param(
            lambda d, now: sign(SECRET, d, BODY, now - TOLERANCE_S - 1), id="stale-301-s-old"
        ),
        pytest.param(
            lambda d, now: sign(SECRET, d, BODY, now + TOLERANCE_S + 1), id="future-301-s-ahead"
        ),
        pytest.param(lambda d, now: b"t=\xb2\xb3,v1=00", id="t-in-superscript-digits-latin-1"),
    ],
)
def test_bad_or_stale_signatures_are_401_and_change_nothing(
    secured_api: TestClient,
    real_redis: redis.Redis,
    namespace: str,
    clock: FixedClock,
    make: Callable[[str, int], str | bytes | None],
) -> None:
    """Every malformed, wrong, stale or future signature: 401 in the SPEC shape, no change.

    The API's clock is pinned (``clock``), so the 301 s cases are exactly 301 s off
    whenever the test runs (signing with ``int(time.time())`` against the real clock made
    them 300.x s off, and accepted, about one run in two).
    """
    api = secured_api
    live = _live(api, real_redis)
    before = snapshot(real_redis, namespace)
    signature = make(live["dial_id"], int(clock.time()))
    if isinstance(signature, bytes):
        # TestClient's client refuses non-ASCII header values: send raw latin-1 octets.
        response: httpx.Response | httpx2.Response = _raw_asgi_post(
            api, f"/api/dials/{live['dial_id']}/status", BODY, signature
        )
    else:
        response = _callback(api, live["dial_id"], BODY, signature)
    assert_spec_error(response, 401, "unauthorized")
    assert snapshot(real_redis, namespace) == before


@pytest.mark.parametrize(
    ("offset_s", "clock_fraction_s", "accepted"),
    [
        pytest.param(TOLERANCE_S, 0.0, True, id="exactly-300-s-ahead"),
        pytest.param(TOLERANCE_S + 1, 0.0, False, id="301-s-ahead"),
        pytest.param(-TOLERANCE_S, 0.0, True, id="exactly-300-s-old"),
        pytest.param(-TOLERANCE_S - 1, 0.0, False, id="301-s-old"),
        # The API's clock half-way through a second: 300.5 s off is past the tolerance.
        pytest.param(TOLERANCE_S + 1, 0.5, False, id="300.5-s-ahead"),
        pytest.param(TOLERANCE_S, 0.5, True, id="299.5-s-ahead"),
        pytest.param(-TOLERANCE_S, 0.5, False, id="300.5-s-old"),
    ],
)
def test_the_tolerance_boundary_is_exact(
    secured_api: TestClient,
    real_redis: redis.Redis,
    clock: FixedClock,
    *,
    offset_s: int,
    clock_fraction_s: float,
    accepted: bool,
) -> None:
    """A signature at most TOLERANCE_S seconds from the API's clock is good; one a moment
    more is 401. The clock is pinned, so each case is the same on every run."""
    api = secured_api
    live = _live(api, real_redis)
    signed_at = int(clock.time()) + offset_s
    clock.advance(clock_fraction_s)
    signature = sign(SECRET, live["dial_id"], BODY, signed_at)
    response = _callback(api, live["dial_id"], BODY, signature)
    if accepted:
        assert response.status_code == 200, response.text
        assert response.json()["changed"] is True
    else:
        assert_spec_error(response, 401, "unauthorized")


def _raw_asgi_post(api: TestClient, path: str, body: bytes, signature: bytes) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                path,
                content=body,
                headers={
                    b"content-type": b"application/json",
                    SIGNATURE_HEADER.encode(): signature,
                },
            )

    return anyio.run(post)


def test_a_captured_callback_replayed_after_the_window_is_401(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str, clock: FixedClock
) -> None:
    """A callback that was valid when captured is refused once its time has passed.

    A live status is delivered (accepted); the final one is captured and held. When the
    API's (pinned) clock is past the tolerance, replaying either (same bytes, same header) is 401
    and changes nothing; the dial stays live.
    """
    api = secured_api
    live = _live(api, real_redis)
    ringing = b'{"status":"ringing"}'
    now = int(clock.time())
    ringing_sig = sign(SECRET, live["dial_id"], ringing, now)
    captured_sig = sign(SECRET, live["dial_id"], BODY, now)
    assert _callback(api, live["dial_id"], ringing, ringing_sig).status_code == 200
    before = snapshot(real_redis, namespace)
    events_before = _dial_events(api, live)

    clock.advance(TOLERANCE_S + 1)
    for body, signature in ((ringing, ringing_sig), (BODY, captured_sig)):
        assert_spec_error(_callback(api, live["dial_id"], body, signature), 401, "unauthorized")
    assert snapshot(real_redis, namespace) == before
    assert _dial_events(api, live) == events_before
    assert [e["type"] for e in events_before].count("dial.finished") == 0

    # Inside the window the captured callback was (and would be) good: it ends the dial.
    clock.advance(-(TOLERANCE_S + 1))
    fresh = _callback(api, live["dial_id"], BODY, sign(SECRET, live["dial_id"], BODY, now))
    assert fresh.status_code == 200
    assert fresh.json()["changed"] is True


def test_a_callback_for_one_dial_does_not_end_another(
    secured_api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """A signed callback captured for dial A, replayed (within the window) to dial B's URL.

    The signature covers the dial id, so the same bytes and header are not valid for
    another dial: 401, dial B untouched.
    """
    api = secured_api
    producer = producer_of(api)
    ws = producer.workspaces.create("w", 10, ["+12125550100", "+14155550100"])
    first = start_one_dial(real_redis, producer, ws)
    second = start_one_dial(real_redis, producer, ws)
    captured = sign(SECRET, first["dial_id"], BODY)
    assert _callback(api, first["dial_id"], BODY, captured).json()["changed"] is True
    before = snapshot(real_redis, namespace)
    replayed = _callback(api, second["dial_id"], BODY, captured)
    assert snapshot(real_redis, namespace) == before, (
        f"the callback signed for {first['dial_id']} ended {second['dial_id']}: "
        f"{replayed.status_code} {replayed.text}"
    )
    assert_spec_error(replayed, 401, "unauthorized")
