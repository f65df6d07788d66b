"""Builds and runs one worker process: broker, actors, engine, timers, dramatiq's
worker threads. ``worker/supervisor.py`` runs several of them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import dramatiq
import redis
import structlog

from config.broker import WEBHOOK_QUEUE, BrokerOutbox, make_broker
from config.redis import redis_for
from config.settings import Settings
from domain.errors import ConfigError
from domain.keys import DIAL_QUEUE, SCHEDULER_QUEUE, Keys
from domain.row_commit import CommitResumer
from worker.actors import Actors
from worker.dialers.base import Dialer
from worker.dialers.http import HttpDialer
from worker.dialers.livekit import LiveKitDialer
from worker.dialers.simulated import SimulatedDialer
from worker.dialers.telnyx import TelnyxDialer
from worker.dialers.twilio import TwilioDialer
from worker.engine.core import Engine
from worker.engine.loop import EventLoop
from worker.engine.refills import RefillTaker
from worker.engine.timers import Timekeeper
from worker.engine.timing import Timing
from worker.stopflag import StopFlag
from worker.webhooks.delivery import WebhookDelivery, WebhookTiming

log = structlog.get_logger(__name__)

#: How long a stopping worker waits for the calls it holds to end.
SHUTDOWN_GRACE_S = 30.0
#: dramatiq's worker timeout (ms): see where the worker is made.
WORKER_TIMEOUT_MS = 500


def make_twilio_dialer(settings: Settings) -> TwilioDialer:
    """The twilio dialer of ``settings`` (checked complete when they were loaded)."""
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    agent_url, public_url = settings.twilio_agent_url, settings.public_url
    if not (sid and token and agent_url and public_url):
        raise ConfigError("BATCHDIAL_DIALER=twilio needs its settings (docs/carriers.md: Twilio)")
    return TwilioDialer(
        sid,
        token.get_secret_value(),
        agent_url=agent_url,
        public_url=public_url,
        api_base=settings.twilio_api_base,
        timeout_s=settings.dialer_timeout_seconds,
    )


def make_telnyx_dialer(settings: Settings) -> TelnyxDialer:
    """The telnyx dialer of ``settings`` (checked complete when they were loaded)."""
    key, connection = settings.telnyx_api_key, settings.telnyx_connection_id
    if not (key and connection and settings.public_url):
        raise ConfigError("BATCHDIAL_DIALER=telnyx needs its settings (docs/carriers.md: Telnyx)")
    return TelnyxDialer(
        key.get_secret_value(),
        connection_id=connection,
        public_url=settings.public_url,
        api_base=settings.telnyx_api_base,
        stream_url=settings.telnyx_stream_url,
        # Telnyx ends the call when batchdial stops waiting for its end.
        time_limit_s=settings.max_call_seconds,
        timeout_s=settings.dialer_timeout_seconds,
    )


def make_livekit_dialer(settings: Settings) -> LiveKitDialer:
    """The livekit dialer of ``settings`` (checked complete when they were loaded)."""
    url, key, secret = settings.livekit_url, settings.livekit_api_key, settings.livekit_api_secret
    trunk = settings.livekit_sip_trunk_id
    if not (url and key and secret and trunk and settings.public_url):
        raise ConfigError(
            "BATCHDIAL_DIALER=livekit needs its settings (docs/carriers.md: LiveKit SIP)"
        )
    return LiveKitDialer(
        url,
        key,
        secret.get_secret_value(),
        sip_trunk_id=trunk,
        ringing_timeout_s=settings.livekit_ringing_timeout_seconds,
        max_call_s=settings.max_call_seconds,
        timeout_s=settings.dialer_timeout_seconds,
    )


def make_dialer(settings: Settings, loop: EventLoop | None = None) -> Dialer:
    """The dialer backend the settings choose; ``loop`` is the process's event loop
    (where simulated calls in progress live)."""
    if settings.dialer == "twilio":
        return make_twilio_dialer(settings)
    if settings.dialer == "telnyx":
        return make_telnyx_dialer(settings)
    if settings.dialer == "livekit":
        return make_livekit_dialer(settings)
    if settings.dialer == "http":
        assert settings.dialer_url is not None
        secret = settings.dialer_secret.get_secret_value() if settings.dialer_secret else None
        return HttpDialer(
            settings.dialer_url, secret=secret, timeout_s=settings.dialer_timeout_seconds
        )
    return SimulatedDialer(settings.simulated_call_seconds, settings.outcome_weights, loop=loop)


def timing_of(settings: Settings) -> Timing:
    """The engine's durations from the settings."""
    return Timing(
        lease_ms=int(settings.lease_seconds * 1000),
        max_call_ms=int(settings.max_call_seconds * 1000),
        max_dials_per_second=settings.max_dials_per_second,
        min_replicas=settings.redis_min_replicas,
    )


def webhook_timing_of(settings: Settings) -> WebhookTiming:
    """The webhook delivery's numbers from the settings."""
    timeout_s = settings.webhook_timeout_seconds
    return WebhookTiming(
        retry_s=settings.webhook_retry_schedule,
        timeout_s=timeout_s,
        # An attempt holds its delivery for three timeouts (the POST, its address check
        # and its record fit), at least 5 s: then a dead worker's attempt comes back.
        lease_ms=int(max(5.0, 3 * timeout_s) * 1000),
    )


