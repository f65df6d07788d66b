"""The page reads a CSV file as the API does: its copy of the row-field columns (in
producer/web/csv.js) is the API's list (producer/rowformats.py), name for name."""

from __future__ import annotations

import json
import re
from pathlib import Path

from producer.rowformats import CONSENT_COLUMNS, RESERVED_COLUMNS

CSV_JS = Path(__file__).resolve().parents[2] / "producer" / "web" / "csv.js"


def _constant(name: str) -> object:
    """The value of ``export const NAME = <JSON>;`` (one line) in csv.js."""
    text = CSV_JS.read_text(encoding="utf-8")
    found = re.findall(rf"^export const {name} = (.+);$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"csv.js must declare {name} once, on one line, as JSON"
    return json.loads(found[0])


def test_the_page_and_the_api_take_the_same_row_field_columns() -> None:
    """A column added to (or renamed in) one list fails here until the other has it."""
    assert _constant("ROW_FIELD_COLUMNS") == list(RESERVED_COLUMNS)
    assert _constant("CONSENT_COLUMNS") == CONSENT_COLUMNS
