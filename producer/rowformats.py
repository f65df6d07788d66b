"""The upload formats of ``POST /api/batch_dial_jobs/{id}/rows`` (SPEC §8.3, issue 17),
read incrementally: JSON ``{"rows": [...]}``, NDJSON (one row a line) and CSV.

Each parser takes the body as an iterator of byte chunks and yields one :class:`Item`
per row, in order, without holding the body: NDJSON and CSV keep only the line being
read. A row that cannot even be read (not JSON, a wrong number of CSV fields) is an
item with its problem, so that one upload reports every problem with its row index
and line number. The JSON form is one document and is read whole (within the body
limit).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from domain.errors import InvalidInput, MalformedBody, Problem, TooLarge
from domain.jsonbody import parse_json_object

#: The upload formats, by what the Content-Type names.
Format = Literal["json", "ndjson", "csv"]
#: CSV columns that are row fields; every other column is an input. The one list of
#: them (rows fields added by later issues, such as ``consent``, join it here).
RESERVED_COLUMNS: tuple[str, ...] = (
    "toNumber",
    "externalId",
    "timezone",
    "expiresAt",
    "callAgentId",
    "state",
)
#: CSV columns that make up a row's ``consent`` object (issue 19): column -> its field.
CONSENT_COLUMNS: dict[str, str] = {
    "consent": "type",
    "consentCapturedAt": "capturedAt",
    "consentSource": "source",
}
#: The longest line (NDJSON) or CSV record accepted.
MAX_LINE_BYTES = 1024 * 1024

_MEDIA_TYPES: dict[str, Format] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "text/csv": "csv",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One row of an upload: its position (0-based, the ``rows[i]`` of errors), the
    line it starts on (None for JSON), and its fields, or the problem reading it."""

    position: int
    line: int | None
    data: Any = None
    problem: str | None = None


def format_of(content_type: str | None) -> Format:
    """The upload format a Content-Type names; :class:`MalformedBody` for another."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    found = _MEDIA_TYPES.get(media)
    if found is None:
        raise MalformedBody(
            f"rows are sent as application/json, application/x-ndjson or text/csv, got {media}"
        )
    return found


def at_line(line: int | None, message: str) -> str:
    """``message`` prefixed with where in the file it is."""
    return message if line is None else f"line {line}: {message}"


def _lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its end) of a body sent in chunks."""
    rest = b""
    number = 0
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        if len(rest) > MAX_LINE_BYTES:
            raise TooLarge(f"line {number + len(parts) + 1} is over {MAX_LINE_BYTES} bytes")
        for part in parts:
            number += 1
            yield number, part.removesuffix(b"\r")
    if rest:
        yield number + 1, rest.removesuffix(b"\r")


def ndjson_items(chunks: Iterable[bytes]) -> Iterator[Item]:
    """The rows of an NDJSON body: one JSON object a line; blank lines are skipped."""
    position = 0
    for number, raw in _lines(chunks):
        if not raw.strip():
            continue
        line = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
        try:
            yield Item(position, number, parse_json_object(line))
        except MalformedBody as exc:
            text = str(exc).replace("the body", "the line", 1)
            yield Item(position, number, problem=text)
        position += 1


def _text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    for number, raw in _lines(chunks):
        line = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
        try:
            yield decoder.decode(line + b"\n")
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"line {number} is not UTF-8 (byte {exc.start})") from None


def csv_items(chunks: Iterable[bytes]) -> Iterator[Item]:
    """The rows of a CSV body (RFC 4180, as the page reads it): a header line naming a
    ``toNumber`` column, optional ``externalId`` and ``timezone`` columns (an empty
    cell leaves the field out) and one column per input; blank lines are skipped."""
    reader = csv.reader(_text_lines(chunks), strict=True)
    header: list[str] | None = None
    header_line = 1
    position = 0
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidInput.one("rows", f"line {start}: {exc}") from None
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if header is None:
            header, header_line = [name.strip() for name in record], start
            _check_header(header, start)
            continue
        if len(record) != len(header):
            yield Item(
                position,
                start,
                problem=f"{len(record)} fields, but line {header_line} names {len(header)} columns",
            )
        else:
            yield Item(position, start, row_of_csv(header, record))
        position += 1
    if header is None:
        raise InvalidInput.one("rows", "the file is empty: its first line must name the columns")


def _check_header(header: list[str], line: int) -> None:
    if "toNumber" not in header:
        found = ", ".join(json.dumps(h) for h in header)
        raise InvalidInput.one(
            "rows", f'line {line}: the first line must name a "toNumber" column (found: {found})'
        )
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise InvalidInput.one("rows", f"line {line}: column {i + 1} has no name")
        if name in seen:
            raise InvalidInput.one("rows", f'line {line}: column "{name}" appears twice')
        seen.add(name)


def row_of_csv(header: list[str], record: list[str]) -> dict[str, Any]:
    """One CSV record as a row: the reserved columns are its fields (left out when
    empty), the consent columns its ``consent``, every other column an input."""
    row: dict[str, Any] = {}
    inputs: dict[str, str] = {}
    for name, value in zip(header, record, strict=True):
        if name == "toNumber":
            row[name] = value.strip()
        elif name in RESERVED_COLUMNS:
            if value.strip():
                row[name] = value.strip()
        elif name in CONSENT_COLUMNS:
            if value.strip():
                row.setdefault("consent", {})[CONSENT_COLUMNS[name]] = value.strip()
        else:
            inputs[name] = value
    row["inputs"] = inputs
    return row


def json_items(chunks: Iterable[bytes], max_bytes: int) -> Iterator[Item]:
    """The rows of a JSON body ``{"rows": [...]}`` (read whole, at most ``max_bytes``)."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(
                f"a JSON body is over the limit of {max_bytes} bytes; send large uploads "
                "as application/x-ndjson or text/csv, which are streamed"
            )
    data = parse_json_object(bytes(body))
    unknown = sorted(set(data) - {"rows"})
    if unknown:
        raise InvalidInput([Problem(name, "is not a known field") for name in unknown])
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise InvalidInput.one("rows", "is required: a list of rows")
    for position, row in enumerate(rows):
        yield Item(position, None, row)


def items_of(kind: Format, chunks: Iterable[bytes], max_json_bytes: int) -> Iterator[Item]:
    """The rows of a body of format ``kind``."""
    if kind == "ndjson":
        return ndjson_items(chunks)
    if kind == "csv":
        return csv_items(chunks)
    return json_items(chunks, max_json_bytes)
