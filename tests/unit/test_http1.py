"""The engine's small HTTP/1.1 client (worker/http1.py) against scripted servers on
127.0.0.1: kept connections, the body framings, the stale-connection resend and where
it stops, timeouts, refused connections, pinned addresses, header injection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from tests.support.procs import free_port
from worker.http1 import MAX_BODY, Answer, ConnectFailed, Http1Client, ProtocolError, Timeout

#: A scripted server: given the connection's reader and writer and how many requests
#: the whole server has read so far (itself included), it answers one request.
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


class Server:
    """A loopback server that reads requests and lets ``script`` answer each; the
    script returns False to stop serving the connection (and close it)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: list[Http1Client] = []

    def client(self, timeout_s: float = 5, max_body: int = MAX_BODY) -> Http1Client:
        """A client, closed with the server."""
        made = Http1Client(timeout_s, max_body=max_body)
        self._clients.append(made)
        return made

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in self._clients:
            await client.aclose()
        assert self._server is not None
        self._server.close()
        await asyncio.sleep(0.05)  # the connections' tasks see their closes

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dial?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.requests.append(head + await reader.readexactly(length))
                if not await self.script(reader, writer, len(self.requests)):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def ok(body: bytes = b'{"status":"completed"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def answering(payload: bytes) -> Script:
    async def script(_r: asyncio.StreamReader, w: asyncio.StreamWriter, _n: int) -> bool:
        w.write(payload)
        return True

    return script


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_connections_are_kept_and_the_request_is_what_was_asked() -> None:
    async def main() -> None:
        async with Server(await answering(ok())) as server:
            client = server.client()
            answers = [
                await client.request("POST", server.url, body=b'{"a":1}', headers={"X-K": "v"})
                for _ in range(3)
            ]
            assert [a.status for a in answers] == [200, 200, 200]
            assert answers[0].json() == {"status": "completed"}
            assert client.opened == 1, "one connection, kept for the next requests"
            first = server.requests[0]
            assert first.startswith(b"POST /dial?x=1 HTTP/1.1\r\n")
            assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
            assert b"X-K: v\r\n" in first and b"Content-Length: 7\r\n" in first
            assert first.endswith(b'\r\n\r\n{"a":1}')

    run(main())


@pytest.mark.parametrize(
    ("payload", "body", "kept"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\nab\r\n\r\n3\r\ncde\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"ab\r\ncde",
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"{}"), b"{}", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
        (ok(b"{}", b"Connection: close\r\n"), b"{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"{}", False),
    ],
)
def test_bodies_by_each_framing(payload: bytes, body: bytes, kept: bool) -> None:
    async def main() -> None:
        async with Server(await answering(payload)) as server:
            client = server.client()
            for _ in range(2):
                answer = await client.request("POST", server.url, body=b"x")
                assert answer.body == body
            assert client.opened == (1 if kept else 2)

    run(main())


def test_a_body_read_to_the_close() -> None:
    async def script(_r: asyncio.StreamReader, w: asyncio.StreamWriter, _n: int) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nX: y\r\n\r\n" + b"z" * 100_000)
        return False

    async def main() -> None:
        async with Server(script) as server:
            answer = await server.client().request("GET", server.url)
            assert answer.body == b"z" * 100_000
            assert answer.headers["x"] == "y"

    run(main())


def test_an_answer_over_the_limit_is_refused_and_its_connection_dropped() -> None:
    async def main() -> None:
        async with Server(await answering(ok(b"a" * 2000))) as server:
            client = server.client(max_body=1000)
            with pytest.raises(ProtocolError, match="over 1000"):
                await client.request("POST", server.url)
            with pytest.raises(ProtocolError):
                await client.request("POST", server.url)
            assert client.opened == 2

    run(main())


def test_a_kept_connection_closed_unanswered_is_resent_only_when_it_may_be() -> None:
    """The server reads the second request of a connection and closes it unanswered
    (what a server's keep-alive timeout looks like when it races the request)."""
    on_connection: dict[int, int] = {}

    async def script(_r: asyncio.StreamReader, w: asyncio.StreamWriter, _n: int) -> bool:
        seen = on_connection[id(w)] = on_connection.get(id(w), 0) + 1
        if seen == 2:
            return False
        w.write(ok())
        return True

    async def main() -> None:
        async with Server(script) as server:
            client = server.client()
            await client.request("POST", server.url)
            keyed = await client.request("POST", server.url, headers={"Idempotency-Key": "d1"})
            assert keyed.status == 200
            assert len(server.requests) == 3, "sent again on a new connection"
            assert client.opened == 2
            with pytest.raises(ProtocolError, match="closed"):
                await client.request("POST", server.url)  # no key: never sent twice
            assert len(server.requests) == 4

    run(main())


def test_no_answer_within_the_timeout() -> None:
    async def script(r: asyncio.StreamReader, _w: asyncio.StreamWriter, n: int) -> bool:
        if n == 1:
            await r.read()  # never answers; waits for the client to go
            return False
        _w.write(ok())
        return True

    async def main() -> None:
        async with Server(script) as server:
            client = server.client()
            with pytest.raises(Timeout):
                await client.request("POST", server.url, timeout_s=0.2)
            answer = await client.request("POST", server.url)
            assert answer.status == 200
            assert client.opened == 2, "the timed-out connection was not kept"

    run(main())


def test_a_refused_connection() -> None:
    port = free_port()

    async def main() -> None:
        with pytest.raises(ConnectFailed):
            await Http1Client(5).request("POST", f"http://127.0.0.1:{port}/")

    run(main())


def test_connect_to_pins_the_address_and_keeps_the_name() -> None:
    async def main() -> None:
        async with Server(await answering(ok())) as server:
            client = server.client()
            url = f"http://provider.test:{server.port}/hook"
            answer: Answer = await client.request("POST", url, connect_to="127.0.0.1")
            assert answer.status == 200
            assert f"Host: provider.test:{server.port}\r\n".encode() in server.requests[0]

    run(main())


@pytest.mark.parametrize("headers", [{"X-A": "v\r\nX-Injected: 1"}, {"X-A\nB": "v"}, {"": "v"}])
def test_line_breaks_in_headers_are_refused(headers: dict[str, str]) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="header"):
            await Http1Client(5).request("POST", "http://127.0.0.1:9/", headers=headers)

    run(main())


