"""The OpenAPI document: error answers of each route, and the request bodies' schemas.

Routes read their JSON bodies themselves (strictly: see :mod:`domain.jsonbody`), so
the request models are added to the components here; FastAPI's own 422 shape is
replaced by the one every error has (:class:`producer.schemas.errors.Error`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from producer.schemas.errors import Error

_WHY = {
    400: "the body is not one strict JSON object (or not JSON at all)",
    401: "no API key, or one that matches no workspace",
    404: "no such resource in the caller's workspace",
    409: "the job's (or the workspace's) state does not allow this",
    408: "the request body did not arrive within the read timeout",
    413: "the request body is over the configured limit",
    422: "the request is invalid; every problem is listed in details",
    503: (
        "Redis is not reachable right now (code unavailable), or is at its maxmemory "
        "limit and refuses writes (code storage_full); retry later"
    ),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the error statuses it can answer (and 503); a
    route that reads a body (413) can also time out reading it (408)."""
    body = (408,) if 413 in statuses else ()
    return {
        status: {"model": Error, "description": _WHY[status]}
        for status in sorted({*statuses, *body, 503})
    }


def required_header(name: str, description: str) -> dict[str, Any]:
    """The ``parameters`` entry of a header a route requires (a signature, a token)."""
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def required_body(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``requestBody`` of a route that reads its body itself: ``schema`` in ``media_type``."""
    return {"required": True, "content": {media_type: {"schema": schema}}}


def install_openapi(app: FastAPI, bodies: tuple[type[BaseModel], ...]) -> None:
    """Serve a document whose components hold ``bodies`` and the SPEC error shape."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # FastAPI documents its own 422 body; ours is the SPEC error shape.
        components.pop("ValidationError", None)
        components["HTTPValidationError"] = {"$ref": "#/components/schemas/Error"}
        for model in bodies:
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(doc.pop("$defs", {}))
            components[model.__name__] = doc
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
