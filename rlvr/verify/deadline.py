"""A time limit on pure-Python work, on a process's main thread, that a caught exception cannot defeat.

math-verify's own timeouts raise once, from a single `signal.alarm`. Python hands a signal to whatever
bytecode runs when it arrives: where that is a garbage-collection callback or a `__del__` (sympy leaves
plenty; SQLAlchemy's weakref callbacks were the case seen), the exception is printed as "Exception
ignored" and dropped, and the work runs on unbounded; a guess of `(x+1)^{1000}` took 11.6 s of a
2 s limit that way under load. Here the timer keeps firing every `RETRY_S` after the limit until the
exception reaches the caller, and the exception derives from BaseException, so `except Exception`
clauses (sympy's and math-verify's) let it through.

>>> within(1.0, sum, [1, 2, 3])
6
>>> import time
>>> within(0.05, time.sleep, 5)
Traceback (most recent call last):
...
rlvr.verify.deadline.OutOfTime: over the 0.05 s limit
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TypeVar

RETRY_S = 0.05

_T = TypeVar("_T")


class OutOfTime(BaseException):
    """The work ran past its limit. A BaseException, so that libraries' `except Exception` let it pass."""


def within(seconds: float, function: Callable[..., _T], *args: object) -> _T:
    """`function(*args)`, stopped with OutOfTime once it has run `seconds`. Main thread only (a signal
    timer); the SIGALRM handler set before is put back, and no timer is left running."""
    live = True

    def expire(signum: int, frame: object) -> None:
        if live:
            raise OutOfTime(f"over the {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds, RETRY_S)
        try:
            return function(*args)
        finally:
            # A tick landing here (before `live` drops) leaves the outer block to clean up; the next
            # tick is RETRY_S away.
            live = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
