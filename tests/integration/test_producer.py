"""The producer's Python API, run on fakeredis and on the real Redis alike."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from producer import jobs as jobs_module
from producer.service import Producer
from tests.support.bodies import job_body


def test_lifecycle_through_the_python_api(producer: Producer, workspace: dict[str, Any]) -> None:
    """Create, start, stage an update, pause (applies it), cancel: states and events agree."""
    ws = workspace["workspaceId"]
    job = producer.create_job(ws, job_body(workspace, rows=4))
    assert producer.set_paused(ws, job["id"], False)["status"] == "ACTIVE"
    staged = producer.update_job(ws, job["id"], {"maxConcurrentDials": 2})
    assert staged["pendingConfig"]["maxConcurrentDials"] == 2
    assert producer.set_paused(ws, job["id"], True)["maxConcurrentDials"] == 2
    assert producer.cancel_job(ws, job["id"])["counts"]["cancelled"] == 4
    types = [e["type"] for e in producer.events(ws, job["id"]).data]
    assert types == [
        "job.created",
        "job.started",
        "job.updated",
        "job.paused",
        "job.config_applied",
        "job.cancelled",
    ]
    with pytest.raises(Conflict):
        producer.set_paused(ws, job["id"], False)


def test_unknown_jobs_and_keys(producer: Producer, workspace: dict[str, Any]) -> None:
    """Unknown job ids are NotFound; unknown keys are Unauthorized."""
    ws = workspace["workspaceId"]
    with pytest.raises(NotFound):
        producer.get_job(ws, "job_missing")
    with pytest.raises(NotFound):
        producer.cancel_job(ws, "job_missing")
    with pytest.raises(Unauthorized):
        producer.workspaces.authenticate("bd_nope")
    with pytest.raises(Unauthorized):
        producer.workspaces.authenticate(None)
    assert producer.workspaces.authenticate(workspace["apiKey"]) == ws


def test_workspace_create_validates_and_defaults(producer: Producer) -> None:
    """Workspace numbers must be dialable; the per-number limit defaults to the dial limit."""
    created = producer.workspaces.create("w", 7, ["+12125550100"])
    assert created["phoneNumbers"][0]["maxConcurrentDials"] == 7
    assert created["dialLimit"] == 7
    limited = producer.workspaces.create("w", 7, ["+12125550100", "+14155550100"], 2)
    assert [p["maxConcurrentDials"] for p in limited["phoneNumbers"]] == [2, 2]
    with pytest.raises(InvalidInput) as info:
        producer.workspaces.create("", 0, ["+1234567890"], 0)
    assert {p.path for p in info.value.problems} == {
        "name",
        "dialLimit",
        "numbers[0]",
        "perNumberLimit",
    }


def test_an_interrupted_create_leaves_no_job(
    producer: Producer,
    workspace: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    any_redis: redis.Redis,
    namespace: str,
) -> None:
    """If a create dies after writing rows but before commit, no job is visible and the
    staged rows expire by themselves."""
    ws = workspace["workspaceId"]
    monkeypatch.setattr(jobs_module, "CHUNK_ROWS", 2)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("process died")

    monkeypatch.setattr(producer._commands, "_scripts", crash)
    with pytest.raises(RuntimeError):
        producer.create_job(ws, job_body(workspace, rows=5))
    assert producer.list_jobs(ws).data == []
    staged = list(any_redis.scan_iter(match=f"{namespace}:*:job:*"))
    assert staged, "the rows were written before the crash"
    assert all(0 < int(any_redis.ttl(k)) <= jobs_module.STAGING_TTL_S for k in staged)


def test_large_job_is_stored_in_chunks(
    producer: Producer, workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written over several pipelined chunks all arrive, in order, without a TTL."""
    monkeypatch.setattr(jobs_module, "CHUNK_ROWS", 100)
    ws = workspace["workspaceId"]
    job = producer.create_job(ws, job_body(workspace, rows=950))
    assert job["counts"]["queued"] == 950
    page = producer.queue(ws, job["id"], limit=500)
    page2 = producer.queue(ws, job["id"], limit=500, cursor=page.next_cursor)
    assert [r["index"] for r in page.data + page2.data] == list(range(950))
    assert page2.next_cursor is None
    keys = producer.keys
    assert producer.redis.ttl(keys.rows(ws, job["id"])) == -1
    assert producer.redis.ttl(keys.queue(ws, job["id"])) == -1
