"""``GET /api/dials/{dialId}`` (workspace key): one dial with its job's ``callAgentId``
and its row's ``inputs`` — what an agent fetches when its call is answered (SPEC §8.1)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producer.dialview import read_dial
from producer.http.deps import Prod, Ws
from producer.http.openapi import errors
from producer.schemas.responses import DialDetail

router = APIRouter(tags=["dials"])


@router.get("/api/dials/{dial_id}", response_model=DialDetail, responses=errors(401, 404))
async def get_dial(dial_id: str, ws: Ws, producer: Prod) -> JSONResponse:
    """The dial with its job id, ``callAgentId``, numbers, attempt, status and inputs."""
    view = await run_in_threadpool(read_dial, producer.redis, producer.keys, ws, dial_id)
    return JSONResponse(view)
