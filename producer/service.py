"""The producer's Python API: what the HTTP layer and other services call."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import redis

from config.redis import decoding
from config.settings import Settings
from domain.errors import NotFound
from domain.keys import Keys
from domain.pagination import Page
from producer.apikeys import ApiKeys
from producer.appends import RowAppender
from producer.forecasts import job_forecast
from producer.jobs import JobCommands
from producer.numbers import PhoneNumbers
from producer.reads import JobReads
from producer.results import JobResults
from producer.retries import RowRetries
from producer.rowformats import Item
from producer.suppressions import Suppressions, checked_number, parse_add
from producer.validation import Limits
from producer.webhook_deliveries import Deliveries
from producer.webhooks import Webhooks
from producer.workspaces import Workspaces
from producer.wssettings import WorkspaceSettings


def limits_of(settings: Settings) -> Limits:
    """The job size limits configured in ``settings``."""
    return Limits(
        max_rows=settings.max_rows_per_job,
        max_inputs_per_row=settings.max_inputs_per_row,
        max_input_key_chars=settings.max_input_key_chars,
        max_input_value_chars=settings.max_input_value_chars,
        machine_detection=settings.dialer != "livekit",
    )


class Producer:
    """Create, inspect and steer batch dial jobs on one Redis.

    Every method takes the caller's workspace id; a job of another workspace is
    :class:`~domain.errors.NotFound`, exactly as a job that does not exist. ``client`` is
    any synchronous redis client (``decode_responses`` True or False); anything else is
    refused with :class:`~config.redis.WrongRedisClient`, which says what to pass.
    """

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        limits: Limits | None = None,
        *,
        webhook_allow_private: bool = False,
        max_dials_per_second: int | None = None,
    ) -> None:
        # The producer reads strings: a bytes client gets a decoding twin (issue 18: a
        # plain redis.Redis.from_url(url) failed with KeyError 'name').
        client = decoding(client)
        self.redis = client
        self.keys = Keys(namespace)
        self.workspaces = Workspaces(client, self.keys)
        #: Webhook endpoints (SPEC §8.2) and their deliveries.
        self.webhooks = Webhooks(client, self.keys, allow_private=webhook_allow_private)
        self._commands = JobCommands(
            client,
            self.keys,
            self.workspaces,
            limits or Limits(),
            hook_url_problem=self._hook_url_problem,
        )
        self._reads = JobReads(client, self.keys)
        self._appender = RowAppender(client, self.keys, self.workspaces, limits or Limits())
        self._results = JobResults(client, self.keys)
        self._retries = RowRetries(client, self.keys)
        self.suppressions = Suppressions(client, self.keys)
        self._settings = WorkspaceSettings(client, self.keys, self.workspaces)
        self.deliveries = Deliveries(client, self.keys)
        #: BATCHDIAL_MAX_DIALS_PER_SECOND, which forecasts take into account.
        self.max_dials_per_second = max_dials_per_second
        self.numbers = PhoneNumbers(client, self.keys, self.workspaces)
        self.api_keys = ApiKeys(client, self.keys)

    def _hook_url_problem(self, url: str) -> str | None:
        # Through the attribute, so that a Webhooks put in its place is the one asked.
        return self.webhooks.url_problem(url)

    def create_job(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Validate and store a job (state INIT); returns the job object (with the
        ``preDialSecret`` that signs its pre-dial requests, if it has a hook)."""
        return self._reads.get(ws_id, self._commands.create(ws_id, body), with_secret=True)

    def create_job_with_rows(self, ws_id: str, job: bytes, items: Iterable[Item]) -> dict[str, Any]:
        """Create a job from its config (``job``, JSON without rows) and the rows of an
        upload, in one step once every row was read and checked; the job object."""
        job_id, config = self._commands.prepare(ws_id, job)
        self._appender.create(ws_id, job_id, config, items)
        return self._reads.get(ws_id, job_id)

    def append_rows(self, ws_id: str, job_id: str, items: Iterable[Item]) -> dict[str, int]:
        """Add the rows of an upload to an INIT, ACTIVE or PAUSED job, all or nothing;
        ``{"appended", "duplicates", "rows"}`` (SPEC §8.3)."""
        return self._appender.append(ws_id, job_id, items)

    def retry_rows(
        self, ws_id: str, job_id: str, body: bytes | str | dict[str, Any]
    ) -> dict[str, Any]:
        """Requeue finished rows by outcome (SPEC §8.3); ``{"requeued", "job"}``."""
        requeued = self._retries.retry(ws_id, job_id, body)
        return {"requeued": requeued, "job": self._reads.get(ws_id, job_id)}

    def results(self, ws_id: str, job_id: str) -> Iterator[dict[str, Any]]:
        """One result line per row, in row order, read page by page (SPEC §8.3);
        :class:`~domain.errors.NotFound` at once for a job not of the workspace."""
        return self._results.rows(ws_id, job_id)

    def get_job(self, ws_id: str, job_id: str) -> dict[str, Any]:
        """The job object with its counters."""
        return self._reads.get(ws_id, job_id)

    def list_jobs(self, ws_id: str, limit: int | None = None, cursor: str | None = None) -> Page:
        """The workspace's jobs, newest first."""
        return self._reads.list(ws_id, limit, cursor)

    def set_paused(self, ws_id: str, job_id: str, paused: bool) -> dict[str, Any]:
        """Start or resume (``paused=False``), or pause a job; returns the job object."""
        self._commands.set_paused(ws_id, job_id, paused)
        return self._reads.get(ws_id, job_id)

    def update_job(
        self, ws_id: str, job_id: str, body: bytes | str | dict[str, Any]
    ) -> dict[str, Any]:
        """Change a job's configuration (staged while ACTIVE); returns the job object
        (with its ``preDialSecret``, if it has one)."""
        self._commands.update(ws_id, job_id, body)
        return self._reads.get(ws_id, job_id, with_secret=True)

    def cancel_job(self, ws_id: str, job_id: str) -> dict[str, Any]:
        """Cancel a job; returns the job object."""
        self._commands.cancel(ws_id, job_id)
        return self._reads.get(ws_id, job_id)

    def queue(
        self, ws_id: str, job_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """Rows still waiting to be dialed, in dialing order."""
        return self._reads.queue(ws_id, job_id, limit, cursor)

    def dials(
        self, ws_id: str, job_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The job's dial attempts, newest first."""
        return self._reads.dials(ws_id, job_id, limit, cursor)

    def events(
        self, ws_id: str, job_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The job's event log, in order."""
        return self._reads.events(ws_id, job_id, limit, cursor)

    def forecast(self, ws_id: str, job_id: str) -> dict[str, Any]:
        """When the job is expected to finish (see :mod:`domain.forecast`)."""
        job = self._reads.get(ws_id, job_id)
        return job_forecast(
            job,
            self._settings.get(ws_id),
            lambda limit: self._reads.dials(ws_id, job_id, limit, None),
            global_dials_per_second=self.max_dials_per_second,
        )

    def workspace_events(
        self, ws_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The workspace's own log (``webhook.disabled``), in order."""
        return self._reads.workspace_events(ws_id, limit, cursor)

    # -- the workspace: suppression list and settings ----------------------------

    def add_suppressions(
        self, ws_id: str, numbers: Sequence[str], reason: str | None = None
    ) -> dict[str, int]:
        """Never dial ``numbers`` again; ``{"added", "alreadySuppressed"}`` (idempotent)."""
        return self.suppressions.add(ws_id, numbers, reason)

    def import_suppressions(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, int]:
        """:meth:`add_suppressions` from a ``POST /api/suppressions`` body."""
        return self.suppressions.add_parsed(ws_id, parse_add(body))

    def remove_suppression(self, ws_id: str, number: str) -> dict[str, Any]:
        """Take ``number`` off the list; :class:`NotFound` if it was not on it."""
        e164 = checked_number(number)
        if not self.suppressions.remove(ws_id, e164):
            raise NotFound(f"{e164} is not on the suppression list")
        return {"number": e164, "removed": True}

    def list_suppressions(
        self, ws_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The suppressed numbers, in lexicographic order of their E.164 form."""
        return self.suppressions.list(ws_id, limit, cursor)

    def get_workspace(self, ws_id: str) -> dict[str, Any]:
        """The workspace object: name, dial limit, numbers and settings."""
        return self._settings.get(ws_id)

    def update_workspace(self, ws_id: str, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Change the settings given in ``body`` (null turns one off); the workspace after."""
        return self._settings.update(ws_id, body)
