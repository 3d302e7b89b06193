"""Validating a spec's ``schedule`` (docs/spec.md §5): every problem found, each a
``SpecError`` naming its field (``schedule.t_max``, ``schedule.schedules.1.t_max``), with
every default filled in. Combinators are validated member by member."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Any

import sympy

from engine.bounds import interval_text, outside
from engine.errors import ExpressionError, SpecError, SpecErrors
from engine.objectives.expression import parse_expression
from engine.schedules.registry import (
    ALONE_ONLY,
    COMBINATORS,
    MOMENTUM_CYCLING,
    SCHEDULES,
    ScheduleParam,
)
from engine.spec import MAX_COUNT

STEP_VARIABLE = "step"


@lru_cache(maxsize=64)
def parse_factor(formula: str) -> sympy.Expr:
    """A ``lambda`` / ``multiplicative`` factor parsed by the safe grammar of §3.2, over the
    one variable ``step``. Raises ``ExpressionError`` (its field set by the caller)."""
    return parse_expression(formula, [STEP_VARIABLE])


def _check_range(field: str, param: ScheduleParam, number: float, shown: Any) -> None:
    if outside(param, number):
        raise SpecError(field, f"{param.name} must be in {interval_text(param)}, got {shown!r}")


def _as_int(field: str, name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, f"{name} must be an integer, got {value!r}")
    if abs(value) > MAX_COUNT:  # a step count; int64 arithmetic in the tables must not wrap
        raise SpecError(field, f"{name} must be at most {MAX_COUNT} (2**53 - 1), got {value!r}")
    return value


def _check_param(field: str, param: ScheduleParam, value: Any) -> Any:
    """One parameter's value, checked and normalised (not ``schedules``: see ``_members``)."""
    if value is None and param.nullable:
        return None
    if param.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(field, f"{param.name} must be true or false, got {value!r}")
        return value
    if param.kind == "choice":
        if value not in param.choices:
            raise SpecError(field, f"{param.name} must be one of {', '.join(param.choices)}, "
                            f"got {value!r}")
        return value
    if param.kind == "formula":
        if not isinstance(value, str):
            raise SpecError(field, f"{param.name} must be a formula in step (a string such as "
                            f"\"0.95**step\"), got {value!r}")
        try:
            parse_factor(value)
        except ExpressionError as error:
            raise SpecError(field, error.message) from None
        return value
    if param.kind == "int":
        integer = _as_int(field, param.name, value)
        _check_range(field, param, integer, value)
        return integer
    if param.kind == "int_list":
        if not isinstance(value, (list, tuple)):
            raise SpecError(field, f"{param.name} must be a list of integers, got {value!r}")
        numbers = [_as_int(field, param.name, item) for item in value]
        for item in numbers:
            _check_range(field, param, item, item)
        return numbers
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, f"{param.name} must be a number, got {value!r}")
    real = float(value)
    if not math.isfinite(real):
        raise SpecError(field, f"{param.name} must be finite, got {value!r}")
    _check_range(field, param, real, value)
    return real


def _members(field: str, combinator: str, value: Any, errors: list[SpecError]) -> list | None:
    """A combinator's ``schedules``: each resolved on its own field (``….schedules.2``)."""
    if not isinstance(value, (list, tuple)) or not value:
        errors.append(SpecError(field, f"schedules must be a non-empty list of schedule "
                                f"objects, got {value!r}"))
        return None
    members = []
    for index, member in enumerate(value):
        place = f"{field}.{index}"
        name = member.get("name") if isinstance(member, dict) else member
        if isinstance(name, str) and name.strip().lower() in COMBINATORS:
            errors.append(SpecError(f"{place}.name", f"{combinator} cannot contain another "
                                    "combinator; list its schedules here directly"))
            continue
        if isinstance(name, str) and name.strip().lower() in ALONE_ONLY:
            errors.append(SpecError(f"{place}.name", _alone_text(name.strip().lower(),
                                                                 combinator)))
            continue
        try:
            members.append(_resolve(member, place))
        except SpecErrors as many:
            errors.extend(many.errors)
    return members if len(members) == len(value) else None


