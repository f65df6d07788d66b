"""The refill taker (worker/engine/refills.py): it waits on the refill list, takes a
burst's items together (at most 1 + TAKE_AT_MOST, the rest left for other workers),
dials each job's rows in order, skips malformed items, and stops within its wait."""

from __future__ import annotations

import threading
import time

import fakeredis

from domain.keys import Keys
from worker.engine.refills import TAKE_AT_MOST, WAIT_S, RefillTaker, parse_items

KEYS = Keys("test-refills")
LIST = KEYS.ns_key("K_REFILLS")


def test_items_are_grouped_by_job_in_order_and_malformed_ones_skipped() -> None:
    items: list[str | bytes] = ["w|a|3", b"w|b|1", "w|a|1", "w|a|x", "nonsense", "w||2", "w|b|7"]
    assert parse_items(items) == {("w", "a"): [3, 1], ("w", "b"): [1, 7]}


def test_a_take_dials_a_burst_together_and_leaves_the_rest() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    client.rpush(LIST, *[f"w|j|{i}" for i in range(TAKE_AT_MOST + 5)])
    dialed: list[tuple[str, str, list[int]]] = []
    taker = RefillTaker(client, KEYS, lambda ws, job, rows: dialed.append((ws, job, rows)))
    assert taker.take_once(wait_s=0.1) == TAKE_AT_MOST + 1
    assert dialed == [("w", "j", list(range(TAKE_AT_MOST + 1)))]
    assert client.llen(LIST) == 4
    assert taker.take_once(wait_s=0.1) == 4
    assert taker.take_once(wait_s=0.1) == 0  # nothing listed: waited, took nothing


def test_the_thread_takes_what_is_pushed_and_stops_within_its_wait() -> None:
    client = fakeredis.FakeRedis(decode_responses=True)
    got = threading.Event()
    dialed: list[list[int]] = []

    def dial(ws: str, job: str, rows: list[int]) -> None:
        dialed.append(rows)
        got.set()

    taker = RefillTaker(client, KEYS, dial)
    taker.start()
    client.rpush(LIST, "w|j|5")
    assert got.wait(5)
    started = time.monotonic()
    taker.stop()
    assert time.monotonic() - started < WAIT_S + 0.5
    assert dialed == [[5]]
    client.rpush(LIST, "w|j|6")
    time.sleep(0.3)
    assert client.llen(LIST) == 1  # a stopped taker takes nothing
