"""A fast path for :func:`producer.phones.normalize_phone_number`: the E.164 form of a
plain number that phonenumbers would accept, in two or three regex matches instead of
``parse`` + ``is_valid_number`` + ``format_number`` (about 30 µs a number, the largest
single cost of a row's ingest, issue 17).

:func:`fast_e164` answers only where it can give phonenumbers' own answer; everywhere
else it answers None and the caller takes the phonenumbers path (which also words the
refusals). It is built from phonenumbers' metadata at run time, so it follows the
installed version. For the digits of ``+<digits>`` it retraces what phonenumbers does:

* ``parse`` takes as country code the first prefix of 1 to 3 digits that is a known
  code; the rest is the national number. It then strips a national prefix when the
  ``national_prefix_for_parsing`` of the code's main region matches at its start (a
  stripped number is stored with other digits), and marks a leading zero (Italy). The
  fast path declines both: a national number that the prefix rule would change (it
  matches, unless the match is empty and leaves the number as it was), or that starts
  with 0. Otherwise the number parsed is exactly the national number, and its E.164
  form is ``+<digits>``.
* ``region_code_for_number``: the code's only region; for a shared code, the first
  region (in phonenumbers' order, skipping regions without metadata) whose
  ``leading_digits`` match the start of the number or, for a region without them, for
  which the number is of a known type. Consecutive regions with leading digits are
  tried as one alternation, whose first matching branch is the first matching region.
* ``is_valid_number_for_region``: the number matches the general description and one
  of the type descriptions (premium rate, toll free, shared cost, VoIP, personal,
  pager, UAN, voicemail, fixed line, and mobile unless its pattern is fixed line's);
  each check is the description's possible lengths (when it lists any) and a full
  match of its pattern. For each length, the patterns of the types that allow it are
  joined in one alternation: it fully matches exactly when one of them does.

A code whose metadata is missing, names another country code, or has a pattern with a
back reference (which an alternation would renumber) is declined as a whole.
"""

from __future__ import annotations

import re

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    PhoneMetadata,
    PhoneNumberDesc,
)

#: The type descriptions ``_number_type_helper`` tries, in its order (mobile comes last,
#: unless its pattern is the fixed line's).
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
#: What a pattern must not hold to be joined with others: a group reference.
_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")
#: Every known country code, as the digits that start a number.
_KNOWN_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


class _Unusable(Exception):
    """The metadata of a code is not what the fast path can follow: decline the code."""


