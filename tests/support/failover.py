"""Redis failover for tests (issue 20): ``redis-server`` processes of the test's own on
free loopback ports (a primary, replicas, three Sentinels), an endpoint proxy that can
move to a promoted replica (how a managed Redis endpoint behaves), and link proxies
that hold the primary's replication stream back (a replica behind under load); the
proxy itself is :mod:`tests.support.tcpproxy`.

Nothing here touches the shared Redis on 6379; every process started is stopped by
its PID when its context ends."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.procs import free_port
from tests.support.redis_server import fail_in_ci_else_skip
from tests.support.tcpproxy import TcpProxy
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
