"""The caller's workspace and its settings (SPEC §7): ``GET/PATCH /api/workspace``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.http.deps import Body, Prod, Ws, body_doc
from producer.http.openapi import errors
from producer.schemas.responses import Workspace
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
