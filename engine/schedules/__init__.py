"""Learning-rate schedules (docs/spec.md §5): the registry (names, parameters, validation,
descriptions) apart from the tables (the per-step lr and momentum the run loop reads).

- ``registry``: ``SCHEDULES`` and ``describe_schedules`` (``GET /v1/schedules``);
- ``resolve``: ``resolve_schedule`` (every problem, each naming its field) and the check
  against the optimizer;
- ``tables``: the lr of every update (chainable schedules and the combinators through one
  compiled interpreter), and the momentum column of ``onecycle`` / ``cyclic`` (``cycles``);
- ``plateau``: ReduceLROnPlateau, stepped by the run loop with the losses.
"""

from engine.schedules.plateau import (
    PLATEAU_SETTINGS,
    plateau_initial_state,
    plateau_settings,
    plateau_step,
)
from engine.schedules.registry import (
    ALONE_ONLY,
    COMBINATORS,
    MOMENTUM_CYCLING,
    SCHEDULES,
    TABLELESS,
    ScheduleDef,
    ScheduleParam,
    describe_schedules,
)
from engine.schedules.resolve import check_schedule_for_optimizer, resolve_schedule
from engine.schedules.tables import formula_tables, learning_rate_table, momentum_table

__all__ = [
    "ALONE_ONLY",
    "COMBINATORS",
    "MOMENTUM_CYCLING",
    "PLATEAU_SETTINGS",
    "SCHEDULES",
    "TABLELESS",
    "ScheduleDef",
    "ScheduleParam",
    "check_schedule_for_optimizer",
    "describe_schedules",
    "formula_tables",
    "learning_rate_table",
    "momentum_table",
    "plateau_initial_state",
    "plateau_settings",
    "plateau_step",
    "resolve_schedule",
]
