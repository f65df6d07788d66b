"""Builds the API application from settings (what ``batchdial api`` serves)."""

from __future__ import annotations

from fastapi import FastAPI

from config.broker import BrokerOutbox, make_broker
from config.redis import make_redis
from config.settings import Settings
from producer.api import create_app
from producer.service import limits_of


def build_app(settings: Settings) -> FastAPI:
    """The API over the Redis and namespace of ``settings``, sending dial messages on
    the workers' broker (same Redis and namespace)."""
    broker = make_broker(make_redis(settings.redis_url, decode=False), settings.namespace)
    return create_app(
        make_redis(settings.redis_url),
        settings.namespace,
        limits=limits_of(settings),
        max_body_bytes=settings.max_body_bytes,
        dialer_secret=(
            settings.dialer_secret.get_secret_value() if settings.dialer_secret else None
        ),
        outbox=BrokerOutbox(broker),
    )