def _alone_text(name: str, combinator: str) -> str:
    if name == "plateau":
        return (f"plateau cannot be inside {combinator}: it steps on the loss, which torch's "
                "SequentialLR and ChainedScheduler refuse (ReduceLROnPlateau); use it alone")
    return (f"{name} cannot be inside {combinator}: it sets the lr from its own bounds and "
            "cycles the momentum; use it alone")


def _resolve(config: Any, field: str) -> dict[str, Any]:
    if config is None:
        config = {"name": "constant"}
    elif isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict):
        raise SpecErrors([SpecError(field, "must be an object with a name, or null; got "
                                    f"{config!r}")])
    name = config.get("name")
    if name is None:
        raise SpecErrors([SpecError(f"{field}.name",
                                    f"is required (one of: {', '.join(SCHEDULES)})")])
    if not isinstance(name, str) or name.strip().lower() not in SCHEDULES:
        raise SpecErrors([SpecError(f"{field}.name",
                                    f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")])
    defn = SCHEDULES[name.strip().lower()]
    declared = {param.name: param for param in defn.params}
    errors: list[SpecError] = []
    for key in config:
        if key != "name" and key not in declared:
            known = ", ".join(declared) or "none"
            errors.append(SpecError(f"{field}.{key}", f"the {defn.name} schedule has no "
                                    f"parameter {key!r}; it has: {known}"))
    resolved: dict[str, Any] = {"name": defn.name}
    for param in defn.params:
        place = f"{field}.{param.name}"
        if param.name not in config:
            if param.required:
                errors.append(SpecError(place, f"is required by the {defn.name} schedule"))
            else:
                resolved[param.name] = param.default
        elif param.kind == "schedules":
            resolved[param.name] = _members(place, defn.name, config[param.name], errors)
        else:
            try:
                resolved[param.name] = _check_param(place, param, config[param.name])
            except SpecError as error:
                errors.append(error)
    if defn.name == "sequential" and not errors:
        _check_milestones(field, resolved, errors)
    if errors:
        raise SpecErrors(errors)
    return resolved


def _check_milestones(field: str, resolved: dict[str, Any], errors: list[SpecError]) -> None:
    """torch's SequentialLR: one milestone fewer than schedules; and increasing (torch
    bisects them, so out of order they would pick the wrong schedule)."""
    milestones, members = resolved["milestones"], resolved["schedules"]
    if len(milestones) != len(members) - 1:
        errors.append(SpecError(f"{field}.milestones", f"needs {len(members) - 1} milestone(s), "
                                f"one fewer than the {len(members)} schedules; got "
                                f"{len(milestones)}"))
    elif any(later < earlier for earlier, later in itertools.pairwise(milestones)):
        errors.append(SpecError(f"{field}.milestones",
                                f"must be in increasing order, got {milestones!r}"))


def resolve_schedule(config: dict[str, Any] | str | None) -> dict[str, Any]:
    """Validate the spec's ``schedule`` and fill every default.

    ``None`` means ``{"name": "constant"}``; a bare name is accepted too. Raises
    ``SpecErrors``, one ``SpecError`` per problem, each naming its field
    (``schedule.<param>``, ``schedule.schedules.<i>.<param>``) and the value.
    """
    return _resolve(config, "schedule")


def check_schedule_for_optimizer(config: dict[str, Any], momentum_column: int | None,
                                 optimizer_name: str) -> None:
    """torch's OneCycleLR and CyclicLR refuse ``cycle_momentum`` for an optimizer with
    neither momentum nor beta1 (adagrad, adadelta, ...): the same error, on
    ``schedule.cycle_momentum``."""
    if (config["name"] in MOMENTUM_CYCLING and config["cycle_momentum"]
            and momentum_column is None):
        raise SpecError(
            "schedule.cycle_momentum",
            f"{optimizer_name} has no momentum or beta1 to cycle; set cycle_momentum to false",
        )
