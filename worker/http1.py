"""A small HTTP/1.1 client on asyncio streams, for the requests the engine sends at the
rate it dials: the ``http`` dialer's dial POST and the webhook deliveries.

Why not httpx there: measured on this project's 2-core machine (2026-12-01), one
httpx ``AsyncClient.post`` to a loopback server cost 0.68-0.72 ms of CPU against
0.025 ms for the same request written on an asyncio stream, and a py-spy of a worker
placing 200 calls a second (bench 7, cap 200) had two thirds of its GIL samples in
httpx, httpcore and anyio (a delivering worker, bench 9: 37 %). The carriers' dialers
(Twilio, Telnyx, LiveKit) keep httpx: they speak forms, auth and error shapes at a
carrier's few calls a second.

What it does, and no more:

- one request at a time per connection; idle connections are kept per origin (scheme,
  host, port and the address connected to), at most ``keep_per_origin`` of them, and
  dropped after ``idle_s`` unused or when the server closed them;
- a request on a kept connection that fails before any byte of an answer (the server
  closed it meanwhile) is sent once more on a new connection when it may be sent twice:
  an idempotent method, a request that carries an ``Idempotency-Key`` (Go's net/http
  draws the same line) or one its caller says may be (``resend``: a webhook, which
  receivers tell apart by its ``webhook-id``);
- ``Content-Length``, ``chunked`` and read-to-close bodies, informational (1xx)
  answers skipped; bodies over ``max_body`` are refused (the connection is closed);
- one timeout for the whole of an attempt (connect, send, answer);
- the answer's first segment acknowledged at once (``TCP_QUICKACK``), so that a server
  that writes head and body apart without ``TCP_NODELAY`` does not stall 40 ms;
- ``https`` with the system's trust store; ``connect_to`` opens the connection to a
  given address while ``Host``, SNI and the certificate check use the URL's name.

Not thread-safe: a client belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: Bytes of an answer's body read at most (a longer one is an error).
MAX_BODY = 8 * 1024 * 1024
#: Bytes of a status line plus headers read at most.
MAX_HEAD = 64 * 1024
#: ``socket.TCP_QUICKACK`` where the platform has it (Linux).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
#: Methods that may be sent twice (RFC 9110 9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class HttpError(Exception):
    """A request that got no (whole) answer."""


class ConnectFailed(HttpError):
    """The connection could not be opened."""


class Timeout(HttpError):
    """No whole answer within the timeout."""


class ProtocolError(HttpError):
    """The server's answer was not HTTP/1.x as this client reads it, or it closed the
    connection before a whole answer."""


class TooLong(ProtocolError):
    """An answer's body over the client's ``max_body`` (without ``cut_long``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: status, headers (names in lower case; a repeated one keeps the
    last value) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        return json.loads(self.body)


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, idle_s: float) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.idle_since < idle_s
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def quick_ack(self) -> None:
        """Acknowledge the answer's first segment at once (TCP_QUICKACK, Linux; the kernel
        leaves quick-ack mode by itself, so it is asked for on every request). A server
        that writes its answer's head and body apart without TCP_NODELAY (Python's
        http.server does) holds the body until that ACK, and a kept connection's ACK
        is otherwise delayed: 44 ms per answer, measured on loopback, with httpx too."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None and _QUICKACK is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    address: str


class Http1Client:
    """Keep-alive HTTP/1.1 requests on the running loop (see the module's text)."""

    def __init__(
        self,
        timeout_s: float,
        *,
        keep_per_origin: int = 64,
        idle_s: float = 4.0,
        max_body: int = MAX_BODY,
        cut_long: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.keep_per_origin = keep_per_origin
        self.idle_s = idle_s
        self.max_body = max_body
        #: An answer longer than ``max_body``: its first ``max_body`` bytes, the rest left
        #: unread and the connection closed (True), or :class:`ProtocolError` (False).
        self.cut_long = cut_long
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Conn]] = {}
        #: Connections opened (for tests and figures).
        self.opened = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        connect_to: str | None = None,
        timeout_s: float | None = None,
        resend: bool = False,
    ) -> Answer:
        """Send one request and read its whole answer (raises :class:`HttpError`).
        ``resend``: the request may be sent twice (the receiver tells copies apart by a
        header of its own, as webhook receivers do by ``webhook-id``)."""
        self._loop = asyncio.get_running_loop()
        origin, target, host_header = _parse(url, connect_to)
        head = _head(method, target, host_header, body, headers or {})
        again = (
            resend
            or method in _IDEMPOTENT
            or any(n.lower() == "idempotency-key" for n in headers or {})
        )
        try:
            async with asyncio.timeout(self.timeout_s if timeout_s is None else timeout_s):
                return await self._exchange(origin, head, body, method == "HEAD", again)
        except TimeoutError as exc:
            raise Timeout(f"no whole answer within {timeout_s or self.timeout_s:g} s") from exc

    async def _exchange(
        self, origin: _Origin, head: bytes, body: bytes, no_body: bool, again: bool
    ) -> Answer:
        conn, reused = self._take(origin), True
        if conn is None:
            conn, reused = await self._open(origin), False
        while True:
            try:
                answer, keep = await self._send(conn, head, body, no_body)
            except _ClosedBeforeAnswer as exc:
                conn.close()
                if not (reused and again):
                    raise ProtocolError(
                        "the server closed the connection without an answer"
                    ) from exc
                conn, reused = await self._open(origin), False  # it was closed while idle
                continue
            except BaseException:  # a timeout or a cancel mid-answer: the connection is spent
                conn.close()
                raise
            if keep:
                self._give_back(origin, conn)
            else:
                conn.close()
            return answer

    def _take(self, origin: _Origin) -> _Conn | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable(self.idle_s):
                return conn
            conn.close()
        return None

    def _give_back(self, origin: _Origin, conn: _Conn) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self.keep_per_origin:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _open(self, origin: _Origin) -> _Conn:
        tls: ssl.SSLContext | None = None
        if origin.scheme == "https":
            tls = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await asyncio.open_connection(
                origin.address,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls is not None else None,
                limit=MAX_HEAD,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        self.opened += 1
        return _Conn(reader, writer)

    async def _send(
        self, conn: _Conn, head: bytes, body: bytes, no_body: bool
    ) -> tuple[Answer, bool]:
        raw = b""
        try:
            conn.writer.write(head + body)
            await conn.writer.drain()
            conn.quick_ack()
            raw = await conn.reader.readuntil(b"\r\n\r\n")
            while _informational(raw):  # 100 Continue and the like: the answer follows
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            return await self._body(conn.reader, raw, no_body)
        except asyncio.IncompleteReadError as exc:
            if not raw and not exc.partial:
                raise _ClosedBeforeAnswer from exc
            raise ProtocolError("the server closed the connection mid-answer") from exc
        except ConnectionError as exc:
            if not raw:
                raise _ClosedBeforeAnswer from exc
            raise ProtocolError(f"the answer was cut short: {type(exc).__name__}") from exc
        except asyncio.LimitOverrunError as exc:
            raise ProtocolError(f"the answer's head is over {MAX_HEAD} bytes") from exc

    async def _body(
        self, reader: asyncio.StreamReader, raw: bytes, no_body: bool
    ) -> tuple[Answer, bool]:
        """The answer whose head is ``raw``, and whether its connection may be kept."""
        version, status, headers = _head_of(raw)
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        length = headers.get("content-length")
        if no_body or status in (204, 304):
            body, whole = b"", True
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, whole = await self._chunked(reader)
        elif length is not None:
            body, whole = await self._sized(reader, length)
        else:
            body, whole = await self._to_close(reader), False
        return Answer(status, headers, body), keep and whole

    def _too_long(self, size: int) -> None:
        if not self.cut_long:
            raise TooLong(f"an answer of {size}+ bytes is over {self.max_body}")

    async def _sized(self, reader: asyncio.StreamReader, length: str) -> tuple[bytes, bool]:
        if not length.strip().isdigit():
            raise ProtocolError(f"bad content-length {length!r}")
        size = int(length)
        if size > self.max_body:
            self._too_long(size)
            return await reader.readexactly(self.max_body), False
        return await reader.readexactly(size), True

    async def _to_close(self, reader: asyncio.StreamReader) -> bytes:
        data = b""  # no length: the body ends with the connection
        while len(data) <= self.max_body:
            more = await reader.read(65_536)
            if not more:
                return data
            data += more
        self._too_long(len(data))
        return data[: self.max_body]

    async def _chunked(self, reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size {size_line[:20]!r}") from exc
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts), True
            total += size
            if total > self.max_body:
                self._too_long(total)
                return b"".join(parts), False
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def aclose(self) -> None:
        """Close every kept connection."""
        self._close_idle()

    def close(self) -> None:
        """Close every kept connection, from any thread (on the loop that used them, if
        it still runs; a connection in use is closed by its request's end)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._close_idle)
                return
        self._close_idle()

    def _close_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


class _ClosedBeforeAnswer(Exception):
    """The connection broke before the first byte of an answer."""


def _parse(url: str, connect_to: str | None) -> tuple[_Origin, str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Origin(scheme, host, port, connect_to or host), target, host_header


def _head(method: str, target: str, host: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if name.lower() in ("host", "content-length", "transfer-encoding"):
            continue
        if any(c in name or c in value for c in "\r\n") or not name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _informational(raw: bytes) -> bool:
    """Whether a head is a 1xx answer other than 101 (the real answer follows it)."""
    code = raw[9:12]
    return raw.startswith(b"HTTP/1.") and code[:1] == b"1" and code != b"101"


def _head_of(raw: bytes) -> tuple[str, int, dict[str, str]]:
    """Version, status and headers of an answer's head (status line and header lines)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return parts[0], int(parts[1]), headers
