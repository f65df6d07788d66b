"""Reading jobs: the job object with its counters, lists, the queue, dials, events."""

from __future__ import annotations

import json
import math
import re
from typing import Any, cast

import redis
from redis.client import Pipeline

from domain.errors import InvalidInput, NotFound, Problem
from domain.keys import Keys
from domain.pagination import Page, check_limit, decode_cursor, encode_cursor
from domain.storage import snapshot
from domain.time.timefmt import iso_ms, stream_id_ms
from producer.queueview import QueueView
from producer.window import window_view

#: One entry of a job's event log as Redis answers it: (event id, {"e": body JSON}).
Entry = tuple[str, dict[str, str]]
Entries = list[Entry]

STATUS_PREFIX = "st:"
OUTCOME_PREFIX = "out:"


def job_view(
    record: dict[str, str], waiting: int, released: int, dialing: int, held: int = 0
) -> dict[str, Any]:
    """The job object of SPEC §4.2 from its stored record and live counts."""
    config = json.loads(record["config"])
    pending = record.get("pending")
    by_status = {
        name.removeprefix(STATUS_PREFIX): int(value)
        for name, value in record.items()
        if name.startswith(STATUS_PREFIX) and int(value)
    }
    outcomes = {
        name.removeprefix(OUTCOME_PREFIX): int(value)
        for name, value in record.items()
        if name.startswith(OUTCOME_PREFIX) and int(value)
    }
    view: dict[str, Any] = {
        "id": record["id"],
        "name": config["name"],
        "status": record["status"],
        "createdAt": iso_ms(record["createdAt"]),
        "updatedAt": iso_ms(record["updatedAt"]),
        "startedAt": iso_ms(record.get("startedAt")),
        "completedAt": iso_ms(record.get("completedAt")),
        "cancelledAt": iso_ms(record.get("cancelledAt")),
        "callAgentId": config["callAgentId"],
        "maxConcurrentDials": config["maxConcurrentDials"],
        "fromPhoneNumberIds": config["fromPhoneNumberIds"],
        "schedule": config.get("schedule"),
        "disableSchedule": config.get("disableSchedule", False),
        "pendingConfig": json.loads(pending) if pending else None,
        "counts": {
            "rows": int(record["rows"]),
            "queued": waiting + released + held,
            "held": held,
            "inProgress": dialing,
            "finished": int(record.get("finished", 0)),
            "cancelled": int(record.get("cancelled", 0)),
            "byStatus": by_status,
            "outcomes": outcomes,
        },
        "recipientHours": config.get("recipientHours"),
        "retry": config.get("retry"),
        "voicemail": config.get("voicemail"),
        "preDialWebhook": config.get("preDialWebhook"),
        "callingRules": config.get("callingRules"),
        "purpose": config.get("purpose") or "informational",
        "callerId": config.get("callerId") or "spread",
        # Not in SPEC §4.2: for the page's "window open now / next opens or closes".
        "window": window_view(config),
    }
    return view


def _event_view(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fields["e"])
    return {"id": entry_id, "at": iso_ms(stream_id_ms(entry_id)), **body}


def event_json(entry_id: str, fields: dict[str, str]) -> str:
    """The event object of :func:`_event_view` as one line of JSON text, built without
    parsing the stored body (a stream sends thousands; parsing and re-encoding each
    was most of a page's cost).

    The stored body is the JSON object text the event scripts wrote; it is spliced in
    after ``id`` and ``at``. A body that is not a one-line, non-empty object is parsed
    and encoded instead, so the result is always one line of the same object.
    """
    body = fields["e"]
    head = f'{{"id":"{entry_id}","at":"{iso_ms(stream_id_ms(entry_id))}"'
    if body.startswith("{") and body.endswith("}") and "\n" not in body and "\r" not in body:
        rest = body[1:].lstrip()
        return head + ("}" if rest == "}" else "," + rest)
    return json.dumps(_event_view(entry_id, fields), separators=(",", ":"))


