"""A loopback TCP proxy for the failover tests (issue 20): an endpoint in front of a
Redis primary that can move to a promoted replica, or a replication link held back
(see :class:`TcpProxy`)."""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time


class TcpProxy:
    """A loopback TCP proxy to ``127.0.0.1:<target>``: each accepted connection gets one
    to the target, bytes pumped both ways. ``delay_s`` holds the bytes from the target
    back that long (a replication link behind). :meth:`point_to` moves new connections
    to another port and closes the open ones (a managed endpoint after a failover); a
    connection whose other side closes is closed too.

    ``silent``: a connection whose target died is not closed but left open and mute, and
    so is one accepted while nothing answers at the target: what a client sees of a
    primary whose host vanished (no RST ever comes), and of an endpoint that moved only
    its new connections. The client learns it only from its own timeouts."""

    def __init__(self, target: int, *, delay_s: float = 0.0, silent: bool = False) -> None:
        self.target = target
        self.delay_s = delay_s
        self.silent = silent
        self._mute: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def point_to(self, target: int) -> None:
        """New connections go to ``target``; every open one is closed."""
        with self._lock:
            self.target = target
            sockets = list(self._open)
        for sock in sockets:
            _close(sock)

    def close(self) -> None:
        self._closed.set()
        _close(self._listener)
        self.point_to(0)
        with self._lock:
            mute, self._mute = list(self._mute), set()
        for sock in mute:
            _close(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                target = self.target
            try:
                upstream = socket.create_connection(("127.0.0.1", target), timeout=1)
                upstream.settimeout(None)
            except OSError:
                if self.silent:
                    with self._lock:
                        self._mute.add(client)  # accepted, never answered
                else:
                    _close(client)  # nothing answers there (the primary is dead): refuse
                continue
            with self._lock:
                self._open.update((client, upstream))
            pair = (client, upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream, 0.0, pair), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, self.delay_s, pair), daemon=True
            ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        delay_s: float,
        pair: tuple[socket.socket, ...],
    ) -> None:
        client, upstream = pair
        upstream_dead = False
        try:
            if delay_s > 0:
                with contextlib.suppress(OSError):  # either side gone: the link ends
                    self._pump_late(source, sink, delay_s)
            else:
                while True:
                    try:
                        data = source.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        upstream_dead = source is upstream
                        break
                    try:
                        sink.sendall(data)
                    except OSError:
                        upstream_dead = sink is upstream
                        break
        finally:
            with self._lock:
                self._open.difference_update(pair)
                mute = self.silent and upstream_dead and not self._closed.is_set()
                if mute:
                    self._mute.add(client)
            _close(upstream)
            if not mute:
                with self._lock:
                    self._mute.discard(client)
                _close(client)

    @staticmethod
    def _pump_late(source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        """Forward what ``source`` sends ``delay_s`` after it came, in order. When the
        source dies, what it sent in its last ``delay_s`` is dropped: the replica was
        that far behind, and a failover loses it (Redis replicates asynchronously)."""
        queue: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        done = threading.Event()
        seq = 0

        def send_later() -> None:
            while True:
                with ready:
                    while not queue and not done.is_set():
                        ready.wait(0.5)
                    if not queue:
                        return
                    due, _, data = queue[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        ready.wait(wait)  # holding the bytes back: the link's lag
                        continue
                    heapq.heappop(queue)
                try:
                    sink.sendall(data)
                except OSError:
                    return

        sender = threading.Thread(target=send_later, daemon=True)
        sender.start()
        try:
            while data := source.recv(65536):
                with ready:
                    seq += 1
                    heapq.heappush(queue, (time.monotonic() + delay_s, seq, data))
                    ready.notify()
        finally:
            with ready:
                queue.clear()
                done.set()
                ready.notify()
            sender.join(delay_s + 2)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
