"""The phone number fast path (producer/phonefast.py, issue 17) gives phonenumbers' own
answer or none: it never accepts a number phonenumbers refuses, never stores other digits,
and decides the ordinary numbers itself."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from pydantic_core import PydanticCustomError

import producer.phones
from producer.phonefast import fast_e164
from producer.phones import normalize_phone_number

_TYPES = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def slow_e164(digits: str) -> str | None:
    """What normalize_phone_number accepted before the fast path: ``+<digits>`` if parsed,
    valid and formatted back to these very digits, else None."""
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if e164 == "+" + digits else None


def example_numbers() -> list[str]:
    """Every region's and non-geographic entity's example number of every type."""
    metadatas = [
        phonenumbers.PhoneMetadata.metadata_for_region(r)
        for r in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]
    metadatas += [
        phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    found: list[str] = []
    for metadata in metadatas:
        assert metadata is not None
        for name in _TYPES:
            desc = getattr(metadata, name)
            if desc is not None and desc.example_number:
                found.append(f"{metadata.country_code}{desc.example_number}")
    return sorted(set(found))


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}" if count > 0 else ""


def perturbed(examples: list[str], rng: random.Random) -> list[str]:
    """Each example with its last 1-4 digits changed, and with a digit added or removed."""
    out: list[str] = []
    for number in examples:
        for k in (1, 2, 3, 4):
            for _ in range(3):
                out.append(number[:-k] + _digits(rng, k))
        for _ in range(3):
            at = rng.randrange(1, len(number) + 1)
            out.append(number[:at] + rng.choice("0123456789") + number[at:])
            at = rng.randrange(1, len(number))
            out.append(number[:at] + number[at + 1 :])
    return out


def random_numbers(examples: list[str], rng: random.Random, count: int) -> list[str]:
    """Seeded random numbers of 7-15 digits: half any digits after any country code, half
    an example's first digits followed by random ones."""
    out: list[str] = []
    for i in range(count):
        if i % 2:
            head = str(rng.choice(_CODES))
        else:
            example = rng.choice(examples)
            head = example[: rng.randrange(1, min(len(example), 15) + 1)]
        length = rng.randint(max(7, len(head)), 15)
        out.append(head + _digits(rng, length - len(head)))
    return out


def test_the_fast_path_gives_phonenumbers_answer_or_none() -> None:
    """Over every example number, their perturbations and seeded random numbers (over
    200,000 in all), the fast path answers None or the very E.164 form phonenumbers
    accepts; and it decides most of the numbers phonenumbers accepts."""
    rng = random.Random(17)
    examples = example_numbers()
    cases = examples + perturbed(examples, rng)
    cases += random_numbers(examples, rng, max(0, 200_000 - len(cases)))
    assert len(cases) >= 200_000
    # By country code: phonenumbers compiles its patterns through re's bounded cache,
    # which numbers of every country in turn would keep evicting (3x slower).
    cases.sort()
    wrong: list[tuple[str, str | None, str]] = []
    accepted = decided = 0
    for digits in cases:
        fast = fast_e164(digits)
        slow = slow_e164(digits)
        if fast is not None and fast != slow:
            wrong.append((digits, slow, fast))
        accepted += slow is not None
        decided += fast is not None
    assert not wrong, wrong[:20]
    assert accepted > 20_000
    assert decided > 0.9 * accepted, (decided, accepted)


#: Ordinary mobile and fixed line numbers the fast path must decide itself.
ORDINARY = [
    "+12125550123",  # US, New York
    "+14155552671",  # US, San Francisco
    "+16135550123",  # Canada, Ottawa
    "+15062345678",  # Canada, New Brunswick
    "+447400123456",  # UK mobile
    "+442079460000",  # UK, London
    "+4915123456789",  # Germany mobile
    "+493012345678",  # Germany, Berlin
    "+33612345678",  # France mobile
    "+33145678901",  # France, Paris
    "+919876543210",  # India mobile
    "+911123456789",  # India, Delhi
    "+5511987654321",  # Brazil mobile, São Paulo
    "+551133334444",  # Brazil, São Paulo
    "+61412345678",  # Australia mobile
    "+61298765432",  # Australia, Sydney
]


@pytest.mark.parametrize("number", ORDINARY)
def test_the_fast_path_decides_ordinary_numbers(number: str) -> None:
    """A fast path that always declines would be no faster: these it accepts itself."""
    assert slow_e164(number[1:]) == number
    assert fast_e164(number[1:]) == number
    assert normalize_phone_number(number) == number


@pytest.mark.parametrize(
    "digits",
    [
        "4402079460000",  # +44 (0)20 ...: parse strips the national prefix 0
        "112125550123",  # +1 1 212 ...: and the NANPA prefix 1
        "390669812345",  # Vatican / Italy: a leading zero is kept apart
        "78001234567",  # Russia's prefix 8 would be stripped
        "9991234567",  # no country code
        "0123456789",  # no country code starts with 0
        "121255501",  # too short for the US
    ],
)
def test_the_fast_path_declines_what_it_cannot_decide(digits: str) -> None:
    """Numbers that parse could alter, Italian leading zeros and invalid numbers are left
    to phonenumbers."""
    assert fast_e164(digits) is None


def _answer(text: str) -> str:
    try:
        return normalize_phone_number(text)
    except PydanticCustomError as exc:
        return f"refused: {exc.message()}"


def test_normalize_answers_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """normalize_phone_number accepts and refuses, with the same messages, as it does
    without the fast path."""
    rng = random.Random(1717)
    examples = example_numbers()
    texts = ["+" + d for d in examples + random_numbers(examples, rng, 4_000)]
    texts += [n.replace("+1", "+1 ").replace("+44", "+44 (0)") for n in ORDINARY]
    with_fast = [_answer(t) for t in texts]
    monkeypatch.setattr(producer.phones, "fast_e164", lambda digits: None)
    assert [_answer(t) for t in texts] == with_fast
    assert sum(not a.startswith("refused") for a in with_fast) > 1_000
