"""Workspace settings: ``GET/PATCH /api/workspace`` on a real Redis, and the Python API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from domain.errors import InvalidInput, MalformedBody
from domain.keys import Keys
from producer.service import Producer
from tests.support.http import assert_error, h

Make = Callable[..., dict[str, Any]]
WS = "/api/workspace"
CAP = "maxCallsPerNumberPerDay"


def test_get_answers_the_workspace_with_the_cap_off(api: TestClient, make_workspace: Make) -> None:
    """The workspace object: id, name, dial limit, numbers (by number), cap null."""
    ws = make_workspace(dial_limit=7, numbers=("+14155550100", "+12125550100"), per_number_limit=3)
    response = api.get(WS, headers=h(ws))
    assert response.status_code == 200, response.text
    body = response.json()
    by_number = {p["number"]: p["id"] for p in ws["phoneNumbers"]}
    (key,) = body.pop("apiKeys")  # issue 19: the workspace's key ids (never the keys)
    assert key["id"].startswith("key_") and ws["apiKey"] not in str(body)
    assert body == {
        "id": ws["workspaceId"],
        "name": "ws",
        "dialLimit": 7,
        "phoneNumbers": [
            {
                "id": by_number[number],
                "number": number,
                "maxConcurrentDials": 3,
                "resting": False,
                "restingUntil": None,
                "stats": {
                    "dials": 0,
                    "answered": 0,
                    "voicemail": 0,
                    "answerRate": None,
                    "voicemailRate": None,
                },
            }
            for number in ("+12125550100", "+14155550100")
        ],
        CAP: None,
        "maxDialsPerSecond": None,
        "reservedInboundDials": None,
        "quarantineBelowAnswerRate": None,
    }


def test_patch_sets_and_null_turns_the_cap_off(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str
) -> None:
    """PATCH stores the cap in the workspace hash (what claim.lua reads); null deletes it."""
    ws = make_workspace()
    key = Keys(namespace).workspace(ws["workspaceId"])
    response = api.patch(WS, json={CAP: 3}, headers=h(ws))
    assert response.status_code == 200, response.text
    assert response.json()[CAP] == 3
    assert response.json()["id"] == ws["workspaceId"]
    assert real_redis.hget(key, CAP) == "3"
    assert api.get(WS, headers=h(ws)).json()[CAP] == 3

    off = api.patch(WS, json={CAP: None}, headers=h(ws))
    assert off.status_code == 200, off.text
    assert off.json()[CAP] is None
    assert real_redis.hexists(key, CAP) is False
    assert real_redis.hget(key, "dialLimit") == "10", "the rest of the record stays"
    assert api.patch(WS, json={CAP: None}, headers=h(ws)).json()[CAP] is None


@pytest.mark.parametrize("value", [1, 1000, 2.0, 1e3])
def test_the_bounds_are_inclusive(api: TestClient, make_workspace: Make, value: float) -> None:
    """1 and 1000 are accepted; so is an integer written 2.0 or 1e3 (JSON Schema's
    integer, issue 13), stored as the integer."""
    ws = make_workspace()
    stored = api.patch(WS, json={CAP: value}, headers=h(ws)).json()[CAP]
    assert (stored, type(stored)) == (int(value), int)


@pytest.mark.parametrize("value", [0, -1, 1001, "5", 5.5, 1000.5, True, [], {}])
def test_invalid_caps_are_422_and_change_nothing(
    api: TestClient, make_workspace: Make, value: Any
) -> None:
    """Out of range or not an integer (strictly: no strings, fractions or booleans): 422."""
    ws = make_workspace()
    api.patch(WS, json={CAP: 4}, headers=h(ws))
    error = assert_error(api.patch(WS, json={CAP: value}, headers=h(ws)), 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == [CAP]
    assert api.get(WS, headers=h(ws)).json()[CAP] == 4


def test_unknown_fields_and_empty_bodies_are_422(api: TestClient, make_workspace: Make) -> None:
    """A typo is an error, not ignored; a PATCH must name at least one setting."""
    ws = make_workspace()
    error = assert_error(api.patch(WS, json={"maxCallsPerDay": 3}, headers=h(ws)), 422)
    assert [d["path"] for d in error["details"]] == ["maxCallsPerDay"]
    assert error["details"][0]["message"] == "is not a known field"
    error = assert_error(api.patch(WS, json={"dialLimit": 99}, headers=h(ws)), 422)
    assert [d["path"] for d in error["details"]] == ["dialLimit"]
    error = assert_error(api.patch(WS, json={}, headers=h(ws)), 422)
    assert CAP in error["details"][0]["message"]
    assert api.get(WS, headers=h(ws)).json()["dialLimit"] == 10


def test_malformed_bodies_are_400(api: TestClient, make_workspace: Make) -> None:
    """Not JSON, repeated keys, not an object, wrong content type: 400 malformed_body."""
    ws = make_workspace()
    json_h = {**h(ws), "content-type": "application/json"}
    for content in (b"", b"{", b'{"%s": 1, "%s": 2}' % (CAP.encode(), CAP.encode()), b"3"):
        assert_error(api.patch(WS, content=content, headers=json_h), 400, "malformed_body")
    form_h = {**h(ws), "content-type": "application/x-www-form-urlencoded"}
    assert_error(api.patch(WS, content=b"a=1", headers=form_h), 400, "malformed_body")


def test_settings_belong_to_one_workspace(api: TestClient, make_workspace: Make) -> None:
    """A workspace's PATCH changes its own settings only; each key sees its own workspace."""
    first, second = make_workspace(), make_workspace()
    api.patch(WS, json={CAP: 2}, headers=h(first))
    assert api.get(WS, headers=h(second)).json()[CAP] is None
    assert api.get(WS, headers=h(second)).json()["id"] == second["workspaceId"]
    assert api.get(WS, headers=h(first)).json()[CAP] == 2


