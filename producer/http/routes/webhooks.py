"""Webhook endpoints of the caller's workspace (SPEC §8.2).

``POST/GET /api/webhooks``, ``GET/PATCH/DELETE /api/webhooks/{id}``,
``POST /api/webhooks/{id}/rotate-secret``, ``GET /api/webhooks/{id}/deliveries`` and
``POST /api/webhooks/{id}/deliveries/{deliveryId}/retry``: thin handlers over
:class:`producer.webhooks.Webhooks` and :class:`producer.webhook_deliveries.Deliveries`.
Create and update resolve the URL's host (a blocking call), so they run off the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.http.deps import Body, Cursor, Limit, Prod, Ws, body_doc
from producer.http.openapi import errors
from producer.schemas.webhooks import (
    DeliveryPage,
    DeliveryRetry,
    WebhookCreate,
    WebhookOut,
    WebhookPage,
    WebhookUpdate,
)

WEBHOOKS = "/api/webhooks"
WebhookId = Annotated[str, Path(description="the endpoint's id", examples=["wh_3f2a9c1e5b7d4a60"])]
DeliveryId = Annotated[str, Path(description="the delivery's id (deliveryId of an attempt)")]

router = APIRouter(tags=["webhooks"])


@router.post(
    WEBHOOKS,
    status_code=201,
    response_model=WebhookOut,
    openapi_extra=body_doc(WebhookCreate),
    responses=errors(400, 401, 409, 413, 422),
)
async def create_webhook(ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Add an endpoint; the answer carries its secret, shown this once."""
    created = await run_in_threadpool(producer.webhooks.create, ws, body)
    return JSONResponse(created, status_code=201)


@router.get(WEBHOOKS, response_model=WebhookPage, responses=errors(401, 422))
def list_webhooks(
    ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """The workspace's endpoints, oldest first (secrets not shown)."""
    return JSONResponse(producer.webhooks.list(ws, limit, cursor).as_dict())


@router.get(WEBHOOKS + "/{webhook_id}", response_model=WebhookOut, responses=errors(401, 404))
def get_webhook(webhook_id: WebhookId, ws: Ws, producer: Prod) -> JSONResponse:
    """One endpoint (its secret is not shown: rotate it to get a new one)."""
    return JSONResponse(producer.webhooks.get(ws, webhook_id))


@router.patch(
    WEBHOOKS + "/{webhook_id}",
    response_model=WebhookOut,
    openapi_extra=body_doc(WebhookUpdate),
    responses=errors(400, 401, 404, 413, 422),
)
async def update_webhook(webhook_id: WebhookId, ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Change url, events, description or enabled."""
    return JSONResponse(await run_in_threadpool(producer.webhooks.update, ws, webhook_id, body))


@router.delete(WEBHOOKS + "/{webhook_id}", responses=errors(401, 404))
def delete_webhook(webhook_id: WebhookId, ws: Ws, producer: Prod) -> JSONResponse:
    """Remove an endpoint (nothing more is sent to it)."""
    return JSONResponse(producer.webhooks.delete(ws, webhook_id))


@router.post(
    WEBHOOKS + "/{webhook_id}/rotate-secret",
    response_model=WebhookOut,
    responses=errors(401, 404),
)
def rotate_secret(webhook_id: WebhookId, ws: Ws, producer: Prod) -> JSONResponse:
    """A new secret, in the answer (the old one no longer signs)."""
    return JSONResponse(producer.webhooks.rotate_secret(ws, webhook_id))


@router.get(
    WEBHOOKS + "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=errors(401, 404, 422),
)
def list_deliveries(
    webhook_id: WebhookId, ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """The endpoint's delivery attempts, newest first."""
    producer.webhooks.get(ws, webhook_id)
    return JSONResponse(producer.deliveries.attempts(ws, webhook_id, limit, cursor).as_dict())


@router.post(
    WEBHOOKS + "/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryRetry,
    responses=errors(401, 404),
)
def retry_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, ws: Ws, producer: Prod
) -> JSONResponse:
    """Attempt a delivery again now (delivered, failed or pending alike)."""
    producer.webhooks.get(ws, webhook_id)
    return JSONResponse(producer.deliveries.retry(ws, webhook_id, delivery_id))
