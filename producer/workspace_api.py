"""HTTP routes of the caller's workspace (SPEC §7): its suppression list and settings.

``GET/POST /api/suppressions``, ``DELETE /api/suppressions/{number}``,
``GET/PATCH /api/workspace``: thin handlers over :class:`producer.service.Producer`,
authorised and parsed exactly as the job routes of :mod:`producer.api`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.api import Cursor, Limit, Prod, Ws, _json_body, _read_json
from producer.settings_models import SuppressionsAdd, WorkspaceUpdate

SUPPRESSIONS = "/api/suppressions"
WORKSPACE = "/api/workspace"

#: The number of ``DELETE /api/suppressions/{number}``: ``+`` may be sent as is or as %2B
#: (in a path, unlike a query string, ``+`` is literal).
NumberPath = Annotated[
    str,
    Path(
        description="the number, E.164 (URL-encode '+' as %2B, or send it as is)",
        examples=["+12125550123"],
    ),
]

router = APIRouter()


@router.get(SUPPRESSIONS, tags=["suppressions"])
def list_suppressions(
    ws: Ws, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> dict[str, Any]:
    """The numbers never dialed, in lexicographic order of their E.164 form."""
    return producer.list_suppressions(ws, limit, cursor).as_dict()


@router.post(SUPPRESSIONS, openapi_extra=_json_body(SuppressionsAdd), tags=["suppressions"])
async def add_suppressions(request: Request, ws: Ws, producer: Prod) -> JSONResponse:
    """Never dial these numbers (idempotent: a number already listed keeps its entry)."""
    body = await _read_json(request)
    counts = await run_in_threadpool(producer.import_suppressions, ws, body)
    return JSONResponse(counts)


@router.delete(SUPPRESSIONS + "/{number}", tags=["suppressions"])
def remove_suppression(number: NumberPath, ws: Ws, producer: Prod) -> dict[str, Any]:
    """Take a number off the list (404 if it is not on it)."""
    return producer.remove_suppression(ws, number)


@router.get(WORKSPACE, tags=["workspace"])
def get_workspace(ws: Ws, producer: Prod) -> dict[str, Any]:
    """The caller's workspace: name, dial limit, caller-ID numbers and settings."""
    return producer.get_workspace(ws)


@router.patch(WORKSPACE, openapi_extra=_json_body(WorkspaceUpdate), tags=["workspace"])
async def update_workspace(request: Request, ws: Ws, producer: Prod) -> dict[str, Any]:
    """Change the settings given (``null`` turns one off); answers the workspace."""
    body = await _read_json(request)
    workspace: dict[str, Any] = await run_in_threadpool(producer.update_workspace, ws, body)
    return workspace
