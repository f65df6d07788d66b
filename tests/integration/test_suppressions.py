"""The suppression list: ``/api/suppressions`` on a real Redis, and the Python API on both."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.errors import InvalidInput, NotFound
from domain.keys import Keys
from producer.schemas import workspace as settings_models
from producer.service import Producer
from tests.support.http import assert_error, h

Make = Callable[..., dict[str, Any]]
SUPP = "/api/suppressions"

#: Dialable numbers, listed here in lexicographic (= list) order.
A, B, C = "+12125550123", "+14155550199", "+442079460958"


def listed(api: TestClient, ws: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = api.get(SUPP, params={"limit": 500, **params}, headers=h(ws))
    assert response.status_code == 200, response.text
    assert response.json()["nextCursor"] is None
    return list(response.json()["data"])


def add(api: TestClient, ws: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(SUPP, json=body, headers=h(ws))
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- HTTP ------------------------------------------------------------------------


def test_added_numbers_are_listed_in_order_with_reason_source_and_date(
    api: TestClient, make_workspace: Make
) -> None:
    """POST answers the counts; GET lists each number once, by number, with its entry."""
    ws = make_workspace()
    before = datetime.now(UTC)
    # Given three numbers, one of them written in a national-looking format
    answer = add(api, ws, {"numbers": [C, "+1 (212) 555-0123", B], "reason": "asked us"})
    # Then all three are new, and the list shows them in E.164, in lexicographic order
    assert answer == {"added": 3, "alreadySuppressed": 0}
    entries = listed(api, ws)
    assert [e["number"] for e in entries] == [A, B, C]
    for entry in entries:
        assert set(entry) == {"number", "reason", "source", "createdAt"}
        assert entry["reason"] == "asked us"
        assert entry["source"] == "api"
        created = datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))
        assert entry["createdAt"].endswith("Z")
        assert abs((created - before).total_seconds()) < 60


def test_adding_again_is_idempotent_and_keeps_the_first_entry(
    api: TestClient, make_workspace: Make
) -> None:
    """A number already listed is counted, not rewritten; repeats in one request count once."""
    ws = make_workspace()
    add(api, ws, {"numbers": [A], "reason": "first"})
    first = listed(api, ws)
    answer = add(api, ws, {"numbers": [A, B, B, "+1 415 555 0199"], "reason": "second"})
    assert answer == {"added": 1, "alreadySuppressed": 1}
    entries = {e["number"]: e for e in listed(api, ws)}
    assert entries[A] == first[0]
    assert entries[B]["reason"] == "second"
    assert add(api, ws, {"numbers": [A, B]}) == {"added": 0, "alreadySuppressed": 2}


def test_reason_is_optional(api: TestClient, make_workspace: Make) -> None:
    """Without a reason (or with null) the entry's reason is null."""
    ws = make_workspace()
    add(api, ws, {"numbers": [A]})
    add(api, ws, {"numbers": [B], "reason": None})
    assert [e["reason"] for e in listed(api, ws)] == [None, None]


