"""Hostile text over HTTP (issue 13, items 5, 6 and 8): numbers that phonenumbers would
silently alter, host-dependent time zones, control and invisible characters, an empty
``api_key`` beside a Bearer token, and ``90.0`` for an integer.

Each refusal is a 422 in the SPEC shape at the field's path, with the reason, and stores
nothing; what is accepted is stored exactly as sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import redis
from fastapi.testclient import TestClient

from domain.errors import InvalidInput
from tests.abuse.shape import JOBS, assert_spec_error, snapshot
from tests.support.bodies import job_body
from tests.support.http import h
from tests.support.procs import batchdial, env_for
from tests.support.redis_server import REDIS_URL

Make = Callable[..., dict[str, Any]]

#: Item 5: each was accepted and stored as another number (or with a part dropped).
ALTERED_NUMBERS = [
    ("+1 212 555 0123 ext 5", "extensions are not supported"),
    ("+1 212 555 0123 x5", "extensions are not supported"),
    ("+1212-555-0123;ext=5", "extensions are not supported"),
    ("+12125550123\u0000", "control or invisible characters are not allowed"),
    ("+8613800138000;phone-context=x", "parameters are not allowed"),
    ("+1-800-FLOWERS", "letters are not allowed"),
    ("+917410410123*", "'*' not allowed"),
    ("+44 (0)20 7946 0958", "would be stored as +442079460958"),
    ("+\uff11\uff12\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13", "not allowed"),
]
#: Item 6: names that are files of a zoneinfo directory but no IANA zone.
NOT_ZONES = ["localtime", "Factory", "posixrules", "right/UTC", "../../etc/passwd", "Etc/GMT+14"]
#: Item 8: characters refused in identifiers and keys.
INVISIBLE = ["\u0000", "\r", "\n", "\u0085", "\u202e", "\u2066", "\u200b", "\u2060", "\ufeff"]


def _create(api: TestClient, ws: dict[str, Any], body: dict[str, Any]) -> Any:
    return api.post(JOBS, json=body, headers=h(ws))


@pytest.mark.parametrize(("number", "reason"), ALTERED_NUMBERS, ids=[n for n, _ in ALTERED_NUMBERS])
def test_a_number_that_would_be_altered_is_refused_everywhere(
    api: TestClient,
    make_workspace: Make,
    *,
    real_redis: redis.Redis,
    namespace: str,
    number: str,
    reason: str,
) -> None:
    """As a toNumber, a suppression (added, removed, looked up): 422 with the reason."""
    ws = make_workspace()
    before = snapshot(real_redis, namespace)
    rows = [{"toNumber": "+12125550100"}, {"toNumber": number}]
    error = assert_spec_error(_create(api, ws, job_body(ws, rows=rows)), 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == ["rows[1].toNumber"], error
    assert reason in error["details"][0]["message"], error
    added = api.post("/api/suppressions", json={"numbers": [number]}, headers=h(ws))
    error = assert_spec_error(added, 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == ["numbers[0]"], error
    assert reason in error["details"][0]["message"], error
    if "\u0000" not in number:  # a NUL cannot travel in a URL path
        removed = api.delete(f"/api/suppressions/{quote(number, safe='')}", headers=h(ws))
        assert reason in assert_spec_error(removed, 422)["details"][0]["message"]
    assert snapshot(real_redis, namespace) == before


def test_plain_e164_with_separators_is_accepted_as_its_digits(
    api: TestClient, make_workspace: Make
) -> None:
    """Spaces, dashes, dots and parentheses are only separators: stored as E.164."""
    ws = make_workspace()
    forms = ["+1 212 555 0101", "+1-212-555-0102", "+1.212.555.0103", "+1 (212) 555-0104"]
    job = _create(api, ws, job_body(ws, rows=[{"toNumber": n} for n in forms])).json()
    queue = api.get(f"{JOBS}/{job['id']}/queue", headers=h(ws)).json()["data"]
    assert [e["toNumber"] for e in queue] == [f"+1212555010{i}" for i in range(1, 5)]


@pytest.mark.e2e
def test_workspace_create_refuses_an_altered_number(namespace: str) -> None:
    """`batchdial workspace create --number +1-800-FLOWERS` stops with the reason."""
    done = batchdial(
        "workspace",
        "create",
        *("--name", "A", "--dial-limit", "5", "--number", "+1-800-FLOWERS"),
        env=env_for(namespace, REDIS_URL),
    )
    assert done.returncode == 2, done.stdout
    assert "--number" in done.stderr
    assert "letters are not allowed" in done.stderr


@pytest.mark.parametrize("zone", NOT_ZONES)
@pytest.mark.parametrize("where", ["schedule.timezone", "rows[0].timezone"])
def test_a_name_that_is_no_iana_zone_is_refused(
    api: TestClient, make_workspace: Make, zone: str, where: str
) -> None:
    """``localtime`` and ``Factory`` depend on the host: refused like the other non-zones."""
    ws = make_workspace()
    body = job_body(ws, rows=1)
    if where == "schedule.timezone":
        body["schedule"]["timezone"] = zone
    else:
        body["rows"][0]["timezone"] = zone
    error = assert_spec_error(_create(api, ws, body), 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == [where], error
    assert "not an IANA timezone name" in error["details"][0]["message"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_control_and_invisible_characters_are_refused_in_identifiers(
    api: TestClient, make_workspace: Make, real_redis: redis.Redis, namespace: str, char: str
) -> None:
    """In name, callAgentId, a phone number id and an input's name: 422 at its path."""
    ws = make_workspace()
    pn_id = ws["phoneNumbers"][0]["id"]
    body = job_body(ws, rows=1)
    body["name"] = f"Survey{char}"
    body["callAgentId"] = f"agent{char}"
    body["fromPhoneNumberIds"] = [pn_id + char]
    body["rows"][0]["inputs"] = {f"na{char}me": "x"}
    before = snapshot(real_redis, namespace)
    error = assert_spec_error(_create(api, ws, body), 422, "invalid_input")
    found = {d["path"]: d["message"] for d in error["details"]}
    assert set(found) == {"name", "callAgentId", "fromPhoneNumberIds[0]", "rows[0].inputs"}
    assert all(f"U+{ord(char):04X}" in message for message in found.values()), found
    assert all(char not in message for message in found.values()), "the message holds it"
    assert snapshot(real_redis, namespace) == before
    update = api.put(f"{JOBS}/none", json={"callAgentId": f"a{char}"}, headers=h(ws))
    assert "callAgentId" in {d["path"] for d in assert_spec_error(update, 422)["details"]}


