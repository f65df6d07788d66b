"""job.config_applied says the cap it replaced, so that the cap at any instant can be read
off the event log (the page's chart draws it so)."""

from __future__ import annotations

from typing import Any

from producer.service import Producer
from tests.support.bodies import job_body


def test_each_config_applied_carries_the_previous_cap(
    producer: Producer, workspace: dict[str, Any]
) -> None:
    """5 -> 3 applied at once (INIT), then 3 -> 2 staged while ACTIVE and applied at the
    pause: each job.config_applied has the new config and previousMaxConcurrentDials."""
    ws = workspace["workspaceId"]
    job = producer.create_job(ws, job_body(workspace, rows=2, cap=5))
    producer.update_job(ws, job["id"], {"maxConcurrentDials": 3})
    producer.set_paused(ws, job["id"], False)
    producer.update_job(ws, job["id"], {"maxConcurrentDials": 2})
    producer.set_paused(ws, job["id"], True)
    applied = [e for e in producer.events(ws, job["id"]).data if e["type"] == "job.config_applied"]
    assert [
        (e["previousMaxConcurrentDials"], e["config"]["maxConcurrentDials"]) for e in applied
    ] == [
        (5, 3),
        (3, 2),
    ]
