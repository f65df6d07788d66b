"""Issue 19: ``batchdial workspace`` actions beyond create (in-process, on the real Redis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from batchdial.cli import main
from producer.service import Producer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["workspace", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else err


def test_workspace_actions(
    real_redis: redis.Redis,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BATCHDIAL_NAMESPACE", namespace)
    monkeypatch.setenv("BATCHDIAL_REDIS_URL", "redis://127.0.0.1:6379/0")
    producer = Producer(real_redis, namespace)
    ws = producer.workspaces.create("cli", 5, ["+12125550100"])
    wid = ws["workspaceId"]
    code, number = run(capsys, "add-number", wid, "--number", "+13055550100", "--max", "2")
    assert code == 0 and number["maxConcurrentDials"] == 2
    assert run(capsys, "rest-number", wid, number["id"])[1]["resting"] is True
    assert run(capsys, "restore-number", wid, number["id"])[1]["resting"] is False
    assert run(capsys, "remove-number", wid, number["id"])[1]["deleted"] is True
    code, key = run(capsys, "new-key", wid)
    assert code == 0 and key["apiKey"].startswith("bd_")
    assert producer.workspaces.authenticate(key["apiKey"]) == wid
    assert run(capsys, "revoke-key", wid, key["id"])[1]["revoked"] is True
    code, err = run(capsys, "revoke-key", wid, producer.api_keys.list(wid)[0]["id"])
    assert code == 2 and "last API key" in err
    assert run(capsys, "set-limit", wid, "--dial-limit", "9")[1]["dialLimit"] == 9
    assert run(capsys, "disable", wid)[1]["disabled"] is True
    assert run(capsys, "enable", wid)[1]["disabled"] is False
    listed = run(capsys, "list")[1]["data"]
    assert wid in [w["id"] for w in listed]
    code, err = run(capsys, "set-limit", "ws_nothere", "--dial-limit", "1")
    assert code == 2 and "no workspace" in err
