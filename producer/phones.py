"""What the API takes as a phone number: a plain E.164 number, optionally written with
spaces, dashes, dots or parentheses, that is valid and dialable; stored as its E.164 form.

Everything else is refused with its reason (never altered into another number):
control characters, extensions, parameters, letters, other characters, and a form whose
digits are not its E.164 form.
"""

from __future__ import annotations

import re

import phonenumbers
from pydantic_core import PydanticCustomError

from producer.phonefast import fast_e164
from producer.textrules import describe_char, first_forbidden_char, shown

_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "is too short for its country",
    phonenumbers.ValidationResult.TOO_LONG: "is too long for its country",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has no valid country code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has an invalid length for its country",
}


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("phone_number", message)


#: The syntax of an accepted phone number: ``+``, then 7 to 15 digits (E.164's length, country
#: code included) with at most two separators between digits (spaces, dashes, dots and
#: parentheses, ignored). The OpenAPI document states this very pattern; what no pattern can
#: (the number is valid and dialable) is checked after it.
PHONE_PATTERN = r"^\+[1-9](?:[ ().-]{0,2}[0-9]){6,14}$"
_PHONE = re.compile(PHONE_PATTERN.removesuffix("$") + r"\Z")
_SEPARATORS = " ().-"
#: The common case of :data:`PHONE_PATTERN`: no separator at all.
_PLAIN = re.compile(r"\+[1-9][0-9]{6,14}")
#: What an extension looks like (``ext 5``, ``ext. 5``, ``x5``, ``;ext=5``, ``#5``).
_EXTENSION = re.compile(r"(?i)(?:;\s*ext\s*=|\bext(?:ension)?\b\.?|(?<=[0-9 ])x|#)\s*[0-9]*")


def normalize_phone_number(text: str) -> str:
    """The E.164 form of a dialable number; raises a pydantic error saying what is wrong.

    Accepted: :data:`PHONE_PATTERN`, that is a plain E.164 number, optionally written with
    spaces, dashes, dots or parentheses, whose digits are exactly the E.164 number stored.
    Refused, each with its reason: control or invisible characters, extensions (not
    supported: a dial reaches a number, nothing dials an extension afterwards), parameters
    (``;phone-context=``), letters (``+1-800-FLOWERS``), any other character, and a form
    that phonenumbers would store with other digits (``+44 (0)20 ...``).
    """
    digits = phone_digits(text)
    fast = fast_e164(digits)  # phonenumbers' own answer for a plain valid number, faster
    if fast is not None:
        return fast
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise _fail(f"is not a phone number ({exc._msg})") from None
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
        raise _fail(f"{text} {reason} ({where}): it is not a dialable number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 != "+" + digits:
        raise _fail(
            f"{text} would be stored as {e164}, with other digits than those sent; "
            f"send {e164} if that is the number"
        )
    return e164


def phone_digits(text: str) -> str:
    """The digits of ``text`` if it has the syntax of :data:`PHONE_PATTERN`; otherwise
    the error naming the first thing wrong (in the order a user would fix them)."""
    if _PLAIN.fullmatch(text):  # "+" and digits only: nothing below could refuse it
        return text[1:]
    _refuse_foreign_parts(text)
    if not text.startswith("+"):
        raise _fail("must be in E.164 form: '+', country code and number, e.g. +12125550123")
    others = sorted({c for c in text[1:] if c not in _SEPARATORS and not "0" <= c <= "9"})
    if others:
        raise _fail(
            f"{', '.join(shown(c) for c in others)} not allowed in a phone number: only "
            "digits after the '+', optionally separated by spaces, dashes, dots or parentheses"
        )
    digits = "".join(c for c in text if "0" <= c <= "9")
    if not _PHONE.match(text):
        if len(digits) < 7:
            detail = f"too short: {len(digits)} digits, E.164 needs at least 7"
        elif len(digits) > 15:
            detail = f"too long: {len(digits)} digits, E.164 allows at most 15"
        elif digits.startswith("0"):
            detail = "no country code starts with 0"
        else:
            detail = "separators go between digits only, at most two in a row"
        raise _fail(
            f"{shown(text)} is not a phone number in E.164 form ({detail}), e.g. +1 212-555-0123"
        )
    return digits


def _refuse_foreign_parts(text: str) -> None:
    """Refuse control characters, extensions, parameters and letters, each by name."""
    bad = first_forbidden_char(text)
    if bad is not None:
        raise _fail(
            "control or invisible characters are not allowed in a phone number: "
            f"{describe_char(bad[1])} at position {bad[0]}"
        )
    extension = _EXTENSION.search(text)
    if extension is not None:
        raise _fail(
            f"extensions are not supported: {shown(extension.group(0).strip())} in "
            f"{shown(text)}; send the number alone (a dial reaches the number only)"
        )
    if ";" in text:
        raise _fail(
            "parameters are not allowed in a phone number: "
            f"{shown(text[text.index(';') :])}; send the number alone"
        )
    if any(c.isalpha() for c in text):
        raise _fail(f"letters are not allowed in a phone number ({shown(text)}): send its digits")
