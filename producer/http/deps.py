"""What routes depend on: the producer, the caller's workspace, the JSON body, pages.

Authorization takes ``api_key: KEY`` or ``Authorization: Bearer KEY`` (SPEC §4).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from domain.errors import MalformedBody, Unauthorized
from domain.pagination import MAX_LIMIT
from producer.service import Producer


def current_producer(request: Request) -> Producer:
    """The app's :class:`Producer`."""
    producer: Producer = request.app.state.producer
    return producer


def workspace_id(
    request: Request,
    api_key: Annotated[str | None, Header(alias="api_key", convert_underscores=False)] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The caller's workspace, from ``api_key: KEY`` or ``Authorization: Bearer KEY``."""
    key = api_key
    if key is None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer KEY' or the header 'api_key: KEY'")
        key = token.strip()
    return current_producer(request).workspaces.authenticate(key)


async def json_body(request: Request) -> bytes:
    """The raw body of a JSON request (parsed strictly later, by the model's parse)."""
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.split(";")[0].lower():
        raise MalformedBody(
            f"the body must be JSON (Content-Type: application/json), got {content_type}"
        )
    return await request.body()


def body_doc(model: type[Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body of ``model``.

    The routes read the raw body themselves (strict JSON: no repeated keys, UTF-8 only),
    so FastAPI cannot see the model; this tells the document.
    """
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


Ws = Annotated[str, Depends(workspace_id)]
Prod = Annotated[Producer, Depends(current_producer)]
Body = Annotated[bytes, Depends(json_body)]
#: The bounds are in the document only: :func:`domain.pagination.check_limit` enforces them
#: with the message of SPEC §4 (a FastAPI bound would answer in its own words).
Limit = Annotated[
    int | None,
    Query(
        description=f"page size, 1..{MAX_LIMIT} (default 50)",
        json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
    ),
]
#: An opaque token only a list gives out (the custom format says so; no pattern can).
Cursor = Annotated[
    str | None,
    Query(
        description="the nextCursor of the previous page",
        json_schema_extra={"format": "cursor"},
    ),
]
#: The id of an event of the log (``<ms>-<seq>``, each within 64 bits: 19 digits are).
EventCursor = Annotated[
    str | None,
    Query(
        description="the id of the last event read (the nextCursor of the previous page)",
        json_schema_extra={"pattern": r"^([0-9]{1,19}-[0-9]{1,19})?$"},
    ),
]
