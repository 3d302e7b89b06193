"""Numeric ranges of hyperparameters and schedule parameters: one check, one way to write them."""

from __future__ import annotations

from typing import Protocol


class Bounded(Protocol):
    """Anything with a range, read-only (the frozen Hyperparameter and ScheduleParam)."""

    @property
    def minimum(self) -> float | None: ...
    @property
    def maximum(self) -> float | None: ...
    @property
    def exclusive_minimum(self) -> bool: ...
    @property
    def exclusive_maximum(self) -> bool: ...


def interval_text(bound: Bounded) -> str:
    """The range as an interval, e.g. ``[0.0, 1.0)`` or ``(0.0, inf)``."""
    low = "-inf" if bound.minimum is None else repr(bound.minimum)
    high = "inf" if bound.maximum is None else repr(bound.maximum)
    left = "(" if bound.minimum is None or bound.exclusive_minimum else "["
    right = ")" if bound.maximum is None or bound.exclusive_maximum else "]"
    return f"{left}{low}, {high}{right}"


def outside(bound: Bounded, number: float) -> bool:
    """Whether ``number`` falls outside the range."""
    too_low = bound.minimum is not None and (
        number < bound.minimum or (bound.exclusive_minimum and number == bound.minimum))
    too_high = bound.maximum is not None and (
        number > bound.maximum or (bound.exclusive_maximum and number == bound.maximum))
    return too_low or too_high