def _pattern(desc: PhoneNumberDesc | None) -> str | None:
    """The pattern of a number description, None for one that matches nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    pattern = desc.national_number_pattern
    if _REFERENCE.search(pattern):
        raise _Unusable(pattern)
    return pattern


def _lengths(desc: PhoneNumberDesc | None) -> frozenset[int]:
    """The lengths a description lists; none listed means any length."""
    return frozenset() if desc is None else frozenset(int(n) for n in desc.possible_length)


class _Region:
    """One region's validity test (``is_valid_number_for_region``), by number length."""

    __slots__ = ("_by_length", "_general", "_general_lengths", "_types")

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = _pattern(metadata.general_desc)
        self._general = re.compile(general) if general is not None else None
        self._general_lengths = _lengths(metadata.general_desc)
        descs: list[PhoneNumberDesc | None] = [getattr(metadata, name) for name in _TYPES]
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        self._types: list[tuple[frozenset[int], str]] = []
        for desc in descs:
            pattern = _pattern(desc)
            if pattern is not None:
                self._types.append((_lengths(desc), pattern))
        self._by_length: dict[int, tuple[re.Pattern[str], re.Pattern[str]] | None] = {}

    def valid(self, national: str) -> bool:
        """Whether ``national`` matches the general description and one type's."""
        length = len(national)
        if length not in self._by_length:
            self._by_length[length] = self._for_length(length)
        checks = self._by_length[length]
        return (
            checks is not None
            and checks[0].fullmatch(national) is not None
            and checks[1].fullmatch(national) is not None
        )

    def _for_length(self, length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        if self._general is None or (self._general_lengths and length not in self._general_lengths):
            return None
        allowed = [p for lengths, p in self._types if not lengths or length in lengths]
        if not allowed:
            return None
        return self._general, re.compile("|".join(f"(?:{p})" for p in allowed))


class _Leading:
    """Consecutive regions of a shared code that are chosen by their leading digits."""

    __slots__ = ("_pattern", "_regions")

    def __init__(self, regions: list[tuple[str, _Region]]) -> None:
        branches: list[str] = []
        self._regions: dict[int, _Region] = {}
        group = 1
        for leading, region in regions:
            if _REFERENCE.search(leading):
                raise _Unusable(leading)
            self._regions[group] = region
            group += 1 + re.compile(leading).groups
            branches.append(f"({leading})")
        self._pattern = re.compile("|".join(branches))

    def pick(self, national: str) -> _Region | None:
        """The first region whose leading digits start ``national``; None if none do."""
        match = self._pattern.match(national)
        return None if match is None else self._regions.get(match.lastindex or 0)


class _Code:
    """What parse and ``region_code_for_number`` do with one country code's numbers."""

    __slots__ = ("_national_prefix", "_only", "_steps", "_transforms")

    def __init__(self, code: int) -> None:
        regions = COUNTRY_CODE_TO_REGION_CODE[code]
        main = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        if main is None:
            raise _Unusable(regions[0])
        prefix = main.national_prefix_for_parsing
        self._national_prefix = re.compile(prefix) if prefix else None
        self._transforms = bool(main.national_prefix_transform_rule)
        self._only: _Region | None = None
        self._steps: list[_Region | _Leading] = []
        if len(regions) == 1:
            self._only = _Region(_checked(main, code, regions[0]))
            return
        leading: list[tuple[str, _Region]] = []
        for name in regions:
            metadata = PhoneMetadata.metadata_for_region(name.upper(), None)
            if metadata is None:
                continue  # region_code_for_number skips it too
            region = _Region(_checked(metadata, code, name))
            if metadata.leading_digits is not None:
                leading.append((metadata.leading_digits, region))
                continue
            if leading:
                self._steps.append(_Leading(leading))
                leading = []
            self._steps.append(region)
        if leading:
            self._steps.append(_Leading(leading))

    def keeps(self, national: str) -> bool:
        """Whether parse keeps ``national`` as it is (strips no national prefix)."""
        if self._national_prefix is None:
            return True
        match = self._national_prefix.match(national)
        if match is None:
            return True
        # Stripping removes the match, or rewrites the number when the transform rule
        # applies (the last group matched): the number is kept only by an empty match
        # that is merely removed.
        plain = not self._transforms or (
            self._national_prefix.groups > 0 and match.groups()[-1] is None
        )
        return plain and match.end() == 0

    def valid(self, national: str) -> bool:
        """Whether phonenumbers finds ``national`` valid in the region it picks for it."""
        if self._only is not None:
            return self._only.valid(national)
        for step in self._steps:
            if isinstance(step, _Region):
                if step.valid(national):  # picked because it is of a known type
                    return True
                continue
            region = step.pick(national)
            if region is not None:
                return region.valid(national)
        return False


def _checked(metadata: PhoneMetadata, code: int, name: str) -> PhoneMetadata:
    """The metadata, if ``is_valid_number_for_region`` could find a number valid by it."""
    if name != REGION_CODE_FOR_NON_GEO_ENTITY and metadata.country_code != code:
        raise _Unusable(name)
    return metadata


_CODES: dict[str, _Code | None] = {}


def _code(prefix: str) -> _Code | None:
    if prefix not in _CODES:
        try:
            _CODES[prefix] = _Code(int(prefix))
        except Exception:  # unusable metadata (_Unusable, a regex error...): decline it
            _CODES[prefix] = None
    return _CODES[prefix]


def fast_e164(digits: str) -> str | None:
    """``+<digits>`` if phonenumbers accepts that number as it is (parsed, valid, and
    stored with these very digits); None if it does not or the fast path cannot tell."""
    if not (7 <= len(digits) <= 15 and digits.isascii() and digits.isdigit()):
        return None
    for size in (1, 2, 3):
        if digits[:size] in _KNOWN_CODES:
            break
    else:
        return None  # no country code (or one starting with 0)
    national = digits[size:]
    if national[0] == "0":
        return None
    code = _code(digits[:size])
    if code is None or not code.keeps(national) or not code.valid(national):
        return None
    return "+" + digits
