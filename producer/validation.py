"""Validation rules of SPEC §4.1, applied while pydantic parses a request.

Every rule runs inside the pydantic models of :mod:`producer.schemas` through the
validators below, so one parse reports every problem at once, each with its path
(``rows[3].toNumber``). Rules that need the workspace (its dial limit, its phone
numbers) and the configured limits read them from the validation context
(:class:`Context`).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import phonenumbers
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from domain.dials import RETRYABLE_STATUSES
from domain.errors import Problem
from domain.time.schedule import parse_hhmm

#: Most attempts a retry policy may ask for (and most backoff steps it may list).
MAX_ATTEMPTS = 10
#: Longest backoff between two attempts of a row (a week).
MAX_BACKOFF_S = 7 * 24 * 3600

_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "is too short for its country",
    phonenumbers.ValidationResult.TOO_LONG: "is too long for its country",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has no valid country code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has an invalid length for its country",
}


@dataclass(frozen=True)
class Limits:
    """Size limits of one job (documented in the README)."""

    max_rows: int = 100_000
    max_inputs_per_row: int = 50
    max_input_key_chars: int = 64
    max_input_value_chars: int = 1024


@dataclass(frozen=True)
class Context:
    """What validation needs to know about the caller's workspace and the limits."""

    dial_limit: int
    phone_number_ids: frozenset[str]
    limits: Limits = field(default_factory=Limits)


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


def normalize_phone_number(text: str) -> str:
    """The E.164 form of a dialable number; raises a pydantic error saying what is wrong."""
    if not text.startswith("+"):
        raise fail(
            "phone_number",
            "must be in E.164 form: '+', country code and number, e.g. +12125550123",
        )
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise fail("phone_number", f"is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(parsed):
        reason = _REASONS.get(phonenumbers.is_possible_number_with_reason(parsed))
        if reason is None:
            reason = "is not a valid, dialable number for its country"
        region = phonenumbers.region_code_for_number(parsed)
        where = (
            f"+{parsed.country_code}, {region}"
            if region
            else f"country code +{parsed.country_code}"
        )
        raise fail("phone_number", f"{text} {reason} ({where}): it is not a dialable number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """``name`` if it is a valid IANA timezone name."""
    if name not in _zones():
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
                f"input name {key[:40]!r} must be 1 to {limits.max_input_key_chars} characters",
            )
        if len(value) > limits.max_input_value_chars:
            raise fail(
                "input_value",
                f"input {key!r} is {len(value)} characters long; at most "
                f"{limits.max_input_value_chars} are allowed",
            )
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


def check_cap(value: int, ctx: Context | None) -> int:
    """``value`` if it does not exceed the workspace's dial limit."""
    if ctx is not None and value > ctx.dial_limit:
        raise fail(
            "cap",
            f"{value} exceeds the workspace's dial limit of {ctx.dial_limit}",
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
