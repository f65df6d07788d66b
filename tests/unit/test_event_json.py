"""The event stream's encoding of an event (``producer.reads.event_json``) is the object
``GET …/events`` answers, as one line, whatever the stored body looks like."""

from __future__ import annotations

import json
from typing import Any

import pytest

from producer.reads import JobReads, event_json
from producer.service import Producer
from tests.support.bodies import job_body

BODIES = [
    '{"jobId":"j","type":"job.paused","to":"PAUSED","from":"ACTIVE"}',  # as cjson writes
    "{}",
    "{ }",
    '{ "type": "dial.finished", "n": 1.5e3, "ok": true, "none": null }',  # spaced
    '{"type":"x","text":"caf\\u00e9 \\"q\\" \\\\ \\n","raw":"café ✓"}',  # escapes, UTF-8
    '{"type":"x",\n"split":"over lines"}',  # a newline between members: parsed instead
    '{"type":"x","extra":{"nested":[1,2,{"a":"b"}]}}',
    '{"type":"x","id":"mine","at":"then"}',  # members named like the envelope's
]


@pytest.mark.parametrize("body", BODIES)
def test_event_json_is_the_events_object_on_one_line(
    producer: Producer, workspace: dict[str, Any], body: str
) -> None:
    """For each stored body: one line, and parsed it equals the /events object."""
    ws_id = workspace["workspaceId"]
    job = producer.create_job(ws_id, job_body(workspace, rows=1))
    created = producer.events(ws_id, job["id"]).data[-1]["id"]
    producer.redis.xadd(producer.keys.events(ws_id, job["id"]), {"e": body})
    listed = producer.events(ws_id, job["id"], cursor=created).data
    entries = JobReads(producer.redis, producer.keys).event_entries(ws_id, job["id"], created, 10)
    assert len(entries) == len(listed) == 1
    text = event_json(*entries[0])
    assert "\n" not in text and "\r" not in text
    assert json.loads(text) == listed[0]
