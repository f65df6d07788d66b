"""The engine: what the scheduler and dial actors do, and the timers every worker runs.

One concern a module:

- :mod:`worker.engine.scheduler`: the scheduler (once called "the pump"): one run per job
  evaluates its window at Redis time and releases as many rows as the job's free
  capacity allows (``domain/lua/engine/scheduler.lua``); due wake-ups become runs.
- :mod:`worker.engine.dialing`: claims a released row and its three leases
  (``claim.lua``: the job cap, the workspace dial limit, a pool number), places the
  call (on the event loop when the dialer is asynchronous), and dials the rows its end
  releases; the fair share of a job's calls.
- :mod:`worker.engine.predial`: the job's pre-dial hook, asked on the event loop after
  the claim and before the call (``predial.lua`` takes back what it skips or defers).
- :mod:`worker.engine.endings`: every way a dial placed by a worker ends
  (``finish_dial.lua``): at once, deferred while Redis is away, lease lost or call
  overdue, reaped after its lease lapsed.
- :mod:`worker.engine.leases`: renews the leases of the calls this process holds.
- :mod:`worker.engine.heartbeat`: how many worker processes share the calls.
- :mod:`worker.engine.jobconfig`: the jobs' running configuration, cached per version.
- :mod:`worker.engine.loop`: the process's asyncio event loop, where calls waiting on a
  provider live (the dial actor hands them over and returns: no thread per call).
- :mod:`worker.engine.timers`: the background thread that runs the timers.
- :mod:`worker.engine.timing`, :mod:`worker.engine.outbox`: durations and Redis's
  clock; how the engine sends actor messages.
- :mod:`worker.engine.core`: :class:`~worker.engine.core.Engine`, the parts together.
"""
