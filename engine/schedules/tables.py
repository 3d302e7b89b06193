"""Learning-rate tables (docs/spec.md §5), computed before the run loop exactly as
``torch.optim.lr_scheduler`` steps.

The learning rate of update k (0-based) is what the torch scheduler reports
(``get_last_lr()``) after k calls of ``scheduler.step()``; the first value is the one its
constructor sets. torch computes most schedules *recursively* from the optimizer's current lr
(the "chainable" form, e.g. ``lr_k = lr_{k-1} * gamma``), and its combinators step several
schedules on that one lr; the tables follow the same calls in the same floating-point order,
so they agree with torch to rounding, not merely with the closed forms.

The chainable schedules run through one compiled interpreter: ``_run_member`` makes a torch
scheduler's calls over a stretch of steps (the first being its constructor's first step, a
``step()``, or SequentialLR's restart at a milestone, ``_update_lr(0)``) on the current lr of
every run; ``_chain_table`` (ChainedScheduler, and a schedule alone as a chain of one) and
``_sequence_table`` (SequentialLR) drive it. Each member is one record of ``MEMBER``, whose
fields are the schedules' parameter names, filled by name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy

from engine.kernels import compiled
from engine.objectives.expression import exec_function, numpy_source
from engine.schedules.cycles import (
    cyclic_lr_table,
    cyclic_momentum_table,
    onecycle_lr_table,
    onecycle_momentum_table,
)
from engine.schedules.registry import SCHEDULES, TABLELESS
from engine.schedules.resolve import STEP_VARIABLE, parse_factor

# Member kinds (the compiled code compares against these module constants).
CONSTANT, STEP_LR, MULTISTEP, EXPONENTIAL, COSINE, LINEAR = 0, 1, 2, 3, 4, 5
CONSTANT_FACTOR, POLYNOMIAL, WARM_RESTARTS, MULTIPLICATIVE, LAMBDA = 6, 7, 8, 9, 10
CHAINABLE = {"constant": CONSTANT, "step": STEP_LR, "multistep": MULTISTEP,
             "exponential": EXPONENTIAL, "cosine": COSINE, "linear": LINEAR,
             "constant_factor": CONSTANT_FACTOR, "polynomial": POLYNOMIAL,
             "cosine_warm_restarts": WARM_RESTARTS, "multiplicative": MULTIPLICATIVE,
             "lambda": LAMBDA}
# How a member is called: its constructor's first step (last_epoch 0), step() (last_epoch
# epoch >= 1), or SequentialLR's _update_lr(0) when its milestone comes.
INITIAL, STEP, RESTART = 0, 1, 2

_NUMBER_TYPES = {"int": np.int64, "float": np.float64}
MEMBER = np.dtype(
    [("kind", np.int64), ("milestone_start", np.int64), ("milestone_count", np.int64),
     ("formula_row", np.int64)]
    + sorted({(param.name, _NUMBER_TYPES[param.kind]) for name in CHAINABLE
              for param in SCHEDULES[name].params if param.kind in _NUMBER_TYPES})
)


@compiled(inline="always")
def _run_member(members, j, k0, k1, first_epoch, first_how, lr, base, milestone_steps,
                milestone_counts, factors, clocks, table, write):
    """Steps k0 .. k1 - 1 of the torch scheduler ``members[j]`` on every run's current lr
    ``lr`` (in place; ``base`` the runs' base, i.e. initial, lr), written to ``table[:, k]``
    if ``write``. Step k0 is the call ``first_how`` (``INITIAL``/``STEP``/``RESTART``), the
    rest are ``step()``; the member's last_epoch after step k is
    ``first_epoch + k - k0``. ``clocks[j]`` holds CosineAnnealingWarmRestarts' T_cur and T_i.
    Per step, what depends on the step only is computed once, then applied run by run in
    torch's order of operations."""
    member = members[j]
    kind = member.kind
    gamma = member.gamma
    step_size = member.step_size
    t_max = member.t_max
    eta_min = member.eta_min
    start_factor = member.start_factor
    delta = member.end_factor - start_factor
    total_iters = member.total_iters
    factor = member.factor
    power = member.power
    runs = lr.shape[0]
    for k in range(k0, k1):
        epoch = first_epoch + k - k0
        how = first_how if k == k0 else STEP
        if kind == CONSTANT or kind == EXPONENTIAL or kind == STEP_LR or kind == POLYNOMIAL:
            scale = 1.0
            if how == RESTART:  # each one's closed form at 0 is the base lr
                for r in range(runs):
                    lr[r] = base[r]
            elif how == STEP and (kind == EXPONENTIAL  # ExponentialLR: every step
                                  or (kind == STEP_LR and epoch % step_size == 0)):  # StepLR
                scale = gamma
            elif how == STEP and kind == POLYNOMIAL and epoch <= total_iters:  # PolynomialLR
                scale = ((1.0 - epoch / total_iters)
                         / (1.0 - (epoch - 1) / total_iters)) ** power
            if scale != 1.0:
                for r in range(runs):
                    lr[r] = lr[r] * scale
        elif kind == MULTISTEP:  # MultiStepLR: at a milestone, lr * gamma ** (times listed)
            scale = 1.0
            for i in range(member.milestone_start,
                           member.milestone_start + member.milestone_count):
                if milestone_steps[i] == epoch:
                    scale = gamma ** float(milestone_counts[i])
            for r in range(runs):
                start = base[r] if how == RESTART else lr[r]
                lr[r] = start * scale if scale != 1.0 else start
        elif kind == COSINE:  # CosineAnnealingLR, recursive form
            if how == RESTART:
                rise = 1 + math.cos(math.pi * 0 / t_max)
                for r in range(runs):
                    lr[r] = eta_min + (base[r] - eta_min) * rise / 2
            elif how == STEP and (epoch - 1 - t_max) % (2 * t_max) == 0:
                rise = 1 - math.cos(math.pi / t_max)
                for r in range(runs):
                    lr[r] = lr[r] + (base[r] - eta_min) * rise / 2
            elif how == STEP:
                ratio = ((1 + math.cos(math.pi * epoch / t_max))
                         / (1 + math.cos(math.pi * (epoch - 1) / t_max)))
                for r in range(runs):
                    lr[r] = ratio * (lr[r] - eta_min) + eta_min
        elif kind == LINEAR:  # LinearLR
            if how == RESTART:
                scale = start_factor + delta * 0 / total_iters
                for r in range(runs):
                    lr[r] = base[r] * scale
            elif how == INITIAL or epoch <= total_iters:
                scale = start_factor if how == INITIAL else (
                    1.0 + delta / (total_iters * start_factor + (epoch - 1) * delta))
                for r in range(runs):
                    lr[r] = lr[r] * scale
        elif kind == CONSTANT_FACTOR:  # ConstantLR
            if how == RESTART:
                for r in range(runs):
                    lr[r] = base[r] * factor
            elif how == INITIAL or epoch == total_iters:
                scale = factor if how == INITIAL else 1.0 / factor
                for r in range(runs):
                    lr[r] = lr[r] * scale
        elif kind == WARM_RESTARTS:  # CosineAnnealingWarmRestarts: clocks[j] = (T_cur, T_i)
            if how == STEP:
                clocks[j, 0] += 1
                if clocks[j, 0] >= clocks[j, 1]:
                    clocks[j, 0] = clocks[j, 0] % clocks[j, 1]
                    clocks[j, 1] = clocks[j, 1] * member.t_mult
            else:
                clocks[j, 0] = 0
                clocks[j, 1] = member.t_0
            rise = 1 + math.cos(math.pi * clocks[j, 0] / clocks[j, 1])
            for r in range(runs):
                lr[r] = eta_min + (base[r] - eta_min) * rise / 2
        elif kind == MULTIPLICATIVE:  # MultiplicativeLR
            if how != INITIAL:
                scale = factors[member.formula_row, epoch]
                for r in range(runs):
                    lr[r] = lr[r] * scale
        else:  # LambdaLR
            scale = factors[member.formula_row, epoch]
            for r in range(runs):
                lr[r] = base[r] * scale
        if write:
            for r in range(runs):
                table[r, k] = lr[r]


@compiled()
def _chain_table(members, milestone_steps, milestone_counts, factors, base, n_steps):
    """ChainedScheduler: every member called in turn on the one lr, each step (a schedule
    alone is a chain of one, run as one stretch)."""
    table = np.empty((base.shape[0], n_steps))
    clocks = np.zeros((members.shape[0], 2), dtype=np.int64)
    lr = base.copy()
    last = members.shape[0] - 1
    if last == 0:
        _run_member(members, 0, 0, n_steps, 0, INITIAL, lr, base, milestone_steps,
                    milestone_counts, factors, clocks, table, True)
        return table
    for k in range(n_steps):
        how = INITIAL if k == 0 else STEP
        for j in range(members.shape[0]):
            _run_member(members, j, k, k + 1, k, how, lr, base, milestone_steps,
                        milestone_counts, factors, clocks, table, j == last)
    return table


@compiled()
def _sequence_table(members, milestone_steps, milestone_counts, factors, switches, base,
                    n_steps):
    """SequentialLR: from step ``switches[i - 1]`` on, member i is called (member
    ``bisect_right(switches, k)`` at step k): restarted (``_update_lr(0)``) at its milestone,
    stepped after it; the member active at step 0 starts with its constructor's step."""
    table = np.empty((base.shape[0], n_steps))
    clocks = np.zeros((members.shape[0], 2), dtype=np.int64)
    lr = base.copy()
    start = 0
    for active in range(members.shape[0]):
        end = switches[active] if active < switches.shape[0] else n_steps
        end = min(max(end, start), n_steps)
        if end > start:
            how = INITIAL if start == 0 else RESTART
            _run_member(members, active, start, end, 0, how, lr, base, milestone_steps,
                        milestone_counts, factors, clocks, table, True)
        start = end
    return table


_STEP_SYMBOL = sympy.Symbol(STEP_VARIABLE, real=True)


def factor_values(formula: str, n_steps: int) -> np.ndarray:
    """A ``lambda`` / ``multiplicative`` factor at steps 0 .. n_steps - 1, evaluated by the
    code the expression functions use (printed from the parsed, whitelisted tree)."""
    source = numpy_source("schedule_factor", [parse_factor(formula)], [":"], [_STEP_SYMBOL],
                           "x.shape[0]")
    function = exec_function(source, "schedule_factor")
    steps = np.arange(n_steps, dtype=np.float64)[:, None]
    with np.errstate(all="ignore"):
        return np.ascontiguousarray(function(steps), dtype=np.float64)


def _members(configs: list[dict[str, Any]], n_steps: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The members as ``MEMBER`` records (parameters by name), with the multistep milestones
    (unique steps and their counts) and the formula factors they index."""
    members = np.zeros(len(configs), dtype=MEMBER)
    steps: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    factors: list[np.ndarray] = []
    for member, config in zip(members, configs):
        defn = SCHEDULES[config["name"]]
        member["kind"] = CHAINABLE[defn.name]
        for param in defn.params:
            if param.kind in _NUMBER_TYPES:
                member[param.name] = config[param.name]
            elif param.kind == "int_list":  # multistep's milestones
                unique, times = np.unique(np.asarray(config[param.name], dtype=np.int64),
                                          return_counts=True)
                member["milestone_start"] = sum(len(part) for part in steps)
                member["milestone_count"] = len(unique)
                steps.append(unique)
                counts.append(times)
            elif param.kind == "formula":
                member["formula_row"] = len(factors)
                factors.append(factor_values(config[param.name], n_steps))
    return (members,
            np.concatenate(steps or [np.zeros(0)]).astype(np.int64),
            np.concatenate(counts or [np.zeros(0)]).astype(np.int64),
            np.stack(factors) if factors else np.zeros((0, 0)))


def learning_rate_table(config: dict[str, Any], base_lr: np.ndarray, n_steps: int,
                        max_steps: int | None = None) -> np.ndarray:
    """The lr of every update: entry ``[r, k]`` is the lr update k (0-based) uses in run r,
    i.e. what torch's scheduler reports after k ``step()`` calls given base lr ``base_lr[r]``.

    ``config`` is resolved (``resolve_schedule``). Shape ``(R, n_steps)``, or ``(R, 1)`` for
    ``constant`` and ``plateau`` (the latter's lr changes with the losses: see
    ``plateau_step``), meaning one lr throughout / to start with. ``max_steps`` is the run's
    step limit, onecycle's ``total_steps`` when that is null (default: ``n_steps``; pass it
    when tabulating more columns than updates, e.g. ``n_steps = max_steps + 1``).
    """
    base = np.ascontiguousarray(base_lr, dtype=np.float64).reshape(-1)
    name = config["name"]
    if name in TABLELESS:
        return base[:, None].copy()
    if name == "onecycle":
        return onecycle_lr_table(config, base, n_steps, max_steps)
    if name == "cyclic":
        return cyclic_lr_table(config, base, n_steps)
    if name == "sequential":
        members = _members(config["schedules"], n_steps)
        switches = np.asarray(config["milestones"], dtype=np.int64)
        return _sequence_table(*members, switches, base, n_steps)
    members = _members(config["schedules"] if name == "chained" else [config], n_steps)
    return _chain_table(*members, base, n_steps)


def momentum_table(config: dict[str, Any], n_steps: int,
                   max_steps: int | None = None) -> np.ndarray | None:
    """For ``onecycle`` and ``cyclic`` with ``cycle_momentum``: the momentum (sgd, rmsprop) or
    beta1 (adam family) update k uses, shape ``(n_steps,)``; the run loop writes it into the
    optimizer's momentum before each update. ``None`` for every other schedule. ``max_steps``
    as in ``learning_rate_table``."""
    if not config.get("cycle_momentum"):
        return None
    if config["name"] == "onecycle":
        return onecycle_momentum_table(config, n_steps, max_steps)
    return cyclic_momentum_table(config, n_steps)


def formula_tables(config: dict[str, Any]) -> int:
    """How many per-step factor tables the schedule computes (one per ``lambda`` /
    ``multiplicative`` member), for the byte budget."""
    members = config.get("schedules") or [config]
    return sum(member["name"] in ("lambda", "multiplicative") for member in members)
