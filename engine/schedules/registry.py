"""The schedules a spec can name (docs/spec.md §5): their parameters, defaults, ranges and
descriptions, as ``GET /v1/schedules`` lists them. What each computes is in ``tables``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.bounds import interval_text

REQUIRED = object()

ParamKind = Literal["float", "int", "bool", "choice", "int_list", "formula", "schedules"]


@dataclass(frozen=True)
class ScheduleParam:
    """One schedule parameter as ``GET /v1/schedules`` lists it. ``default`` is ``REQUIRED``
    for a parameter without one; ``nullable`` parameters accept ``null`` (meaning: derived
    from the job, see the description). ``formula`` is a formula in ``step`` (the grammar of
    docs/spec.md §3.2); ``schedules`` is a list of schedule objects (the combinators)."""

    name: str
    kind: ParamKind
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class ScheduleDef:
    name: str
    description: str
    params: tuple[ScheduleParam, ...]


_GAMMA = ScheduleParam("gamma", "float", 0.1, minimum=0.0, exclusive_minimum=True,
                       description="multiplicative factor of each decay")


def _momentum_cycle(base: float, top: float, top_description: str) -> tuple[ScheduleParam, ...]:
    """cyclic's and onecycle's momentum parameters, with their defaults."""
    return (ScheduleParam("cycle_momentum", "bool", True,
                          description="cycle the optimizer's momentum (sgd, rmsprop) or beta1 "
                          "(adam family) between max_momentum and base_momentum; overrides "
                          "the optimizer's own value"),
            ScheduleParam("base_momentum", "float", base, minimum=0.0,
                          description="momentum at the lr peak"),
            ScheduleParam("max_momentum", "float", top, minimum=0.0,
                          description=top_description))


_FORMULA = ("a formula in step (torch's last_epoch: 0 for the first update), e.g. "
            "\"0.95**step\"; the grammar of expression functions")
_MEMBERS = ("the schedules, in order (any but plateau, onecycle, cyclic, sequential and "
            "chained)")

SCHEDULES: dict[str, ScheduleDef] = {
    defn.name: defn
    for defn in (
        ScheduleDef("constant", "the base learning rate throughout (inside a combinator: "
                    "leaves the lr as it is, like torch ConstantLR with factor 1)", ()),
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
            "constant_factor",
            "multiply the lr by factor for the first total_iters steps, then go back to the "
            "base lr (torch ConstantLR)",
            (ScheduleParam("factor", "float", 1.0 / 3, minimum=0.0, maximum=1.0,
                           exclusive_minimum=True,
                           description="factor of the first total_iters steps"),
             ScheduleParam("total_iters", "int", 5, minimum=1,
                           description="steps at the reduced lr")),
        ),
        ScheduleDef(
            "polynomial",
            "decay the lr to zero over total_iters steps as (1 - step/total_iters)**power, "
            "then hold it at zero (torch PolynomialLR)",
            (ScheduleParam("total_iters", "int", 5, minimum=1,
                           description="steps until the lr reaches zero"),
             ScheduleParam("power", "float", 1.0, minimum=0.0,
                           description="power of the polynomial (1: linear decay)")),
        ),
        ScheduleDef(
            "cosine_warm_restarts",
            "cosine annealing from the base lr to eta_min over t_0 steps, then restart at "
            "the base lr, each period t_mult times longer (torch CosineAnnealingWarmRestarts, "
            "SGDR)",
            (ScheduleParam("t_0", "int", minimum=1,
                           description="length of the first period, in steps"),
             ScheduleParam("t_mult", "int", 1, minimum=1,
                           description="each period is t_mult times the previous one"),
             ScheduleParam("eta_min", "float", 0.0, minimum=0.0,
                           description="minimum learning rate")),
        ),
        ScheduleDef(
            "cyclic",
            "cycle the lr between base_lr and max_lr, up over step_size_up steps and down "
            "over step_size_down, momentum (or beta1) cycled inversely (torch CyclicLR)",
            (ScheduleParam("base_lr", "float", None, minimum=0.0, nullable=True,
                           description="lower bound of the lr (null: the job's "
                           "learning_rate)"),
             ScheduleParam("max_lr", "float", minimum=0.0,
                           description="upper bound of the lr"),
             ScheduleParam("step_size_up", "int", 2000, minimum=1,
                           description="steps of the rising half of a cycle"),
             ScheduleParam("step_size_down", "int", None, minimum=1, nullable=True,
                           description="steps of the falling half (null: step_size_up)"),
             ScheduleParam("mode", "choice", "triangular",
                           choices=("triangular", "triangular2", "exp_range"),
                           description="triangular: constant amplitude; triangular2: halved "
                           "each cycle; exp_range: scaled by gamma**step"),
             ScheduleParam("gamma", "float", 1.0, minimum=0.0, exclusive_minimum=True,
                           description="exp_range's factor per step"),
             *_momentum_cycle(0.8, 0.9, "momentum at the start of a cycle")),
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
             *_momentum_cycle(0.85, 0.95, "momentum at the start and the end")),
        ),
        ScheduleDef(
            "multiplicative",
            "multiply the lr by a factor every step, the factor a formula in step (torch "
            "MultiplicativeLR)",
            (ScheduleParam("factor", "formula", description=_FORMULA),),
        ),
        ScheduleDef(
            "lambda",
            "the base lr times a formula in step (torch LambdaLR)",
            (ScheduleParam("factor", "formula", description=_FORMULA),),
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
        ScheduleDef(
            "sequential",
            "one schedule after another: schedules[i + 1] takes over, from its own first "
            "step, at step milestones[i] (torch SequentialLR; e.g. linear warm-up then "
            "cosine)",
            (ScheduleParam("schedules", "schedules", description=_MEMBERS),
             ScheduleParam("milestones", "int_list", minimum=0,
                           description="the steps at which the next schedule starts, one "
                           "fewer than schedules, in increasing order")),
        ),
        ScheduleDef(
            "chained",
            "every schedule stepped in turn on the same lr, their effects compounding (torch "
            "ChainedScheduler)",
            (ScheduleParam("schedules", "schedules", description=_MEMBERS),),
        ),
    )
}

COMBINATORS = ("sequential", "chained")
# Set the lr from their own bounds and cycle the momentum (onecycle, cyclic), or step on the
# loss (plateau, which torch's combinators refuse): used alone, never inside a combinator.
ALONE_ONLY = ("plateau", "onecycle", "cyclic")
# Schedules whose lr is one value throughout (or one to start with, then the losses'):
# no per-step table.
TABLELESS = ("constant", "plateau")
# Schedules that may cycle the optimizer's momentum (or beta1), and so need one that has it.
MOMENTUM_CYCLING = ("onecycle", "cyclic")


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
