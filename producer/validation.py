"""Validation rules of SPEC §4.1, applied while pydantic parses a request.

Every rule runs inside the pydantic models of :mod:`producer.schemas` through the
validators below, so one parse reports every problem at once, each with its path
(``rows[3].toNumber``). Rules that need the workspace (its dial limit, its phone
numbers) and the configured limits read them from the validation context
(:class:`Context`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from domain.dials import RETRYABLE_STATUSES
from domain.errors import Problem
from domain.time.schedule import parse_hhmm
from domain.time.zones import is_iana_zone
from producer.phones import PHONE_PATTERN, normalize_phone_number
from producer.textrules import (
    IDENTIFIER_PATTERN,
    TEXT_PATTERN,
    describe_char,
    first_forbidden_char,
    shown,
)

__all__ = [
    "IDENTIFIER_PATTERN",
    "PHONE_PATTERN",
    "TEXT_PATTERN",
    "Context",
    "Limits",
    "check_identifier",
    "check_text_value",
    "fail",
    "normalize_phone_number",
    "problems_of",
]

#: Most attempts a retry policy may ask for (and most backoff steps it may list).
MAX_ATTEMPTS = 10
#: Longest backoff between two attempts of a row (a week).
MAX_BACKOFF_S = 7 * 24 * 3600
#: Longest rowTtlSeconds (a year).
MAX_ROW_TTL_S = 366 * 24 * 3600


@dataclass(frozen=True)
class Limits:
    """Size limits of one job (documented in docs/api.md)."""

    max_rows: int = 100_000
    max_inputs_per_row: int = 50
    max_input_key_chars: int = 64
    max_input_value_chars: int = 1024
    #: Whether the dialer can tell an answering machine (job field ``voicemail``): the
    #: livekit dialer cannot (LiveKit SIP reports no machine detection).
    machine_detection: bool = True


@dataclass(frozen=True)
class Context:
    """What validation needs to know about the caller's workspace and the limits."""

    dial_limit: int
    phone_number_ids: frozenset[str]
    limits: Limits = field(default_factory=Limits)
    #: The workspace's reservedInboundDials (``dial_limit`` is already net of it).
    reserved: int = 0


def context_of(info_context: Any) -> Context | None:
    """The :class:`Context` passed to ``model_validate*``, if any."""
    if isinstance(info_context, dict):
        ctx = info_context.get("batchdial")
        if isinstance(ctx, Context):
            return ctx
    return None


def fail(code: str, message: str, **ctx: Any) -> PydanticCustomError:
    """An error pydantic reports at the current path with ``message`` as its text."""
    return PydanticCustomError(code, message, ctx or None)


def check_identifier(text: str) -> str:
    """``text`` if it holds no control or invisible character (NUL, CR/LF, bidi
    controls, zero-width characters...): identifiers and keys reach the provider and the
    logs as they are, and must read as what they are."""
    bad = first_forbidden_char(text)
    if bad is not None:
        index, char = bad
        raise fail(
            "control_character",
            f"must not contain control or invisible characters: {describe_char(char)} at "
            f"position {index}",
        )
    return text


def check_text_value(text: str) -> str:
    """``text`` if it holds no NUL (nor a lone surrogate, which no UTF-8 store can
    keep); nothing else in a value is refused or changed."""
    found = _NUL_OR_SURROGATE.search(text)
    if found is not None:
        raise fail(
            "control_character",
            f"must not contain {describe_char(found.group())} (at position {found.start()})",
        )
    return text


#: What :func:`check_text_value` refuses: NUL and lone surrogates.
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")


#: Floats up to this magnitude are exactly the integer they read as (2**53).
_EXACT_FLOAT_LIMIT = 2**53


def whole_number(value: object) -> object:
    """An integral JSON number written with a fraction or an exponent (``90.0``, ``1e2``)
    as the int it is; anything else unchanged, for the strict int check to judge.

    JSON Schema's ``integer`` is any number without a fractional part, so ``90.0`` is one;
    the document's ``"type": "integer"`` stays true. Beyond 2**53 a float may not be the
    integer that was written, so it is refused rather than altered.
    """
    if type(value) is float and value.is_integer():
        if abs(value) > _EXACT_FLOAT_LIMIT:
            raise fail(
                "integer",
                f"{value!r} is too large to be read exactly with a fraction or an exponent; "
                "write the integer's digits",
            )
        return int(value)
    return value


