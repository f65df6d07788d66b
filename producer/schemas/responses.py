"""Response models: what each route answers, for the OpenAPI document.

The read side (:mod:`producer.reads`, :mod:`producer.queueview`, …) builds these shapes
as plain dicts, and the routes send those as they are: these models describe the JSON
a client receives (camelCase, same fields, same nulls), they do not re-encode it. The
suite's schemathesis run (``response_schema_conformance``) checks that they agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from producer.schemas.jobs import JobStatus, RetryIn, VoicemailIn
from producer.schemas.predial import PreDialIn
from producer.schemas.rules import CallerId, CallingRules, ConsentIn, Purpose
from producer.schemas.schedule import HoursIn, ScheduleIn

# ruff: noqa: N815 -- wire names are camelCase

Instant = str  # ISO 8601 UTC with milliseconds, e.g. 2026-03-02T14:00:00.000Z


class Window(BaseModel):
    """Whether the job's calling window is open now, and when it next opens or closes."""

    openNow: bool
    nextOpenAt: Instant | None
    nextCloseAt: Instant | None
    alwaysOpen: bool


class JobCounts(BaseModel):
    """The job's rows by where they are."""

    rows: int
    queued: int
    held: int
    inProgress: int
    finished: int
    cancelled: int
    byStatus: dict[str, int] = Field(description="finished dials per dial status")
    outcomes: dict[str, int] = Field(description="finished rows per outcome")


class Job(BaseModel):
    """A job: its running configuration, counters and window."""

    id: str
    name: str
    status: JobStatus
    createdAt: Instant
    updatedAt: Instant
    startedAt: Instant | None
    completedAt: Instant | None
    cancelledAt: Instant | None
    callAgentId: str
    maxConcurrentDials: int
    fromPhoneNumberIds: list[str]
    schedule: ScheduleIn | None
    disableSchedule: bool
    pendingConfig: dict[str, Any] | None = Field(
        description="the configuration staged while ACTIVE, applied at the next pause"
    )
    counts: JobCounts
    recipientHours: HoursIn | None
    retry: RetryIn | None
    voicemail: VoicemailIn | None = None
    preDialWebhook: PreDialIn | None = None
    preDialSecret: str | None = Field(
        default=None,
        description="signs the pre-dial requests (whsec_...); only in create's, update's answers",
    )
    callingRules: CallingRules | None = None
    purpose: Purpose = "informational"
    callerId: CallerId = "spread"
    window: Window


class RowsAppended(BaseModel):
    """What ``POST /api/batch_dial_jobs/{id}/rows`` answers (SPEC §8.3)."""

    appended: int = Field(description="rows added to the job")
    duplicates: int = Field(description="rows skipped: the job already had their externalId")
    rows: int = Field(description="the job's rows after the append")


class RowsRequeued(BaseModel):
    """What ``POST /api/batch_dial_jobs/{id}/retry`` answers."""

    requeued: int = Field(description="finished rows put back in the queue")
    job: Job


WaitingFor = Literal[
    "paused",
    "retryBackoff",
    "frequencyCap",
    "schedule",
    "recipientHours",
    "callingRules",
    "callerId",
    "capacity",
    "pacing",
    "preDial",
]
#: Which rule chose a dial's fromNumber (the job's callerId, and how it matched).
CallerIdRule = Literal[
    "spread", "local:areaCode", "local:state", "local:spread", "sticky", "sticky:new"
]


class QueueEntry(BaseModel):
    """A row still waiting to be dialed, why it waits, and when it may next be dialed."""

    rowId: str
    index: int
    toNumber: str
    inputs: dict[str, str]
    attempt: int
    callAgentId: str | None = Field(
        default=None, description="the row's own agent (absent: the job's callAgentId)"
    )
    expiresAt: Instant | None = Field(
        default=None, description="when the row ends expired if not dialed (absent: never)"
    )
    timezones: list[str] = Field(
        default_factory=list, description="the recipient's zones (jobs with recipientHours)"
    )
    timezoneSource: Literal["number", "row", "job"] = Field(
        default="job", description="where the zones come from (jobs with recipientHours)"
    )
    waitingFor: WaitingFor
    nextEligibleAt: Instant | None
    heldBy: str | None = Field(
        default=None,
        description="the calling rule that holds the row (waitingFor callingRules), "
        "with its statute; nextEligibleAt says until when",
    )
    state: str | None = Field(default=None, description="the recipient's state (callingRules)")
    stateSource: Literal["row", "number"] | None = None
    consent: ConsentIn | None = None


