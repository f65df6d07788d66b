"""Redis failover for tests (issue 20): ``redis-server`` processes of the test's own on
free loopback ports (a primary, replicas, three Sentinels), a loopback TCP proxy that
can move to a promoted replica (how a managed Redis endpoint behaves), and a link
proxy that holds the primary's replication stream back (a replica behind under load).

Nothing here touches the shared Redis on 6379; every process started is stopped by
its PID when its context ends."""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.procs import free_port
from tests.support.redis_server import fail_in_ci_else_skip
from tests.support.waits import wait_until

#: The name the test Sentinels monitor the primary under.
MASTER = "bdtest"


class Node:
    """One ``redis-server`` (or ``redis-server --sentinel``) on a free loopback port."""

    def __init__(self, directory: Path, name: str, *args: str, sentinel: bool = False) -> None:
        self.directory = directory / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.args = args
        self.sentinel = sentinel
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout: float = 1.0) -> redis.Redis:
        """A plain client of this node (decoded), short timeouts."""
        return redis.Redis(
            port=self.port,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def start(self) -> None:
        """Start it; return once it answers PING."""
        common = ["--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        if self.sentinel:
            conf = self.directory / "sentinel.conf"
            conf.write_text("\n".join(self.args) + "\n", encoding="utf-8")
            argv = ["redis-server", str(conf), "--sentinel", *common]
        else:
            argv = [
                "redis-server",
                *common,
                "--save",
                "",
                "--repl-diskless-sync-delay",
                "0",
                "--daemonize",
                "no",
                *self.args,
            ]
        log = (self.directory / "log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = self.client(0.5)
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {(self.directory / 'log').read_text()}")
            try:
                return bool(client.ping())
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False

        try:
            wait_until(answers, 20, f"{self.name} to answer", every=0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL it (a crash: no shutdown, no goodbye to its clients or replicas)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop it by its PID (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


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


@dataclass
class Topology:
    """A primary, its replicas (each through a lagging link), optionally three
    Sentinels, and an endpoint proxy in front of the primary."""

    primary: Node
    replicas: list[Node]
    links: list[TcpProxy]
    endpoint: TcpProxy
    sentinels: list[Node] = field(default_factory=list)

    @property
    def sentinel_env(self) -> dict[str, str]:
        """The settings that connect through the Sentinels (the URL's host is unused)."""
        return {
            "BATCHDIAL_REDIS_SENTINELS": ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
            "BATCHDIAL_REDIS_SENTINEL_MASTER": MASTER,
        }

    def wait_replicated(self, timeout: float = 20) -> None:
        """Until every replica's link is up (and, with Sentinels, each sees them all)."""

        def linked() -> bool:
            try:
                info = self.primary.client().info("replication")
            except redis.RedisError:
                return False
            up = sum(
                1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online"
            )
            return up == len(self.replicas)

        wait_until(linked, timeout, "the replicas to be online", every=0.05)
        for sentinel in self.sentinels:

            def knows(s: Node = sentinel) -> bool:
                try:
                    state = s.client().sentinel_master(MASTER)
                except redis.RedisError:
                    return False
                if not isinstance(state, dict):
                    return False
                return int(state.get("num-other-sentinels", 0)) == len(self.sentinels) - 1 and int(
                    state.get("num-slaves", 0)
                ) == len(self.replicas)

            wait_until(knows, timeout, f"{sentinel.name} to know its peers", every=0.1)

    def primary_port(self) -> int | None:
        """The port of the node that answers as the primary now, if one does."""
        for node in [self.primary, *self.replicas]:
            if node.proc is None or node.proc.poll() is not None:
                continue
            try:
                if node.client(0.3).info("replication").get("role") == "master":
                    return node.port
            except redis.RedisError:
                continue
        return None

    def promote_behind_endpoint(self) -> Node:
        """What a managed service does once the primary is dead: the replica that has the
        most of the primary's stream (as Sentinel chooses) becomes the primary, the others
        replicate from it, the endpoint moves to it."""
        offsets = {
            node.name: int(node.client().info("replication").get("master_repl_offset", 0))
            for node in self.replicas
        }
        ranked = sorted(self.replicas, key=lambda node: -offsets[node.name])
        new, others = ranked[0], ranked[1:]
        new.client().replicaof("NO", "ONE")
        for other in others:
            other.client().replicaof("127.0.0.1", new.port)
        self.endpoint.point_to(new.port)
        return new

    def sentinels_promoted(self) -> Node | None:
        """The replica the Sentinels promoted, once it answers as primary."""
        for sentinel in self.sentinels:
            try:
                answer = sentinel.client(0.3).sentinel_get_master_addr_by_name(MASTER)
            except redis.RedisError:
                continue
            if not isinstance(answer, (tuple, list)):
                continue
            port = answer[1]
            for node in self.replicas:
                if node.port == int(port) and self.primary_port() == node.port:
                    return node
        return None


@contextmanager
def topology(
    directory: Path,
    *,
    replicas: int = 2,
    lag_s: float = 0.15,
    sentinels: bool = False,
    silent: bool = False,
) -> Iterator[Topology]:
    """Start a primary, ``replicas`` replicas (their links ``lag_s`` behind) and, with
    ``sentinels``, three Sentinels (quorum 2, down after 1.5 s); the endpoint proxy is
    ``silent`` (see :class:`TcpProxy`) if asked; stop them all on exit."""
    if shutil.which("redis-server") is None:
        fail_in_ci_else_skip("no redis-server binary to start a Redis of the test's own")
    with ExitStack() as stack:
        primary = Node(directory, "primary", "--appendonly", "no")
        primary.start()
        stack.callback(primary.stop)
        nodes, links = [], []
        for i in range(replicas):
            link = TcpProxy(primary.port, delay_s=lag_s)
            stack.callback(link.close)
            node = Node(
                directory,
                f"replica{i + 1}",
                "--replicaof",
                "127.0.0.1",
                str(link.port),
                "--replica-announce-ip",
                "127.0.0.1",
            )
            node.start()
            stack.callback(node.stop)
            nodes.append(node)
            links.append(link)
        endpoint = TcpProxy(primary.port, silent=silent)
        stack.callback(endpoint.close)
        watchers = []
        if sentinels:
            # Each Sentinel is told its peers and the replicas up front (what it would
            # learn in ~10 s from hellos and INFO), so that the test need not wait.
            ids = [f"{i + 1:040x}" for i in range(3)]
            ports = [free_port() for _ in range(3)]
            for i in range(3):
                config = [
                    f"sentinel myid {ids[i]}",
                    f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2",
                    # 1.5 s: at 1 s a loaded machine (the CI's two shared cores) once
                    # made the Sentinels fail the new primary over again mid-job.
                    f"sentinel down-after-milliseconds {MASTER} 1500",
                    f"sentinel failover-timeout {MASTER} 4000",
                    f"sentinel parallel-syncs {MASTER} 2",
                ]
                config += [f"sentinel known-replica {MASTER} 127.0.0.1 {n.port}" for n in nodes]
                config += [
                    f"sentinel known-sentinel {MASTER} 127.0.0.1 {ports[j]} {ids[j]}"
                    for j in range(3)
                    if j != i
                ]
                node = Node(directory, f"sentinel{i + 1}", *config, sentinel=True)
                node.port = ports[i]
                node.start()
                stack.callback(node.stop)
                watchers.append(node)
        topo = Topology(primary, nodes, links, endpoint, watchers)
        topo.wait_replicated()
        yield topo
