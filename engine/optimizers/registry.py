"""The optimizer registry: every family with torch's hyperparameters, defaults and checks.

``resolve_optimizer`` turns the job spec's ``optimizer`` field (a name, or an object
``{"name": ..., **hyperparameters}``) into a family and a complete hyperparameter dict;
``hyper_row`` packs that dict into the float row the kernel reads. Names, defaults, default
learning rates and the range checks are those of ``torch.optim`` 2.13 (each class's
``__init__``); the update rules are in ``engine.optimizers.kernels``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.bounds import interval_text, outside
from engine.errors import SpecError
from engine.optimizers import kernels
from engine.optimizers.base import Hyperparameter, OptimizerDef


def _zeros_state(slots: int) -> Callable[[np.ndarray, int, int], np.ndarray]:
    def init_state(hyper: np.ndarray, n_runs: int, dims: int) -> np.ndarray:
        return np.zeros((slots, n_runs, dims))

    return init_state


def _adagrad_state(hyper: np.ndarray, n_runs: int, dims: int) -> np.ndarray:
    """torch: ``state["sum"] = torch.full_like(p, initial_accumulator_value)``."""
    state = np.zeros((1, n_runs, dims))
    state[0] = hyper[:, 2:3]
    return state


def _nadam_state(hyper: np.ndarray, n_runs: int, dims: int) -> np.ndarray:
    """torch: ``state["mu_product"] = torch.tensor(1.0)`` (slot 2, replicated along the row)."""
    state = np.zeros((3, n_runs, dims))
    state[2] = 1.0
    return state


def _weight_decay(description: str = "L2 penalty: adds weight_decay * param to the gradient",
                  default: float = 0.0) -> Hyperparameter:
    return Hyperparameter("weight_decay", default, minimum=0.0, description=description)


def _eps(default: float, description: str = "added to the denominator for numerical stability"
         ) -> Hyperparameter:
    return Hyperparameter("eps", default, minimum=0.0, description=description)


_BETAS = Hyperparameter(
    "betas", (0.9, 0.999), kind="pair", minimum=0.0, maximum=1.0, exclusive_maximum=True,
    description="decay rates (beta1, beta2) of the running averages of the gradient and of its "
    "square",
)
_DECOUPLED = Hyperparameter(
    "decoupled_weight_decay", False, kind="bool",
    description="decay the parameters directly (param *= 1 - lr * weight_decay, as AdamW) "
    "instead of adding weight_decay * param to the gradient",
)
_ADAM_FAMILY = (
    _BETAS,
    _eps(1e-8),
    _weight_decay(),
    Hyperparameter("amsgrad", False, kind="bool",
                   description="use the running maximum of the second moment (AMSGrad)"),
)

OPTIMIZERS: dict[str, OptimizerDef] = {
    defn.name: defn
    for defn in (
        OptimizerDef(
            name="sgd",
            kernel=kernels.sgd_update,
            hyperparameters=(
                Hyperparameter("momentum", 0.0, minimum=0.0, description="momentum factor"),
                Hyperparameter("dampening", 0.0,
                               description="dampening for momentum: the new gradient enters "
                               "the buffer with weight 1 - dampening (from the second step on)"),
                Hyperparameter("nesterov", False, kind="bool",
                               description="Nesterov momentum (needs momentum > 0 and "
                               "dampening = 0)"),
                _weight_decay(),
            ),
            state_slots=2,
            default_lr=1e-3,
            description="stochastic gradient descent, optionally with (Nesterov) momentum "
            "(torch.optim.SGD)",
            init_state=_zeros_state(2),
            momentum_column=0,
        ),
        OptimizerDef(
            name="adam",
            kernel=kernels.adam_update,
            hyperparameters=_ADAM_FAMILY,
            state_slots=3,
            default_lr=1e-3,
            description="Adam (torch.optim.Adam)",
            init_state=_zeros_state(3),
            momentum_column=0,
        ),
        OptimizerDef(
            name="adamw",
            kernel=kernels.adamw_update,
            hyperparameters=(
                _BETAS,
                _eps(1e-8),
                _weight_decay("decoupled weight decay: param *= 1 - lr * weight_decay", 1e-2),
                _ADAM_FAMILY[3],
            ),
            state_slots=3,
            default_lr=1e-3,
            description="Adam with decoupled weight decay (torch.optim.AdamW)",
            init_state=_zeros_state(3),
            momentum_column=0,
        ),
        OptimizerDef(
            name="rmsprop",
            kernel=kernels.rmsprop_update,
            hyperparameters=(
                Hyperparameter("alpha", 0.99, minimum=0.0,
                               description="smoothing constant of the squared-gradient average"),
                _eps(1e-8),
                _weight_decay(),
                Hyperparameter("momentum", 0.0, minimum=0.0, description="momentum factor"),
                Hyperparameter("centered", False, kind="bool",
                               description="normalise by the estimated variance of the gradient "
                               "instead of its second moment"),
            ),
            state_slots=3,
            default_lr=1e-2,
            description="RMSprop (torch.optim.RMSprop)",
            init_state=_zeros_state(3),
            momentum_column=3,
        ),
        OptimizerDef(
            name="adagrad",
            kernel=kernels.adagrad_update,
            hyperparameters=(
                Hyperparameter("lr_decay", 0.0, minimum=0.0,
                               description="learning-rate decay: update t uses "
                               "lr / (1 + (t - 1) * lr_decay)"),
                _weight_decay(),
                Hyperparameter("initial_accumulator_value", 0.0, minimum=0.0,
                               description="starting value of the sum of squared gradients"),
                _eps(1e-10),
            ),
            state_slots=1,
            default_lr=1e-2,
            description="Adagrad (torch.optim.Adagrad)",
            init_state=_adagrad_state,
            momentum_column=None,
        ),
        OptimizerDef(
            name="adadelta",
            kernel=kernels.adadelta_update,
            hyperparameters=(
                Hyperparameter("rho", 0.9, minimum=0.0, maximum=1.0,
                               description="decay rate of the running averages"),
                _eps(1e-6),
                _weight_decay(),
            ),
            state_slots=2,
            default_lr=1.0,
            description="Adadelta (torch.optim.Adadelta); the learning rate scales the delta "
            "and defaults to 1.0",
            init_state=_zeros_state(2),
            momentum_column=None,
        ),
        OptimizerDef(
            name="adamax",
            kernel=kernels.adamax_update,
            hyperparameters=(_BETAS, _eps(1e-8), _weight_decay()),
            state_slots=2,
            default_lr=2e-3,
            description="Adamax, Adam with the infinity norm (torch.optim.Adamax)",
            init_state=_zeros_state(2),
            momentum_column=0,
        ),
        OptimizerDef(
            name="nadam",
            kernel=kernels.nadam_update,
            hyperparameters=(
                _BETAS,
                _eps(1e-8),
                _weight_decay(),
                Hyperparameter("momentum_decay", 4e-3, minimum=0.0,
                               description="momentum decay psi of the Nesterov schedule "
                               "mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))"),
                _DECOUPLED,
            ),
            state_slots=3,
            default_lr=2e-3,
            description="Adam with Nesterov momentum (torch.optim.NAdam)",
            init_state=_nadam_state,
            momentum_column=0,
        ),
        OptimizerDef(
            name="radam",
            kernel=kernels.radam_update,
            hyperparameters=(_BETAS, _eps(1e-8), _weight_decay(), _DECOUPLED),
            state_slots=2,
            default_lr=1e-3,
            description="rectified Adam (torch.optim.RAdam)",
            init_state=_zeros_state(2),
            momentum_column=0,
        ),
        OptimizerDef(
            name="rprop",
            kernel=kernels.rprop_update,
            hyperparameters=(
                Hyperparameter("etas", (0.5, 1.2), kind="pair", minimum=0.0,
                               exclusive_minimum=True,
                               description="(etaminus, etaplus): the step size's factors when "
                               "the gradient's sign flips or holds (0 < etaminus < 1 < "
                               "etaplus)"),
                Hyperparameter("step_sizes", (1e-6, 50.0), kind="pair", minimum=0.0,
                               description="(minimal, maximal) step size"),
            ),
            state_slots=2,
            default_lr=1e-2,
            description="resilient backpropagation: per-coordinate step sizes that grow while "
            "the gradient's sign holds and shrink when it flips; the learning rate is the "
            "first step size (torch.optim.Rprop)",
            init_state=_zeros_state(2),
            momentum_column=None,
        ),
    )
}

ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "gd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
}


def _known_names() -> str:
    return ", ".join([*OPTIMIZERS, *ALIASES])


def _check_number(field: str, value: Any, hyper: Hyperparameter, what: str = "") -> float:
    what = what or hyper.name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(field, f"{what} must be finite, got {value!r}")
    if outside(hyper, number):
        raise SpecError(field, f"{what} must be {_range_text(hyper)}, got {value!r}")
    return number


def _check_value(hyper: Hyperparameter, value: Any) -> Any:
    field = f"optimizer.{hyper.name}"
    if hyper.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(field, f"{hyper.name} must be true or false, got {value!r}")
        return value
    if hyper.kind == "pair":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise SpecError(field, f"{hyper.name} must be a list of two numbers, got {value!r}")
        return [
            _check_number(field, item, hyper, f"{hyper.name}[{index}]")
            for index, item in enumerate(value)
        ]
    if hyper.kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(field, f"{hyper.name} must be an integer, got {value!r}")
        return int(_check_number(field, value, hyper))
    return _check_number(field, value, hyper)


def _check_combination(name: str, values: dict[str, Any]) -> None:
    """Checks torch makes across hyperparameters."""
    if name == "rprop" and not values["etas"][0] < 1.0 < values["etas"][1]:
        raise SpecError("optimizer.etas", "etas must be (etaminus, etaplus) with 0 < etaminus "
                        f"< 1 < etaplus, got {values['etas']!r}")
    if name == "sgd" and values["nesterov"] and (
        values["momentum"] <= 0 or values["dampening"] != 0
    ):
        raise SpecError(
            "optimizer.nesterov",
            "Nesterov momentum requires momentum > 0 and dampening = 0, got momentum="
            f"{values['momentum']!r} and dampening={values['dampening']!r}",
        )


def resolve_optimizer(config: str | dict[str, Any]) -> tuple[OptimizerDef, dict[str, Any]]:
    """The family and every hyperparameter (defaults filled) for the spec's ``optimizer``.

    ``config`` is a name (``"adam"``, an alias such as ``"nesterov"``) or an object
    ``{"name": ..., **hyperparameters}``. The returned dict holds the canonical family name
    under ``"name"`` and each hyperparameter as a plain JSON value (a pair as a list).
    Raises ``SpecError("optimizer", ...)`` for an unknown name and
    ``SpecError("optimizer.<hyperparameter>", ...)`` for a bad or unknown hyperparameter.
    """
    if isinstance(config, str):
        name, given = config, {}
    elif isinstance(config, dict):
        if "name" not in config:
            raise SpecError("optimizer.name", f"is required (one of: {_known_names()})")
        name = config["name"]
        given = {key: value for key, value in config.items() if key != "name"}
    else:
        raise SpecError("optimizer", f"must be a name or an object with a name, got {config!r}")
    if not isinstance(name, str):
        raise SpecError("optimizer.name", f"must be a string, got {name!r}")
    key = name.strip().lower()
    preset: dict[str, Any] = {}
    if key in ALIASES:
        key, preset = ALIASES[key]
    if key not in OPTIMIZERS:
        raise SpecError("optimizer", f"unknown optimizer {name!r}; known: {_known_names()}")
    defn = OPTIMIZERS[key]
    declared = {hyper.name: hyper for hyper in defn.hyperparameters}
    for unknown in given:
        if unknown not in declared:
            hint = (" (set the top-level learning_rate instead)"
                    if unknown in ("lr", "learning_rate") else "")
            raise SpecError(
                f"optimizer.{unknown}",
                f"{defn.name} has no hyperparameter {unknown!r}{hint}; it has: "
                f"{', '.join(declared)}",
            )
    values: dict[str, Any] = {"name": defn.name}
    for hyper in defn.hyperparameters:
        if hyper.name in given:
            values[hyper.name] = _check_value(hyper, given[hyper.name])
        elif hyper.name in preset:
            values[hyper.name] = _check_value(hyper, preset[hyper.name])
        else:
            values[hyper.name] = list(hyper.default) if hyper.kind == "pair" else hyper.default
    _check_combination(defn.name, values)
    return defn, values


def hyper_columns(defn: OptimizerDef) -> list[str]:
    """The name of each column of the hyper row (a pair ``betas`` gives ``betas[0]``,
    ``betas[1]``)."""
    columns: list[str] = []
    for hyper in defn.hyperparameters:
        if hyper.kind == "pair":
            columns += [f"{hyper.name}[0]", f"{hyper.name}[1]"]
        else:
            columns.append(hyper.name)
    return columns


def hyper_row(defn: OptimizerDef, values: dict[str, Any]) -> np.ndarray:
    """The kernel's hyperparameter row, shape ``(H,)``: floats, booleans as 0/1, a pair as two
    columns, in declaration order. ``values`` as returned by ``resolve_optimizer``."""
    row: list[float] = []
    for hyper in defn.hyperparameters:
        value = values[hyper.name]
        if hyper.kind == "pair":
            row += [float(value[0]), float(value[1])]
        else:
            row.append(float(value))
    return np.array(row, dtype=np.float64)


def _range_text(hyper: Hyperparameter) -> str:
    if hyper.kind == "bool":
        return "true or false"
    return f"in {interval_text(hyper)}"


def describe_optimizers() -> list[dict[str, Any]]:
    """Every family for ``GET /v1/optimizers``: name, description, aliases (with the
    hyperparameters each sets), default learning rate, and each hyperparameter's name, type,
    default, range and description."""
    described = []
    for defn in OPTIMIZERS.values():
        described.append({
            "name": defn.name,
            "description": defn.description,
            "aliases": [
                {"name": alias, "sets": dict(preset)}
                for alias, (target, preset) in ALIASES.items()
                if target == defn.name
            ],
            "default_learning_rate": defn.default_lr,
            "cycles_momentum": defn.momentum_column is not None,
            "hyperparameters": [
                {
                    "name": hyper.name,
                    "type": hyper.kind,
                    "default": list(hyper.default) if hyper.kind == "pair" else hyper.default,
                    "minimum": hyper.minimum,
                    "maximum": hyper.maximum,
                    "exclusive_minimum": hyper.exclusive_minimum,
                    "exclusive_maximum": hyper.exclusive_maximum,
                    "range": _range_text(hyper),
                    "description": hyper.description,
                }
                for hyper in defn.hyperparameters
            ],
        })
    return described
