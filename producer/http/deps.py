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
    """The caller's workspace, from ``api_key: KEY`` or ``Authorization: Bearer KEY``.

    An empty header counts as not sent, so ``api_key:`` beside a Bearer token takes the
    token. Both given and different is refused (which one was meant cannot be told).
    """
    return current_producer(request).workspaces.authenticate(presented_key(api_key, authorization))


def presented_key(api_key: str | None, authorization: str | None) -> str | None:
    """The API key the request presents (None if none); :class:`Unauthorized` if it
    presents two different ones or a malformed ``Authorization`` and no ``api_key``."""
    header_key = (api_key or "").strip() or None
    bearer = None
    if authorization and authorization.strip():
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            bearer = token.strip()
        elif header_key is None:
            raise Unauthorized("use 'Authorization: Bearer KEY' or the header 'api_key: KEY'")
    if header_key is not None and bearer is not None and header_key != bearer:
        raise Unauthorized(
            "both the header 'api_key' and 'Authorization: Bearer' were sent, with different "
            "keys; send one of them"
        )
    return header_key or bearer


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
