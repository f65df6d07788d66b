"""Row expiry (issue 17): row ``expiresAt`` and job ``rowTtlSeconds``. A row not dialed by
then ends ``expired`` (``row.expired``), in the claim and in the pump, so that an
expired row never takes a slot; the queue shows ``expiresAt``; results say ``expired``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from domain.errors import InvalidInput
from producer.rowformats import Item
from tests.support.engine import HangingDialer, Rig
from tests.support.waits import wait_for
from worker.engine.timing import Timing


def redis_now(client: redis.Redis) -> datetime:
    seconds, micros = client.time()
    return datetime.fromtimestamp(int(seconds) + int(micros) / 1e6, UTC)


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def past(client: redis.Redis, moment: datetime) -> bool:
    return redis_now(client) > moment


def expired_rows(events: list[dict[str, Any]]) -> list[str]:
    return [e["rowId"] for e in events if e["type"] == "row.expired"]


def test_a_row_expires_at_its_claim_and_another_is_dialed(real_rig: Rig) -> None:
    """Rows released before their expiry: once it has passed, the claim ends the row
    expired instead of dialing it; a row whose expiry is an hour away is dialed."""
    rig = real_rig
    ws = rig.workspace()
    soon = redis_now(rig.client) + timedelta(seconds=1)
    rows = [
        {"toNumber": "+12125550001", "expiresAt": at(soon)},
        {"toNumber": "+12125550002", "expiresAt": at(soon + timedelta(hours=1))},
    ]
    job = rig.job(ws, rows, cap=5)
    queue = rig.producer.queue(ws["workspaceId"], job).as_dict()["data"]
    assert [q["expiresAt"] for q in queue] == [
        at(soon.astimezone(UTC)).replace("+00:00", "Z"),
        at((soon + timedelta(hours=1)).astimezone(UTC)).replace("+00:00", "Z"),
    ]
    engine, outbox = rig.engine(HangingDialer(), Timing())
    rig.start(ws, job)
    assert engine.pump(ws["workspaceId"], job) == "open"
    assert sorted(index for _, _, index in outbox.dials) == [0, 1]
    wait_for(lambda: past(rig.client, soon), 5, "the first row's expiry")
    assert engine.dial(ws["workspaceId"], job, 0) == "expired"
    assert engine.dial(ws["workspaceId"], job, 1) == "ok"
    events = rig.events(ws, job)
    assert expired_rows(events) == [f"{job}.0"]
    assert [e["rowId"] for e in events if e["type"] == "dial.started"] == [f"{job}.1"]
    results = list(rig.producer.results(ws["workspaceId"], job))
    assert [r["outcome"] for r in results] == ["expired", "in-progress"]
    assert rig.producer.get_job(ws["workspaceId"], job)["counts"]["finished"] == 1


def test_the_pump_expires_waiting_rows_before_they_take_a_slot(real_rig: Rig) -> None:
    """A job started after a row's expiry: the pump ends it expired and releases the next
    row into the one slot; a job whose rows all expire completes."""
    rig = real_rig
    ws = rig.workspace()
    soon = redis_now(rig.client) + timedelta(seconds=1)
    rows = [
        {"toNumber": "+12125550001", "expiresAt": at(soon)},
        {"toNumber": "+12125550002"},
    ]
    job = rig.job(ws, rows, cap=1)
    only = rig.job(ws, [{"toNumber": "+12125550003", "expiresAt": at(soon)}], cap=1)
    engine, outbox = rig.engine(HangingDialer(), Timing())
    wait_for(lambda: past(rig.client, soon), 5, "the expiry")
    rig.start(ws, job)
    rig.start(ws, only)
    assert engine.pump(ws["workspaceId"], job) == "open"
    assert outbox.dials == [(ws["workspaceId"], job, 1)], "the expired row took no slot"
    assert expired_rows(rig.events(ws, job)) == [f"{job}.0"]
    assert engine.pump(ws["workspaceId"], only) == "complete"
    assert rig.status(ws, only) == "COMPLETE"
    assert [r["outcome"] for r in rig.producer.results(ws["workspaceId"], only)] == ["expired"]


def test_row_ttl_and_expiry_validation(real_rig: Rig) -> None:
    """rowTtlSeconds gives every row, appended ones too, an expiry that long after it
    joined (the earlier of that and its own expiresAt); an expiresAt already past, or
    without an offset, is refused."""
    rig = real_rig
    ws = rig.workspace()
    now = redis_now(rig.client)
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)  # expiries are in ms
    own = before + timedelta(seconds=90)
    job = rig.job(
        ws,
        [{"toNumber": "+12125550001"}, {"toNumber": "+12125550002", "expiresAt": at(own)}],
        cap=1,
        rowTtlSeconds=3600,
    )
    rig.producer.append_rows(ws["workspaceId"], job, _items([{"toNumber": "+12125550003"}]))
    queue = rig.producer.queue(ws["workspaceId"], job).as_dict()["data"]
    expiries = [datetime.fromisoformat(q["expiresAt"]) for q in queue]
    hour = timedelta(hours=1)
    assert before + hour <= expiries[0] <= redis_now(rig.client) + hour
    assert abs(expiries[1] - own) < timedelta(milliseconds=2)
    assert before + hour <= expiries[2] <= redis_now(rig.client) + hour
    for bad in (at(before - timedelta(seconds=5)), "2030-01-01T10:00:00", "tomorrow"):
        with pytest.raises(InvalidInput) as refused:
            rig.job(ws, [{"toNumber": "+12125550009", "expiresAt": bad}], cap=1)
        assert refused.value.problems[0].path == "rows[0].expiresAt"


def _items(rows: list[dict[str, Any]]) -> list[Item]:
    return [Item(i, None, row) for i, row in enumerate(rows)]
