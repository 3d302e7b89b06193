"""Learning-rate schedules (SPEC.md §5), tabulated exactly as ``torch.optim.lr_scheduler`` runs them.

The learning rate of update k (0-based) is what the torch scheduler reports
(``get_last_lr()``) after k calls of ``scheduler.step()``; the first value is the one its
constructor sets. torch computes most schedules *recursively* from the optimizer's current lr
(the "chainable" form, e.g. ``lr_k = lr_{k-1} * gamma``); the tables below follow the same
recursion in the same floating-point order, so they agree with torch to rounding, not merely
with the closed forms. Each table is computed once per run by a compiled loop over the steps.

``plateau`` (``ReduceLROnPlateau``) depends on the losses, so it cannot be tabulated: the run
loop keeps its state and calls ``plateau_step`` after every update.

``onecycle`` past ``total_steps``: torch raises; here the lr (and momentum) hold the last value
torch can report, the one after ``total_steps`` scheduler steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numba import types

from engine.bounds import interval_text, outside
from engine.errors import SpecError
from engine.kernels import compiled
from engine.spec import MAX_COUNT

_REQUIRED = object()


@dataclass(frozen=True)
class ScheduleParam:
    """One schedule parameter as ``GET /v1/schedules`` lists it. ``default`` is ``_REQUIRED``
    for a parameter without one; ``nullable`` parameters accept ``null`` (meaning: derived
    from the job, see the description)."""

    name: str
    kind: Literal["float", "int", "bool", "choice", "int_list"]
    default: Any = _REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class ScheduleDef:
    name: str
    description: str
    params: tuple[ScheduleParam, ...]


_GAMMA = ScheduleParam("gamma", "float", 0.1, minimum=0.0, exclusive_minimum=True,
                       description="multiplicative factor of each decay")

SCHEDULES: dict[str, ScheduleDef] = {
    defn.name: defn
    for defn in (
        ScheduleDef("constant", "the base learning rate throughout", ()),
        ScheduleDef(
            "step", "multiply the lr by gamma every step_size steps (torch StepLR)",
            (ScheduleParam("step_size", "int", minimum=1,
                           description="period of the decay, in steps"), _GAMMA),
        ),
        ScheduleDef(
            "multistep", "multiply the lr by gamma at each milestone step (torch MultiStepLR)",
            (ScheduleParam("milestones", "int_list", minimum=0,
                           description="steps at which the lr decays (a repeated milestone "
                           "decays twice)"), _GAMMA),
        ),
        ScheduleDef(
            "exponential", "multiply the lr by gamma every step (torch ExponentialLR)",
            (ScheduleParam("gamma", "float", minimum=0.0, exclusive_minimum=True,
                           description="multiplicative factor per step"),),
        ),
        ScheduleDef(
            "cosine",
            "cosine annealing from the base lr to eta_min over t_max steps, then back up, "
            "periodically (torch CosineAnnealingLR)",
            (ScheduleParam("t_max", "int", minimum=1, description="half period, in steps"),
             ScheduleParam("eta_min", "float", 0.0, minimum=0.0,
                           description="minimum learning rate")),
        ),
        ScheduleDef(
            "linear",
            "warm-up: scale the lr linearly from start_factor to end_factor over total_iters "
            "steps (torch LinearLR)",
            (ScheduleParam("start_factor", "float", 1.0 / 3, minimum=0.0, maximum=1.0,
                           exclusive_minimum=True, description="factor of the first step"),
             ScheduleParam("end_factor", "float", 1.0, minimum=0.0, maximum=1.0,
                           description="factor from total_iters on"),
             ScheduleParam("total_iters", "int", 5, minimum=1,
                           description="steps to go from start_factor to end_factor")),
        ),
        ScheduleDef(
            "onecycle",
            "the 1cycle policy: lr up from max_lr / div_factor to max_lr, then down to "
            "max_lr / (div_factor * final_div_factor), momentum (or beta1) cycled inversely "
            "(torch OneCycleLR; past total_steps the last value holds)",
            (ScheduleParam("max_lr", "float", None, minimum=0.0, exclusive_minimum=True,
                           nullable=True, description="peak lr (null: the job's learning_rate)"),
             ScheduleParam("total_steps", "int", None, minimum=1, nullable=True,
                           description="length of the cycle (null: the job's max_steps)"),
             ScheduleParam("pct_start", "float", 0.3, minimum=0.0, maximum=1.0,
                           description="fraction of the cycle spent increasing the lr"),
             ScheduleParam("anneal_strategy", "choice", "cos", choices=("cos", "linear"),
                           description="annealing shape"),
             ScheduleParam("div_factor", "float", 25.0, minimum=0.0, exclusive_minimum=True,
                           description="initial lr = max_lr / div_factor"),
             ScheduleParam("final_div_factor", "float", 1e4, minimum=0.0,
                           exclusive_minimum=True,
                           description="final lr = initial lr / final_div_factor"),
             ScheduleParam("three_phase", "bool", False,
                           description="come back down to the initial lr before annealing "
                           "to the final lr"),
             ScheduleParam("cycle_momentum", "bool", True,
                           description="cycle the optimizer's momentum (sgd, rmsprop) or "
                           "beta1 (adam family) between max_momentum and base_momentum; "
                           "overrides the optimizer's own value"),
             ScheduleParam("base_momentum", "float", 0.85, minimum=0.0,
                           description="momentum at the lr peak"),
             ScheduleParam("max_momentum", "float", 0.95, minimum=0.0,
                           description="momentum at the start and the end")),
        ),
        ScheduleDef(
            "plateau",
            "divide the lr by 1/factor when the loss stops improving (torch "
            "ReduceLROnPlateau, stepped with the loss of each update)",
            (ScheduleParam("mode", "choice", "min", choices=("min", "max"),
                           description="whether the loss should decrease or increase"),
             ScheduleParam("factor", "float", 0.1, minimum=0.0, maximum=1.0,
                           exclusive_maximum=True, description="new lr = lr * factor"),
             ScheduleParam("patience", "int", 10, minimum=0,
                           description="steps without improvement tolerated before reducing"),
             ScheduleParam("threshold", "float", 1e-4, minimum=0.0,
                           description="minimum change that counts as an improvement"),
             ScheduleParam("threshold_mode", "choice", "rel", choices=("rel", "abs"),
                           description="threshold relative to the best loss, or absolute"),
             ScheduleParam("cooldown", "int", 0, minimum=0,
                           description="steps to wait after a reduction"),
             ScheduleParam("min_lr", "float", 0.0, minimum=0.0,
                           description="lower bound of the lr"),
             ScheduleParam("eps", "float", 1e-8, minimum=0.0,
                           description="reductions smaller than this are skipped")),
        ),
    )
}


# --------------------------------------------------------------------------- validation


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


def _check_param(param: ScheduleParam, value: Any) -> Any:
    field = f"schedule.{param.name}"
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


def resolve_schedule(config: dict[str, Any] | str | None) -> dict[str, Any]:
    """Validate the spec's ``schedule`` and fill every default.

    ``None`` means ``{"name": "constant"}``; a bare name is accepted too. Raises
    ``SpecError("schedule.<param>", ...)`` naming the parameter and its value.
    """
    if config is None:
        config = {"name": "constant"}
    elif isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict):
        raise SpecError("schedule", f"must be an object with a name, or null; got {config!r}")
    name = config.get("name")
    if name is None:
        raise SpecError("schedule.name", f"is required (one of: {', '.join(SCHEDULES)})")
    if not isinstance(name, str) or name.strip().lower() not in SCHEDULES:
        raise SpecError("schedule.name",
                        f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
    defn = SCHEDULES[name.strip().lower()]
    declared = {param.name: param for param in defn.params}
    for key in config:
        if key != "name" and key not in declared:
            known = ", ".join(declared) or "none"
            raise SpecError(f"schedule.{key}",
                            f"the {defn.name} schedule has no parameter {key!r}; it has: {known}")
    resolved: dict[str, Any] = {"name": defn.name}
    for param in defn.params:
        if param.name in config:
            resolved[param.name] = _check_param(param, config[param.name])
        elif param.required:
            raise SpecError(f"schedule.{param.name}",
                            f"is required by the {defn.name} schedule")
        else:
            resolved[param.name] = param.default
    return resolved


def check_schedule_for_optimizer(config: dict[str, Any], momentum_column: int | None,
                                 optimizer_name: str) -> None:
    """torch's OneCycleLR refuses ``cycle_momentum`` for an optimizer with neither momentum
    nor beta1 (adagrad, adadelta): the same error, on ``schedule.cycle_momentum``."""
    if config["name"] == "onecycle" and config["cycle_momentum"] and momentum_column is None:
        raise SpecError(
            "schedule.cycle_momentum",
            f"{optimizer_name} has no momentum or beta1 to cycle; set cycle_momentum to false",
        )


def describe_schedules() -> list[dict[str, Any]]:
    """Every schedule for ``GET /v1/schedules``: name, description, parameters (name, type,
    default or required, range / choices, description)."""
    described = []
    for defn in SCHEDULES.values():
        params = []
        for param in defn.params:
            entry: dict[str, Any] = {
                "name": param.name,
                "type": param.kind,
                "required": param.required,
                "default": None if param.required else param.default,
                "nullable": param.nullable,
                "description": param.description,
            }
            if param.choices:
                entry["choices"] = list(param.choices)
            if param.minimum is not None or param.maximum is not None:
                entry["minimum"] = param.minimum
                entry["maximum"] = param.maximum
                entry["exclusive_minimum"] = param.exclusive_minimum
                entry["exclusive_maximum"] = param.exclusive_maximum
                entry["range"] = interval_text(param)
            params.append(entry)
        described.append({"name": defn.name, "description": defn.description, "params": params})
    return described


# --------------------------------------------------------------------------- tables


@compiled()
def _step_table(base_lr, n_steps, step_size, gamma):
    """StepLR.get_lr: lr_k = lr_{k-1} * gamma when k % step_size == 0 (k >= 1)."""
    table = np.empty((base_lr.shape[0], n_steps))
    for r in range(base_lr.shape[0]):
        lr = base_lr[r]
        for k in range(n_steps):
            if k != 0 and k % step_size == 0:
                lr = lr * gamma
            table[r, k] = lr
    return table


@compiled()
def _multistep_table(base_lr, n_steps, milestone_steps, milestone_counts, gamma):
    """MultiStepLR.get_lr: lr_k = lr_{k-1} * gamma ** count(k) at a milestone k."""
    table = np.empty((base_lr.shape[0], n_steps))
    for r in range(base_lr.shape[0]):
        lr = base_lr[r]
        for k in range(n_steps):
            for j in range(milestone_steps.shape[0]):
                if milestone_steps[j] == k:
                    lr = lr * gamma ** float(milestone_counts[j])
            table[r, k] = lr
    return table


@compiled()
def _exponential_table(base_lr, n_steps, gamma):
    """ExponentialLR.get_lr: lr_k = lr_{k-1} * gamma (k >= 1)."""
    table = np.empty((base_lr.shape[0], n_steps))
    for r in range(base_lr.shape[0]):
        lr = base_lr[r]
        for k in range(n_steps):
            if k != 0:
                lr = lr * gamma
            table[r, k] = lr
    return table


@compiled()
def _cosine_table(base_lr, n_steps, t_max, eta_min):
    """CosineAnnealingLR.get_lr (recursive form):
    lr_k = (1 + cos(pi k / T)) / (1 + cos(pi (k-1) / T)) * (lr_{k-1} - eta_min) + eta_min,
    except lr_k = lr_{k-1} + (base - eta_min) (1 - cos(pi / T)) / 2 when (k - 1 - T) % 2T == 0.
    """
    table = np.empty((base_lr.shape[0], n_steps))
    for r in range(base_lr.shape[0]):
        base = base_lr[r]
        lr = base
        for k in range(n_steps):
            if k != 0:
                if (k - 1 - t_max) % (2 * t_max) == 0:
                    lr = lr + (base - eta_min) * (1.0 - math.cos(math.pi / t_max)) / 2.0
                else:
                    lr = (
                        (1.0 + math.cos(math.pi * k / t_max))
                        / (1.0 + math.cos(math.pi * (k - 1) / t_max))
                        * (lr - eta_min)
                        + eta_min
                    )
            table[r, k] = lr
    return table


@compiled()
def _linear_table(base_lr, n_steps, start_factor, end_factor, total_iters):
    """LinearLR.get_lr: lr_0 = base * start_factor; for 1 <= k <= total_iters
    lr_k = lr_{k-1} * (1 + (end - start) / (total_iters * start + (k - 1) * (end - start)))."""
    table = np.empty((base_lr.shape[0], n_steps))
    delta = end_factor - start_factor
    for r in range(base_lr.shape[0]):
        lr = base_lr[r]
        for k in range(n_steps):
            if k == 0:
                lr = lr * start_factor
            elif k <= total_iters:
                lr = lr * (1.0 + delta / (total_iters * start_factor + (k - 1) * delta))
            table[r, k] = lr
    return table


@compiled()
def _anneal(start, end, pct, cosine):
    if cosine:
        cos_out = math.cos(math.pi * pct) + 1.0
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


@compiled()
def _onecycle_values(step_num, phase_ends, starts, ends, cosine):
    """OneCycleLR.get_lr for one quantity: ``starts[i]``/``ends[i]`` are phase i's endpoints."""
    start_step = 0.0
    last = phase_ends.shape[0] - 1
    for i in range(phase_ends.shape[0]):
        end_step = phase_ends[i]
        if step_num <= end_step or i == last:
            span = end_step - start_step
            pct = (step_num - start_step) / span if span != 0.0 else 0.0
            return _anneal(starts[i], ends[i], pct, cosine)
        start_step = end_step
    return ends[last]


