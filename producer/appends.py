"""Appending rows to a job after create (SPEC §8.3, issue 17).

An upload is read and checked in chunks (:mod:`producer.rowformats` yields its rows
one by one): each chunk is validated as the rows of a create are, grouped by recipient
zone when the job has recipientHours, and staged by ``stage_rows.lua`` under keys of
its own that expire. Only when the whole upload was read without a problem does its
commit begin (``commit_rows.lua``), which takes the staged rows into the job behind the
job's rows and in their order, by bounded steps that are always carried to their end
(:mod:`domain.row_commit`). So the upload is all or nothing: a problem anywhere, or an
upload cut off midway, adds nothing, and what it staged expires. A chunk's staging
runs on a thread while the next chunk is validated (problems keep their order).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, cast

import redis
import structlog
from pydantic import TypeAdapter, ValidationError

from domain.errors import Conflict, InvalidInput, NotFound, Problem
from domain.keys import Keys
from domain.members import job_member
from domain.protocol_rows import RowsCommitted, parse_commit_rows, parse_stage_rows
from domain.row_commit import LEASE_MS, drive
from domain.scripts import Scripts
from producer.grouping import Group, Grouping, GroupKey, check_groups, group_key
from producer.rowformats import Item, at_line
from producer.rowstore import encode_row, expiry_ms, extra_of, redis_now_ms
from producer.schemas.jobs import RowIn
from producer.validation import Context, Limits, path_of
from producer.workspaces import Workspaces

log = structlog.get_logger(__name__)

#: Rows validated and staged per round trip.
CHUNK_ROWS = 2_000
#: How long an append's staged rows live if it never commits (an interrupted upload).
STAGING_TTL_S = 3_600
#: Problems reported at most; reading stops checking after them.
MAX_PROBLEMS = 100
#: Other uploads' commits an upload helps to their end before it gives up beginning its own.
MAX_BUSY = 20

_ROWS = TypeAdapter(list[RowIn])


@dataclass
class _Upload:
    """What one append has read so far."""

    upload_id: str
    ws_id: str
    job_id: str
    rows_before: int
    ctx: Context
    config: dict[str, Any]
    groups: _Groups | None = None
    now_ms: int = 0
    staged: int = 0
    duplicates: int = 0
    #: Its commit began: from then on its steps, not this request, drop the staging.
    begun: bool = False
    read: int = 0
    problems: list[Problem] = field(default_factory=list)
    new_groups: dict[str, str] = field(default_factory=dict)
    #: The last chunk's staging under way (its script's reply, and its rows' lines).
    staging: tuple[Future[Any], dict[int, int | None]] | None = None

    def refuse(self, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(path, message))

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS


class _Groups:
    """Recipient groups of a job with recipientHours: the stored ones, and new ones an
    append's rows need (ids from the job's ``gseq``, never reused)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        ws_id: str,
        job_id: str,
        *,
        fresh: bool = False,
        ruled: bool = False,
    ) -> None:
        self._r, self._k, self._ws, self._job = client, keys, ws_id, job_id
        #: A job being created: no stored groups, ids counted here (the job has no record).
        self._fresh = fresh
        #: The job has callingRules: a group holds one state too (producer/grouping.py).
        self.ruled = ruled
        raw = {} if fresh else cast(dict[str, str], client.hgetall(keys.groups(ws_id, job_id)))
        self.ids: dict[GroupKey, str] = {}
        for gid, text in raw.items():
            data = json.loads(text)
            key = (str(data["source"]), tuple(data["zones"]), data.get("state"))
            self.ids[(*key, data.get("stateSource"))] = gid
        self._top = max((int(g) for g in raw), default=0)

    def gid(self, row: RowIn, position: int, upload: _Upload) -> str:
        key = group_key(row, ruled=self.ruled)
        found = self.ids.get(key)
        if found is not None:
            return found
        if self._fresh:
            self._top += 1
            gid = str(self._top)
        else:
            job_key = self._k.job(self._ws, self._job)
            self._r.hsetnx(job_key, "gseq", self._top)
            gid = str(self._r.hincrby(job_key, "gseq", 1))
        source, zones, state, state_source = key
        group = Group(zones, source, position, 1, state, state_source)
        if upload.config.get("recipientHours") or upload.config.get("callingRules"):
            try:
                check_groups(Grouping({gid: group}), upload.config)
            except InvalidInput as exc:
                for p in exc.problems:
                    upload.refuse(p.path, p.message)
        self.ids[key] = gid
        upload.new_groups[gid] = group.stored()
        return gid


