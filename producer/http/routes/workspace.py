"""The caller's workspace and its settings (SPEC §7): ``GET/PATCH /api/workspace``, and
its own event log: ``GET /api/workspace/events`` (issue 16: ``webhook.disabled``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.http.deps import Body, EventCursor, Limit, Prod, Ws, body_doc
from producer.http.openapi import errors
from producer.schemas.responses import EventPage, Workspace
from producer.schemas.workspace import WorkspaceUpdate

WORKSPACE = "/api/workspace"

router = APIRouter(tags=["workspace"])


@router.get(WORKSPACE, response_model=Workspace, responses=errors(401))
def get_workspace(ws: Ws, producer: Prod) -> JSONResponse:
    """The caller's workspace: name, dial limit, caller-ID numbers and settings."""
    return JSONResponse(producer.get_workspace(ws))


@router.patch(
    WORKSPACE,
    response_model=Workspace,
    openapi_extra=body_doc(WorkspaceUpdate),
    responses=errors(400, 401, 409, 413, 422),
)
async def update_workspace(ws: Ws, producer: Prod, body: Body) -> JSONResponse:
    """Change the settings given (``null`` turns one off); answers the workspace."""
    workspace = await run_in_threadpool(producer.update_workspace, ws, body)
    return JSONResponse(workspace)


@router.get(WORKSPACE + "/events", response_model=EventPage, responses=errors(401, 422))
def workspace_events(
    ws: Ws, producer: Prod, limit: Limit = None, cursor: EventCursor = None
) -> JSONResponse:
    """The workspace's own log in order (events of no job: ``webhook.disabled``), paged
    by event id as a job's log is."""
    return JSONResponse(producer.workspace_events(ws, limit, cursor).as_dict())
