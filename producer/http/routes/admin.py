"""The operator API (SPEC §8.5): ``/api/admin/workspaces`` — create, list, change the
dial limit, disable. Authorised by ``Authorization: Bearer <BATCHDIAL_ADMIN_KEY>``
only (a workspace's API key is refused); without that setting the API is off (401)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.errors import Unauthorized
from producer.admin import AdminWorkspaces
from producer.http.deps import Body, Cursor, Limit, Prod, body_doc
from producer.http.openapi import errors
from producer.schemas.admin import (
    AdminWorkspace,
    AdminWorkspaceCreate,
    AdminWorkspaceCreated,
    AdminWorkspacePage,
    AdminWorkspaceUpdate,
)

ADMIN = "/api/admin/workspaces"


def operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Let the request through only with ``Authorization: Bearer <BATCHDIAL_ADMIN_KEY>``."""
    expected: str | None = request.app.state.admin_key
    if not expected:
        raise Unauthorized("the operator API is off: set BATCHDIAL_ADMIN_KEY to use it")
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
        raise Unauthorized("send 'Authorization: Bearer <BATCHDIAL_ADMIN_KEY>'")


Operator = Annotated[None, Depends(operator)]
WorkspaceId = Annotated[
    str,
    Path(description="the workspace's id", json_schema_extra={"pattern": r"^[A-Za-z0-9_]{1,100}$"}),
]

router = APIRouter(tags=["admin"])


def _admin(producer: Prod) -> AdminWorkspaces:
    return AdminWorkspaces(producer.redis, producer.keys, producer.workspaces)


@router.post(
    ADMIN,
    status_code=201,
    response_model=AdminWorkspaceCreated,
    openapi_extra=body_doc(AdminWorkspaceCreate),
    responses=errors(400, 401, 413, 422),
)
async def create_workspace(_: Operator, producer: Prod, body: Body) -> JSONResponse:
    """A new workspace with its first API key (shown only in this answer)."""
    made = await run_in_threadpool(_admin(producer).create, body)
    return JSONResponse(made, status_code=201)


@router.get(ADMIN, response_model=AdminWorkspacePage, responses=errors(401, 422))
def list_workspaces(
    _: Operator, producer: Prod, limit: Limit = None, cursor: Cursor = None
) -> JSONResponse:
    """Every workspace, by id."""
    return JSONResponse(_admin(producer).list(limit, cursor).as_dict())


@router.patch(
    ADMIN + "/{workspace_id}",
    response_model=AdminWorkspace,
    openapi_extra=body_doc(AdminWorkspaceUpdate),
    responses=errors(400, 401, 404, 413, 422),
)
async def update_workspace(
    workspace_id: WorkspaceId, _: Operator, producer: Prod, body: Body
) -> JSONResponse:
    """Change the dial limit, or disable (``disabled: true``) and enable the workspace."""
    return JSONResponse(await run_in_threadpool(_admin(producer).update, workspace_id, body))