def test_the_routes_need_an_api_key(api: TestClient, make_workspace: Make) -> None:
    """No key or a wrong key: 401; no secret (the key's hash) is ever in the answer."""
    ws = make_workspace()
    for headers in ({}, {"api_key": "bd_wrong"}, {"Authorization": "Basic abc"}):
        assert_error(api.get(WS, headers=headers), 401, "unauthorized")
        assert_error(api.patch(WS, json={CAP: 1}, headers=headers), 401, "unauthorized")
    assert api.get(WS, headers=h(ws)).json()[CAP] is None
    body = api.get(WS, headers={"Authorization": f"Bearer {ws['apiKey']}"}).text
    assert "keyHash" not in body
    assert ws["apiKey"] not in body


def test_routes_are_documented(api: TestClient) -> None:
    """The OpenAPI document has both routes under the workspace tag, with the PATCH body."""
    doc = api.get("/openapi.json").json()
    assert set(doc["paths"][WS]) == {"get", "patch"}
    patch = doc["paths"][WS]["patch"]
    assert patch["tags"] == ["workspace"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        CAP,
        "maxDialsPerSecond",
        "reservedInboundDials",
        "quarantineBelowAnswerRate",
    }


# -- Python API (fakeredis and real Redis) -----------------------------------------


def test_python_api_reads_and_updates(producer: Producer, workspace: dict[str, Any]) -> None:
    """get_workspace / update_workspace take dicts or JSON text, with the same rules."""
    ws = workspace["workspaceId"]
    assert producer.get_workspace(ws)[CAP] is None
    assert producer.update_workspace(ws, {CAP: 12})[CAP] == 12
    assert producer.get_workspace(ws)[CAP] == 12
    assert producer.update_workspace(ws, f'{{"{CAP}": null}}')[CAP] is None
    with pytest.raises(InvalidInput) as info:
        producer.update_workspace(ws, {CAP: 0})
    assert [p.path for p in info.value.problems] == [CAP]
    with pytest.raises(MalformedBody):
        producer.update_workspace(ws, b"[1]")
    assert producer.get_workspace(ws)[CAP] is None
