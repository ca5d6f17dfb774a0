"""How a flow fails on an error the user can fix: one line, as the CLI says it."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable

from prefect.states import Failed

from rlvr.errors import RlvrError


def in_one_line(flow_function: Callable) -> Callable:
    """The flow ends `Failed` with an `RlvrError`'s one-line message, and a caller in Python gets the
    error itself; raised through Prefect instead, it shows its traceback twice (once when the flow
    raises, once for the final state) where the CLI prints one line."""

    # resolved here, where the flow's module names its types: Prefect validates a deployment's parameters
    # against the wrapper's module, which does not (`from __future__ import annotations` leaves strings)
    flow_function.__annotations__ = typing.get_type_hints(flow_function)

    @functools.wraps(flow_function)
    def guarded(*args, **kwargs):
        try:
            return flow_function(*args, **kwargs)
        except RlvrError as exc:
            return Failed(message=str(exc), data=exc)

    return guarded
