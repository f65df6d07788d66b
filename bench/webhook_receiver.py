"""The receiver of bench/webhooks.py, a process of its own (``python -m
bench.webhook_receiver`` prints its port): an asyncio HTTP/1.1 server that answers every
POST 204 on kept-alive connections and counts them; ``GET /stats`` answers the count
and the first and last request times (unix s), ``GET /reset`` zeroes them first."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


async def _serve() -> None:
    stats = {"n": 0, "first": 0.0, "last": 0.0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /"):  # /stats, or /reset then the stats
                    if head.startswith(b"GET /reset"):
                        stats.update(n=0, first=0.0, last=0.0)
                    body = json.dumps(stats).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body)
                    )
                else:
                    now = time.time()
                    stats["first"] = stats["first"] or now
                    stats["last"] = now
                    stats["n"] += 1
                    writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def receiver() -> Iterator[str]:
    """A receiver process; yields its base URL (``/stats`` answers what it counted)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    asyncio.run(_serve())
