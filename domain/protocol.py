"""Typed results of every Lua script, parsed from the raw reply in one place per script.

Each script under ``domain/lua`` names its return shape in its header; the parser of that
shape is here (``parse_<script>``), next to the frozen dataclass it returns. The words a
script answers with are ``Literal`` types, so that a branch on them is checked by mypy and
the metric label values are derived from them (:func:`words`) instead of being repeated.
Raw replies come from a decoding client: Lua strings arrive as ``str``, numbers as ``int``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from domain.members import split_job_member


def words(literal: Any) -> tuple[str, ...]:
    """The words of a ``Literal`` type (or of a union of them), in their order."""
    found: list[str] = []
    for arg in get_args(literal):
        found += [arg] if isinstance(arg, str) else list(words(arg))
    return tuple(found)


def _word(raw: object, literal: Any) -> str:
    text = str(raw)
    if text not in words(literal):
        raise ValueError(f"unexpected script answer {text!r} (expected one of {words(literal)})")
    return text


def _reply(raw: object) -> list[Any]:
    if not isinstance(raw, list):
        raise ValueError(f"expected a list from the script, got {raw!r}")
    return raw


# -- engine/scheduler.lua ---------------------------------------------------------------
#: What one run of a job's scheduler found. ``stale``: the config version moved on (reload
#: and run again); ``recompute``: the window was computed for another instant (run again).
SchedulerOutcome = Literal["open", "closed", "idle", "complete", "missing", "stale", "recompute"]


@dataclass(frozen=True, slots=True)
class SchedulerRun:
    """``scheduler.lua``: the outcome; the job's status when ``idle``; rows released when
    ``open`` (one dial message each)."""

    outcome: SchedulerOutcome
    status: str | None = None
    released: tuple[int, ...] = ()


def parse_scheduler(raw: object) -> SchedulerRun:
    """``{'missing'} | {'idle', status} | {'stale'} | {'recompute'} | {'closed'} |
    {'complete'} | {'open', released row index...}``"""
    reply = _reply(raw)
    outcome = cast(SchedulerOutcome, _word(reply[0], SchedulerOutcome))
    if outcome == "idle":
        return SchedulerRun(outcome, status=str(reply[1]))
    if outcome == "open":
        return SchedulerRun(outcome, released=tuple(int(i) for i in reply[1:]))
    return SchedulerRun(outcome)


# -- engine/claim.lua -------------------------------------------------------------------
#: The limit that refused a claim: the job's cap, the workspace's dial limit, the numbers'.
Limit = Literal["job", "workspace", "number"]
#: The pacing limit that refused a claim: the workspace's ``maxDialsPerSecond`` or
#: ``BATCHDIAL_MAX_DIALS_PER_SECOND`` (all workspaces together).
PaceLimit = Literal["workspace", "global"]
#: Why a claim took nothing (the row went back to the queue, was ended or is held; a
#: ``paced`` row stays released for the worker to claim again when a start conforms;
#: ``unreplicated``: not from the script, the claim was undone, worker/engine/replicated.py).
Refusal = Literal[
    "gone",
    "stale",
    "paused",
    "closed",
    "hours",
    "suppressed",
    "expired",
    "capped",
    "full",
    "paced",
    "unreplicated",
]
ClaimOutcome = Literal["ok", Refusal]


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """``claim.lua`` took nothing; ``limit`` says which limit was full (``full``) or which
    pacing limit refused (``paced``, with ``wait_ms``: how long until a start conforms)."""

    outcome: Refusal
    limit: Limit | PaceLimit | None = None
    wait_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """``claim.lua`` took the row and its three leases: the dial is recorded and started."""

    from_number: str
    number_id: str
    row: str  # the row's JSON: [to number, inputs, group]
    started_ms: int
    #: When the job's window opened, if this is the window's first dial.
    opened_ms: int | None
    dial_id: str
    attempt: int
    outcome: Literal["ok"] = "ok"


def parse_claim(raw: object) -> Claimed | ClaimRefused:
    """``{'gone'} | {'stale'} | {'paused'} | {'closed'} | {'hours'} | {'suppressed'} |
    {'capped'} | {'full', limit} | {'paced', pace limit, wait ms} | {'ok', fromNumber,
    fromNumberId, row JSON, startedAt, openedAt or '', dial id, attempt}``"""
    reply = _reply(raw)
    outcome = _word(reply[0], ClaimOutcome)
    if outcome != "ok":
        refusal = cast(Refusal, outcome)
        if refusal == "full":
            return ClaimRefused(refusal, cast(Limit, _word(reply[1], Limit)))
        if refusal == "paced":
            which = cast(PaceLimit, _word(reply[1], PaceLimit))
            return ClaimRefused(refusal, which, max(0, int(reply[2])))
        return ClaimRefused(refusal)
    _, from_number, number_id, row, started, opened, dial_id, attempt = reply
    return Claimed(
        from_number=str(from_number),
        number_id=str(number_id),
        row=str(row),
        started_ms=int(started),
        opened_ms=int(opened) if opened not in ("", None) else None,
        dial_id=str(dial_id),
        attempt=int(attempt),
    )


# -- job/finish_dial.lua ----------------------------------------------------------------
FinishOutcome = Literal["finished", "noop", "alive", "missing"]
#: Why the engine ended a dial whose outcome it does not know (never retried).
RecoveryReason = Literal["lease_expired", "lease_lost", "max_call_duration"]


@dataclass(frozen=True, slots=True)
class FinishResult:
    """``finish_dial.lua``: what ending a dial did. ``noop``: it had ended already (its
    status in ``job_status``' place is the dial's); ``alive``: its lease had not lapsed
    (the reaper's ``only_if_expired``); ``missing``: no such dial."""

    outcome: FinishOutcome
    job_status: str | None = None
    released: list[int] = field(default_factory=list)
    started_ms: int | None = None
    ended_ms: int | None = None
    reason: str = ""


def parse_finish_dial(raw: object) -> FinishResult:
    """``{'missing'} | {'noop', status} | {'alive'} | {'finished', job status after,
    startedAt, endedAt, reason, released row index...}``"""
    reply = _reply(raw)
    outcome = cast(FinishOutcome, _word(reply[0], FinishOutcome))
    if outcome != "finished":
        return FinishResult(outcome, str(reply[1]) if len(reply) > 1 else None)
    return FinishResult(
        outcome,
        str(reply[1]),
        [int(i) for i in reply[5:]],
        started_ms=int(reply[2]),
        ended_ms=int(reply[3]),
        reason=str(reply[4]),
    )


# -- engine/handoff.lua, engine/renew.lua -----------------------------------------------
HandoffOutcome = Literal["handed", "ended", "lost"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """``handoff.lua``: ``handed`` (the provider holds the call now), ``ended`` (its end
    was reported first) or ``lost`` (its lease lapsed first; the caller ends it)."""

    outcome: HandoffOutcome


def parse_handoff(raw: object) -> Handoff:
    """``'handed' | 'ended' | 'lost'``"""
    return Handoff(cast(HandoffOutcome, _word(raw, HandoffOutcome)))


# -- job/put_back.lua ---------------------------------------------------------------------
PutBackOutcome = Literal["held", "cancelled", "ended", "missing"]


@dataclass(frozen=True, slots=True)
class PutBack:
    """``put_back.lua``: ``held`` (the row waits to be dialed again), ``cancelled`` (its
    job was cancelled meanwhile), ``ended`` (the dial was no longer live: nothing done)
    or ``missing``."""

    outcome: PutBackOutcome


def parse_put_back(raw: object) -> PutBack:
    """``'held' | 'cancelled' | 'ended' | 'missing'``"""
    return PutBack(cast(PutBackOutcome, _word(raw, PutBackOutcome)))


#: ``predial.lua``: the row ended ``skipped``, is ``held`` (deferred), was ``cancelled``
#: (a deferred row of a cancelled job), or nothing was done (``ended``, ``missing``).
PreDialOutcome = Literal["skipped", "held", "cancelled", "ended", "missing"]


def parse_predial(raw: object) -> PreDialOutcome:
    """``'skipped' | 'held' | 'cancelled' | 'ended' | 'missing'``"""
    return cast(PreDialOutcome, _word(raw, PreDialOutcome))


#: Why a held dial was not renewed: it ended elsewhere, its lease lapsed, or it ran past
#: the longest allowed call.
NotRenewed = Literal["ended", "lost", "overdue"]


@dataclass(frozen=True, slots=True)
class Renewal:
    """``renew.lua``: the dials not renewed (dial id -> why); every other was renewed."""

    not_renewed: tuple[tuple[NotRenewed, str], ...]


def parse_renew(raw: object) -> Renewal:
    """``{'<why>:<dial id>'...}`` with ``why`` one of :data:`NotRenewed`."""
    out: list[tuple[NotRenewed, str]] = []
    for report in _reply(raw):
        why, _, dial_id = str(report).partition(":")
        out.append((cast(NotRenewed, _word(why, NotRenewed)), dial_id))
    return Renewal(tuple(out))


# -- engine/heartbeat.lua, engine/take_wakeups.lua --------------------------------------


@dataclass(frozen=True, slots=True)
class WorkersAlive:
    """``heartbeat.lua``: how many worker processes are alive (this one included)."""

    alive: int


def parse_heartbeat(raw: object) -> WorkersAlive:
    """``alive count``"""
    return WorkersAlive(int(cast(int, raw)))


@dataclass(frozen=True, slots=True)
class Wakeups:
    """``take_wakeups.lua``: the jobs whose scheduler is due, as (workspace, job) pairs."""

    due: tuple[tuple[str, str], ...]


def parse_take_wakeups(raw: object) -> Wakeups:
    """``{'<ws>|<job>'...}``"""
    return Wakeups(tuple(split_job_member(str(member)) for member in _reply(raw)))


# -- job/set_paused.lua, job/cancel_job.lua, job/update_config.lua ----------------------
Transition = Literal["changed", "noop", "conflict", "empty", "missing"]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """``set_paused.lua``: the outcome and the job's status before and after."""

    outcome: Transition
    before: str
    after: str


def parse_set_paused(raw: object) -> StatusChange:
    """``{outcome, status before, status after}``"""
    outcome, before, after = _reply(raw)
    return StatusChange(cast(Transition, _word(outcome, Transition)), str(before), str(after))


@dataclass(frozen=True, slots=True)
class Cancellation:
    """``cancel_job.lua``: the outcome, the status before and how many rows it cancelled."""

    outcome: Transition
    before: str
    cancelled: int


def parse_cancel_job(raw: object) -> Cancellation:
    """``{outcome, status before, rows cancelled}``"""
    outcome, before, cancelled = _reply(raw)
    return Cancellation(cast(Transition, _word(outcome, Transition)), str(before), int(cancelled))


ConfigOutcome = Literal["applied", "staged", "retry", "conflict", "missing"]


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """``update_config.lua``: the outcome and the job's status."""

    outcome: ConfigOutcome
    status: str


def parse_update_config(raw: object) -> ConfigUpdate:
    """``{outcome, status}``"""
    outcome, status = _reply(raw)
    return ConfigUpdate(cast(ConfigOutcome, _word(outcome, ConfigOutcome)), str(status))


# -- job/commit_job.lua, job/dial_status.lua --------------------------------------------


@dataclass(frozen=True, slots=True)
class Committed:
    """``commit_job.lua``: when the job was created (ms); a taken id is a script error."""

    created_ms: int


def parse_commit_job(raw: object) -> Committed:
    """``createdAt (ms)``"""
    return Committed(int(cast(int, raw)))


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """``dial_status.lua``: whether the dial's live status changed."""

    changed: bool


def parse_dial_status(raw: object) -> LiveStatus:
    """``1 | 0``"""
    return LiveStatus(bool(raw))


# -- engine/wh_fanout.lua, wh_take.lua, wh_record.lua, wh_free.lua (webhooks, issue 16) --
WebhookOutcome = Literal["delivered", "retrying", "failed", "stale", "gone"]


def parse_wh_fanout(raw: object) -> int | None:
    """``deliveries written | -1`` (None: the cursor moved, another worker fanned out)."""
    n = int(cast(int, raw))
    return None if n < 0 else n


def parse_wh_take(raw: object) -> tuple[tuple[str, str], ...]:
    """``{'<ws>|<delivery id>'...}`` as (workspace, delivery id) pairs."""
    return tuple(split_job_member(str(member)) for member in _reply(raw))


def parse_wh_free(raw: object) -> bool:
    """``1 | 0``: whether the endpoint still has deliveries queued."""
    return bool(raw)


def parse_wh_record(raw: object) -> WebhookOutcome:
    """``'delivered' | 'retrying' | 'failed' | 'stale' | 'gone'``"""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if text not in ("delivered", "retrying", "failed", "stale", "gone"):
        raise ValueError(f"unexpected reply of wh_record: {text!r}")
    return cast(WebhookOutcome, text)
