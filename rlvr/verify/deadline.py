"""A limit on the CPU time of pure-Python work on a process's main thread, that a caught exception cannot
defeat, and that gives the same verdict on a busy machine as on an idle one.

Why CPU time: a wall-clock limit cuts the same work off or not depending on what else the machine runs.
Under a 0.4 s wall-clock limit, four busy processes beside a scorer changed 79 of 278 equivalence verdicts
(right answers scored wrong), so the same completion earned different rewards in two training runs. The
CPU time the calling thread spent is what the work itself costs: other processes, and other threads of
this one (a trainer's), do not count. Wall time is kept only as a safety net, `WALL_FACTOR` times the
limit, for work that waits rather than computes (and for a machine more than that many times
oversubscribed, where no limit can be both deterministic and short).

Why a timer that keeps firing: math-verify's own timeouts raise once, from a single `signal.alarm`. Python
hands a signal to whatever bytecode runs when it arrives: where that is a garbage-collection callback or a
`__del__` (sympy leaves plenty; SQLAlchemy's weakref callbacks were the case seen), the exception is
printed as "Exception ignored" and dropped, and the work runs on unbounded; a guess of `(x+1)^{1000}`
took 11.6 s of a 2 s limit that way under load. Here a wall-clock timer ticks every `TICK_S`; each tick
past the limit raises again until the exception reaches the caller, and the exception derives from
BaseException, so `except Exception` clauses (sympy's and math-verify's) let it through.

>>> within(1.0, sum, [1, 2, 3])
6
>>> def spin():
...     while True:
...         pass
>>> within(0.05, spin)
Traceback (most recent call last):
...
rlvr.verify.deadline.OutOfTime: over the 0.05 s limit
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import TypeVar

TICK_S = 0.01
WALL_FACTOR = 30

_T = TypeVar("_T")


class OutOfTime(BaseException):
    """The work ran past its limit. A BaseException, so that libraries' `except Exception` let it pass."""


def within(seconds: float, function: Callable[..., _T], *args: object) -> _T:
    """`function(*args)`, stopped with OutOfTime once this thread has spent `seconds` of CPU time on it (or
    `WALL_FACTOR` times that of wall time). Main thread only (a signal timer, whose handler runs there, so
    `time.thread_time()` reads the caller's own CPU time); the SIGALRM handler set before is put back, and
    no timer is left running."""
    live = True
    cpu_started, wall_started = time.thread_time(), time.perf_counter()

    def tick(signum: int, frame: object) -> None:
        if live and (
            time.thread_time() - cpu_started > seconds
            or time.perf_counter() - wall_started > WALL_FACTOR * seconds
        ):
            raise OutOfTime(f"over the {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, tick)
    try:
        signal.setitimer(signal.ITIMER_REAL, TICK_S, TICK_S)
        try:
            return function(*args)
        finally:
            # A tick landing here (before `live` drops) leaves the outer block to clean up; the next
            # tick is TICK_S away.
            live = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
