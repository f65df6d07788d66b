"""Job commands: create (validate, expand, store), start/pause/resume, update, cancel.

Every transition is one Lua script (``domain/lua``) that changes the job's keys and
appends its event in the same step.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any, cast

import redis
import structlog

from domain.errors import Conflict, InvalidInput, NotFound
from domain.keys import Keys
from domain.members import job_member
from domain.protocol import (
    parse_cancel_job,
    parse_commit_job,
    parse_set_paused,
    parse_update_config,
)
from domain.scripts import Scripts
from domain.webhooks.addresses import url_problem
from domain.webhooks.signing import new_secret
from producer.grouping import Grouping, check_groups
from producer.rowstore import (
    check_consent,
    encode_row,
    expiry_ms,
    extra_of,
    redis_now_ms,
    without_repeated_ids,
)
from producer.schemas.base import parse_body
from producer.schemas.jobs import JobCreate, JobUpdate, RowIn
from producer.validation import Context, Limits
from producer.workspaces import Workspaces

log = structlog.get_logger(__name__)

#: Rows written per pipelined round trip when a job is expanded.
#: encode_row is named here: bench/ingest.py times the row encoding by wrapping it.
__all__ = ["CONFIG_FIELDS", "PREDIAL_SECRET", "STAGING_TTL_S", "JobCommands", "encode_row"]

CHUNK_ROWS = 5_000
#: How long staged rows of an unfinished create live before Redis drops them.
STAGING_TTL_S = 3_600
#: Attempts of an update that races other changes to the same job.
UPDATE_ATTEMPTS = 5

CONFIG_FIELDS = (
    "name",
    "callAgentId",
    "maxConcurrentDials",
    "fromPhoneNumberIds",
    "schedule",
    "disableSchedule",
    "recipientHours",
    "retry",
    "voicemail",
    "preDialWebhook",
    "callingRules",
    "purpose",
    "callerId",
    "rowTtlSeconds",
)
#: The job record's field holding the secret that signs its pre-dial requests (never in
#: the config, which the job view and pendingConfig show).
PREDIAL_SECRET = "predialSecret"  # noqa: S105 -- a field's name, not a secret
#: Called through this module attribute: bench/ingest.py times validation by wrapping it.
_parse = parse_body


class JobCommands:
    """Commands that change jobs; starting or resuming wakes the job's pump in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        workspaces: Workspaces,
        limits: Limits,
        *,
        hook_url_problem: Callable[[str], str | None] | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ws = workspaces
        self._limits = limits
        self._scripts = Scripts(client)
        #: What is wrong with a preDialWebhook url (the endpoints' rule, SSRF included).
        self._hook_url_problem = hook_url_problem or (
            lambda url: url_problem(url, allow_private=False)
        )

    def _check_hook(self, hook: dict[str, Any] | None) -> None:
        if hook:
            problem = self._hook_url_problem(str(hook["url"]))
            if problem is not None:
                raise InvalidInput.one("preDialWebhook.url", problem)

    def _context(self, ws_id: str) -> Context:
        ws = self._ws.get(ws_id)
        reserved = int(self._r.hget(self._k.workspace(ws_id), "reservedInboundDials") or 0)
        outbound = max(1, ws.dial_limit - reserved)
        return Context(outbound, frozenset(ws.numbers), self._limits, reserved)

    def _job_keys(self, ws_id: str, job_id: str) -> list[str]:
        return self._k.script_keys(ws_id, job_id)

    def _checked(self, spec: JobCreate) -> tuple[dict[str, Any], Grouping | None]:
        """The job's stored config and its rows' groups, once every rule across fields
        holds (pre-dial hook, consent, recipient hours and calling rules)."""
        config = spec.model_dump(include=set(CONFIG_FIELDS), mode="json")
        self._check_hook(config.get("preDialWebhook"))
        check_consent(spec)
        grouped = spec.recipientHours is not None or spec.callingRules is not None
        grouping = Grouping.of(spec) if grouped else None
        if grouping is not None:
            check_groups(grouping, config)
        return config, grouping

    def create(self, ws_id: str, body: bytes | str | dict[str, Any]) -> str:
        """Validate and store a job in state INIT; returns its id. Nothing is stored on error."""
        spec = _parse(JobCreate, body, self._context(ws_id))
        config, grouping = self._checked(spec)
        job_id = "job_" + secrets.token_hex(10)
        rows_key = self._k.rows(ws_id, job_id)
        queue_key = self._k.queue(ws_id, job_id)
        rows = spec.rows
        duplicates = 0
        if any(row.externalId for row in rows):
            rows, duplicates = without_repeated_ids(rows)
            if duplicates and grouping is not None:
                grouping = Grouping.of_rows(rows, ruled=spec.callingRules is not None)
        now_ms = redis_now_ms(self._r)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            expiries = [expiry_ms(row, now_ms, spec.rowTtlSeconds) for row in chunk]
            with self._r.pipeline(transaction=False) as pipe:
                encoded: dict[Any, Any]
                gids = (
                    grouping.row_groups[start : start + CHUNK_ROWS]
                    if grouping is not None
                    else [None] * len(chunk)
                )
                encoded = {
                    str(start + i): encode_row(
                        row.toNumber, row.inputs, gids[i], extra_of(row, expiries[i])
                    )
                    for i, row in enumerate(chunk)
                }
                if grouping is not None:
                    by_group: dict[str, dict[str, int]] = {}
                    for i, gid in enumerate(gids):
                        by_group.setdefault(str(gid), {})[str(start + i)] = start + i
                    for gid, members in by_group.items():
                        key = self._k.group_queue(ws_id, job_id, gid)
                        pipe.zadd(key, members)
                        pipe.expire(key, STAGING_TTL_S)
                pipe.hset(rows_key, mapping=encoded)
                pipe.zadd(queue_key, {str(start + i): start + i for i in range(len(chunk))})
                pipe.expire(rows_key, STAGING_TTL_S)
                pipe.expire(queue_key, STAGING_TTL_S)
                self._stage_ids(pipe, ws_id, job_id, start, chunk)
                due = {str(start + i): at for i, at in enumerate(expiries) if at is not None}
                if due:
                    expiry_key = self._k.job_key(ws_id, job_id, "K_EXPIRY")
                    pipe.zadd(expiry_key, dict[Any, Any](due))
                    pipe.expire(expiry_key, STAGING_TTL_S)
                pipe.execute()
        n_groups = 0
        if grouping is not None and grouping.groups:
            n_groups = len(grouping.groups)
            groups_key = self._k.groups(ws_id, job_id)
            with self._r.pipeline(transaction=False) as pipe:
                pipe.hset(groups_key, mapping=dict[Any, Any](grouping.stored()))
                pipe.expire(groups_key, STAGING_TTL_S)
                # A group met only in early chunks must not expire before the commit.
                for gid in grouping.groups:
                    pipe.expire(self._k.group_queue(ws_id, job_id, gid), STAGING_TTL_S)
                pipe.execute()
        parse_commit_job(
            self._scripts(
                "commit_job",
                self._job_keys(ws_id, job_id),
                [
                    job_id,
                    ws_id,
                    json.dumps(config, separators=(",", ":")),
                    len(rows),
                    n_groups,
                    duplicates,
                ],
            )
        )
        if spec.preDialWebhook is not None:
            # INIT until started: no dial is asked for before the secret is there.
            self._r.hset(self._k.job(ws_id, job_id), PREDIAL_SECRET, new_secret())
        log.info("job_created", ws_id=ws_id, job_id=job_id, rows=len(rows))
        return job_id

    def _stage_ids(
        self, pipe: Any, ws_id: str, job_id: str, start: int, chunk: list[RowIn]
    ) -> None:
        """Stage the rows' externalIds and numbers (what appends check new rows against)."""
        ext_key = self._k.job_key(ws_id, job_id, "K_EXT")
        nums_key = self._k.job_key(ws_id, job_id, "K_NUMS")
        ids = {row.externalId: start + i for i, row in enumerate(chunk) if row.externalId}
        if ids:
            pipe.hset(ext_key, mapping=dict[Any, Any](ids))
            pipe.expire(ext_key, STAGING_TTL_S)
        marks = {row.toNumber: "x" if row.externalId else "" for row in chunk}
        # A number of a row without externalId is '' for good, whatever its other rows.
        marks.update({row.toNumber: "" for row in chunk if not row.externalId})
        if start > 0:
            # A number seen in an earlier chunk keeps '' (this set only narrows it).
            for number, old in zip(
                list(marks),
                cast(list[str | None], self._r.hmget(nums_key, list(marks))),
                strict=True,
            ):
                if old == "":
                    marks[number] = ""
        pipe.hset(nums_key, mapping=dict[Any, Any](marks))
        pipe.expire(nums_key, STAGING_TTL_S)

    def prepare(self, ws_id: str, body: bytes | str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A new job id and the validated running config of a create whose rows come in a
        file of their own (the multipart create): the body must not list rows."""
        spec = _parse(JobCreate, body, self._context(ws_id))
        if spec.rows:
            raise InvalidInput.one(
                "rows", "give the rows in the 'rows' part (the file), not in the 'job' part"
            )
        config = spec.model_dump(include=set(CONFIG_FIELDS), mode="json")
        return "job_" + secrets.token_hex(10), config

    def set_paused(self, ws_id: str, job_id: str, paused: bool) -> str:
        """Start/resume (``paused=False``) or pause a job; returns its status after."""
        change = parse_set_paused(
            self._scripts(
                "set_paused",
                self._job_keys(ws_id, job_id),
                ["1" if paused else "0", job_id, job_member(ws_id, job_id)],
            )
        )
        outcome, before, after = change.outcome, change.before, change.after
        if outcome == "missing":
            raise NotFound(f"no batch dial job {job_id}")
        if outcome == "empty":
            raise Conflict(
                "the job has no rows yet: append them (POST /api/batch_dial_jobs/"
                f"{job_id}/rows) before starting it"
            )
        if outcome == "conflict":
            verb = "paused" if paused else "started"
            raise Conflict(f"the job is {before}; a {before} job cannot be {verb}")
        if outcome == "changed":
            log.info(
                "job_status_changed",
                ws_id=ws_id,
                job_id=job_id,
                status_from=before,
                status_to=after,
            )
        return after

    def update(self, ws_id: str, job_id: str, body: bytes | str | dict[str, Any]) -> str:
        """Change the configuration (at once, or staged while ACTIVE); returns the outcome."""
        change = _parse(JobUpdate, body, self._context(ws_id))
        fields = change.model_dump(include=change.model_fields_set, mode="json")
        if not fields:
            raise InvalidInput.one("", f"give at least one of {', '.join(CONFIG_FIELDS)} to change")
        self._check_hook(fields.get("preDialWebhook"))
        details = json.dumps({"changes": sorted(fields)}, separators=(",", ":"))
        for _ in range(UPDATE_ATTEMPTS):
            status, ver, pver, config, pending = cast(
                list[str | None],
                self._r.hmget(
                    self._k.job(ws_id, job_id), ["status", "ver", "pver", "config", "pending"]
                ),
            )
            if status is None:
                raise NotFound(f"no batch dial job {job_id}")
            if status in ("COMPLETE", "CANCELLED"):
                raise Conflict(f"the job is {status}; a finished job cannot be updated")
            if fields.get("preDialWebhook"):
                # Before the config names the hook, so that a worker never finds one
                # without its secret; a job keeps its first secret.
                self._r.hsetnx(self._k.job(ws_id, job_id), PREDIAL_SECRET, new_secret())
            mode = "stage" if status == "ACTIVE" else "apply"
            base = json.loads(pending if mode == "stage" and pending else config or "{}")
            new = {**base, **fields}
            if fields.keys() & {"recipientHours", "schedule", "disableSchedule"}:
                self._check_recipient_hours(ws_id, job_id, new, fields)
            result = parse_update_config(
                self._scripts(
                    "update_config",
                    self._job_keys(ws_id, job_id),
                    [
                        f"{ver}:{pver or 0}",
                        mode,
                        json.dumps(new, separators=(",", ":")),
                        details,
                        job_id,
                    ],
                )
            )
            outcome, status = result.outcome, result.status
            if outcome == "missing":
                raise NotFound(f"no batch dial job {job_id}")
            if outcome == "conflict":
                raise Conflict(f"the job is {status}; a finished job cannot be updated")
            if outcome != "retry":
                log.info(
                    "job_updated",
                    ws_id=ws_id,
                    job_id=job_id,
                    outcome=outcome,
                    changes=sorted(fields),
                )
                return outcome
        raise Conflict("the job kept changing while it was being updated; try again")

    def _check_recipient_hours(
        self, ws_id: str, job_id: str, new: dict[str, Any], fields: dict[str, Any]
    ) -> None:
        """Recipient hours can change only on a job created with them (its rows are
        grouped by time zone then), and only to hours every group can reach."""
        raw_groups = cast(dict[str, str], self._r.hgetall(self._k.groups(ws_id, job_id)))
        if not raw_groups:
            if fields.get("recipientHours"):
                raise InvalidInput.one(
                    "recipientHours",
                    "can only be set when the job is created (its rows are grouped by "
                    "their recipients' time zones then); create a new job to use it",
                )
            return
        if new.get("recipientHours") or new.get("callingRules"):
            check_groups(Grouping.from_stored(raw_groups), new)

    def cancel(self, ws_id: str, job_id: str) -> int:
        """Cancel a job; returns how many waiting rows were cancelled."""
        cancellation = parse_cancel_job(
            self._scripts(
                "cancel_job", self._job_keys(ws_id, job_id), [job_id, job_member(ws_id, job_id)]
            )
        )
        outcome, before, cancelled = (
            cancellation.outcome,
            cancellation.before,
            cancellation.cancelled,
        )
        if outcome == "missing":
            raise NotFound(f"no batch dial job {job_id}")
        if outcome == "conflict":
            raise Conflict(f"the job is {before}; a COMPLETE job cannot be cancelled")
        if outcome == "changed":
            log.info(
                "job_cancelled",
                ws_id=ws_id,
                job_id=job_id,
                status_from=before,
                rows_cancelled=cancelled,
            )
        return cancelled