class JobReads:
    """Read-only views of jobs; each answers :class:`NotFound` for another workspace's job."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def get(self, ws_id: str, job_id: str, *, with_secret: bool = False) -> dict[str, Any]:
        """The job object of SPEC §4.2 (``with_secret``: and its ``preDialSecret``, the
        answer of the commands that set a pre-dial hook)."""
        k = self._k

        def reads(pipe: Pipeline) -> None:
            pipe.hgetall(k.job(ws_id, job_id))
            pipe.zcard(k.queue(ws_id, job_id))
            pipe.zcard(k.released(ws_id, job_id))
            pipe.hlen(k.dialing(ws_id, job_id))
            pipe.zcard(k.held(ws_id, job_id))

        # One snapshot, so that a row moving from the queue to dialing is counted once.
        record, waiting, released, dialing, held = snapshot(self._r, reads)
        if not record:
            raise NotFound(f"no batch dial job {job_id}")
        view = job_view(record, waiting, released, dialing, held)
        if with_secret and "predialSecret" in record:
            view["preDialSecret"] = record["predialSecret"]
        return view

    def _require(self, ws_id: str, job_id: str) -> None:
        if not self._r.exists(self._k.job(ws_id, job_id)):
            raise NotFound(f"no batch dial job {job_id}")

    def list(self, ws_id: str, limit: int | None, cursor: str | None) -> Page:
        """The workspace's jobs, newest first."""
        n = check_limit(limit)
        after = decode_cursor(cursor)
        start = f"({after}" if after else "-"
        members = cast(
            list[str], self._r.zrangebylex(self._k.jobs(ws_id), start, "+", start=0, num=n + 1)
        )
        data = []
        for member in members[:n]:
            job_id = member.split(":", 1)[1]
            try:
                data.append(self.get(ws_id, job_id))
            except NotFound:
                continue
        more = len(members) > n
        return Page(data, encode_cursor(members[n - 1]) if more else None)

    def queue(self, ws_id: str, job_id: str, limit: int | None, cursor: str | None) -> Page:
        """Rows still waiting to be dialed, in dialing order, with why each waits."""
        self._require(ws_id, job_id)
        return QueueView(self._r, self._k).page(ws_id, job_id, limit, cursor)

    def dials(self, ws_id: str, job_id: str, limit: int | None, cursor: str | None) -> Page:
        """Every dial attempt of the job, newest first."""
        n = check_limit(limit)
        self._require(ws_id, job_id)
        high = _score_bound(cursor, "+inf")
        entries = cast(
            list[tuple[str, float]],
            self._r.zrevrangebyscore(
                self._k.dials(ws_id, job_id), high, "-inf", start=0, num=n + 1, withscores=True
            ),
        )
        page = entries[:n]
        data = []
        if page:
            with self._r.pipeline(transaction=False) as pipe:
                for dial_id, _ in page:
                    pipe.hgetall(self._k.dial(ws_id, dial_id))
                records = pipe.execute()
            data = [dial_view(r) for r in records if r]
        more = len(entries) > n
        return Page(data, encode_cursor(repr(page[-1][1])) if more else None)

    def event_entries(self, ws_id: str, job_id: str, after: str | None, n: int) -> Entries:
        """Up to ``n`` raw entries of the job's log after event id ``after`` (None: from
        the start), unchecked: for a reader that checked the job and the id already."""
        start = f"({after}" if after else "-"
        return cast(Entries, self._r.xrange(self._k.events(ws_id, job_id), start, "+", count=n))

    def events(self, ws_id: str, job_id: str, limit: int | None, cursor: str | None) -> Page:
        """The job's event log in order, oldest first.

        The cursor is an event ``id``: a client that keeps the id of the last event it
        read can pass it as ``cursor`` later to read only what came after.
        """
        n = check_limit(limit)
        self._require(ws_id, job_id)
        _check_event_cursor(cursor)
        return _event_page(self.event_entries(ws_id, job_id, cursor, n + 1), n)

    def workspace_events(self, ws_id: str, limit: int | None, cursor: str | None) -> Page:
        """The workspace's own log (events of no job, such as ``webhook.disabled``), in
        order, paged as a job's log is. Redis keeps its last 10,000 or so."""
        n = check_limit(limit)
        _check_event_cursor(cursor)
        start = f"({cursor}" if cursor else "-"
        log_key = self._k.ws_key(ws_id, "K_WH_LOG")
        return _event_page(cast(Entries, self._r.xrange(log_key, start, "+", count=n + 1)), n)


def _check_event_cursor(cursor: str | None) -> None:
    if cursor and not _is_stream_id(cursor):
        raise InvalidInput(
            [Problem("cursor", "is not an event id of this log (such as 1795938570743-0)")]
        )


def _event_page(entries: Entries, n: int) -> Page:
    """A page of ``n`` events from ``n + 1`` entries (the last tells there are more)."""
    page = entries[:n]
    data = [_event_view(entry_id, fields) for entry_id, fields in page]
    return Page(data, page[-1][0] if len(entries) > n else None)


def _score_bound(cursor: str | None, unbounded: str) -> str:
    """The exclusive sorted-set bound after a score cursor (``unbounded`` without one)."""
    after = decode_cursor(cursor)
    if after is None:
        return unbounded
    try:
        score = float(after)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        raise InvalidInput([Problem("cursor", "is not a cursor of this list")])
    return f"({score!r}"


_STREAM_ID = re.compile(r"^[0-9]{1,19}-[0-9]{1,19}$")
_U64_MAX = 2**64 - 1


def _is_stream_id(text: str) -> bool:
    """A Redis stream id ``<ms>-<seq>``, both ASCII digits within 64 bits."""
    if not _STREAM_ID.match(text):
        return False
    ms, _, seq = text.partition("-")
    return int(ms) <= _U64_MAX and int(seq) <= _U64_MAX


def dial_view(record: dict[str, str]) -> dict[str, Any]:
    """The dial object of SPEC §4.7 from its stored record (with ``callAgentId`` when its
    row has an agent of its own)."""
    view = {
        "dialId": record["dialId"],
        "jobId": record.get("jobId"),
        "rowId": record.get("rowId"),
        "toNumber": record.get("toNumber"),
        "fromNumber": record.get("fromNumber"),
        "status": record.get("status"),
        "startedAt": iso_ms(record.get("startedAt")),
        "endedAt": iso_ms(record.get("endedAt")),
        "attempt": int(record.get("attempt", 1)),
        "callerIdRule": record.get("callerIdRule"),
        "consent": json.loads(record["consent"]) if record.get("consent") else None,
    }
    if record.get("callAgentId"):
        view["callAgentId"] = record["callAgentId"]
    return view
