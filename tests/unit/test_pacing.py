"""domain.pacing: the GCRA arithmetic keeps any N + 1 starts a second apart and still lets
a saturated stream run at >= 0.95 N; the window counter; the reply and setting that carry
it; the worker's pacer lanes."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import load_settings
from domain.errors import ConfigError
from domain.pacing import (
    MAX_DIALS_PER_SECOND,
    SECOND_US,
    TOLERANCE_US,
    check,
    interval_us,
    max_in_window,
    sustained_rate,
    tolerance_us,
)
from domain.protocol import ClaimRefused, PaceLimit, Refusal, parse_claim, words
from tests.support.waits import wait_for
from worker.engine.pacing import Pacer

RATES = st.integers(min_value=1, max_value=MAX_DIALS_PER_SECOND)


def conforming(arrivals_us: list[int], per_second: int) -> list[int]:
    """The arrivals GCRA lets start (each refused one simply does not start)."""
    tat: int | None = None
    started: list[int] = []
    for at in sorted(arrivals_us):
        decision = check(tat, at, per_second)
        if decision.allowed:
            tat = decision.tat_us
            started.append(at)
        else:
            assert decision.wait_us > 0
            assert check(tat, at + decision.wait_us, per_second).allowed, "wait is enough"
            assert not check(tat, at + decision.wait_us - 1, per_second).allowed, "and exact"
    return started


@given(RATES)
def test_n_plus_one_starts_span_a_second(per_second: int) -> None:
    """The interval and tolerance give N * interval - tolerance = 1 s exactly, with a
    tolerance of at least 20 ms and a rate of at least 0.97 N."""
    assert per_second * interval_us(per_second) - tolerance_us(per_second) == SECOND_US
    assert tolerance_us(per_second) >= TOLERANCE_US
    assert SECOND_US / interval_us(per_second) >= 0.97 * per_second


@settings(max_examples=200)
@given(RATES, st.lists(st.integers(min_value=0, max_value=5 * SECOND_US), max_size=400))
def test_no_window_holds_more_than_n(per_second: int, arrivals: list[int]) -> None:
    """Whatever the arrivals (bursts included), no window [t, t + 1 s) holds N + 1 starts."""
    started = conforming(arrivals, per_second)
    assert max_in_window(started, SECOND_US) <= per_second


@pytest.mark.parametrize("per_second", [1, 5, 50, 1000])
@pytest.mark.parametrize("late_us", [0, 5_000, 15_000])
def test_a_saturated_stream_runs_at_095_n(per_second: int, late_us: int) -> None:
    """A claimer that retries when told, up to 15 ms late each time, keeps >= 0.95 N:
    the tolerance absorbs the lateness."""
    tat: int | None = None
    now = 1_700_000_000 * SECOND_US
    started: list[int] = []
    while len(started) < max(10, 3 * per_second):
        decision = check(tat, now, per_second)
        if decision.allowed:
            tat = decision.tat_us
            started.append(now)
        else:
            now += decision.wait_us + late_us
    rate = sustained_rate([at // 1000 for at in started])
    assert rate >= 0.95 * per_second
    assert max_in_window([at // 1000 for at in started]) <= per_second


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=60))
def test_max_in_window_is_the_sliding_count(times: list[int]) -> None:
    """Checked against counting every window that starts at a start."""
    brute = max((sum(t <= u < t + 1000 for u in times) for t in times), default=0)
    assert max_in_window(times) == brute


def test_the_claim_reply_and_its_words() -> None:
    """'paced' is a refusal word; its reply names the pacing limit and the wait."""
    assert "paced" in words(Refusal)
    assert words(PaceLimit) == ("workspace", "global")
    assert parse_claim(["paced", "global", 17]) == ClaimRefused("paced", "global", 17)
    with pytest.raises(ValueError, match="unexpected script answer"):
        parse_claim(["paced", "job", 17])


@pytest.mark.parametrize("value", ["0", "1001", "-3", "fast", "2.5"])
def test_the_setting_names_its_variable(value: str) -> None:
    """BATCHDIAL_MAX_DIALS_PER_SECOND: an integer 1-1000; unset = no limit."""
    with pytest.raises(ConfigError, match="BATCHDIAL_MAX_DIALS_PER_SECOND"):
        load_settings(max_dials_per_second=value)
    assert load_settings(max_dials_per_second="7").max_dials_per_second == 7
    assert load_settings().max_dials_per_second is None


def test_a_lane_tries_one_row_at_a_time_head_first() -> None:
    """Rows of one job wait in one lane: only the head is tried; a head paced again stays
    the head; one that went through lets the next be tried at once."""
    tried: list[tuple[str, int]] = []
    lock = threading.Lock()
    pacer = Pacer(lambda ws, job, index: _record(lock, tried, job, index))
    try:
        for index in (1, 2, 3):
            pacer.park("w", "j", index, 30)
        pacer.park("w", "k", 9, 0)
        wait_for(lambda: len(tried) == 2, 5, "both lanes' heads")
        assert sorted(tried) == [("j", 1), ("k", 9)]
        pacer.park("w", "j", 1, 30)  # paced again: still first
        pacer.tried("w", "k", 9)
        wait_for(lambda: len(tried) == 3, 5, "the head again")
        assert tried[2] == ("j", 1)
        pacer.tried("w", "j", 1)  # it started: the next goes now
        wait_for(lambda: len(tried) == 4, 5, "the next row")
        assert tried[3] == ("j", 2)
        assert pacer.waiting() == 2
        assert sorted(pacer.take_all()) == [("w", "j", 3)]
    finally:
        pacer.close()


def _record(lock: threading.Lock, out: list[tuple[str, int]], job: str, index: int) -> None:
    with lock:
        out.append((job, index))