class RowAppender:
    """Appends uploads of rows to jobs that are INIT, ACTIVE or PAUSED."""

    def __init__(
        self, client: redis.Redis, keys: Keys, workspaces: Workspaces, limits: Limits
    ) -> None:
        self._r = client
        self._k = keys
        self._ws = workspaces
        self._limits = limits
        self._scripts = Scripts(client)
        self._stagers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="batchdial-stage")

    def append(self, ws_id: str, job_id: str, items: Iterable[Item]) -> dict[str, int]:
        """Read, check and add every row of ``items``; ``{"appended", "duplicates",
        "rows"}`` (rows: the job's after). Nothing is added on any problem."""
        status, raw_config, rows, appends, grouped = cast(
            list[str | None],
            self._r.hmget(
                self._k.job(ws_id, job_id), ["status", "config", "rows", "appends", "grouped"]
            ),
        )
        if status is None:
            raise NotFound(f"no batch dial job {job_id}")
        if status not in ("INIT", "ACTIVE", "PAUSED"):
            raise Conflict(f"the job is {status}; rows can only be added to an unfinished job")
        config = json.loads(raw_config or "{}")
        upload = self._upload(ws_id, job_id, int(rows or 0), config)
        # A job that groups its rows releases only from its groups' queues (also after its
        # recipientHours were turned off), so appended rows join a group too.
        ruled = config.get("callingRules") is not None
        if config.get("recipientHours") or ruled or grouped == "1":
            upload.groups = _Groups(self._r, self._k, ws_id, job_id, ruled=ruled)
        return self._read_and_commit(upload, items, appends or "0", "")

    def create(
        self, ws_id: str, job_id: str, config: dict[str, Any], items: Iterable[Item]
    ) -> dict[str, int]:
        """Make job ``job_id`` (already validated ``config``) with the rows of ``items``,
        in one step once every row was read and checked (the multipart create)."""
        upload = self._upload(ws_id, job_id, 0, config)
        ruled = config.get("callingRules") is not None
        if config.get("recipientHours") or ruled:
            upload.groups = _Groups(self._r, self._k, ws_id, job_id, fresh=True, ruled=ruled)
        return self._read_and_commit(upload, items, "0", json.dumps(config, separators=(",", ":")))

    def _upload(self, ws_id: str, job_id: str, rows: int, config: dict[str, Any]) -> _Upload:
        ws = self._ws.get(ws_id)
        ctx = Context(ws.dial_limit, frozenset(ws.numbers), self._limits)
        upload = _Upload("u" + secrets.token_hex(8), ws_id, job_id, rows, ctx, config)
        upload.now_ms = redis_now_ms(self._r)
        return upload

    def _read_and_commit(
        self, upload: _Upload, items: Iterable[Item], appends: str, new_config: str
    ) -> dict[str, int]:
        ws_id, job_id = upload.ws_id, upload.job_id
        try:
            stream = iter(items)
            while chunk := list(islice(stream, CHUNK_ROWS)):
                upload.read += len(chunk)
                if not upload.full:
                    self._chunk(chunk, upload)
            self._settle(upload)
            self._check_totals(upload)
            if upload.problems:
                raise InvalidInput(upload.problems)
            if upload.new_groups:
                key = self._k.job_key(ws_id, job_id, "k_up_groups", upload.upload_id)
                with self._r.pipeline(transaction=False) as pipe:
                    pipe.hset(key, mapping=dict[Any, Any](upload.new_groups))
                    pipe.expire(key, STAGING_TTL_S)
                    pipe.execute()
            return self._commit(upload, appends, new_config)
        finally:
            if upload.staging is not None:  # an error midway: let its staging end first
                upload.staging[0].exception()
            if not upload.begun:
                self._drop(ws_id, job_id, upload.upload_id)

    def _check_totals(self, upload: _Upload) -> None:
        if upload.read == 0 and not upload.problems:
            upload.refuse("rows", "has no rows; give at least one")
        limit = self._limits.max_rows
        if upload.rows_before + upload.read > limit:
            upload.problems.insert(
                0,
                Problem(
                    "rows",
                    f"the job has {upload.rows_before} rows and this adds {upload.read}; "
                    f"at most {limit} are allowed in one job",
                ),
            )

    def _chunk(self, chunk: list[Item], upload: _Upload) -> None:
        """Validate one chunk, then stage what is valid (so that repeats are found too)."""
        earlier, upload.problems = upload.problems, []
        try:
            readable = [item for item in chunk if item.problem is None]
            for item in chunk:
                if item.problem is not None:
                    upload.refuse(f"rows[{item.position}]", at_line(item.line, item.problem))
            valid = self._validate(readable, upload.ctx, upload)
            if upload.config.get("purpose") == "telemarketing":
                valid = [(item, row) for item, row in valid if self._consented(item, row, upload)]
        finally:
            found, upload.problems = upload.problems, earlier
        self._settle(upload)  # the last chunk's refusals come before this one's problems
        for problem in found:
            upload.refuse(problem.path, problem.message)
        if upload.rows_before + upload.read > self._limits.max_rows or upload.full:
            return
        args: list[Any] = [upload.upload_id, STAGING_TTL_S, upload.staged]
        ttl = upload.config.get("rowTtlSeconds")
        lines: dict[int, int | None] = {}
        for item, row in valid:
            gid = upload.groups.gid(row, item.position, upload) if upload.groups else None
            lines[item.position] = item.line
            args += [
                item.position,
                row.toNumber,
                row.externalId or "",
                encode_row(
                    row.toNumber,
                    row.inputs,
                    gid,
                    extra_of(row, expiry_ms(row, upload.now_ms, ttl)),
                ),
            ]
        if not valid:
            return
        keys = self._k.script_keys(upload.ws_id, upload.job_id)
        upload.staging = (self._stagers.submit(self._scripts, "stage_rows", keys, args), lines)

    @staticmethod
    def _settle(upload: _Upload) -> None:
        """Wait for the last chunk's staging and take in its reply."""
        if upload.staging is None:
            return
        reply, lines = upload.staging
        upload.staging = None
        staged = parse_stage_rows(reply.result())
        upload.staged += staged.staged
        upload.duplicates += staged.duplicates
        for position, where, other in staged.refused:
            what = "the job already has this number" if where == "job" else f"repeats rows[{other}]"
            what += " (a number is called again only if both rows carry an externalId)"
            upload.refuse(f"rows[{position}].toNumber", at_line(lines.get(position), what))

    @staticmethod
    def _consented(item: Item, row: RowIn, upload: _Upload) -> bool:
        """A telemarketing job's row needs express written consent (as at create)."""
        if row.consent is not None and row.consent.type == "express_written":
            return True
        given = "no consent" if row.consent is None else f"consent of type {row.consent.type!r}"
        upload.refuse(
            f"rows[{item.position}].consent",
            at_line(
                item.line,
                f"has {given}; a telemarketing job calls only rows with "
                '"express_written" consent (prior express written consent)',
            ),
        )
        return False

    def _validate(
        self, items: list[Item], ctx: Context, upload: _Upload
    ) -> list[tuple[Item, RowIn]]:
        """The rows of ``items`` that pass every rule of a create's rows."""
        try:
            rows = _ROWS.validate_python([i.data for i in items], context={"batchdial": ctx})
            return list(zip(items, rows, strict=True))
        except ValidationError as exc:
            bad: set[int] = set()
            for err in exc.errors(include_url=False):
                loc = tuple(err["loc"])
                at = int(loc[0]) if loc and isinstance(loc[0], int) else 0
                bad.add(at)
                item = items[at]
                message = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "missing":
                    message = "is required"
                elif err["type"] == "extra_forbidden":
                    message = "is not a known field"
                path = path_of(("rows", item.position, *loc[1:]))
                upload.refuse(path, at_line(item.line, message))
            good = [item for i, item in enumerate(items) if i not in bad]
            if not good:
                return []
            rows = _ROWS.validate_python([i.data for i in good], context={"batchdial": ctx})
            return list(zip(good, rows, strict=True))

    def _begin(self, upload: _Upload, appends: str, new_config: str) -> RowsCommitted:
        """Begin the upload's commit, first helping to its end any other commit of the
        job under way (one per job at a time)."""
        ws_id, job_id = upload.ws_id, upload.job_id
        args = [
            job_id,
            upload.upload_id,
            upload.staged,
            appends,
            self._limits.max_rows,
            job_member(ws_id, job_id),
            upload.duplicates,
            "1" if upload.groups is not None else "0",
            new_config,
            ws_id,
            LEASE_MS,
        ]
        for _ in range(MAX_BUSY):
            keys = self._k.script_keys(ws_id, job_id)
            result = parse_commit_rows(self._scripts("commit_rows", keys, args))
            if result.outcome != "busy":
                return result
            drive(self._scripts, self._k, ws_id, job_id, result.detail)
        raise Conflict("other uploads to this job kept it busy; send this upload again")

    def _commit(self, upload: _Upload, appends: str, new_config: str) -> dict[str, int]:
        ws_id, job_id = upload.ws_id, upload.job_id
        result = self._begin(upload, appends, new_config)
        if result.outcome == "begun":
            upload.begun = True
            result = drive(self._scripts, self._k, ws_id, job_id, upload.upload_id)
            # Its result is read: the commit state's hour (for other drivers) can end now.
            self._r.unlink(self._k.job_key(ws_id, job_id, "k_up_commit", upload.upload_id))
        if result.outcome == "conflict" and result.appended:
            raise Conflict(
                f"the job became {result.detail} while this upload's rows went in; "
                f"{result.appended} of them went in first (and were cancelled with the job)"
            )
        if result.outcome == "missing":
            raise NotFound(f"no batch dial job {job_id}")
        if result.outcome == "conflict":
            raise Conflict(
                f"the job is {result.detail}; rows can only be added to an unfinished job"
            )
        if result.outcome in ("expired", "gone"):
            raise Conflict("the upload took longer than its staging lives; send it again")
        if result.outcome == "too_many":
            raise InvalidInput.one(
                "rows",
                f"the job now has {result.detail} rows and this adds {upload.staged}; at "
                f"most {self._limits.max_rows} are allowed in one job",
            )
        if result.outcome == "clash":
            raise Conflict(
                f"another append added {result.detail} to the job meanwhile; send this "
                "upload again to see which rows repeat it"
            )
        log.info(
            "rows_appended",
            ws_id=ws_id,
            job_id=job_id,
            appended=result.appended,
            duplicates=result.duplicates,
        )
        return {"appended": result.appended, "duplicates": result.duplicates, "rows": result.rows}

    def _drop(self, ws_id: str, job_id: str, upload_id: str) -> None:
        """Drop the staging of an upload whose commit did not begin (UNLINK: a large
        upload's staged rows are freed off Redis's main thread)."""
        names = ("k_up_rows", "k_up_ext", "k_up_nums", "k_up_groups")
        self._r.unlink(*(self._k.job_key(ws_id, job_id, n, upload_id) for n in names))