def test_urls_other_than_http_are_refused() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="not an http"):
            await Http1Client(5).request("GET", "ftp://127.0.0.1/")

    run(main())


@pytest.mark.parametrize(
    "payload",
    [
        ok(b"a" * 2000),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + b"a" * 1000
        + b"\r\n3e8\r\n" + b"a" * 1000 + b"\r\n0\r\n\r\n",
    ],
)  # fmt: skip
def test_cut_long_keeps_the_status_and_drops_the_connection(payload: bytes) -> None:
    """``cut_long``: an answer over the limit is its status and first bytes (what a
    webhook delivery needs), and its connection is not kept (the rest is unread)."""

    async def main() -> None:
        async with Server(await answering(payload)) as server:
            client = server.client(max_body=1000)
            client.cut_long = True
            for _ in range(2):
                answer = await client.request("POST", server.url)
                assert answer.status == 200
                assert len(answer.body) <= 1000
            assert client.opened == 2

    run(main())


def test_every_request_asks_for_its_answer_to_be_acknowledged_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TCP_QUICKACK is set on the socket after each request is sent, kept connection or
    not (a server writing head and body apart without TCP_NODELAY holds the body for
    the ACK, which a kept connection otherwise delays ~40 ms)."""
    set_on: list[int] = []
    real = socket.socket.setsockopt

    def spy(sock: socket.socket, level: int, option: int, value: int | bytes) -> None:
        if level == socket.IPPROTO_TCP and option == getattr(socket, "TCP_QUICKACK", -1):
            set_on.append(sock.fileno())
        real(sock, level, option, value)

    monkeypatch.setattr(socket.socket, "setsockopt", spy)

    async def main() -> None:
        async with Server(await answering(ok())) as server:
            client = server.client()
            for _ in range(3):
                await client.request("POST", server.url)
            assert client.opened == 1

    run(main())
    if hasattr(socket, "TCP_QUICKACK"):
        assert len(set_on) == 3 and len(set(set_on)) == 1
