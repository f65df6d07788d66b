"""Every Redis key batchdial uses, in one place.

Layout (``ns`` = ``BATCHDIAL_NAMESPACE``; ``{ws}`` is the workspace id in a hash
tag so that every multi-key script touches one cluster slot)::

    ns:apikeys                      hash   sha256(api key) -> workspace id
    ns:workspaces                   set    workspace ids
    ns:jobws                        hash   job id -> workspace id (to route provider callbacks)
    ns:wakeups                      zset   "<ws>|<job>" -> when the job's pump should run next
    ns:deadlines                    zset   "<ws>|<job>|<dial>" -> lease expiry of the dial
    ns:stats                        hash   namespace-wide totals for metrics (jobs:<status>,
                                           queued, inProgress, finished:<status>)
    ns:{ws}:ws                      hash   workspace record (name, dialLimit, createdAt)
    ns:{ws}:numbers                 hash   phone number id -> JSON {number, max}
    ns:{ws}:jobs                    zset   all members score 0, member "<newest-first key>:<job id>"
    ns:{ws}:sem                     zset   dial id -> lease expiry: the workspace's live dials
    ns:{ws}:num:<pn>:sem            zset   dial id -> lease expiry: one pool number's dials
    ns:{ws}:waiting                 set    "<ws>|<job>" of jobs refused for workspace/number room
    ns:{ws}:job:<id>                hash   job record and counters
    ns:{ws}:job:<id>:rows           hash   row index -> JSON {toNumber, inputs}
    ns:{ws}:job:<id>:queue          zset   row index -> dialing order; waiting, not yet released
    ns:{ws}:job:<id>:released       zset   row index -> dialing order; sent to broker, unclaimed
    ns:{ws}:job:<id>:cancelled      zset   row index -> dialing order; cancelled before dialing
    ns:{ws}:job:<id>:dialing        hash   row index -> dial id; rows being dialed now
    ns:{ws}:job:<id>:relt           zset   row index -> when released (to recover lost messages)
    ns:{ws}:job:<id>:sem            zset   dial id -> lease expiry: the job's dials in progress
    ns:{ws}:job:<id>:events         stream the job's event log
    ns:{ws}:job:<id>:dials          zset   dial id -> start order (newest first when read reversed)
    ns:{ws}:dial:<dial id>          hash   one dial attempt
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one namespace."""

    namespace: str

    # -- global --------------------------------------------------------------
    @property
    def apikeys(self) -> str:
        """Hash: sha256 hex of an API key -> workspace id."""
        return f"{self.namespace}:apikeys"

    @property
    def workspaces(self) -> str:
        """Set of every workspace id."""
        return f"{self.namespace}:workspaces"

    @property
    def jobws(self) -> str:
        """Hash: job id -> workspace id."""
        return f"{self.namespace}:jobws"

    @property
    def wakeups(self) -> str:
        """Sorted set: ``<ws>|<job>`` -> when that job's pump should next run (ms)."""
        return f"{self.namespace}:wakeups"

    @property
    def deadlines(self) -> str:
        """Sorted set: ``<ws>|<job>|<dial>`` -> when the dial's lease expires (ms)."""
        return f"{self.namespace}:deadlines"

    @property
    def stats(self) -> str:
        """Hash: namespace-wide totals kept by the scripts, read by metrics."""
        return f"{self.namespace}:stats"

    @property
    def broker_namespace(self) -> str:
        """Prefix of dramatiq's own keys and queues."""
        return f"{self.namespace}:dramatiq"

    # -- per workspace -------------------------------------------------------
    def _ws(self, ws_id: str) -> str:
        return f"{self.namespace}:{{{ws_id}}}"

    def workspace(self, ws_id: str) -> str:
        """Hash: the workspace record."""
        return f"{self._ws(ws_id)}:ws"

    def numbers(self, ws_id: str) -> str:
        """Hash: phone number id -> JSON."""
        return f"{self._ws(ws_id)}:numbers"

    def jobs(self, ws_id: str) -> str:
        """Sorted set (lexicographic) of the workspace's jobs, newest first."""
        return f"{self._ws(ws_id)}:jobs"

    def ws_sem(self, ws_id: str) -> str:
        """Sorted set: the workspace's dials in progress (dial id -> lease expiry)."""
        return f"{self._ws(ws_id)}:sem"

    def number_sem(self, ws_id: str, number_id: str) -> str:
        """Sorted set: one pool number's dials in progress (dial id -> lease expiry)."""
        return f"{self._ws(ws_id)}:num:{number_id}:sem"

    def waiting(self, ws_id: str) -> str:
        """Set: jobs refused for lack of workspace or number room, to wake when room frees."""
        return f"{self._ws(ws_id)}:waiting"

    # -- per job ---------------------------------------------------------------
    def job(self, ws_id: str, job_id: str) -> str:
        """Hash: the job record and its counters."""
        return f"{self._ws(ws_id)}:job:{job_id}"

    def rows(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> JSON of the row."""
        return f"{self.job(ws_id, job_id)}:rows"

    def queue(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows waiting to be dialed (not yet released to the broker)."""
        return f"{self.job(ws_id, job_id)}:queue"

    def released(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows released to the broker and not yet claimed by a dial."""
        return f"{self.job(ws_id, job_id)}:released"

    def cancelled(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows cancelled before they were dialed."""
        return f"{self.job(ws_id, job_id)}:cancelled"

    def dialing(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> dial id of the rows being dialed now."""
        return f"{self.job(ws_id, job_id)}:dialing"

    def released_at(self, ws_id: str, job_id: str) -> str:
        """Sorted set: row index -> when it was released to the broker (ms)."""
        return f"{self.job(ws_id, job_id)}:relt"

    def job_sem(self, ws_id: str, job_id: str) -> str:
        """Sorted set: the job's dials in progress (dial id -> lease expiry)."""
        return f"{self.job(ws_id, job_id)}:sem"

    def events(self, ws_id: str, job_id: str) -> str:
        """Stream: the job's event log."""
        return f"{self.job(ws_id, job_id)}:events"

    def dials(self, ws_id: str, job_id: str) -> str:
        """Sorted set: the job's dial ids by start order."""
        return f"{self.job(ws_id, job_id)}:dials"

    def dial(self, ws_id: str, dial_id: str) -> str:
        """Hash: one dial attempt."""
        return f"{self._ws(ws_id)}:dial:{dial_id}"

    def script_keys(self, ws_id: str, job_id: str) -> list[str]:
        """The KEYS every job script receives, in the order ``domain/lua/_lib.lua`` names."""
        return [
            self.job(ws_id, job_id),
            self.rows(ws_id, job_id),
            self.queue(ws_id, job_id),
            self.released(ws_id, job_id),
            self.cancelled(ws_id, job_id),
            self.dialing(ws_id, job_id),
            self.events(ws_id, job_id),
            self.dials(ws_id, job_id),
            self.job_sem(ws_id, job_id),
            self.released_at(ws_id, job_id),
            self.wakeups,
            self.deadlines,
            self.ws_sem(ws_id),
            self.workspace(ws_id),
            self.numbers(ws_id),
            self.waiting(ws_id),
            self.stats,
        ]


def job_member(ws_id: str, job_id: str) -> str:
    """How a job is named in the global wake-up index."""
    return f"{ws_id}|{job_id}"


def dial_member(ws_id: str, job_id: str, dial_id: str) -> str:
    """How a dial is named in the global deadline index."""
    return f"{ws_id}|{job_id}|{dial_id}"
