"""The streamed upload readers (issue 17): whatever the chunking of the body, the same
rows, lines and parts come out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.errors import InvalidInput, MalformedBody
from producer.multipart import parts
from producer.rowformats import csv_items, ndjson_items


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
def test_ndjson_and_csv_read_the_same_whatever_the_chunks(size: int) -> None:
    ndjson = (
        b'\xef\xbb\xbf{"toNumber": "+1"}\r\n\n'
        b'{"toNumber": "+2", "inputs": {"a": "\xc3\xa9"}}\nnope\n'
    )
    items = list(ndjson_items(chunked(ndjson, size)))
    assert [(i.position, i.line) for i in items] == [(0, 1), (1, 3), (2, 4)]
    assert items[1].data == {"toNumber": "+2", "inputs": {"a": "é"}}
    assert items[2].problem is not None and items[2].data is None
    csv = b'toNumber,note,externalId\r\n+1,"a\r\nb",\r\n\r\n+2,"x, ""y""",e2\r\n+3,short\r\n'
    rows = list(csv_items(chunked(csv, size)))
    assert [(r.position, r.line) for r in rows] == [(0, 2), (1, 5), (2, 6)]
    assert rows[0].data == {"toNumber": "+1", "inputs": {"note": "a\nb"}}
    assert rows[1].data == {"toNumber": "+2", "externalId": "e2", "inputs": {"note": 'x, "y"'}}
    assert rows[2].problem == "2 fields, but line 1 names 3 columns"


def test_a_csv_without_a_tonumber_column_is_refused() -> None:
    with pytest.raises(InvalidInput, match="toNumber"):
        list(csv_items(iter([b"phone,name\n+1,a\n"])))


@pytest.mark.parametrize("size", [1, 5, 13, 100_000])
def test_multipart_parts_whatever_the_chunks(size: int) -> None:
    body = (
        b"preamble\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="job"; filename="blob"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        b'{"name": "j"}\r\n--XyZ\r\n'
        b'Content-Disposition: form-data; name="rows"; filename="l.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        b"toNumber\r\n+1\r\n--X\r\n+2\r\n"
        b"\r\n--XyZ--\r\n"
    )
    found = []
    for part in parts(chunked(body, size), b"XyZ"):
        found.append((part.name, part.content_type, b"".join(part.body)))
    assert found == [
        ("job", "application/json", b'{"name": "j"}'),
        ("rows", "text/csv", b"toNumber\r\n+1\r\n--X\r\n+2\r\n"),
    ]

    def read_all(data: bytes) -> None:
        for part in parts(chunked(data, size), b"XyZ"):
            b"".join(part.body)

    with pytest.raises(MalformedBody):
        read_all(body[:-40])


def test_csv_row_fields_and_consent_columns_are_fields_not_inputs() -> None:
    """The reserved columns (issue 17) and the consent/state columns (issue 19) become the
    row's fields, the same in the API's reader and in the CLI's; empty cells are left out."""
    from batchdial.csv_rows import read_rows

    text = (
        "toNumber,state,consent,consentCapturedAt,consentSource,expiresAt,callAgentId,name\n"
        "+12125550100,ny,express_written,2026-11-01T10:00:00Z,web form,2030-01-01T00:00:00Z,"
        "agent-b,Ann\n"
        "+12125550101,,,,,,,Bob\n"
    )
    api = [item.data for item in csv_items(iter([text.encode()]))]
    first = {
        "toNumber": "+12125550100",
        "state": "ny",
        "consent": {
            "type": "express_written",
            "capturedAt": "2026-11-01T10:00:00Z",
            "source": "web form",
        },
        "expiresAt": "2030-01-01T00:00:00Z",
        "callAgentId": "agent-b",
        "inputs": {"name": "Ann"},
    }
    assert api == [first, {"toNumber": "+12125550101", "inputs": {"name": "Bob"}}]
    cli = [{k: v for k, v in row.items() if k != "_line"} for row in read_rows(text)]
    assert cli == api


def test_csv_column_names_are_matched_exactly_by_the_cli_as_by_the_api() -> None:
    """An ``ExternalID`` column is an input to the API (and the page), so to the CLI too
    (it matched row fields without regard to case, so the same file meant two things);
    a ``tonumber`` column is refused by both, the CLI saying why."""
    from batchdial.csv_rows import CsvError, read_rows

    text = "toNumber,ExternalID,State\n+12125550100,crm-1,NY\n"
    api = [item.data for item in csv_items(iter([text.encode()]))]
    assert api == [{"toNumber": "+12125550100", "inputs": {"ExternalID": "crm-1", "State": "NY"}}]
    cli = [{k: v for k, v in row.items() if k != "_line"} for row in read_rows(text)]
    assert cli == api
    with pytest.raises(InvalidInput):
        list(csv_items(iter([b"tonumber\n+12125550100\n"])))
    with pytest.raises(CsvError, match="'tonumber' is not it: column names are matched exactly"):
        read_rows("tonumber\n+12125550100\n")
