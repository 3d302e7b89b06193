"""Typed JSON schemas for a spec's ``optimizer`` and ``schedule`` (docs/spec.md §4, §5), made
from the registries: one model per optimizer family, per alias and per schedule, each field
with its type, default, range and description, and the ``name`` as the discriminator.

These models describe; they do not validate. ``JobSpec`` still takes any JSON there and
``engine.build.resolve_spec`` checks it against the registries (torch's checks, one message
per bad field), so the schema a client is generated from and the 422 it gets agree without a
second set of rules. Built once, on first use (the OpenAPI document, ``JobSpec``'s JSON schema).
"""

from __future__ import annotations

import functools
import json
import operator
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic_core import CoreSchema

from engine.bounds import Bounded
from engine.optimizers.base import Hyperparameter
from engine.optimizers.registry import ALIASES, OPTIMIZERS
from engine.schedules import ALONE_ONLY, COMBINATORS, SCHEDULES, ScheduleParam
from engine.spec import MAX_COUNT


class _Described(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _bounds(bound: Bounded) -> dict[str, Any]:
    """pydantic's ge/gt/le/lt for a registry range."""
    limits: dict[str, Any] = {}
    if bound.minimum is not None:
        limits["gt" if bound.exclusive_minimum else "ge"] = bound.minimum
    if bound.maximum is not None:
        limits["lt" if bound.exclusive_maximum else "le"] = bound.maximum
    return limits


def _hyperparameter_field(hyper: Hyperparameter, default: Any) -> tuple[Any, Any]:
    if hyper.kind == "bool":
        return bool, Field(default=default, description=hyper.description)
    if hyper.kind == "pair":
        item: Any = Annotated[float, Field(**_bounds(hyper))]
        return list[item], Field(default=list(default), min_length=2, max_length=2,
                                 description=hyper.description)
    if hyper.kind == "choice":
        choice: Any = Literal[hyper.choices]  # type: ignore[valid-type]
        return choice | None if hyper.nullable else choice, Field(
            default=default, description=hyper.description)
    number: Any = int if hyper.kind == "int" else float
    if hyper.nullable:
        number = number | None
    return number, Field(default=default, description=hyper.description, **_bounds(hyper))


def _class_name(name: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + suffix


def _alias_text(alias: str) -> str:
    """``momentum = sgd with momentum 0.9``."""
    family, preset = ALIASES[alias]
    sets = ", ".join(f"{key} {json.dumps(value)}" for key, value in preset.items())
    return f"{alias} = {family}" + (f" with {sets}" if sets else "")


def _optimizer_model(name: str, family: str, preset: dict[str, Any]) -> type[BaseModel]:
    defn = OPTIMIZERS[family]
    if name == family:
        about = f"{defn.name}: {defn.description}."
    else:
        about = f"{_alias_text(name)} ({defn.description})."
    doc = (f"{about} Default learning rate {defn.default_lr!r} (set the top-level "
           "learning_rate to change it). A hyperparameter left out takes the default shown "
           "(torch's, or the alias's).")
    fields: dict[str, Any] = {"name": (Literal[name], Field(description="The optimizer."))}
    for hyper in defn.hyperparameters:
        fields[hyper.name] = _hyperparameter_field(hyper, preset.get(hyper.name, hyper.default))
    return create_model(_class_name(name, "Optimizer"), __base__=_Described, __doc__=doc,
                        **fields)


def _schedule_field(param: ScheduleParam) -> tuple[Any, Any]:
    extra: dict[str, Any] = {}
    if param.kind == "bool":
        kind: Any = bool
    elif param.kind == "choice":
        kind = Literal[param.choices]  # type: ignore[valid-type]
    elif param.kind == "formula":
        kind = str
    elif param.kind == "schedules":  # a combinator's members
        member: Any = _tagged(member_schedule_models())
        kind = list[member]
        extra = {"min_length": 1}
    elif param.kind == "int_list":  # counts of steps: at most MAX_COUNT, as the check says
        item: Any = Annotated[int, Field(**{"le": MAX_COUNT, **_bounds(param)})]
        kind = list[item]
    elif param.kind == "int":
        kind = int
        extra = {"le": MAX_COUNT, **_bounds(param)}
    else:
        kind = float
        extra = _bounds(param)
    if param.nullable:
        kind = kind | None
    default = ... if param.required else param.default
    return kind, Field(default, description=param.description, **extra)


@cache
def _schedule_model(name: str) -> type[BaseModel]:
    defn = SCHEDULES[name]
    fields: dict[str, Any] = {"name": (Literal[name], Field(description="The schedule."))}
    for param in defn.params:
        fields[param.name] = _schedule_field(param)
    return create_model(_class_name(name, "Schedule"), __base__=_Described,
                        __doc__=f"{name}: {defn.description}.", **fields)


@cache
def optimizer_models() -> tuple[type[BaseModel], ...]:
    """One model per family, then one per alias (its preset as the defaults)."""
    models = [_optimizer_model(name, name, {}) for name in OPTIMIZERS]
    models += [_optimizer_model(alias, family, preset)
               for alias, (family, preset) in ALIASES.items()]
    return tuple(models)


@cache
def schedule_models() -> tuple[type[BaseModel], ...]:
    return tuple(_schedule_model(name) for name in SCHEDULES)


@cache
def member_schedule_models() -> tuple[type[BaseModel], ...]:
    """The schedules a combinator (sequential, chained) may list."""
    return tuple(_schedule_model(name) for name in SCHEDULES
                 if name not in ALONE_ONLY + COMBINATORS)


def _tagged(models: tuple[type[BaseModel], ...]) -> Any:
    """``Annotated[A | B | …, Field(discriminator="name")]``."""
    union: Any = functools.reduce(operator.or_, models)
    return Annotated[union, Field(discriminator="name")]


@cache
def optimizer_schema() -> CoreSchema:
    """What ``JobSpec.optimizer``'s JSON schema shows: a name (an enum of families and
    aliases) or a discriminated union of objects, one per family and alias."""
    names: Any = Enum("OptimizerName",  # type: ignore[misc]
                      {name: name for name in [*OPTIMIZERS, *ALIASES]},
                      type=str)
    names.__doc__ = ("An optimizer by name, every hyperparameter at its torch default ("
                     + "; ".join(_alias_text(alias) for alias in ALIASES) + ").")
    shown: Any = names | _tagged(optimizer_models())
    return TypeAdapter(shown).core_schema


@cache
def schedule_schema() -> CoreSchema:
    """What ``JobSpec.schedule``'s JSON schema shows: null or one object per schedule."""
    shown: Any = _tagged(schedule_models()) | None
    return TypeAdapter(shown).core_schema