def _int_shape(annotation: object) -> str | None:
    """``"int"`` for an integer field (``StrictInt``, ``StrictInt | None``), ``"list"`` for
    a list of them, else None (a field that also takes floats is not an integer field)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is int:
        return "int"
    if origin is Annotated:
        return _int_shape(args[0])
    if origin in (Union, UnionType):
        shapes = {_int_shape(a) for a in args if a is not type(None)}
        return shapes.pop() if len(shapes) == 1 else None
    if origin is list and len(args) == 1 and _int_shape(args[0]) == "int":
        return "list"
    return None


#: id(annotation) -> (the annotation, its :func:`_int_shape`): the fields' types live as
#: long as their models, and the reference kept makes a reused id a miss.
_SHAPES: dict[int, tuple[object, str | None]] = {}


def whole_numbers_for(annotation: object, value: object) -> object:
    """``value`` of a field of type ``annotation`` with :func:`whole_number` applied where
    the field is an integer (or a list of integers)."""
    cached = _SHAPES.get(id(annotation))
    if cached is None or cached[0] is not annotation:
        cached = (annotation, _int_shape(annotation))
        _SHAPES[id(annotation)] = cached
    shape = cached[1]
    if shape == "int":
        return whole_number(value)
    if shape == "list" and isinstance(value, list):
        return [whole_number(item) for item in value]
    return value


def check_timezone(name: str) -> str:
    """``name`` if it is a time zone of the IANA tz database
    (:func:`domain.time.zones.iana_zone_names`: not ``localtime``, ``Factory``,
    ``posixrules`` nor a ``posix/`` or ``right/`` copy)."""
    if not is_iana_zone(name):
        raise fail(
            "timezone",
            f"{name!r} is not an IANA timezone name (such as America/New_York or UTC)",
        )
    return name


def check_hhmm(text: str, *, allow_24: bool) -> str:
    """``text`` if it is an ``HH:MM`` time (``24:00`` only where ``allow_24``)."""
    try:
        parse_hhmm(text, allow_24=allow_24)
    except ValueError as exc:
        raise fail("time", str(exc)) from None
    return text


def check_inputs(inputs: dict[str, str], ctx: Context | None) -> dict[str, str]:
    """``inputs`` if it is within the per-row limits."""
    limits = ctx.limits if ctx else Limits()
    if len(inputs) > limits.max_inputs_per_row:
        raise fail(
            "too_many_inputs",
            f"has {len(inputs)} inputs; at most {limits.max_inputs_per_row} are allowed",
        )
    for key, value in inputs.items():
        if not key or len(key) > limits.max_input_key_chars:
            raise fail(
                "input_key",
                f"input name {shown(key)} must be 1 to {limits.max_input_key_chars} characters",
            )
        bad = first_forbidden_char(key)
        if bad is not None:
            raise fail(
                "input_key",
                f"input name {shown(key)} must not contain control or invisible characters: "
                f"{describe_char(bad[1])} at position {bad[0]}",
            )
        if len(value) > limits.max_input_value_chars:
            raise fail(
                "input_value",
                f"input {shown(key)} is {len(value)} characters long; at most "
                f"{limits.max_input_value_chars} are allowed",
            )
        try:
            check_text_value(value)
        except PydanticCustomError as exc:
            raise fail("input_value", f"input {shown(key)} {exc.message()}") from None
    return inputs


def check_retry_statuses(statuses: list[str]) -> list[str]:
    """``statuses`` without repeats, if each is an outcome that may be retried."""
    bad = [s for s in statuses if s not in RETRYABLE_STATUSES]
    if bad:
        raise fail(
            "retry_status",
            f"cannot retry on {', '.join(repr(s) for s in bad)}; "
            f"retryable outcomes are {', '.join(sorted(RETRYABLE_STATUSES))}",
        )
    return list(dict.fromkeys(statuses))


def check_backoff(seconds: list[int]) -> list[int]:
    """``seconds`` if each backoff is between 0 and a week."""
    for i, value in enumerate(seconds):
        if not 0 <= value <= MAX_BACKOFF_S:
            raise fail(
                "backoff",
                f"backoffSeconds[{i}] is {value}; each must be 0 to {MAX_BACKOFF_S} (a week)",
            )
    return seconds


def check_expiry(text: str) -> str:
    """``text`` if it is an ISO 8601 instant with its offset, still in the future."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail("expires_at", f"{shown(text)} is not an ISO 8601 date and time") from None
    if at.tzinfo is None:
        raise fail("expires_at", "needs its UTC offset (such as Z or -05:00)")
    if at <= datetime.now(UTC):
        raise fail("expires_at", f"{text} is already past: the row could never be dialed")
    return text


def check_cap(value: int, ctx: Context | None) -> int:
    """``value`` if it does not exceed the workspace's dial limit."""
    if ctx is not None and value > ctx.dial_limit:
        raise fail(
            "cap",
            f"{value} exceeds the workspace's dial limit of {ctx.dial_limit}"
            + (f" (less reservedInboundDials {ctx.reserved})" if ctx.reserved else ""),
        )
    return value


def check_pool(ids: list[str], ctx: Context | None) -> list[str]:
    """``ids`` without repeats, if each is a phone number id of the workspace."""
    unique = list(dict.fromkeys(ids))
    if ctx is not None:
        unknown = [i for i in unique if i not in ctx.phone_number_ids]
        if unknown:
            raise fail(
                "pool",
                f"not phone number ids of this workspace: {', '.join(unknown[:10])}",
            )
    return unique


def path_of(loc: tuple[int | str, ...]) -> str:
    """``('rows', 3, 'toNumber')`` → ``rows[3].toNumber``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += "(key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_of(exc: ValidationError) -> list[Problem]:
    """Every problem pydantic found, with a path and a message a user can act on."""
    problems = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not a known field"
        problems.append(Problem(path_of(tuple(err["loc"])), message))
    return problems