def test_the_list_pages_with_a_cursor(api: TestClient, make_workspace: Make) -> None:
    """limit/cursor walk the whole list in order, each number once; the last page ends it."""
    ws = make_workspace()
    numbers = [f"+1212555{i:04d}" for i in range(7)]
    add(api, ws, {"numbers": list(reversed(numbers))})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = api.get(SUPP, params=params, headers=h(ws)).json()
        pages += 1
        assert len(body["data"]) <= 3
        seen += [e["number"] for e in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(numbers)
    default = api.get(SUPP, headers=h(ws)).json()
    assert len(default["data"]) == 7
    assert default["nextCursor"] is None


def test_list_limits_and_cursors_are_checked(api: TestClient, make_workspace: Make) -> None:
    """limit outside 1..500 and a cursor the list never gave out are 422 on their field."""
    ws = make_workspace()
    for limit in (0, 501):
        error = assert_error(api.get(SUPP, params={"limit": limit}, headers=h(ws)), 422)
        assert [d["path"] for d in error["details"]] == ["limit"]
    error = assert_error(api.get(SUPP, params={"cursor": "%%%"}, headers=h(ws)), 422)
    assert [d["path"] for d in error["details"]] == ["cursor"]


def test_delete_removes_both_keys_and_accepts_plus_encoded_or_raw(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """DELETE with %2B or a raw '+' removes the number from the set and its entry."""
    ws = make_workspace()
    keys = Keys(namespace)
    add(api, ws, {"numbers": [A, B, C]})
    assert real_redis.hlen(keys.suppression_info(ws["workspaceId"])) == 3

    encoded = api.delete(f"{SUPP}/%2B12125550123", headers=h(ws))
    assert encoded.status_code == 200, encoded.text
    assert encoded.json() == {"number": A, "removed": True}
    raw = api.delete(f"{SUPP}/{B}", headers=h(ws))
    assert raw.json() == {"number": B, "removed": True}

    assert [e["number"] for e in listed(api, ws)] == [C]
    assert real_redis.zrange(keys.suppressed(ws["workspaceId"]), 0, -1) == [C]
    assert list(real_redis.hgetall(keys.suppression_info(ws["workspaceId"]))) == [C]


def test_delete_of_a_number_not_listed_is_404(api: TestClient, make_workspace: Make) -> None:
    """A second DELETE, or one of a number never added, answers 404 in the SPEC shape."""
    ws = make_workspace()
    add(api, ws, {"numbers": [A]})
    assert api.delete(f"{SUPP}/%2B12125550123", headers=h(ws)).status_code == 200
    error = assert_error(api.delete(f"{SUPP}/%2B12125550123", headers=h(ws)), 404, "not_found")
    assert A in error["message"]
    assert_error(api.delete(f"{SUPP}/%2B14155550199", headers=h(ws)), 404, "not_found")


def test_delete_of_an_invalid_number_is_422(api: TestClient, make_workspace: Make) -> None:
    """A path that is not a dialable number is refused with the problem on ``number``."""
    ws = make_workspace()
    for bad in ("12125550123", "%2B1234567890", "hello"):
        error = assert_error(api.delete(f"{SUPP}/{bad}", headers=h(ws)), 422, "invalid_input")
        assert [d["path"] for d in error["details"]] == ["number"]


def test_bad_numbers_are_reported_with_their_paths_and_nothing_is_stored(
    api: TestClient, make_workspace: Make
) -> None:
    """Every bad number is named by its index; the good ones are not stored either."""
    ws = make_workspace()
    body = {"numbers": [A, "12125550123", "+1234567890", 42, "", B]}
    error = assert_error(api.post(SUPP, json=body, headers=h(ws)), 422, "invalid_input")
    paths = [d["path"] for d in error["details"]]
    assert paths == ["numbers[1]", "numbers[2]", "numbers[3]", "numbers[4]"]
    assert "E.164" in error["details"][0]["message"]
    assert "too short" in error["details"][1]["message"]
    assert listed(api, ws) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "numbers"),
        ({"numbers": []}, "numbers"),
        ({"numbers": A}, "numbers"),
        ({"numbers": [A], "reason": "x" * 501}, "reason"),
        ({"numbers": [A], "reason": 7}, "reason"),
        ({"numbers": [A], "note": "typo"}, "note"),
    ],
)
def test_invalid_bodies_are_422_on_their_field(
    api: TestClient, make_workspace: Make, body: dict[str, Any], path: str
) -> None:
    """Missing or empty numbers, a long or non-string reason, unknown fields: 422."""
    ws = make_workspace()
    error = assert_error(api.post(SUPP, json=body, headers=h(ws)), 422, "invalid_input")
    assert path in [d["path"] for d in error["details"]]
    assert listed(api, ws) == []


def test_a_reason_of_500_characters_is_accepted(api: TestClient, make_workspace: Make) -> None:
    """500 characters is the limit, inclusive."""
    ws = make_workspace()
    add(api, ws, {"numbers": [A], "reason": "r" * 500})
    assert listed(api, ws)[0]["reason"] == "r" * 500


def test_malformed_bodies_are_400(api: TestClient, make_workspace: Make) -> None:
    """Not JSON, repeated keys, not an object, or not JSON content: 400 malformed_body."""
    ws = make_workspace()
    json_h = {**h(ws), "content-type": "application/json"}
    for content in (b"{", b'{"numbers": [], "numbers": []}', b"[]", b"\xff"):
        assert_error(api.post(SUPP, content=content, headers=json_h), 400, "malformed_body")
    text_h = {**h(ws), "content-type": "text/plain"}
    body = json.dumps({"numbers": [A]})
    assert_error(api.post(SUPP, content=body, headers=text_h), 400, "malformed_body")


