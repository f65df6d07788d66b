"""The caller's caller-ID numbers and API keys (SPEC §8.5): ``POST /api/phone_numbers``,
``PATCH|DELETE /api/phone_numbers/{id}``, ``POST /api/workspace/api_keys``,
``DELETE /api/workspace/api_keys/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.http.deps import Body, Prod, Ws, body_doc
from producer.http.openapi import errors
from producer.schemas.numbers import PhoneNumberAdd, PhoneNumberUpdate
from producer.schemas.responses import ApiKeyCreated, ApiKeyRevoked, CallerNumber, NumberDeleted

NUMBERS = "/api/phone_numbers"
KEYS = "/api/workspace/api_keys"
_ID = {"pattern": r"^[A-Za-z0-9_]{1,100}$"}
NumberId = Annotated[str, Path(description="the number's id", json_schema_extra=_ID)]
KeyId = Annotated[str, Path(description="the key's id", json_schema_extra=_ID)]

router = APIRouter(tags=["workspace"])


@router.post(
    NUMBERS,
    status_code=201,
    response_model=CallerNumber,
    openapi_extra=body_doc(PhoneNumberAdd),
    responses=errors(400, 401, 409, 413, 422),
)
async def add_number(ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Add a caller-ID number with its own limit (409 if the workspace has it)."""
    return JSONResponse(await run_in_threadpool(producer.numbers.add, ws, body), status_code=201)


@router.patch(
    NUMBERS + "/{number_id}",
    response_model=CallerNumber,
    openapi_extra=body_doc(PhoneNumberUpdate),
    responses=errors(400, 401, 404, 413, 422),
)
async def update_number(number_id: NumberId, ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Change the number's limit, or rest (``resting: true``) and restore it by hand."""
    return JSONResponse(await run_in_threadpool(producer.numbers.update, ws, number_id, body))


@router.delete(
    NUMBERS + "/{number_id}", response_model=NumberDeleted, responses=errors(401, 404, 409)
)
def delete_number(number_id: NumberId, ws: Ws, producer: Prod) -> JSONResponse:
    """Delete the number: it leaves every unfinished job's pool, each with a
    ``job.phone_number_removed`` event; 409 while it is the last number of one."""
    return JSONResponse(producer.numbers.remove(ws, number_id))


@router.post(KEYS, status_code=201, response_model=ApiKeyCreated, responses=errors(401))
def create_key(ws: Ws, producer: Prod) -> JSONResponse:
    """A new API key for the workspace (shown only in this answer); the others stay valid."""
    return JSONResponse(producer.api_keys.create(ws), status_code=201)


@router.delete(KEYS + "/{key_id}", response_model=ApiKeyRevoked, responses=errors(401, 404, 409))
def revoke_key(key_id: KeyId, ws: Ws, producer: Prod) -> JSONResponse:
    """Revoke a key at once (409 for the workspace's last key)."""
    return JSONResponse(producer.api_keys.revoke(ws, key_id))