def test_input_values_refuse_nul_only_and_keep_the_rest_as_sent(
    api: TestClient, make_workspace: Make
) -> None:
    """A NUL in a value is refused; tabs, newlines, bidi and zero-width stay unchanged."""
    ws = make_workspace()
    body = job_body(ws, rows=1)
    body["rows"][0]["inputs"] = {"note": "a\u0000b"}
    error = assert_spec_error(_create(api, ws, body), 422, "invalid_input")
    assert error["details"][0]["path"] == "rows[0].inputs"
    assert "U+0000" in error["details"][0]["message"]
    kept = "line 1\r\nline\t2 \u202eabc\u200b \u00e9\u0301 \ufb01"
    body["rows"][0]["inputs"] = {"note": kept}
    job = _create(api, ws, body).json()
    queue = api.get(f"{JOBS}/{job['id']}/queue", headers=h(ws)).json()["data"]
    assert queue[0]["inputs"] == {"note": kept}
    reason = api.post(
        "/api/suppressions", json={"numbers": ["+12125550199"], "reason": "x\u0000"}, headers=h(ws)
    )
    assert [d["path"] for d in assert_spec_error(reason, 422)["details"]] == ["reason"]


def test_an_empty_api_key_beside_a_bearer_token_takes_the_token(
    api: TestClient, make_workspace: Make
) -> None:
    """The non-empty one is used; two different keys are refused, saying so."""
    ws, other = make_workspace(), make_workspace()
    bearer = f"Bearer {ws['apiKey']}"
    assert api.get(JOBS, headers={"api_key": "", "Authorization": bearer}).status_code == 200
    assert api.get(JOBS, headers={"api_key": "  ", "Authorization": bearer}).status_code == 200
    same = {"api_key": ws["apiKey"], "Authorization": bearer}
    assert api.get(JOBS, headers=same).status_code == 200
    empty_bearer = {"api_key": ws["apiKey"], "Authorization": "Bearer "}
    assert api.get(JOBS, headers=empty_bearer).status_code == 200
    differ = api.get(JOBS, headers={"api_key": other["apiKey"], "Authorization": bearer})
    error = assert_spec_error(differ, 401, "unauthorized")
    assert "both" in error["message"]
    assert "differ" in error["message"]
    assert_spec_error(api.get(JOBS, headers={"api_key": "", "Authorization": ""}), 401)


def test_an_integral_number_is_an_integer(api: TestClient, make_workspace: Make) -> None:
    """``90.0`` and ``1e1`` are integers to JSON Schema (and the document): taken as such."""
    ws = make_workspace()
    patched = api.patch(
        "/api/workspace",
        content=b'{"maxCallsPerNumberPerDay": 90.0}',
        headers={**h(ws), "content-type": "application/json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["maxCallsPerNumberPerDay"] == 90
    raw = job_body(ws, rows=1, cap=2)
    raw["maxConcurrentDials"] = 2.0
    raw["retry"] = {"maxAttempts": 2.0, "backoffSeconds": [1e1]}
    job = _create(api, ws, raw)
    assert job.status_code == 201, job.text
    assert job.json()["maxConcurrentDials"] == 2
    assert job.json()["retry"]["backoffSeconds"] == [10]
    half = api.patch("/api/workspace", json={"maxCallsPerNumberPerDay": 90.5}, headers=h(ws))
    assert [d["path"] for d in assert_spec_error(half, 422)["details"]] == [
        "maxCallsPerNumberPerDay"
    ]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_a_workspace_name_refuses_control_and_invisible_characters(
    api: TestClient, char: str
) -> None:
    """`workspace create --name` is an identifier too (it shows in the web page)."""
    producer = api.app.state.producer  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput) as info:
        producer.workspaces.create(f"Acme{char}", 5, ["+12125550100"])
    assert [p.path for p in info.value.problems] == ["name"]
    assert f"U+{ord(char):04X}" in info.value.problems[0].message
