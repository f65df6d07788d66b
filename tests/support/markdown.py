"""Code blocks of the project's Markdown documents, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path, language: str, *, section: str | None = None) -> list[str]:
    """The ``language`` code blocks of ``path`` (under the ``## section`` heading only,
    when given), in order."""
    text = path.read_text(encoding="utf-8")
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else len(text)]
    return [body for lang, body in _FENCE.findall(text) if lang == language]
