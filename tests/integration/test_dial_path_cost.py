"""What a dial costs the worker, beyond its two scripts (issue 14's throughput target):
Redis replies are parsed by hiredis, and a dial writes no log line at info (its start
and end are state changes in the job's event log, as every other)."""

from __future__ import annotations

import logging

from redis._parsers import _HiredisParser

from config.logging import configure_logging
from config.redis import make_redis
from tests.support.engine import CountingDialer, Rig
from tests.support.redis_server import REDIS_URL
from tests.support.waits import wait_for


def test_redis_replies_are_parsed_by_hiredis() -> None:
    """A client from config.redis (workers, API) parses with hiredis, not redis-py's
    pure-Python parser (half of a dial's worker CPU in a profile)."""
    client = make_redis(REDIS_URL)
    try:
        pool = client.connection_pool
        assert pool.connection_kwargs.get("parser_class", None) in (None, _HiredisParser)
        assert pool.make_connection()._parser.__class__ is _HiredisParser  # type: ignore[attr-defined]
    finally:
        client.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _event(record: logging.LogRecord) -> object:
    return record.msg.get("event") if isinstance(record.msg, dict) else record.getMessage()


def _per_dial(handler: _Records) -> list[logging.LogRecord]:
    return [r for r in handler.records if _event(r) in ("dial_started", "dial_finished")]


def test_a_dial_logs_its_start_and_end_at_debug_and_records_both_as_events(rig: Rig) -> None:
    """Zero-length dials: dial_started and dial_finished are debug lines (an info line
    each cost a third of a dial's worker CPU), and every dial.started and dial.finished
    is in the job's event log."""
    configure_logging("INFO")  # once per process: a no-op when already configured
    root = logging.getLogger()
    level, handler = root.level, _Records()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        ws = rig.workspace(dial_limit=5, per_number=5)
        job = rig.job(ws, rows=6, cap=3)
        rig.worker(CountingDialer(0.0))
        rig.start(ws, job)
        rig.wait_status(ws, job, "COMPLETE")
        # The last end is logged just after the script that completes the job.
        wait_for(lambda: len(_per_dial(handler)) == 12, 10, "12 per-dial lines")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    per_dial = _per_dial(handler)
    assert len(per_dial) == 12
    assert {r.levelno for r in per_dial} == {logging.DEBUG}
    kinds = [e["type"] for e in rig.events(ws, job)]
    assert kinds.count("dial.started") == kinds.count("dial.finished") == 6
