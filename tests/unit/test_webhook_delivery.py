"""The workers' webhook fan-out, pure parts (issue 16): delivery ids and the body sent."""

from __future__ import annotations

from worker.webhooks.fanout import delivery_id, payload


def test_delivery_ids_sort_in_event_order_and_payload_is_the_event() -> None:
    """Delivery ids (the webhook-id) of one endpoint sort as their outbox entries, so
    ties in the due index go in event order; the body wraps the event as /events has it."""
    ids = [
        delivery_id(o, "wh_1") for o in ("1700000000000-9", "1700000000000-10", "1700000000001-0")
    ]
    assert ids == sorted(ids)
    kind, text = payload("1700000000000-3", '{"type":"job.started","jobId":"job_1"}')
    assert kind == "job.started"
    assert text == (
        '{"type":"job.started","timestamp":"2023-11-14T22:13:20.000Z","data":'
        '{"id":"1700000000000-3","at":"2023-11-14T22:13:20.000Z","type":"job.started",'
        '"jobId":"job_1"}}'
    )
