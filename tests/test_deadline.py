"""The time limit on the symbolic check: it must hold where math-verify's single alarm did not, and it must
count the work's own CPU time, so that a busy machine does not change what it cuts off."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import weakref

import pytest

from rlvr.verify.deadline import TICK_S, WALL_FACTOR, OutOfTime, within


class Garbage:
    pass


def spin(seconds: float) -> None:
    """Compute (not wait) for `seconds` of this thread's CPU time."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


def swallows_the_first_alarm(run_s: float) -> str:
    """Spend the limit inside a weakref callback, where Python drops any exception ("Exception
    ignored in"), then go on working: the case that let a 2 s check run 11.6 s under math-verify."""
    spun = []

    def on_collected(ref: weakref.ref) -> None:
        if not spun:
            spun.append(True)
            spin(0.5)

    started = time.thread_time()
    while time.thread_time() - started < run_s:
        garbage = Garbage()
        ref = weakref.ref(garbage, on_collected)
        del garbage
        spin(0.01)
    assert ref() is None
    return "ran to the end"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_an_exception_dropped_in_a_callback_is_raised_again():
    started = time.thread_time()
    with pytest.raises(OutOfTime):
        within(0.2, swallows_the_first_alarm, 3.0)
    assert time.thread_time() - started < 0.5 + 10 * TICK_S


def test_except_exception_does_not_stop_it():
    def stubborn() -> None:
        while True:
            try:
                spin(0.01)
            except Exception:
                pass

    with pytest.raises(OutOfTime):
        within(0.1, stubborn)


def test_work_within_the_limit_returns_and_leaves_no_timer_or_handler():
    before = signal.getsignal(signal.SIGALRM)
    assert within(1.0, swallows_the_first_alarm, 0.1) == "ran to the end"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    spin(3 * TICK_S)  # a timer left running would raise here


def test_the_limit_is_the_callers_cpu_time_with_wall_time_only_as_a_safety_net():
    """Waiting spends no CPU: a wait longer than the limit finishes, while one longer than the wall-clock
    safety net does not."""
    assert within(0.1, time.sleep, 0.3) is None
    started = time.perf_counter()
    with pytest.raises(OutOfTime):
        within(0.05, time.sleep, 5)
    assert WALL_FACTOR * 0.05 <= time.perf_counter() - started < WALL_FACTOR * 0.05 + 0.5


def test_other_processes_do_not_spend_the_limit():
    """Four processes computing beside the work (on a 2-core machine, the work then gets a fraction of a
    core): work that needs 0.3 s of CPU finishes within a 0.5 s limit however long it waits for a core,
    where a wall-clock limit would cut it off."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        assert within(0.5, spin, 0.3) is None
        waited = time.perf_counter() - started
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert waited >= 0.3