class Dial(BaseModel):
    """One dial attempt of a job."""

    dialId: str
    jobId: str | None
    rowId: str | None
    toNumber: str | None
    fromNumber: str | None
    status: str | None
    startedAt: Instant | None
    endedAt: Instant | None
    attempt: int
    callerIdRule: CallerIdRule | None = Field(
        default=None, description="which callerId rule chose fromNumber"
    )
    consent: ConsentIn | None = Field(default=None, description="the row's consent, as given")
    callAgentId: str | None = Field(
        default=None, description="the row's own agent (absent: the job's callAgentId)"
    )


class DialDetail(BaseModel):
    """One dial with what its agent needs when its call is answered."""

    dialId: str
    jobId: str
    rowId: str | None
    callAgentId: str
    toNumber: str | None
    fromNumber: str | None
    attempt: int
    status: str | None
    startedAt: Instant | None
    endedAt: Instant | None
    inputs: dict[str, str] = Field(description="the row's inputs, for the agent")
    voicemail: Literal["hangup", "retry", "leave_message"] | None = Field(
        default=None, description="the job's voicemail action"
    )
    answeredBy: str | None = Field(
        default=None,
        description="the carrier's answering-machine verdict so far (machine: leave the message)",
    )
    callerIdRule: CallerIdRule | None = None
    consent: ConsentIn | None = None


class Event(BaseModel):
    """One entry of a job's event log; fields beyond these are the event's details."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="the cursor to resume after this event", examples=["1-0"])
    at: Instant
    type: str = Field(examples=["job.started"])


class Suppression(BaseModel):
    """A number never dialed, why, and since when."""

    number: str
    reason: str | None
    source: str = Field(examples=["api", "opted-out"])
    createdAt: Instant | None
    jobId: str = Field(default="", description="the job whose dial reported opted-out")
    dialId: str = Field(default="", description="the dial that reported opted-out")


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    data: list[Job]
    nextCursor: str | None


class QueuePage(BaseModel):
    """A page of the queue, in dialing order."""

    data: list[QueueEntry]
    nextCursor: str | None


class DialPage(BaseModel):
    """A page of dial attempts, newest first."""

    data: list[Dial]
    nextCursor: str | None


class EventPage(BaseModel):
    """A page of the event log, oldest first."""

    data: list[Event]
    nextCursor: str | None


class SuppressionPage(BaseModel):
    """A page of the suppression list, in lexicographic order."""

    data: list[Suppression]
    nextCursor: str | None


class SuppressionsAdded(BaseModel):
    """How many of the distinct numbers given were new to the list."""

    added: int
    alreadySuppressed: int


class SuppressionRemoved(BaseModel):
    """The number taken off the list."""

    number: str
    removed: bool


class NumberStats(BaseModel):
    """A pool number's health over the last 24 hours."""

    dials: int
    answered: int = Field(description="dials that ended completed")
    voicemail: int
    answerRate: float | None
    voicemailRate: float | None


class CallerNumber(BaseModel):
    """A caller-ID number of the workspace and its own concurrency limit."""

    id: str
    number: str
    maxConcurrentDials: int
    resting: bool = Field(default=False, description="rested: no new dial uses it")
    restingUntil: str | None = Field(
        default=None, description="until when a quarantined number rests (ISO 8601 UTC)"
    )
    stats: NumberStats | None = None


class NumberDeleted(CallerNumber):
    """A deleted number, and the unfinished jobs whose pools it left."""

    deleted: bool
    removedFromJobs: list[str]


class ApiKeyInfo(BaseModel):
    """One API key of the workspace (never the key itself)."""

    id: str
    createdAt: str | None = Field(description="ISO 8601 UTC; null for the first key")


class ApiKeyCreated(ApiKeyInfo):
    """A new API key: ``apiKey`` is shown only in this answer."""

    apiKey: str


class ApiKeyRevoked(BaseModel):
    id: str
    revoked: bool


class Workspace(BaseModel):
    """The caller's workspace: name, dial limit, numbers and settings."""

    id: str
    name: str
    dialLimit: int
    phoneNumbers: list[CallerNumber]
    maxCallsPerNumberPerDay: int | None
    reservedInboundDials: int | None = None
    quarantineBelowAnswerRate: float | None = None
    apiKeys: list[ApiKeyInfo] = Field(default_factory=list)


class DialStatusChange(BaseModel):
    """The answer to a provider's status report."""

    dialId: str
    status: str
    changed: bool


class Status(BaseModel):
    """The answer of ``/healthz`` and ``/readyz``."""

    status: str = Field(examples=["ok"])
