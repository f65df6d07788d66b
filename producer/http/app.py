"""The one app factory: the HTTP API (SPEC §4) and the page over one Redis and namespace.

``batchdial api`` calls it with what its settings say; tests and the demo call it
with their own Redis.
"""

from __future__ import annotations

import redis
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from config.broker import BrokerOutbox
from config.redis import decoding
from domain.dials import DialEnds
from domain.keys import Keys
from domain.metrics import RedisCollector
from domain.signing import SYSTEM_CLOCK, Clock
from producer.http.deps import workspace_id
from producer.http.errors import install_error_handlers
from producer.http.fastpath import StatusFastPath
from producer.http.middleware.body_limit import BODY_READ_TIMEOUT_SECONDS, BodyLimit
from producer.http.middleware.last_resort import LastResort
from producer.http.middleware.metrics import Measure
from producer.http.middleware.security_headers import SecurityHeaders
from producer.http.openapi import install_openapi
from producer.http.routes import (
    admin,
    callbacks,
    dials,
    docs,
    events_stream,
    forecast,
    jobs,
    page,
    phone_numbers,
    service,
    suppressions,
    webhooks,
    workspace,
)
from producer.http.routes.providers import CarrierAuth
from producer.http.routes.providers import livekit as livekit_webhook
from producer.http.routes.providers import telnyx as telnyx_events
from producer.http.routes.providers import twilio as twilio_status
from producer.idempotency import Idempotency
from producer.schemas.admin import AdminWorkspaceCreate, AdminWorkspaceUpdate
from producer.schemas.callbacks import StatusIn
from producer.schemas.jobs import JobCreate, JobUpdate, PausedIn
from producer.schemas.numbers import PhoneNumberAdd, PhoneNumberUpdate
from producer.schemas.rows import RetryRowsIn, RowsIn
from producer.schemas.webhooks import WebhookCreate, WebhookUpdate
from producer.schemas.workspace import SuppressionsAdd, WorkspaceUpdate
from producer.service import Producer
from producer.validation import Limits

#: Default of ``max_body_bytes`` (BATCHDIAL_MAX_BODY_BYTES says the same).
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(
    client: redis.Redis,
    namespace: str,
    *,
    limits: Limits | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_read_timeout_s: float = BODY_READ_TIMEOUT_SECONDS,
    dialer_secret: str | None = None,
    outbox: BrokerOutbox | None = None,
    clock: Clock = SYSTEM_CLOCK,
    max_streams_per_key: int = events_stream.MAX_STREAMS_PER_KEY,
    carriers: CarrierAuth | None = None,
    webhook_allow_private: bool = False,
    max_dials_per_second: int | None = None,
    min_replicas: int = 0,
    admin_key: str | None = None,
) -> FastAPI:
    """The API over one Redis and namespace; ``clock`` times signature checks. With
    ``outbox`` (the workers' broker), a provider's callback that ends a dial pushes the
    rows released into the freed slot onto the refill list the workers wait on, at once;
    without, the job's scheduler releases them. ``carriers``: what verifies the carriers'
    own callbacks (none: they are refused). ``webhook_allow_private``:
    BATCHDIAL_WEBHOOK_ALLOW_PRIVATE; ``max_dials_per_second``:
    BATCHDIAL_MAX_DIALS_PER_SECOND (forecasts use it);
    ``min_replicas``: BATCHDIAL_REDIS_MIN_REPLICAS (a reported end waits for them)."""
    client = decoding(client)  # any redis client: the API reads strings
    app = FastAPI(
        title="batchdial",
        version="0.1.0",
        description="Outbound calling campaigns (batch dial jobs): create a job from rows, "
        "start it, and follow its dials and events. The guide: docs/api.md.",
        # FastAPI's pages load their scripts from a CDN: ours serve them (routes/docs.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.producer = Producer(
        client,
        namespace,
        limits,
        webhook_allow_private=webhook_allow_private,
        max_dials_per_second=max_dials_per_second,
    )
    app.state.dial_ends = DialEnds(client, Keys(namespace), min_replicas=min_replicas)
    app.state.dialer_secret = dialer_secret
    app.state.admin_key = admin_key
    app.state.max_body_bytes = max_body_bytes
    app.state.idempotency = Idempotency(client, Keys(namespace))
    app.state.dial_outbox = outbox
    app.state.clock = clock
    app.state.carriers = carriers or CarrierAuth()
    app.state.redis_metrics = CollectorRegistry(auto_describe=False)
    app.state.redis_metrics.register(RedisCollector(client, Keys(namespace)))
    install_error_handlers(app)
    # Outermost last: StatusFastPath > SecurityHeaders > LastResort > BodyLimit > Measure >
    # the routes.
    app.add_middleware(Measure)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, read_timeout_s=body_read_timeout_s)
    app.add_middleware(LastResort)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(StatusFastPath, max_bytes=max_body_bytes, read_timeout_s=body_read_timeout_s)
    routes = (jobs, service, callbacks, dials, twilio_status, telnyx_events, livekit_webhook)
    for module in (*routes, forecast, suppressions, workspace, webhooks, phone_numbers, admin):
        app.include_router(module.router)
    app.include_router(
        events_stream.event_stream_router(workspace_id, max_streams_per_key=max_streams_per_key)
    )
    app.include_router(page.page_router())
    app.include_router(docs.docs_router(app))
    install_openapi(
        app,
        (
            JobCreate,
            JobUpdate,
            PausedIn,
            RowsIn,
            RetryRowsIn,
            SuppressionsAdd,
            WorkspaceUpdate,
            StatusIn,
            WebhookCreate,
            WebhookUpdate,
            PhoneNumberAdd,
            PhoneNumberUpdate,
            AdminWorkspaceCreate,
            AdminWorkspaceUpdate,
        ),
    )
    return app
