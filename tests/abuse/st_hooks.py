"""Schemathesis hooks for the conformance run (``SCHEMATHESIS_HOOKS=tests.abuse.st_hooks``).

The OpenAPI document states every rule a schema can carry; what none can is named by a
custom ``format`` (a dialable number, an id of the workspace's numbers, a time zone of
the tz database, a cursor a list gave out) and by rules across fields (a slot ends
after it starts, each number once, a cap within the workspace's dial limit) or on the
stored job (``recipientHours`` changes only on a job created with them). Here the
run learns both: strategies for the formats, and a filter that keeps out of the
*positive* cases a body the API's own models refuse. Negative cases are untouched.

The workspace's phone number ids and dial limit come from ``BATCHDIAL_ST_PHONE_IDS``
(comma-separated) and ``BATCHDIAL_ST_DIAL_LIMIT``.
"""

from __future__ import annotations

import os
from typing import Any

import phonenumbers
import schemathesis
from hypothesis import strategies as st

from domain.errors import BatchDialError
from producer.grouping import Grouping, check_groups
from producer.jobs import CONFIG_FIELDS
from producer.rowstore import check_consent
from producer.schemas.jobs import JobCreate, JobUpdate
from producer.validation import Context

REGIONS = ("US", "GB", "DE", "FR", "JP", "BR", "IN", "AU")
NUMBERS = sorted(
    phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    for region in REGIONS
    if (n := phonenumbers.example_number(region)) is not None
)
PHONE_IDS = [i for i in os.environ.get("BATCHDIAL_ST_PHONE_IDS", "").split(",") if i]
DIAL_LIMIT = int(os.environ.get("BATCHDIAL_ST_DIAL_LIMIT", "1"))
#: The id of the run's own API key (issue 19: keys can be revoked by id).
KEY_ID = os.environ.get("BATCHDIAL_ST_KEY_ID", "")

schemathesis.openapi.format("e164", st.sampled_from(NUMBERS))
schemathesis.openapi.format("iana-timezone", st.sampled_from(["UTC", "America/New_York"]))
schemathesis.openapi.format("cursor", st.just(""))
# The conformance API runs with BATCHDIAL_WEBHOOK_ALLOW_PRIVATE=true: loopback
# destinations are accepted there, and nothing is ever sent (no worker runs).
schemathesis.openapi.format(
    "webhook-url", st.sampled_from(["https://127.0.0.1/hooks", "http://localhost:9/batchdial"])
)
if PHONE_IDS:
    schemathesis.openapi.format("phone-number-id", st.sampled_from(PHONE_IDS))


def _accepted(model: type[JobCreate] | type[JobUpdate], body: Any) -> bool:
    """Whether the API's model (in this workspace) takes ``body``."""
    ctx = Context(DIAL_LIMIT, frozenset(PHONE_IDS))
    try:
        spec = model.model_validate(body, context={"batchdial": ctx})
        if isinstance(spec, JobCreate):
            check_consent(spec)
        if isinstance(spec, JobCreate) and (spec.recipientHours or spec.callingRules):
            config = spec.model_dump(include=set(CONFIG_FIELDS), mode="json")
            check_groups(Grouping.of(spec), config)
    except (ValueError, BatchDialError):
        return False
    return True


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:  # type: ignore[type-arg]
    """Positive job bodies the models refuse for a rule across fields are not positive."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or context.operation is None:
        return True
    label = f"{case.method.upper()} {context.operation.path}"
    if label == "POST /api/batch_dial_jobs":
        return _accepted(JobCreate, case.body)
    if label == "PUT /api/batch_dial_jobs/{job_id}":
        # recipientHours changes only on a job created with them (a rule on the stored
        # job, which no schema of the body can state): such a body is not positive here.
        if isinstance(case.body, dict) and case.body.get("recipientHours") is not None:
            return False
        return _accepted(JobUpdate, case.body)
    # Whether appended rows are taken depends on the job's stored rows (a number the job
    # has is refused unless both rows carry an externalId; issue 17), which no schema of
    # the body can state: no append body is positive for sure here.
    if label == "POST /api/batch_dial_jobs/{job_id}/rows":
        return False
    return _keeps_the_workspace(label, case)


def _keeps_the_workspace(label: str, case: schemathesis.Case) -> bool:  # type: ignore[type-arg]
    """Issue 19's routes can change what every later case relies on: deleting one of the
    workspace's numbers (the ids the job bodies use), revoking the run's own key, or a
    reserve that lowers the cap a job may have (the filter above checks caps against the
    dial limit). Such positive cases are left out; their own tests cover them."""
    params = case.path_parameters or {}
    if label == "DELETE /api/phone_numbers/{number_id}":
        return params.get("number_id") not in PHONE_IDS
    if label == "DELETE /api/workspace/api_keys/{key_id}":
        return params.get("key_id") != KEY_ID
    if label == "PATCH /api/workspace" and isinstance(case.body, dict):
        return case.body.get("reservedInboundDials") is None
    return True