@dataclass
class WorkerRuntime:
    """Everything one worker process runs."""

    engine: Engine
    actors: Actors
    timekeeper: Timekeeper
    worker: dramatiq.Worker
    webhooks: WebhookDelivery | None = None
    #: Takes the rows carriers' callbacks released (a process that consumes dials).
    refills: RefillTaker | None = None
    _stopped: bool = field(default=False)

    def start(self) -> None:
        """Start consuming messages and running the timers."""
        self.worker.start()
        self.timekeeper.start()
        if self.refills is not None:
            self.refills.start()

    def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Stop taking work, let calls in progress end (leases renewed meanwhile), stop."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + grace_s
        if self.refills is not None:  # the rows still listed are for the other workers
            self.refills.stop()
        self.engine.drain()
        self.worker.stop(timeout=int(grace_s * 1000))
        while self.engine.keeper.held() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.timekeeper.stop()
        if self.webhooks is not None:
            self.webhooks.close()
        self.engine.dialer.close()
        self.engine.close()
        with contextlib.suppress(redis.RedisError):
            self.engine.leave()


#: The queues a worker consumes unless told otherwise (``batchdial worker --queues``).
ALL_QUEUES = (DIAL_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE)


def parse_queues(text: str) -> tuple[str, ...]:
    """``--queues dial,pump`` -> the queue names, checked; raises ConfigError."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_QUEUES]
    if not names or unknown:
        raise ConfigError(
            f"--queues {text!r}: give a comma list of {', '.join(ALL_QUEUES)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return names


def build_runtime(
    settings: Settings,
    *,
    threads: int = 8,
    queues: tuple[str, ...] = ALL_QUEUES,
    state_client: redis.Redis | None = None,
    broker_client: redis.Redis | None = None,
    dialer: Dialer | None = None,
    timing: Timing | None = None,
    prometheus: bool = False,
) -> WorkerRuntime:
    """Wire a worker for ``settings`` (clients and dialer may be given, for tests) that
    consumes ``queues``: a process without the dial queue (webhook deliveries on their
    own processes or hosts) does not count among those sharing a job's calls.

    ``prometheus`` adds dramatiq's own Prometheus middleware; it writes to the
    multiprocess directory the supervisor set up, and the supervisor serves it.
    """
    state = state_client or redis_for(settings)
    broker = make_broker(broker_client or redis_for(settings, decode=False), settings.namespace)
    middleware = None
    if prometheus:
        from dramatiq.middleware.prometheus import Prometheus  # noqa: PLC0415 -- reads env

        middleware = Prometheus()
        broker.add_middleware(middleware)
        broker.emit_after("process_boot")
    loop = EventLoop()
    outbox = BrokerOutbox(broker)
    engine = Engine(
        state,
        Keys(settings.namespace),
        dialer or make_dialer(settings, loop),
        outbox,
        timing or timing_of(settings),
        loop=loop,
        allow_private=settings.webhook_allow_private,
        dials=DIAL_QUEUE in queues,
    )
    webhooks = WebhookDelivery(
        state,
        Keys(settings.namespace),
        loop,
        outbox.send_webhooks,
        webhook_timing_of(settings),
        allow_private=settings.webhook_allow_private,
        dialing_first=DIAL_QUEUE in queues,
    )
    actors = Actors(broker, engine, webhooks)
    if middleware is not None:
        # Every series exists from the start (at 0), errors included.
        for actor in (actors.scheduler, actors.dial):
            for metric in (
                middleware.total_messages,
                middleware.total_errored_messages,
                middleware.total_retried_messages,
                middleware.total_rejected_messages,
            ):
                metric.labels(actor.queue_name, actor.actor_name)
    # Messages due now wake their consumers by a bell (config/broker.py), so the timeout
    # only bounds the polling of the delay queues (the scheduler's retries), a thread's
    # idle wake-ups and how long a stop waits for them: at 100 ms, as it was, an idle
    # worker process spent 36-42 ms of CPU a second looking, 19-20 at 500 ms, 11-15 at
    # 1 s. A stop waits up to one timeout for the threads, then one for the consumers:
    # at 1 s that outlasted a 2 s grace, and a consumer still fetching wrote its heartbeat
    # into a namespace already gone (a test's, left behind once in four CI runs).
    worker = dramatiq.Worker(
        broker, queues=set(queues), worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS
    )
    # A process takes no more messages than it has threads to start them: a message it
    # held beyond that would keep its row (and so a slot) from the other workers while
    # it waits (dramatiq's default is twice the threads).
    worker.queue_prefetch = threads
    # Every process takes up uploads' commits whose driver died (domain/row_commit.py).
    resumer = CommitResumer(state, Keys(settings.namespace))
    timers = Timekeeper(engine, extra=[webhooks.tick, resumer])
    refills = None
    if DIAL_QUEUE in queues:
        refills = RefillTaker(state, Keys(settings.namespace), engine.dial_rows)
    return WorkerRuntime(engine, actors, timers, worker, webhooks, refills)


def run_process(
    settings: Settings,
    threads: int,
    *,
    supervised: bool = False,
    queues: tuple[str, ...] = ALL_QUEUES,
) -> int:
    """Run one worker process until SIGTERM or SIGINT (or, when ``supervised``, until
    its supervisor is gone: a child never outlives the process that serves its metrics
    and would restart it)."""
    runtime = build_runtime(settings, threads=threads, queues=queues, prometheus=True)
    stop = StopFlag()  # not a threading.Event: see worker/stopflag.py
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set("signal"))
    if supervised:
        parent = os.getppid()

        def watch_parent() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent:
                    log.warning("supervisor_gone", supervisor_pid=parent)
                    stop.set("supervisor gone")

        threading.Thread(target=watch_parent, name="batchdial-parent-watch", daemon=True).start()
    runtime.start()
    log.info(
        "worker_started",
        threads=threads,
        queues=",".join(queues),
        namespace=settings.namespace,
        dialer=settings.dialer,
    )
    stop.wait()
    log.info("worker_stopping", calls_held=len(runtime.engine.keeper.held()))
    runtime.stop()
    log.info("worker_stopped")
    return 0
