"""Request models of the job routes (camelCase, as SPEC §4): create, update, pause."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from producer import validation as v
from producer.schemas.base import E164_SCHEMA, StrictIn, never_null
from producer.schemas.predial import PreDialIn
from producer.schemas.rules import CallerId, CallingRules, ConsentIn, Purpose, StateCode
from producer.schemas.schedule import ZONE_SCHEMA, HoursIn, ScheduleIn

JobStatus = Literal["INIT", "ACTIVE", "PAUSED", "COMPLETE", "CANCELLED"]


class RetryIn(StrictIn):
    """Which dial outcomes are tried again, how often, and after how long."""

    maxAttempts: StrictInt = Field(ge=1, le=v.MAX_ATTEMPTS)  # noqa: N815
    on: list[StrictStr] = Field(
        default_factory=lambda: ["no-answer", "busy", "failed"], max_length=10
    )
    backoffSeconds: list[StrictInt] = Field(  # noqa: N815
        default_factory=lambda: [300], min_length=1, max_length=v.MAX_ATTEMPTS
    )

    @field_validator("on")
    @classmethod
    def _on(cls, value: list[str]) -> list[str]:
        return v.check_retry_statuses(value)

    @field_validator("backoffSeconds")
    @classmethod
    def _backoff(cls, value: list[int]) -> list[int]:
        return v.check_backoff(value)


class VoicemailIn(StrictIn):
    """What to do when an answering machine picks up: turns on the carrier's
    detection (Twilio ``MachineDetection``). ``hangup``: a machine ends the dial as
    ``voicemail``; ``retry``: the same, and the row is tried again (the job's ``retry``
    must name ``voicemail``); ``leave_message``: detection waits for the greeting's end
    so the agent can leave a message, and the dial ends as ``voicemail``."""

    action: Literal["hangup", "retry", "leave_message"]


def _check_detection(voicemail: VoicemailIn | None, context: v.Context | None) -> None:
    if voicemail is not None and context is not None and not context.limits.machine_detection:
        raise v.fail(
            "voicemail_unsupported",
            "the livekit dialer (BATCHDIAL_DIALER=livekit) cannot detect answering "
            "machines: LiveKit SIP reports none, so a machine's answer would count as "
            "completed. Leave voicemail out (the agent can tell a machine itself)",
        )


def _check_voicemail(voicemail: VoicemailIn | None, retry: RetryIn | None) -> None:
    retried = retry is not None and "voicemail" in retry.on
    if voicemail is not None and voicemail.action == "retry" and not retried:
        raise v.fail(
            "voicemail_retry",
            "action 'retry' needs a retry policy that names voicemail "
            '(retry.on: [..., "voicemail"])',
        )


class RowIn(StrictIn):
    """One person to call and the inputs the agent gets."""

    toNumber: StrictStr = Field(examples=["+12125550123"], json_schema_extra=E164_SCHEMA)  # noqa: N815
    inputs: dict[StrictStr, StrictStr] = Field(
        default_factory=dict,
        json_schema_extra={
            "propertyNames": {"minLength": 1, "pattern": v.IDENTIFIER_PATTERN},
            "additionalProperties": {"type": "string", "pattern": v.TEXT_PATTERN},
        },
    )
    timezone: StrictStr | None = Field(
        default=None, examples=["America/Chicago"], json_schema_extra=ZONE_SCHEMA
    )
    consent: ConsentIn | None = None
    state: StateCode | None = Field(
        default=None, description="the recipient's US state (callingRules), else its area code's"
    )
    #: The caller's own id of the row, unique within a job: a row whose externalId the
    #: job already has is skipped (counted in ``duplicates``), not added again.
    externalId: StrictStr | None = Field(  # noqa: N815
        default=None,
        min_length=1,
        max_length=200,
        examples=["crm-00042"],
        json_schema_extra={"pattern": v.IDENTIFIER_PATTERN},
    )

    #: The agent for this row's calls instead of the job's (Retell's override_agent_id).
    callAgentId: StrictStr | None = Field(  # noqa: N815
        default=None,
        min_length=1,
        max_length=200,
        examples=["agent-for-spanish"],
        json_schema_extra={"pattern": v.IDENTIFIER_PATTERN},
    )

    #: When the row expires if not dialed by then (ISO 8601 with its offset, e.g.
    #: 2026-12-01T18:00:00Z): it then ends with outcome ``expired``.
    expiresAt: StrictStr | None = Field(  # noqa: N815
        default=None, examples=["2030-01-01T18:00:00Z"], json_schema_extra={"format": "date-time"}
    )

    @field_validator("expiresAt")
    @classmethod
    def _expires(cls, value: str | None) -> str | None:
        return None if value is None else v.check_expiry(value)

    @field_validator("externalId", "callAgentId")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return None if value is None else v.check_identifier(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else v.check_timezone(value)

    @field_validator("toNumber")
    @classmethod
    def _number(cls, value: str) -> str:
        return v.normalize_phone_number(value)

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return v.check_inputs(value, v.context_of(info.context))


#: An identifier: no control or invisible character (:func:`validation.check_identifier`).
_IDENTIFIER: dict[str, JsonValue] = {"pattern": v.IDENTIFIER_PATTERN}
Name = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200, json_schema_extra=_IDENTIFIER),
    AfterValidator(v.check_identifier),
]
AgentId = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200, json_schema_extra=_IDENTIFIER),
    AfterValidator(v.check_identifier),
]
#: The id of one of the workspace's numbers (``GET /api/workspace``); the custom format
#: says so, as no pattern can.
PhoneNumberId = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=100,
        json_schema_extra={**_IDENTIFIER, "format": "phone-number-id"},
    ),
    AfterValidator(v.check_identifier),
]


class JobCreate(StrictIn):
    """Body of ``POST /api/batch_dial_jobs``."""

    name: Name
    callAgentId: AgentId  # noqa: N815
    maxConcurrentDials: StrictInt = Field(ge=1)  # noqa: N815
    fromPhoneNumberIds: list[PhoneNumberId] = Field(min_length=1, max_length=1000)  # noqa: N815
    schedule: ScheduleIn | None = None
    disableSchedule: StrictBool = False  # noqa: N815
    recipientHours: HoursIn | None = None  # noqa: N815
    retry: RetryIn | None = None
    voicemail: VoicemailIn | None = None
    preDialWebhook: PreDialIn | None = None  # noqa: N815
    callingRules: CallingRules | None = None  # noqa: N815
    purpose: Purpose = "informational"
    callerId: CallerId = "spread"  # noqa: N815
    #: Rows not dialed this long after they join the job end ``expired`` (issue 17).
    rowTtlSeconds: StrictInt | None = Field(default=None, ge=60, le=v.MAX_ROW_TTL_S)  # noqa: N815
    rows: list[RowIn] = Field(default_factory=list)

    @field_validator("voicemail")
    @classmethod
    def _voicemail(cls, value: VoicemailIn | None, info: ValidationInfo) -> VoicemailIn | None:
        _check_detection(value, v.context_of(info.context))
        _check_voicemail(value, info.data.get("retry"))
        return value

    @field_validator("maxConcurrentDials")
    @classmethod
    def _cap(cls, value: int, info: ValidationInfo) -> int:
        return v.check_cap(value, v.context_of(info.context))

    @field_validator("fromPhoneNumberIds")
    @classmethod
    def _pool(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return v.check_pool(value, v.context_of(info.context))

    @field_validator("rows", mode="before")
    @classmethod
    def _row_count(cls, value: object, info: ValidationInfo) -> object:
        ctx = v.context_of(info.context)
        limit = ctx.limits.max_rows if ctx else v.Limits().max_rows
        if isinstance(value, list) and len(value) > limit:
            raise v.fail(
                "too_many_rows",
                f"has {len(value)} rows; at most {limit} are allowed in one job",
            )
        return value

    @field_validator("rows")
    @classmethod
    def _unique_numbers(cls, value: list[RowIn]) -> list[RowIn]:
        first: dict[str, int] = {}
        without_id: dict[str, int] = {}
        repeats = []
        for i, row in enumerate(value):
            j = first.setdefault(row.toNumber, i)
            # A number may repeat only on rows that all carry an externalId (issue 17).
            if j != i and (row.externalId is None or row.toNumber in without_id):
                j = without_id.get(row.toNumber, j)
                repeats.append(f"rows[{i}] repeats rows[{j}] ({row.toNumber})")
            if row.externalId is None:
                without_id.setdefault(row.toNumber, i)
        if repeats:
            more = f" and {len(repeats) - 5} more" if len(repeats) > 5 else ""
            raise v.fail(
                "duplicate_number",
                "each number may appear once in a job, so that nobody is called twice "
                "(unless every row with it carries its own externalId): "
                + "; ".join(repeats[:5])
                + more,
            )
        return value


#: Fields of an update that may be left out but never be null.
#: Update fields that may be left out but never be null (``_not_null`` refuses it).
_NEVER_NULL = (
    "name",
    "callAgentId",
    "maxConcurrentDials",
    "fromPhoneNumberIds",
    "disableSchedule",
    "callerId",
)


class JobUpdate(StrictIn):
    """Body of ``PUT /api/batch_dial_jobs/{id}``: only the fields given change."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=never_null(*_NEVER_NULL, at_least_one=True)
    )

    name: Name | None = None
    callAgentId: AgentId | None = None  # noqa: N815
    maxConcurrentDials: StrictInt | None = Field(default=None, ge=1)  # noqa: N815
    fromPhoneNumberIds: list[PhoneNumberId] | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=1000
    )
    schedule: ScheduleIn | None = None
    disableSchedule: StrictBool | None = None  # noqa: N815
    recipientHours: HoursIn | None = None  # noqa: N815
    retry: RetryIn | None = None
    voicemail: VoicemailIn | None = None
    preDialWebhook: PreDialIn | None = None  # noqa: N815
    callerId: CallerId | None = None  # noqa: N815

    @field_validator("voicemail")
    @classmethod
    def _voicemail(cls, value: VoicemailIn | None, info: ValidationInfo) -> VoicemailIn | None:
        _check_detection(value, v.context_of(info.context))
        if "retry" in info.data and info.data["retry"] is not None:
            _check_voicemail(value, info.data["retry"])
        return value

    @field_validator("maxConcurrentDials")
    @classmethod
    def _cap(cls, value: int | None, info: ValidationInfo) -> int | None:
        return None if value is None else v.check_cap(value, v.context_of(info.context))

    @field_validator("fromPhoneNumberIds")
    @classmethod
    def _pool(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else v.check_pool(value, v.context_of(info.context))

    @field_validator(
        "name",
        "callAgentId",
        "maxConcurrentDials",
        "fromPhoneNumberIds",
        "disableSchedule",
        "callerId",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise v.fail("null", "may not be null (leave the field out to keep it)")
        return value


class PausedIn(StrictIn):
    """Body of ``POST /api/batch_dial_jobs/{id}/paused``."""

    paused: StrictBool
