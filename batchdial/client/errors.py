"""The one error of the Python client: what the API answered, or that it did not."""

from __future__ import annotations

import json
from typing import Any

import httpx


class ApiError(Exception):
    """Raised by every :class:`~batchdial.client.Client` method the API refused (any
    status >= 400), with ``.status``, ``.code``, ``.message`` and ``.details`` as the API
    sent them in ``{"error": {"code", "message", "details"}}``. When the API could not be
    reached at all (after the retries of an idempotent request), ``.status`` is 0 and
    ``.code`` is ``"unreachable"``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: list[dict[str, Any]] = list(details or [])
        self.method = method
        self.url = url

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """The error of a response with status >= 400 (any body, JSON or not)."""
        request = response.request
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            details = error.get("details")
            return cls(
                response.status_code,
                str(error.get("code", "error")),
                str(error.get("message", "")),
                details if isinstance(details, list) else [],
                method=request.method,
                url=str(request.url),
            )
        text = response.text.strip()[:500] or response.reason_phrase
        return cls(
            response.status_code,
            "http_error",
            text,
            method=request.method,
            url=str(request.url),
        )

    @classmethod
    def unreachable(cls, request: httpx.Request, exc: httpx.TransportError) -> ApiError:
        """The error of a request that got no answer (connection refused, timeout...)."""
        return cls(
            0,
            "unreachable",
            f"no answer from {request.url.scheme}://{request.url.netloc.decode()}: "
            f"{type(exc).__name__}: {exc}".rstrip(": "),
            method=request.method,
            url=str(request.url),
        )

    def describe(self) -> str:
        """The message and every detail, one per line (what the CLI prints)."""
        lines = [self.message or self.code]
        for detail in self.details:
            path = detail.get("path") or detail.get("loc") or ""
            reason = detail.get("message") or detail.get("msg") or json.dumps(detail)
            lines.append(f"  {path}: {reason}" if path else f"  {reason}")
        return "\n".join(lines)
