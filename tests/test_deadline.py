"""The time limit on the symbolic check: it must hold where math-verify's single alarm did not."""

from __future__ import annotations

import signal
import time
import weakref

import pytest

from rlvr.verify.deadline import RETRY_S, OutOfTime, within


class Garbage:
    pass


def swallows_the_first_alarm(run_s: float) -> str:
    """Spend the limit inside a weakref callback, where Python drops any exception ("Exception
    ignored in"), then go on working: the case that let a 2 s check run 11.6 s under math-verify."""
    slept = []

    def on_collected(ref: weakref.ref) -> None:
        if not slept:
            slept.append(True)
            time.sleep(0.5)

    started = time.perf_counter()
    while time.perf_counter() - started < run_s:
        garbage = Garbage()
        ref = weakref.ref(garbage, on_collected)
        del garbage
        time.sleep(0.01)
    assert ref() is None
    return "ran to the end"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_an_exception_dropped_in_a_callback_is_raised_again():
    started = time.perf_counter()
    with pytest.raises(OutOfTime):
        within(0.2, swallows_the_first_alarm, 3.0)
    assert time.perf_counter() - started < 0.5 + 10 * RETRY_S


def test_except_exception_does_not_stop_it():
    def stubborn() -> None:
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    with pytest.raises(OutOfTime):
        within(0.1, stubborn)


def test_work_within_the_limit_returns_and_leaves_no_timer_or_handler():
    before = signal.getsignal(signal.SIGALRM)
    assert within(1.0, swallows_the_first_alarm, 0.1) == "ran to the end"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    time.sleep(3 * RETRY_S)  # a timer left running would raise here
