"""The error answer of every route (SPEC §4): ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """One problem of a refused request: where (``rows[3].toNumber``) and what is wrong."""

    path: str
    message: str


class ErrorInfo(BaseModel):
    """A short code, a message saying what to do, and every problem found."""

    code: str = Field(examples=["invalid_input"])
    message: str
    details: list[ErrorDetail]


class Error(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorInfo
