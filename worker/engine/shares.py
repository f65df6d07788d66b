"""The fair share of a job's calls: the job's cap over the live worker processes,
rounded up (:mod:`worker.engine.heartbeat` counts them). A process holding its share
sends the rows it would dial next to the broker, where any worker takes them; rows the
scheduler releases are dialed by its process only up to that share."""

from __future__ import annotations

from worker.engine.heartbeat import Heartbeat
from worker.engine.jobconfig import JobConfigs
from worker.engine.leases import LeaseKeeper


class FairShare:
    """How many of a job's calls this process may take on, from what it holds now."""

    def __init__(self, heartbeat: Heartbeat, configs: JobConfigs, keeper: LeaseKeeper) -> None:
        self._heartbeat = heartbeat
        self._configs = configs
        self._keeper = keeper

    def room(self, ws_id: str, job_id: str, most: int) -> int:
        """Calls of the job this process may start now, at most ``most``: its share less
        what it holds (``most`` when it is the only worker)."""
        workers = self._heartbeat.workers
        if workers <= 1:
            return most
        config = self._configs.get(ws_id, job_id)
        if config is None:
            return 0
        share = -(-config.cap // workers)
        return max(0, min(most, share - self._keeper.held_for(job_id)))

    def reached(self, ws_id: str, job_id: str) -> bool:
        """Whether this process holds at least its share of the job's calls."""
        workers = self._heartbeat.workers
        if workers <= 1:
            return False
        config = self._configs.get(ws_id, job_id)
        if config is None:
            return False
        return self._keeper.held_for(job_id) >= -(-config.cap // workers)
