"""The dramatiq Redis broker under the batchdial namespace."""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from domain.keys import DIAL_QUEUE, SCHEDULER_QUEUE, Keys

__all__ = ["DIAL_QUEUE", "SCHEDULER_QUEUE", "make_broker"]


def make_broker(client: redis.Redis, namespace: str) -> RedisBroker:
    """A Redis broker whose keys and queues live under ``<namespace>:dramatiq``.

    ``client`` must not decode responses (dramatiq reads bytes). Our actors take
    their own retries decisions, so Retries is kept only for the scheduler (see the
    actors); TimeLimit bounds a stuck actor; no Prometheus middleware here (the
    worker adds metrics of its own).
    """
    return RedisBroker(  # type: ignore[no-untyped-call]
        client=client,
        namespace=Keys(namespace).broker_namespace,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(),
        ],
    )