@compiled()
def _onecycle_table(max_lr, n_steps, total_steps, phase_ends, phase_lr_keys, div_factor,
                    final_div_factor, cosine):
    """OneCycleLR lr column. ``phase_lr_keys`` (P, 2): each phase's start/end lr as
    0 = initial_lr (max_lr / div_factor), 1 = max_lr, 2 = min_lr (initial / final_div)."""
    n_runs = max_lr.shape[0]
    table = np.empty((n_runs, n_steps))
    points = np.empty(3)
    starts = np.empty(phase_ends.shape[0])
    ends = np.empty(phase_ends.shape[0])
    for r in range(n_runs):
        points[0] = max_lr[r] / div_factor
        points[1] = max_lr[r]
        points[2] = points[0] / final_div_factor
        for i in range(phase_ends.shape[0]):
            starts[i] = points[phase_lr_keys[i, 0]]
            ends[i] = points[phase_lr_keys[i, 1]]
        for k in range(n_steps):
            table[r, k] = _onecycle_values(float(min(k, total_steps)), phase_ends, starts, ends,
                                           cosine)
    return table


def _onecycle_phases(config: dict[str, Any], total_steps: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase ends, lr keys and momentum endpoints exactly as OneCycleLR.__init__ builds them."""
    pct_start = config["pct_start"]
    high, low = config["max_momentum"], config["base_momentum"]
    if config["three_phase"]:
        ends = [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2,
                total_steps - 1]
        lr_keys = [(0, 1), (1, 0), (0, 2)]
        momenta = [(high, low), (low, high), (high, high)]
    else:
        ends = [float(pct_start * total_steps) - 1, total_steps - 1]
        lr_keys = [(0, 1), (1, 2)]
        momenta = [(high, low), (low, high)]
    return (np.array(ends, dtype=np.float64), np.array(lr_keys, dtype=np.int64),
            np.array(momenta, dtype=np.float64))


def _total_steps(config: dict[str, Any], n_steps: int, max_steps: int | None) -> int:
    total = config.get("total_steps")
    if total is None:
        total = n_steps if max_steps is None else max_steps
    return int(total)


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
    if name in ("constant", "plateau"):
        return base[:, None].copy()
    if name == "step":
        return _step_table(base, n_steps, int(config["step_size"]), float(config["gamma"]))
    if name == "multistep":
        steps, counts = np.unique(np.asarray(config["milestones"], dtype=np.int64),
                                  return_counts=True)
        return _multistep_table(base, n_steps, steps.astype(np.int64),
                                counts.astype(np.int64), float(config["gamma"]))
    if name == "exponential":
        return _exponential_table(base, n_steps, float(config["gamma"]))
    if name == "cosine":
        return _cosine_table(base, n_steps, int(config["t_max"]), float(config["eta_min"]))
    if name == "linear":
        return _linear_table(base, n_steps, float(config["start_factor"]),
                             float(config["end_factor"]), int(config["total_iters"]))
    if name == "onecycle":
        total = _total_steps(config, n_steps, max_steps)
        max_lr = base if config["max_lr"] is None else np.full_like(base, config["max_lr"])
        phase_ends, lr_keys, _ = _onecycle_phases(config, total)
        return _onecycle_table(max_lr, n_steps, total, phase_ends, lr_keys,
                               float(config["div_factor"]), float(config["final_div_factor"]),
                               config["anneal_strategy"] == "cos")
    raise SpecError("schedule.name", f"unknown schedule {name!r}")


def momentum_table(config: dict[str, Any], n_steps: int,
                   max_steps: int | None = None) -> np.ndarray | None:
    """For ``onecycle`` with ``cycle_momentum``: the momentum (sgd, rmsprop) or beta1 (adam
    family) update k uses, shape ``(n_steps,)``; the run loop writes it into the optimizer's
    ``momentum_column`` before each update. ``None`` for every other schedule. ``max_steps``
    as in ``learning_rate_table``."""
    if config["name"] != "onecycle" or not config["cycle_momentum"]:
        return None
    total = _total_steps(config, n_steps, max_steps)
    phase_ends, _, momenta = _onecycle_phases(config, total)
    return _onecycle_momenta(n_steps, total, phase_ends, momenta[:, 0].copy(),
                             momenta[:, 1].copy(), config["anneal_strategy"] == "cos")


@compiled()
def _onecycle_momenta(n_steps, total_steps, phase_ends, starts, ends, cosine):
    table = np.empty(n_steps)
    for k in range(n_steps):
        table[k] = _onecycle_values(float(min(k, total_steps)), phase_ends, starts, ends, cosine)
    return table


# --------------------------------------------------------------------------- plateau

PLATEAU_SETTINGS = ("mode_is_max", "factor", "patience", "threshold", "threshold_is_rel",
                    "cooldown", "min_lr", "eps")


def plateau_settings(config: dict[str, Any]) -> np.ndarray:
    """The resolved plateau config as the float vector ``plateau_step`` reads, in the order of
    ``PLATEAU_SETTINGS`` (mode and threshold_mode as 0/1)."""
    return np.array([
        1.0 if config["mode"] == "max" else 0.0,
        config["factor"],
        config["patience"],
        config["threshold"],
        1.0 if config["threshold_mode"] == "rel" else 0.0,
        config["cooldown"],
        config["min_lr"],
        config["eps"],
    ], dtype=np.float64)


def plateau_initial_state(settings: np.ndarray, n_runs: int) -> np.ndarray:
    """Per-run state ``(R, 3)``: best metric (+inf for min, -inf for max), bad-step count,
    cooldown counter — ReduceLROnPlateau._reset."""
    state = np.zeros((n_runs, 3))
    state[:, 0] = -np.inf if settings[0] != 0.0 else np.inf
    return state


_PLATEAU_SIGNATURE = types.void(types.float64[::1], types.float64[::1], types.float64[:, ::1],
                                types.float64[::1])


@compiled(_PLATEAU_SIGNATURE)
def plateau_step(lr, metric, state, settings):
    """One ``ReduceLROnPlateau.step(metric)`` per run, in place on ``lr`` and ``state``.

    Better means ``a < best * (1 - threshold)`` (min, rel), ``a < best - threshold`` (min, abs),
    ``a > best * (1 + threshold)`` (max, rel), ``a > best + threshold`` (max, abs). After more
    than ``patience`` steps that are not better, lr = max(lr * factor, min_lr) (skipped if the
    change is <= eps) and ``cooldown`` steps follow in which bad steps are not counted.
    """
    mode_max = settings[0] != 0.0
    factor = settings[1]
    patience = settings[2]
    threshold = settings[3]
    threshold_abs = settings[4] == 0.0
    cooldown = settings[5]
    min_lr = settings[6]
    eps = settings[7]
    for r in range(lr.shape[0]):
        current = metric[r]
        best = state[r, 0]
        if not mode_max and not threshold_abs:
            better = current < best * (1.0 - threshold)
        elif not mode_max:
            better = current < best - threshold
        elif not threshold_abs:
            better = current > best * (threshold + 1.0)
        else:
            better = current > best + threshold
        if better:
            state[r, 0] = current
            state[r, 1] = 0.0
        else:
            state[r, 1] += 1.0
        if state[r, 2] > 0.0:
            state[r, 2] -= 1.0
            state[r, 1] = 0.0
        if state[r, 1] > patience:
            old_lr = lr[r]
            new_lr = max(old_lr * factor, min_lr)
            if old_lr - new_lr > eps:
                lr[r] = new_lr
            state[r, 2] = cooldown
            state[r, 1] = 0.0
