"""A streaming reader of ``multipart/form-data`` bodies (RFC 7578), for the create with a
file (issue 17): ``job`` (the create's JSON) then ``rows`` (the file), each part read as
it arrives, never the body whole."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from domain.errors import MalformedBody

#: The longest header block of one part.
MAX_HEADER_BYTES = 16 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)


def boundary_of(content_type: str) -> bytes:
    """The boundary a ``multipart/form-data`` Content-Type names."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise MalformedBody("a multipart/form-data body needs its boundary in Content-Type")
    return found.group(1).encode()


@dataclass
class Part:
    """One part: its form field name, its Content-Type and its body, chunk by chunk (read
    it to its end before asking for the next part)."""

    name: str
    content_type: str | None
    body: Iterator[bytes]


class _Reader:
    def __init__(self, chunks: Iterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._buf = b""
        self._delimiter = b"--" + boundary
        self._marker = b"\r\n" + self._delimiter
        self._done = False

    def _more(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._buf += chunk
        return True

    def _take_until(self, token: bytes, limit: int) -> bytes:
        while (at := self._buf.find(token)) < 0:
            if len(self._buf) > limit or not self._more():
                raise MalformedBody("the multipart body is cut off or malformed")
        head, self._buf = self._buf[:at], self._buf[at + len(token) :]
        return head

    def start(self) -> None:
        self._take_until(self._delimiter, MAX_HEADER_BYTES)

    def next_part(self) -> Part | None:
        while len(self._buf) < 2:
            if not self._more():
                raise MalformedBody("the multipart body is cut off")
        if self._buf.startswith(b"--"):
            return None
        self._buf = self._buf.removeprefix(b"\r\n")
        headers = self._take_until(b"\r\n\r\n", MAX_HEADER_BYTES).decode("latin-1")
        name, ctype = "", None
        for line in headers.split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                found = _NAME.search(value)
                name = found.group(1) if found else ""
            elif key.strip().lower() == "content-type":
                ctype = value.strip()
        return Part(name, ctype, self._body())

    def _body(self) -> Iterator[bytes]:
        keep = len(self._marker)
        while True:
            at = self._buf.find(self._marker)
            if at >= 0:
                out, self._buf = self._buf[:at], self._buf[at + keep :]
                if out:
                    yield out
                return
            if len(self._buf) > keep:
                out, self._buf = self._buf[:-keep], self._buf[-keep:]
                yield out
            if not self._more():
                raise MalformedBody("the multipart body is cut off")


def parts(chunks: Iterator[bytes], boundary: bytes) -> Iterator[Part]:
    """The parts of a multipart body, in order."""
    reader = _Reader(chunks, boundary)
    reader.start()
    while (part := reader.next_part()) is not None:
        yield part
