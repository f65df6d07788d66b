"""Strict JSON request bodies: UTF-8 only, one JSON object, no repeated keys, no
runaway nesting. Anything else is a :class:`~domain.errors.MalformedBody` (HTTP 400)."""

from __future__ import annotations

import json
import threading
from typing import Any

from domain.errors import MalformedBody


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = dict(pairs)
    if len(obj) == len(pairs):
        return obj  # no key repeated (almost always): the dict as the loop would make it
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedBody(f"the body repeats the key {key[:60]!r}; give each key once")
        obj[key] = value
    return obj


_LOCAL = threading.local()


def _decoder() -> json.JSONDecoder:
    """This thread's decoder (what ``json.loads`` would make on every call)."""
    decoder: json.JSONDecoder | None = getattr(_LOCAL, "decoder", None)
    if decoder is None:
        decoder = _LOCAL.decoder = json.JSONDecoder(object_pairs_hook=_no_repeats)
    return decoder


def parse_json_object(body: bytes | str) -> dict[str, Any]:
    """The JSON object in ``body``; refuses non-UTF-8, repeated keys, runaway nesting
    (the parser's recursion limit, about a thousand levels)."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"the body is not UTF-8 (byte {exc.start})") from None
    else:
        text = body
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"the body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    except RecursionError:
        raise MalformedBody("the body nests too deeply to be a request of this API") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise MalformedBody(f"the body is not acceptable JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    return data
