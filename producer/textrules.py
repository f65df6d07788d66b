"""Which characters identifiers, keys and values may hold, and how a message quotes a
string safely (no control or invisible character reaches a log or a screen)."""

from __future__ import annotations

import re
import unicodedata

#: What an identifier or a key may not hold: C0 controls (NUL, TAB, CR, LF...), DEL and C1
#: controls, zero-width characters (U+200B-U+200F, U+2060, U+FEFF), the line and paragraph
#: separators and the bidi embeddings and overrides (U+2028-U+202E), the bidi isolates
#: (U+2066-U+2069). Written for both Python and ECMA-262, as the document states it.
_FORBIDDEN_CLASS = r"\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff"
#: The document's pattern of an identifier (``name``, ``callAgentId``, an input's name...).
IDENTIFIER_PATTERN = f"^[^{_FORBIDDEN_CLASS}]*$"
#: The document's pattern of a free-text value (an input's value, a reason): no NUL.
TEXT_PATTERN = r"^[^\u0000]*$"
_FORBIDDEN = re.compile(f"[{_FORBIDDEN_CLASS}]")


def first_forbidden_char(text: str) -> tuple[int, str] | None:
    """(position, character) of the first control or invisible character in ``text``."""
    found = _FORBIDDEN.search(text)
    return None if found is None else (found.start(), found.group(0))


def describe_char(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: a character a message can name safely."""
    name = unicodedata.name(char, "")
    if not name and unicodedata.category(char) == "Cc":
        name = {0: "NUL", 9: "TAB", 10: "LF", 13: "CR"}.get(ord(char), "a control character")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def shown(text: str, limit: int = 40) -> str:
    """``text`` as a message may quote it, cut at ``limit`` characters: ``repr`` escapes
    every character that is not printable (controls, bidi and zero-width characters), so
    none reaches a log or a screen as itself."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")