def test_too_many_numbers_in_one_request_is_422(
    api: TestClient, make_workspace: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the per-request limit the whole request is refused, with the limit named."""
    ws = make_workspace()
    monkeypatch.setattr(settings_models, "MAX_NUMBERS_PER_REQUEST", 2)
    error = assert_error(api.post(SUPP, json={"numbers": [A, B, C]}, headers=h(ws)), 422)
    assert [d["path"] for d in error["details"]] == ["numbers"]
    assert "at most 2" in error["details"][0]["message"]
    assert listed(api, ws) == []
    assert add(api, ws, {"numbers": [A, B]}) == {"added": 2, "alreadySuppressed": 0}


def test_each_workspace_has_its_own_list(api: TestClient, make_workspace: Make) -> None:
    """Another workspace sees an empty list and cannot remove the owner's numbers."""
    owner, other = make_workspace(), make_workspace()
    add(api, owner, {"numbers": [A, B]})
    assert listed(api, other) == []
    assert_error(api.delete(f"{SUPP}/%2B12125550123", headers=h(other)), 404, "not_found")
    assert [e["number"] for e in listed(api, owner)] == [A, B]
    # The other workspace suppressing the same number is a separate, new entry.
    assert add(api, other, {"numbers": [A]}) == {"added": 1, "alreadySuppressed": 0}


def test_the_routes_need_an_api_key(api: TestClient, make_workspace: Make) -> None:
    """No key or a wrong key: 401 on every suppression route, nothing stored."""
    ws = make_workspace()
    for headers in ({}, {"api_key": "bd_wrong"}, {"Authorization": "Bearer bd_wrong"}):
        assert_error(api.get(SUPP, headers=headers), 401, "unauthorized")
        assert_error(api.post(SUPP, json={"numbers": [A]}, headers=headers), 401)
        assert_error(api.delete(f"{SUPP}/%2B12125550123", headers=headers), 401)
    assert listed(api, ws) == []
    bearer = {"Authorization": f"Bearer {ws['apiKey']}"}
    assert api.get(SUPP, headers=bearer).status_code == 200


def test_numbers_the_engine_suppressed_are_listed_with_their_dial(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """Entries written by the engine on an opted-out dial show source, job and dial.

    The entry is written as domain/lua/finish_dial.lua writes it (cjson, createdAt in ms).
    """
    ws = make_workspace()
    keys = Keys(namespace)
    ws_id = ws["workspaceId"]
    real_redis.zadd(keys.suppressed(ws_id), {B: 0})
    real_redis.hset(
        keys.suppression_info(ws_id),
        B,
        json.dumps(
            {
                "reason": "opted out (reported by the provider)",
                "source": "opted-out",
                "createdAt": 1795938570743,
                "jobId": "job_1",
                "dialId": "dial_1",
            }
        ),
    )
    add(api, ws, {"numbers": [A, B], "reason": "by hand"})
    entries = listed(api, ws)
    assert entries[1] == {
        "number": B,
        "reason": "opted out (reported by the provider)",
        "source": "opted-out",
        "createdAt": "2026-11-29T07:49:30.743Z",
        "jobId": "job_1",
        "dialId": "dial_1",
    }
    assert entries[0]["source"] == "api"
    assert "jobId" not in entries[0]


def test_routes_are_documented(api: TestClient) -> None:
    """The OpenAPI document has the routes, their tag and the request body schema."""
    doc = api.get("/openapi.json").json()
    post = doc["paths"][SUPP]["post"]
    assert post["tags"] == ["suppressions"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["numbers"]["maxItems"] == 100_000
    assert set(doc["paths"][SUPP]) == {"get", "post"}
    assert set(doc["paths"][SUPP + "/{number}"]) == {"delete"}


# -- Python API (fakeredis and real Redis) -----------------------------------------


def test_python_api_adds_lists_tests_and_removes(
    producer: Producer, workspace: dict[str, Any]
) -> None:
    """The same operations through Producer: counts, list, membership, removal."""
    ws = workspace["workspaceId"]
    assert producer.add_suppressions(ws, [B, A], reason="x") == {"added": 2, "alreadySuppressed": 0}
    assert producer.add_suppressions(ws, [A]) == {"added": 0, "alreadySuppressed": 1}
    page = producer.list_suppressions(ws, limit=1)
    assert [e["number"] for e in page.data] == [A]
    rest = producer.list_suppressions(ws, cursor=page.next_cursor)
    assert [e["number"] for e in rest.data] == [B]
    assert rest.next_cursor is None
    assert producer.suppressions.is_suppressed(ws, "+1 212 555 0123")
    assert producer.remove_suppression(ws, A) == {"number": A, "removed": True}
    assert not producer.suppressions.is_suppressed(ws, A)
    with pytest.raises(NotFound):
        producer.remove_suppression(ws, A)
    assert producer.suppressions.remove(ws, A) is False


def test_python_api_validates_numbers(producer: Producer, workspace: dict[str, Any]) -> None:
    """Bad numbers are InvalidInput with their paths; nothing is stored."""
    ws = workspace["workspaceId"]
    with pytest.raises(InvalidInput) as info:
        producer.add_suppressions(ws, [A, "nope", B, "+1234567890"])
    assert [p.path for p in info.value.problems] == ["numbers[1]", "numbers[3]"]
    assert producer.list_suppressions(ws).data == []
    with pytest.raises(InvalidInput) as removing:
        producer.remove_suppression(ws, "nope")
    assert [p.path for p in removing.value.problems] == ["number"]


def test_python_api_refuses_over_100k_numbers(
    producer: Producer, workspace: dict[str, Any]
) -> None:
    """100,001 numbers are refused as a whole before any is parsed."""
    ws = workspace["workspaceId"]
    with pytest.raises(InvalidInput) as info:
        producer.add_suppressions(ws, ["x"] * 100_001)
    assert [p.path for p in info.value.problems] == ["numbers"]
    assert "at most 100000" in info.value.problems[0].message


def test_a_large_import_is_written_in_chunks(
    producer: Producer, workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imports bigger than one chunk count every number and store each entry."""
    from producer import suppressions

    monkeypatch.setattr(suppressions, "CHUNK_NUMBERS", 4)
    ws = workspace["workspaceId"]
    numbers = [f"+1212555{i:04d}" for i in range(11)]
    producer.add_suppressions(ws, numbers[:3])
    assert producer.add_suppressions(ws, numbers) == {"added": 8, "alreadySuppressed": 3}
    entries = producer.list_suppressions(ws, limit=500).data
    assert [e["number"] for e in entries] == numbers
    assert all(e["createdAt"] for e in entries)
