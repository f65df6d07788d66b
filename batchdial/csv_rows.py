"""Rows of a job from a CSV file, as ``batchdial jobs create --csv`` reads them.

The columns are those of the API's CSV append (``producer/rowformats.py``): ``toNumber``
(required), optional row fields (``externalId``, ``timezone``, ``expiresAt``,
``callAgentId``, ``state``; left out of a row when empty), the consent columns
(``consent``, ``consentCapturedAt``, ``consentSource``), and every other column an input of
the agent (its header the input's name, its cell the value, kept as written).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from producer.rowformats import CONSENT_COLUMNS, RESERVED_COLUMNS, row_of_csv

#: Columns that are row fields, not inputs: the API's CSV columns, matched by their exact
#: names as the API and the page match them, and read by the API's own function, so that
#: a file means the same to all three (an ``ExternalID`` column is an input everywhere).
ROW_FIELDS = (*RESERVED_COLUMNS, *CONSENT_COLUMNS)

_ROW_PATH = re.compile(r"^rows\[(\d+)\]")


class CsvError(ValueError):
    """Raised when a CSV file cannot become rows; the message names the line."""


def read_rows(text: str, source: str = "the CSV") -> list[dict[str, Any]]:
    """The rows of CSV ``text`` (header line first); ``source`` names it in errors."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError(f"{source} is empty: its first line names the columns") from None
    columns = names = [h.strip() for h in header]
    if "toNumber" not in columns:
        near = [n for n in names if n.lower() == "tonumber"]
        hint = f" ({near[0]!r} is not it: column names are matched exactly)" if near else ""
        raise CsvError(
            f"{source} has no toNumber column{hint} (its columns: {', '.join(names) or 'none'}); "
            "name the column of the numbers to call toNumber"
        )
    if len(set(columns)) != len(columns):
        raise CsvError(f"{source} names a column twice: {', '.join(names)}")
    rows: list[dict[str, Any]] = []
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            raise CsvError(
                f"{source} line {line_no}: {len(cells)} cells where the header has {len(columns)}"
            )
        row = row_of_csv(columns, cells)
        row["_line"] = line_no
        rows.append(row)
    return rows


def strip_lines(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows without their line numbers, and the line number of each."""
    lines = [int(r.pop("_line")) for r in rows]
    return rows, lines


def with_line(path: str, lines: list[int], source: str) -> str:
    """``rows[3].toNumber`` → ``rows[3].toNumber (leads.csv line 5)``."""
    match = _ROW_PATH.match(path)
    if match and int(match.group(1)) < len(lines):
        return f"{path} ({source} line {lines[int(match.group(1))]})"
    return path
