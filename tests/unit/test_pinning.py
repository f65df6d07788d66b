"""Connections go to the address that was checked (worker/webhooks/pinning.py, issue 16's
DNS rebinding): a name that resolves to a public address when checked and to loopback
a moment later never reaches loopback. No traffic leaves the host: the network
backend under the pool is a recorder, or the connection goes to a loopback server
under a name that resolves nowhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
import redis

from domain.keys import Keys
from tests.support.webhook_receiver import Receiver, receiver_server
from worker.dialers.loopclient import LoopClient
from worker.engine.loop import EventLoop
from worker.webhooks.delivery import Attempt, WebhookDelivery
from worker.webhooks.pinning import PIN, PinnedBackend, checked_address, pinned_transport

LIMITS = httpx.Limits(max_keepalive_connections=4)


class Recorder(httpcore.AsyncNetworkBackend):
    """Records where connections would go and refuses them all."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded, not connected")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _rebinding() -> tuple[list[str], Any]:
    """A resolver answering a public address first, loopback every time after."""
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"] if len(asked) == 1 else ["127.0.0.1"]

    return asked, resolve


def test_a_name_rebound_to_loopback_after_the_check_is_still_sent_to_the_checked_address() -> None:
    asked, resolve = _rebinding()
    recorder = Recorder()

    async def run() -> None:
        transport = pinned_transport(LIMITS)
        inner = transport._pool._network_backend
        assert isinstance(inner, PinnedBackend)
        inner._inner = recorder
        problem, address = await checked_address("https://rebind.test/hooks", resolve)
        assert (problem, address) == ("", "93.184.216.34")
        PIN.set(("rebind.test", address))
        async with httpx.AsyncClient(transport=transport) as client:
            with contextlib.suppress(httpx.ConnectError):
                await client.post("https://rebind.test/hooks", content=b"{}")
        # Checked again now, the name is refused: it points at loopback.
        again, _ = await checked_address("https://rebind.test/hooks", resolve)
        assert "not a public address" in again

    asyncio.run(run())
    assert recorder.hosts == ["93.184.216.34"], "connected to the checked address only"
    assert asked == ["rebind.test", "rebind.test"], "the connection itself resolved nothing"


def test_without_a_pin_the_name_is_connected_to_as_it_is() -> None:
    recorder = Recorder()

    async def run() -> None:
        transport = pinned_transport(LIMITS)
        transport._pool._network_backend._inner = recorder  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport) as client:
            with contextlib.suppress(httpx.ConnectError):
                await client.post("https://other.test/hooks", content=b"{}")

    asyncio.run(run())
    assert recorder.hosts == ["other.test"]


def test_a_pinned_name_reaches_the_pinned_address_with_its_own_host_header() -> None:
    """A name that resolves nowhere, pinned to a loopback server, reaches it (through
    the pools LoopClient makes for deliveries), and the request still names the host."""
    got = Receiver(mode="ok", secret="whsec_" + "A" * 44)
    with receiver_server(got) as server:

        async def run() -> int:
            pools = LoopClient(5.0, transport=pinned_transport)
            PIN.set(("pinned.invalid", "127.0.0.1"))
            try:
                answer = await pools.get().post(
                    f"http://pinned.invalid:{server.port}/hooks", content=b'{"a": 1}'
                )
            finally:
                for client in pools._clients:
                    await client.aclose()
            return answer.status_code

        assert asyncio.run(run()) == 204
    assert len(got.receipts) == 1


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
