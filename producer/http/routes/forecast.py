"""``GET /api/batch_dial_jobs/{id}/forecast``: when the job is expected to finish."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from producer.http.deps import Prod, Ws
from producer.http.openapi import errors
from producer.http.routes.jobs import ONE
from producer.schemas.forecast import Forecast

router = APIRouter(tags=["jobs"])


@router.get(ONE + "/forecast", response_model=Forecast, responses=errors(401, 404))
def forecast(job_id: str, ws: Ws, producer: Prod) -> JSONResponse:
    """The finish time at the current cap, pacing, schedule, recipient hours and mean
    call length (measured over the job's last 500 dials; 60 s before any ended), with
    the hours of dialing expected each day."""
    return JSONResponse(producer.forecast(ws, job_id))
