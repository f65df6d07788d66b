"""The dialers' HTTP clients: several pools in rotation, made and closed on one loop."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import httpx

from worker.dialers.loopclient import POOLS, LoopClient


def test_requests_rotate_over_the_pools_and_close_closes_them_all() -> None:
    """As the engine uses it: the loop runs on a thread of its own, the close comes
    from another thread."""
    http = LoopClient(timeout_s=5)

    async def take() -> list[httpx.AsyncClient]:
        return [http.get() for _ in range(POOLS * 2)]

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        taken = asyncio.run_coroutine_threadsafe(take(), loop).result(5)
        assert len({id(c) for c in taken}) == POOLS
        assert taken[:POOLS] == taken[POOLS:]
        http.close()
        assert all(c.is_closed for c in taken)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_client_given_is_the_only_one() -> None:
    given = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    http = LoopClient(timeout_s=5, client=given)

    async def take() -> set[int]:
        return {id(http.get()) for _ in range(3)}

    assert asyncio.run(take()) == {id(given)}


def test_httpcore_finds_sniffio() -> None:
    """httpcore imports sniffio on every request: absent, each import searched sys.path
    again (11% of a dialing worker's CPU in bench 7)."""
    assert importlib.util.find_spec("sniffio") is not None
