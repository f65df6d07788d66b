"""Typed results of the rows scripts (issue 17: ``job/stage_rows.lua``,
``commit_rows.lua``, ``commit_step.lua``, ``requeue_rows.lua``), beside
:mod:`domain.protocol`, whose reply helpers they use; the scripts' headers name these
types as ``protocol_rows.<Type>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from domain.protocol import _reply, _word

RowsOutcome = Literal[
    "ok", "missing", "conflict", "expired", "too_many", "clash", "begun", "busy", "step", "gone"
]


@dataclass(frozen=True, slots=True)
class Staged:
    """``stage_rows.lua``: staged, duplicates, refused (position, job|upload, repeated)."""

    staged: int
    duplicates: int
    refused: tuple[tuple[int, str, int], ...]


def parse_stage_rows(raw: object) -> Staged:
    """``{staged, duplicates, (position, where, repeated)...}``"""
    r = _reply(raw)
    refused = tuple((int(r[i]), str(r[i + 1]), int(r[i + 2])) for i in range(2, len(r), 3))
    return Staged(int(r[0]), int(r[1]), refused)


@dataclass(frozen=True, slots=True)
class RowsCommitted:
    """``commit_rows.lua`` / ``commit_step.lua``: the outcome; for ``ok`` the counts, else
    what refused it (for ``conflict`` also the rows that went in before, as ``appended``)."""

    outcome: RowsOutcome
    appended: int = 0
    duplicates: int = 0
    rows: int = 0
    detail: str = ""


def parse_commit_rows(raw: object) -> RowsCommitted:
    """``{'ok', appended, duplicates, rows[, status]} | {outcome[, status | rows | number]}``
    (``requeue_rows.lua`` answers the same: rows requeued, 0, 0, the job's status)."""
    r = _reply(raw)
    outcome = cast(RowsOutcome, _word(r[0], RowsOutcome))
    if outcome == "ok":
        detail = str(r[4]) if len(r) > 4 else ""
        return RowsCommitted(outcome, int(r[1]), int(r[2]), int(r[3]), detail)
    appended = int(r[2]) if len(r) > 2 else 0
    return RowsCommitted(outcome, appended, detail=str(r[1]) if len(r) > 1 else "")


parse_requeue_rows = parse_commit_rows
