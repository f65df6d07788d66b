"""The suppression list of the caller's workspace (SPEC §7): list, add, remove.

``GET/POST /api/suppressions``, ``DELETE /api/suppressions/{number}``: thin handlers
over :class:`producer.service.Producer`, authorised and parsed as the job routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.http.deps import Body, Cursor, Limit, Prod, Ws, body_doc
from producer.http.openapi import errors
from producer.schemas.base import E164_SCHEMA
from producer.schemas.responses import SuppressionPage, SuppressionRemoved, SuppressionsAdded
from producer.schemas.workspace import SuppressionsAdd

SUPPRESSIONS = "/api/suppressions"

#: The number of ``DELETE /api/suppressions/{number}``: ``+`` may be sent as is or as %2B
#: (in a path, unlike a query string, ``+`` is literal).
NumberPath = Annotated[
    str,
    Path(
        description="the number, E.164 (URL-encode '+' as %2B, or send it as is)",
        examples=["+12125550123"],
        json_schema_extra=E164_SCHEMA,
    ),
]

router = APIRouter(tags=["suppressions"])


@router.get(SUPPRESSIONS, response_model=SuppressionPage, responses=errors(401, 422))
def list_suppressions(
    ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """The numbers never dialed, in lexicographic order of their E.164 form."""
    return JSONResponse(producer.list_suppressions(ws, limit, cursor).as_dict())


@router.post(
    SUPPRESSIONS,
    response_model=SuppressionsAdded,
    openapi_extra=body_doc(SuppressionsAdd),
    responses=errors(400, 401, 413, 422),
)
async def add_suppressions(ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Never dial these numbers (idempotent: a number already listed keeps its entry)."""
    counts = await run_in_threadpool(producer.import_suppressions, ws, body)
    return JSONResponse(counts)


@router.delete(
    SUPPRESSIONS + "/{number}",
    response_model=SuppressionRemoved,
    responses=errors(401, 404, 422),
)
def remove_suppression(number: NumberPath, ws: Ws, producer: Prod) -> JSONResponse:
    """Take a number off the list (404 if it is not on it)."""
    return JSONResponse(producer.remove_suppression(ws, number))
