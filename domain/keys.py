"""Every Redis key batchdial uses, in one place.

Layout (``ns`` = ``BATCHDIAL_NAMESPACE``; ``{ws}`` is the workspace id in a hash
tag so that every multi-key script touches one cluster slot)::

    ns:apikeys                      hash   sha256(api key) -> workspace id
    ns:workspaces                   set    workspace ids
    ns:jobws                        hash   job id -> workspace id (to route provider callbacks)
    ns:wakeups                      zset   "<ws>|<job>" -> when the job's pump should run next
    ns:deadlines                    zset   "<ws>|<job>|<dial>" -> lease expiry of the dial
    ns:workers                      zset   worker process id -> last heartbeat (ms, Redis time)
    ns:stats                        hash   totals for metrics (jobs:<status>, queued, ...)
    ns:pace                         string GCRA arrival time (µs) of the next start, all workspaces
    ns:commits                      zset   "<ws>|<job>|<upload>" -> when its commit's lease lapses
    ns:ccall:<carrier>:<call id>    string "<ws>|<job>|<dial>" of a carrier's call (expires)
    ns:dramatiq:...                 dramatiq's own keys; ns:dramatiq:dial.bell list: rung per dial
    ns:refills                      list   "<ws>|<job>|<row>": rows a callback's end released
    ns:whws / :whdue / :whtick / :whbusy  workspaces with webhook endpoints / "<ws>|<ep>" ->
                                    first delivery due / tick lock / "<ws>|<ep>" -> held until
    ns:whdialing                    string set (expiring) while dial messages wait: dialing first
    ns:{ws}:wh / :wh:out / :wh:cur  webhook endpoints (id -> JSON) / outbox stream (every event
                                    while the workspace has endpoints) / last outbox id fanned out
    ns:{ws}:wh:fail / :wh:log / :wh:d:<id> / :wh:a:<ep>  endpoint id -> failing since (ms) /
                                    workspace log (stream) / a delivery / an endpoint's attempts
    ns:{ws}:wh:q:<ep>               zset   delivery id -> when due (or leased until): its queue
    ns:{ws}:idem:<sha256 of key>    string JSON: an Idempotency-Key's request and first answer
    ns:{ws}:ws / :numbers           hash   workspace record / phone number id -> JSON {number, max}
    ns:{ws}:sticky                  hash   E.164 recipient -> its number id (callerId sticky)
    ns:{ws}:jobs                    zset   all members score 0, member "<newest-first key>:<job id>"
    ns:{ws}:sem / :num:<pn>:sem     zset   dial id -> lease expiry: live dials (workspace/number)
    ns:{ws}:num:<pn>:health         hash   "<hour>:d|a|v" -> dials, answered, voicemail
    ns:{ws}:waiting / :pace         set jobs refused for room / string ns:pace's (maxDialsPerSecond)
    ns:{ws}:job:<id>                hash   job record and counters
    ns:{ws}:job:<id>:rows           hash   row index -> JSON {toNumber, inputs}
    ns:{ws}:job:<id>:queue          zset   row index -> dialing order; waiting, not yet released
    ns:{ws}:job:<id>:released / :cancelled  zset row -> order: sent, unclaimed / not dialed
    ns:{ws}:job:<id>:dialing        hash   row index -> dial id; rows being dialed now
    ns:{ws}:job:<id>:relt / :sem    zset   row -> when released / dial id -> lease expiry (job)
    ns:{ws}:job:<id>:events / :dials  stream the job's event log / zset dial id -> start order
    ns:{ws}:job:<id>:held / :holdwhy  zset row index -> when it may be dialed again / hash why
    ns:{ws}:job:<id>:att / :paced   hash row -> attempts made / zset row -> last paced refusal
    ns:{ws}:job:<id>:groups / :gopen  hash group id -> JSON {zones, source[, state]} / until
                                           when (ms) its hours are open (recipientHours, rules)
    ns:{ws}:job:<id>:gq:<gid>       zset   row index -> dialing order: a group's waiting rows
    ns:{ws}:job:<id>:ext / :nums    hash   externalId -> row index / toNumber -> "x" | "" (rows)
    ns:{ws}:job:<id>:last / :exp    hash row -> last dial id | ":suppressed" | ":expired" /
                                    zset row index -> when it expires (ms; expiresAt, rowTtl)
    ns:{ws}:job:<id>:up:<u>:rows... hash   an upload's staged rows, ext, nums, groups, commit state
    ns:{ws}:dial:<dial id>          hash   one dial attempt
    ns:{ws}:suppressed / :suppinfo  zset E.164 numbers never to dial / hash number -> JSON info
    ns:{ws}:freq:<number>           zset   dial id -> start (ms): calls to a number in 24 h

Scripts receive three KEYS (:meth:`Keys.script_keys`): the job key, the workspace
prefix and the namespace; :func:`lua_prelude` derives every other name from them
with the suffixes below, so this module stays the one place that names keys.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Queue of the scheduler actor, "pump" (its old name, which deploy/ and the alerts use).
SCHEDULER_QUEUE = "pump"
#: Queue of the dial actor (KEDA scales the workers on its length).
DIAL_QUEUE = "dial"
#: Rings kept on a queue's bell at most: to wake every idle worker, few needless looks after.
DIAL_BELL_RINGS = 16
#: Where dramatiq's own keys start, after the namespace (its broker's ``namespace``).
BROKER_PART = "dramatiq"

#: Lua name -> suffix of the per-job keys (after ``ns:{ws}:job:<id>:``).
JOB_PARTS: dict[str, str] = {
    "K_ROWS": "rows",
    "K_QUEUE": "queue",
    "K_RELEASED": "released",
    "K_CANCELLED": "cancelled",
    "K_DIALING": "dialing",
    "K_EVENTS": "events",
    "K_DIALS": "dials",
    "K_SEM": "sem",
    "K_RELT": "relt",
    "K_HELD": "held",
    "K_HOLDWHY": "holdwhy",
    "K_ATT": "att",
    "K_GROUPS": "groups",
    "K_GOPEN": "gopen",
    "K_PACED": "paced",
    "K_EXT": "ext",
    "K_NUMS": "nums",
    "K_LAST": "last",
    "K_EXPIRY": "exp",
}
#: Lua name -> suffix of the per-workspace keys (after ``ns:{ws}:``).
WS_PARTS: dict[str, str] = {
    "K_WS": "ws",
    "K_NUMBERS": "numbers",
    "K_JOBS": "jobs",
    "K_WS_SEM": "sem",
    "K_WAITING": "waiting",
    "K_SUPPRESSED": "suppressed",
    "K_SUPPINFO": "suppinfo",
    "K_WS_PACE": "pace",
    "K_STICKY": "sticky",
    "K_WH": "wh",
    "K_WH_OUT": "wh:out",
    "K_WH_CUR": "wh:cur",
    "K_WH_FAIL": "wh:fail",
    "K_WH_LOG": "wh:log",
}
#: Lua name -> suffix of the namespace-wide keys (after ``ns:``).
NS_PARTS: dict[str, str] = {
    "K_APIKEYS": "apikeys",
    "K_WORKSPACES": "workspaces",
    "K_JOBWS": "jobws",
    "K_WAKEUPS": "wakeups",
    "K_DEADLINES": "deadlines",
    "K_STATS": "stats",
    "K_WORKERS": "workers",
    "K_PACE": "pace",
    "K_WH_WS": "whws",
    "K_WH_DUE": "whdue",
    "K_WH_TICK": "whtick",
    "K_WH_BUSY": "whbusy",
    "K_WH_DIALING": "whdialing",
    "K_COMMITS": "commits",
    "K_REFILLS": "refills",  # worker/engine/refills.py; then dramatiq's dial queue and messages
    "K_DIAL_QUEUE": f"{BROKER_PART}:{DIAL_QUEUE}",
    "K_DIAL_MSGS": f"{BROKER_PART}:{DIAL_QUEUE}.msgs",
}
#: Keys with a variable part: Lua function name -> (base, format after the base).
VARIABLE_PARTS: dict[str, tuple[str, str]] = {
    "k_group_queue": ("job", "gq:{}"),
    "k_up_rows": ("job", "up:{}:rows"),
    "k_up_ext": ("job", "up:{}:ext"),
    "k_up_nums": ("job", "up:{}:nums"),
    "k_up_groups": ("job", "up:{}:groups"),
    "k_up_commit": ("job", "up:{}:commit"),
    "k_number_sem": ("ws", "num:{}:sem"),
    "k_number_health": ("ws", "num:{}:health"),
    "k_dial": ("ws", "dial:{}"),
    "k_freq": ("ws", "freq:{}"),
    "k_wh_dlv": ("ws", "wh:d:{}"),
    "k_wh_att": ("ws", "wh:a:{}"),
    "k_wh_q": ("ws", "wh:q:{}"),
    "k_idem": ("ws", "idem:{}"),
}


def lua_prelude() -> str:
    """Lua that names every key from the three script KEYS (see :meth:`Keys.script_keys`)."""
    lines = [
        "-- Key names, generated by domain/keys.py (lua_prelude) from the three KEYS:",
        "-- KEYS[1] the job key, KEYS[2] the workspace prefix, KEYS[3] the namespace.",
        "local K_JOB, K_WSP, K_NS = KEYS[1], KEYS[2], KEYS[3]",
        "local N_SCRIPT_KEYS = 3",
    ]
    for bases, parts in (("K_JOB", JOB_PARTS), ("K_WSP", WS_PARTS), ("K_NS", NS_PARTS)):
        lines += [f"local {name} = {bases} .. ':{suffix}'" for name, suffix in parts.items()]
    base_of = {"job": "K_JOB", "ws": "K_WSP"}
    for name, (base, fmt) in VARIABLE_PARTS.items():
        before, after = fmt.split("{}")
        tail = f" .. '{after}'" if after else ""
        lines.append(
            f"local function {name}(id) return {base_of[base]} .. ':{before}' .. id{tail} end"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one namespace."""

    namespace: str

    def _n(self, name: str) -> str:
        return f"{self.namespace}:{NS_PARTS[name]}"

    # -- global --------------------------------------------------------------
    @property
    def apikeys(self) -> str:
        """Hash: sha256 hex of an API key -> workspace id."""
        return self._n("K_APIKEYS")

    @property
    def workspaces(self) -> str:
        """Set of every workspace id."""
        return self._n("K_WORKSPACES")

    @property
    def jobws(self) -> str:
        """Hash: job id -> workspace id."""
        return self._n("K_JOBWS")

    @property
    def wakeups(self) -> str:
        """Sorted set: ``<ws>|<job>`` -> when that job's pump should next run (ms)."""
        return self._n("K_WAKEUPS")

    @property
    def deadlines(self) -> str:
        """Sorted set: ``<ws>|<job>|<dial>`` -> when the dial's lease expires (ms)."""
        return self._n("K_DEADLINES")

    @property
    def stats(self) -> str:
        """Hash: namespace-wide totals kept by the scripts, read by metrics."""
        return self._n("K_STATS")

    @property
    def workers(self) -> str:
        """Sorted set: live worker processes (id -> last heartbeat, ms Redis time)."""
        return self._n("K_WORKERS")

    def ns_key(self, name: str) -> str:
        """A namespace-wide key by its Lua name in :data:`NS_PARTS` (``K_WH_DUE``...)."""
        return self._n(name)

    def carrier_call(self, carrier: str, call_id: str) -> str:
        """String: the dial member (:func:`dial_member`) of a carrier's call id."""
        return f"{self.namespace}:ccall:{carrier}:{call_id}"

    @property
    def every_key(self) -> str:
        """Glob pattern matching every key of the namespace (clean-up of scratch runs)."""
        return f"{self.namespace}:*"

    @property
    def pace(self) -> str:
        """String: GCRA theoretical arrival time (µs) of the next start, all workspaces."""
        return self._n("K_PACE")

    @property
    def broker_namespace(self) -> str:
        """Prefix of dramatiq's own keys and queues."""
        return f"{self.namespace}:{BROKER_PART}"

    @property
    def dial_queue(self) -> str:
        """List: the dial messages waiting on the broker (dramatiq's queue list)."""
        return self._n("K_DIAL_QUEUE")

    @property
    def dial_messages(self) -> str:
        """Hash: dramatiq's message id -> the dial message (dramatiq's ``.msgs``)."""
        return self._n("K_DIAL_MSGS")

    def bell(self, queue: str) -> str:
        """List: rung (LPUSH) at each message sent to ``queue`` for now; the queue's idle
        consumers BLPOP it (``config/broker.py``)."""
        return f"{self.broker_namespace}:{queue}.bell"

    # -- per workspace -------------------------------------------------------
    def ws_prefix(self, ws_id: str) -> str:
        """What every key of one workspace starts with (a hash tag: one cluster slot)."""
        return f"{self.namespace}:{{{ws_id}}}"

    def _w(self, ws_id: str, name: str) -> str:
        return f"{self.ws_prefix(ws_id)}:{WS_PARTS[name]}"

    def _var(self, name: str, base: str, part: str) -> str:
        return f"{base}:{VARIABLE_PARTS[name][1].format(part)}"

    def workspace(self, ws_id: str) -> str:
        """Hash: the workspace record."""
        return self._w(ws_id, "K_WS")

    def numbers(self, ws_id: str) -> str:
        """Hash: phone number id -> JSON."""
        return self._w(ws_id, "K_NUMBERS")

    def jobs(self, ws_id: str) -> str:
        """Sorted set (lexicographic) of the workspace's jobs, newest first."""
        return self._w(ws_id, "K_JOBS")

    def ws_sem(self, ws_id: str) -> str:
        """Sorted set: the workspace's dials in progress (dial id -> lease expiry)."""
        return self._w(ws_id, "K_WS_SEM")

    def waiting(self, ws_id: str) -> str:
        """Set: jobs refused for lack of workspace or number room, to wake when room frees."""
        return self._w(ws_id, "K_WAITING")

    def suppressed(self, ws_id: str) -> str:
        """Sorted set (all scores 0, read by lex): the numbers never to dial."""
        return self._w(ws_id, "K_SUPPRESSED")

    def suppression_info(self, ws_id: str) -> str:
        """Hash: suppressed E.164 number -> JSON of why and since when."""
        return self._w(ws_id, "K_SUPPINFO")

    def ws_pace(self, ws_id: str) -> str:
        """String: GCRA theoretical arrival time (µs) of the workspace's next start."""
        return self._w(ws_id, "K_WS_PACE")

    def ws_key(self, ws_id: str, name: str, ident: str | None = None) -> str:
        """A workspace key by its Lua name: in :data:`WS_PARTS`, or with ``ident`` one of
        :data:`VARIABLE_PARTS` (``ws_key(ws, "k_wh_dlv", delivery_id)``)."""
        if ident is None:
            return self._w(ws_id, name)
        return self._var(name, self.ws_prefix(ws_id), ident)

    def number_sem(self, ws_id: str, number_id: str) -> str:
        """Sorted set: one pool number's dials in progress (dial id -> lease expiry)."""
        return self._var("k_number_sem", self.ws_prefix(ws_id), number_id)

    def dial(self, ws_id: str, dial_id: str) -> str:
        """Hash: one dial attempt."""
        return self._var("k_dial", self.ws_prefix(ws_id), dial_id)

    def freq(self, ws_id: str, number: str) -> str:
        """Sorted set: recent calls to one number (dial id -> start ms)."""
        return self._var("k_freq", self.ws_prefix(ws_id), number)

    # -- per job ---------------------------------------------------------------
    def job(self, ws_id: str, job_id: str) -> str:
        """Hash: the job record and its counters."""
        return f"{self.ws_prefix(ws_id)}:job:{job_id}"

    def _j(self, ws_id: str, job_id: str, name: str) -> str:
        return f"{self.job(ws_id, job_id)}:{JOB_PARTS[name]}"

    def rows(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> JSON of the row."""
        return self._j(ws_id, job_id, "K_ROWS")

    def queue(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows waiting to be dialed (not yet released to the broker)."""
        return self._j(ws_id, job_id, "K_QUEUE")

    def released(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows released to the broker and not yet claimed by a dial."""
        return self._j(ws_id, job_id, "K_RELEASED")

    def cancelled(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows cancelled before they were dialed."""
        return self._j(ws_id, job_id, "K_CANCELLED")

    def dialing(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> dial id of the rows being dialed now."""
        return self._j(ws_id, job_id, "K_DIALING")

    def released_at(self, ws_id: str, job_id: str) -> str:
        """Sorted set: row index -> when it was released to the broker (ms)."""
        return self._j(ws_id, job_id, "K_RELT")

    def job_sem(self, ws_id: str, job_id: str) -> str:
        """Sorted set: the job's dials in progress (dial id -> lease expiry)."""
        return self._j(ws_id, job_id, "K_SEM")

    def events(self, ws_id: str, job_id: str) -> str:
        """Stream: the job's event log."""
        return self._j(ws_id, job_id, "K_EVENTS")

    def dials(self, ws_id: str, job_id: str) -> str:
        """Sorted set: the job's dial ids by start order."""
        return self._j(ws_id, job_id, "K_DIALS")

    def held(self, ws_id: str, job_id: str) -> str:
        """Sorted set: rows held until a retry backoff or frequency cap lets them go."""
        return self._j(ws_id, job_id, "K_HELD")

    def hold_why(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> why it is held."""
        return self._j(ws_id, job_id, "K_HOLDWHY")

    def attempts(self, ws_id: str, job_id: str) -> str:
        """Hash: row index -> attempts made so far (rows that were retried)."""
        return self._j(ws_id, job_id, "K_ATT")

    def paced(self, ws_id: str, job_id: str) -> str:
        """Sorted set: released rows a claim refused for pacing (index -> when)."""
        return self._j(ws_id, job_id, "K_PACED")

    def groups(self, ws_id: str, job_id: str) -> str:
        """Hash: group id -> JSON of the recipients' time zones shared by its rows."""
        return self._j(ws_id, job_id, "K_GROUPS")

    def group_open(self, ws_id: str, job_id: str) -> str:
        """Hash: group id -> until when its recipients' hours are open (ms)."""
        return self._j(ws_id, job_id, "K_GOPEN")

    def group_queue(self, ws_id: str, job_id: str, group_id: str) -> str:
        """Sorted set: one group's waiting rows."""
        return self._var("k_group_queue", self.job(ws_id, job_id), group_id)

    def job_key(self, ws_id: str, job_id: str, name: str, ident: str | None = None) -> str:
        """A job key by its Lua name: in :data:`JOB_PARTS`, or with ``ident`` one of
        :data:`VARIABLE_PARTS` (``job_key(ws, job, "k_up_rows", upload_id)``)."""
        if ident is None:
            return self._j(ws_id, job_id, name)
        return self._var(name, self.job(ws_id, job_id), ident)

    def job_keys(self, ws_id: str, job_id: str) -> list[str]:
        """Every fixed key of one job (for clean-up; group queues are listed in :groups)."""
        return [self.job(ws_id, job_id)] + [self._j(ws_id, job_id, name) for name in JOB_PARTS]

    def script_keys(self, ws_id: str, job_id: str) -> list[str]:
        """The KEYS every job script receives first (see :func:`lua_prelude`)."""
        return [self.job(ws_id, job_id), self.ws_prefix(ws_id), self.namespace]
