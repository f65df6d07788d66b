"""Carrier callback details are bounded in storage (issue 13, item 7).

A signed callback may carry any fields beside ``status``; what is kept of them goes into
the ``dial.finished`` event that every reader of ``/events`` downloads. Only the carrier's
allowlist is kept, each value and the whole bounded (``domain/provider_details.py``); the
rest is dropped and the drop is named in the event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient

from domain.dials import DialEnds
from domain.keys import Keys
from domain.pagination import collect
from domain.provider_details import DETAIL_FIELDS, MAX_DETAILS_BYTES, MAX_DROPPED_NAMES
from domain.signing import SIGNATURE_HEADER, sign
from producer.http.app import create_app
from tests.abuse.shape import JOBS, SECRET
from tests.support.engine import start_one_dial
from tests.support.http import producer_of

MIB = 1024 * 1024
#: An event with bounded details and the usual fields stays well under this (bytes).
EVENT_BUDGET = MAX_DETAILS_BYTES + 1024
#: A first /events page of a one-dial job with bounded details stays under this (bytes).
PAGE_BUDGET = 32 * 1024


@pytest.fixture
def api(real_redis: redis.Redis, namespace: str) -> Iterator[TestClient]:
    """The in-process API with the default body limit (32 MiB), so a 1 MiB callback is
    let in and it is the storage that must bound it."""
    with TestClient(create_app(real_redis, namespace, dialer_secret=SECRET)) as client:
        yield client


def _live(api: TestClient, client: redis.Redis) -> dict[str, Any]:
    ws = producer_of(api).workspaces.create("w", 10, ["+12125550100"])
    return {**start_one_dial(client, producer_of(api), ws), "ws": ws}


def _report(api: TestClient, dial_id: str, body: bytes) -> Any:
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, dial_id, body)}
    return api.post(f"/api/dials/{dial_id}/status", content=body, headers=headers)


def _finished(api: TestClient, live: dict[str, Any]) -> dict[str, Any]:
    ws_id = live["ws"]["workspaceId"]
    events = collect(lambda **kw: producer_of(api).events(ws_id, live["job_id"], **kw))
    [finished] = [e for e in events if e["type"] == "dial.finished"]
    return finished


def _stored_sizes(client: redis.Redis, namespace: str, live: dict[str, Any]) -> list[int]:
    """Bytes of each event as stored in the job's stream."""
    key = Keys(namespace).events(live["ws"]["workspaceId"], live["job_id"])
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(key))
    return [len(fields["e"].encode()) for _, fields in entries]


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def test_a_signed_1_mib_callback_is_accepted_and_stored_bounded(
    api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """The 1 MiB extra field of the adversarial run: the dial ends, the allowlisted field is
    kept, the big one is dropped and named, and neither the stored event nor the /events
    page grows with it."""
    live = _live(api, real_redis)
    body = json.dumps({"status": "completed", "sipCode": "200", "x": "a" * MIB}).encode()
    answer = _report(api, live["dial_id"], body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] is True
    finished = _finished(api, live)
    assert finished["provider"] == {
        "sipCode": "200",
        "droppedFields": ["x"],
        "droppedFieldCount": 1,
    }
    stored = max(_stored_sizes(real_redis, namespace, live))
    assert stored < EVENT_BUDGET
    page = api.get(f"{JOBS}/{live['job_id']}/events", headers={"api_key": live["ws"]["apiKey"]})
    assert page.status_code == 200
    assert len(page.content) < PAGE_BUDGET, f"/events page of {len(page.content)} bytes"
    print(
        f"\ncallback of {len(body)} bytes: largest stored event {stored} bytes, "
        f"/events page {len(page.content)} bytes"
    )


HOSTILE: list[Any] = [
    pytest.param({f"k{i}": i for i in range(10_000)}, id="10k-small-fields"),
    pytest.param({"reason": "r" * MIB}, id="allowlisted-field-1-mib"),
    pytest.param({"reason": "r" * 257}, id="allowlisted-field-257-chars"),
    pytest.param({"reason": {"nested": ["x"] * 1000}}, id="allowlisted-field-an-object"),
    pytest.param({"sipCode": [1, 2, 3]}, id="allowlisted-field-an-array"),
    pytest.param({"n" * 100_000: 1}, id="field-name-100k"),
    pytest.param({"\U0001f600" * 5000 + str(i): 1 for i in range(50)}, id="emoji-field-names"),
    pytest.param(
        dict.fromkeys(DETAIL_FIELDS["http"], "\U0001f600" * 256), id="every-field-at-its-max"
    ),
    pytest.param({"droppedFields": ["forged"], "droppedFieldCount": 0}, id="forged-drop-record"),
]


@pytest.mark.parametrize("extra", HOSTILE)
def test_hostile_details_are_bounded_and_the_drop_recorded(
    api: TestClient, real_redis: redis.Redis, namespace: str, extra: dict[str, Any]
) -> None:
    """Whatever the provider sends beside the status: the provider object of the event is
    at most MAX_DETAILS_BYTES, holds only allowlisted scalars besides the drop record, and
    the record counts every field not kept."""
    live = _live(api, real_redis)
    body = json.dumps({"status": "no-answer", **extra}).encode()
    answer = _report(api, live["dial_id"], body)
    assert answer.status_code == 200, answer.text
    provider = _finished(api, live)["provider"]
    assert _size(provider) <= MAX_DETAILS_BYTES
    kept = {k: v for k, v in provider.items() if k not in ("droppedFields", "droppedFieldCount")}
    assert set(kept) <= set(DETAIL_FIELDS["http"])
    assert all(v is None or isinstance(v, str | int | float | bool) for v in kept.values())
    assert provider["droppedFieldCount"] == len(extra) - len(kept) > 0
    assert 0 < len(provider["droppedFields"]) <= MAX_DROPPED_NAMES
    assert "forged" not in provider["droppedFields"]
    assert max(_stored_sizes(real_redis, namespace, live)) < EVENT_BUDGET


def test_a_clean_report_is_kept_as_sent(api: TestClient, real_redis: redis.Redis) -> None:
    """Allowlisted scalars within the bounds are kept as they are, with no drop record."""
    live = _live(api, real_redis)
    report = {"reason": "user busy", "durationSeconds": 12.5, "sipCode": 486, "answeredBy": None}
    answer = _report(api, live["dial_id"], json.dumps({"status": "busy", **report}).encode())
    assert answer.status_code == 200
    assert _finished(api, live)["provider"] == report


def test_details_over_the_bound_reaching_the_end_of_a_dial_are_replaced(
    api: TestClient, real_redis: redis.Redis, namespace: str
) -> None:
    """The last guard, where every end is recorded (DialEnds.finish): details a caller did
    not bound are not stored; a marker says they were cut."""
    live = _live(api, real_redis)
    ends = DialEnds(real_redis, Keys(namespace))
    ref = ends.locate(live["dial_id"])
    assert ref is not None
    assert ends.finish(ref, "failed", details={"x": "a" * MIB}).outcome == "finished"
    assert _finished(api, live)["provider"] == {"detailsTruncated": True}
    assert max(_stored_sizes(real_redis, namespace, live)) < EVENT_BUDGET
