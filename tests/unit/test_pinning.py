"""Connections go to the address that was checked (worker/webhooks/pinning.py, issue 16's
DNS rebinding): a destination is resolved once, and the request is sent to that
address (worker/http1.py's ``connect_to``) without resolving the name again, so a name
that resolves to a public address when checked and to loopback a moment later never
reaches loopback. No traffic leaves the host: the connection goes to a loopback server
under a name that resolves nowhere."""

from __future__ import annotations

import asyncio

import redis

from domain.keys import Keys
from tests.support.webhook_receiver import Receiver, receiver_server
from worker.engine.loop import EventLoop
from worker.webhooks.delivery import Attempt, WebhookDelivery
from worker.webhooks.pinning import checked_address


def test_a_refused_or_unresolvable_name_gets_no_address() -> None:
    async def loopback(_host: str) -> list[str]:
        return ["::1"]

    async def nowhere(_host: str) -> list[str]:
        raise OSError("no such name")

    async def run() -> None:
        problem, address = await checked_address("https://x.test/", loopback)
        assert "not a public address" in problem and address == ""
        problem, address = await checked_address("https://x.test/", nowhere)
        assert "does not resolve" in problem and address == ""

    asyncio.run(run())


def test_a_delivery_goes_to_the_checked_address_under_its_name() -> None:
    """WebhookDelivery POSTs to the address it checked (worker/http1.py's connect_to): a
    name that resolves nowhere, given a loopback address, reaches the loopback receiver,
    signed; without the address the name is resolved, and fails."""
    secret = "whsec_" + "A" * 44
    got = Receiver(mode="ok", secret=secret)
    delivery = WebhookDelivery(redis.Redis(), Keys("unused"), EventLoop(), lambda: None)
    with receiver_server(got) as server:
        attempt = Attempt(
            "ws_1", "msg_1_wh_1", "wh_1", f"http://pinned.invalid:{server.port}/hooks", secret,
            '{"type":"job.started"}',
        )  # fmt: skip

        async def run() -> tuple[tuple[int | None, str], tuple[int | None, str]]:
            pinned = await delivery._post(attempt, "127.0.0.1")
            resolved = await delivery._post(attempt, None)
            delivery.close()  # on this loop: its kept connection
            await asyncio.sleep(0)
            return pinned, resolved

        pinned, resolved = asyncio.run(run())
    assert pinned == (204, "")
    assert [r.webhook_id for r in got.receipts] == ["msg_1_wh_1"]
    assert got.bad_signatures == []
    assert resolved[0] is None and "ConnectFailed" in resolved[1]
