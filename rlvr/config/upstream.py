"""What other libraries accept in params, asked of the libraries themselves: transformers' learning-rate
schedulers and optimizers, and the crons Prefect's schedules read (and whether one ever fires).

Each library is imported inside the function that asks it, never when this module is: importing
transformers' trainer modules imports torch, and importing Prefect runs its start-up, seconds that reading
params pays only for a value that needs asking (`rlvr.config.schema` does not ask about its own defaults,
which tests/test_config.py asks about once).
"""

from __future__ import annotations

import datetime


def scheduler_names() -> tuple[str, ...]:
    """transformers' learning-rate schedulers (`SchedulerType`'s values)."""
    from transformers.trainer_utils import SchedulerType

    return tuple(name.value for name in SchedulerType)


def optimizer_names() -> tuple[str, ...]:
    """transformers' optimizers (`OptimizerNames`' values)."""
    from transformers.training_args import OptimizerNames

    return tuple(name.value for name in OptimizerNames)


def is_prefect_cron(cron: str) -> bool:
    """Whether Prefect's schedules read this cron expression: Prefect's own `CronSchedule` decides.

    >>> is_prefect_cron("0 3 * * *"), is_prefect_cron("every night"), is_prefect_cron("H 3 * * *")
    (True, False, False)
    """
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=cron)
    except ValidationError:
        return False
    return True


def cron_fires(cron: str, horizon_years: int = 8) -> bool:
    """Whether a cron expression Prefect reads fires at least once within `horizon_years` from now, by
    the croniter Prefect schedules with (8 years: 29 February comes back within that, even across 2100).

    >>> cron_fires("0 0 29 2 *"), cron_fires("0 0 31 2 *")
    (True, False)
    """
    from prefect._vendor.croniter import CroniterBadDateError, croniter

    now = datetime.datetime.now(datetime.UTC)
    try:
        croniter(cron, now, max_years_between_matches=horizon_years).get_next()
    except CroniterBadDateError:
        return False
    return True
