"""Regenerate the golden trajectories from torch: ``python tests/golden/make_goldens.py``.

Needs torch (never a dependency of the engine or of the tests: the tests read the JSON this
writes). Everything runs in float64 (``torch.set_default_dtype(torch.float64)``, so torch's
own scalar state such as NAdam's ``mu_product`` is float64 too) with ``foreach=False``, i.e.
torch.optim's single-tensor code path.

The loop is torch's canonical one, for k = 0 .. steps-1::

    opt.zero_grad(); loss = f(params, batch k); loss.backward(); opt.step()
    sched.step()            # plateau: sched.step(loss.item())

Batches (dataset models, no shuffle) are consecutive slices in dataset order, the last one
short (``DataLoader(drop_last=False)``), cycling epochs. A ``onecycle`` schedule whose
``total_steps`` is below the step count is not stepped past ``total_steps`` (torch would
raise): its lr and momentum hold, as the engine documents.

Files written to ``tests/golden/data/`` (compact JSON, floats round-trip exactly):
``optimizers.json`` (every family, default and non-default configs, on four analytic
objectives), ``schedules.json`` (every schedule with sgd-momentum and adam on a linear
regression), ``batching.json`` (full / stochastic / minibatch), ``beyond_torch.json`` (lion,
adabelief, lamb against their reference packages, which need the ``goldens`` extra; their
versions are recorded in the file); ``python tests/golden/make_goldens.py beyond_torch`` writes
only the files named. Per-tensor optimizers also run on softmax_regression and mlp with one
tensor per layout entry (``run_model``). Each case is self-describing:
``spec`` (a SPEC.md §2 job spec), ``objective`` (the formula's parameters for a standalone
re-implementation), ``params`` (steps+1 points), ``loss`` (full objective at each point),
``lr`` (the lr each update used), and where relevant ``momentum`` (the momentum / beta1 each
update used) and ``metric`` (the value handed to ReduceLROnPlateau.step after each update).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

DATA_DIR = Path(__file__).parent / "data"
SIGN_BASED = ("rprop",)
STEPS = 200

TORCH_CLASSES: dict[str, Any] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "adamax": torch.optim.Adamax,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "rprop": torch.optim.Rprop,
    "asgd": torch.optim.ASGD,
    "adafactor": torch.optim.Adafactor,
}
HYPERPARAMETERS = {
    "sgd": ["momentum", "dampening", "nesterov", "weight_decay"],
    "adam": ["betas", "eps", "weight_decay", "amsgrad"],
    "adamw": ["betas", "eps", "weight_decay", "amsgrad"],
    "rmsprop": ["alpha", "eps", "weight_decay", "momentum", "centered"],
    "adagrad": ["lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
    "adadelta": ["rho", "eps", "weight_decay"],
    "adamax": ["betas", "eps", "weight_decay"],
    "nadam": ["betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay"],
    "radam": ["betas", "eps", "weight_decay", "decoupled_weight_decay"],
    "rprop": ["etas", "step_sizes"],
    "asgd": ["lambd", "alpha", "t0", "weight_decay"],
    "adafactor": ["beta2_decay", "eps", "d", "weight_decay"],
}


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (tuple, list)):  # Adafactor's eps1 None is float64's epsilon
        return [float(torch.finfo(torch.float64).eps if item is None else item)
                for item in value]
    return float(value)


def torch_defaults() -> dict[str, dict[str, Any]]:
    """Default lr and hyperparameters of each family, read from torch's signatures."""
    defaults = {}
    for name, cls in TORCH_CLASSES.items():
        signature = inspect.signature(cls.__init__).parameters
        entry = {"lr": float(signature["lr"].default)}
        for hyper in HYPERPARAMETERS[name]:
            entry[hyper] = _json_value(signature[hyper].default)
        defaults[name] = entry
    return defaults


DEFAULTS = torch_defaults()


def full_optimizer(config: dict[str, Any]) -> dict[str, Any]:
    """The optimizer object with every hyperparameter written out (torch defaults filled, or
    the reference package's for the optimizers beyond torch)."""
    name = config["name"]
    full = {"name": name}
    names = HYPERPARAMETERS.get(name) or REFERENCE_HYPERPARAMETERS[name]
    defaults = DEFAULTS.get(name) or reference_defaults()[name]
    for hyper in names:
        full[hyper] = _json_value(config.get(hyper, defaults[hyper]))
    return full


def make_optimizer(params: list[torch.Tensor], optimizer: dict[str, Any], lr: float):
    kwargs = {key: value for key, value in optimizer.items() if key != "name"}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if optimizer["name"] in REFERENCE_HYPERPARAMETERS:
        return make_reference_optimizer(params, optimizer["name"], lr, kwargs)
    return TORCH_CLASSES[optimizer["name"]](params, lr=lr, foreach=False, **kwargs)


# --------------------------------------------------------------------------- objectives

QUADRATIC_A = [
    [4.0, 1.0, 0.0, 0.5, 0.0],
    [1.0, 3.0, 0.5, 0.0, 0.0],
    [0.0, 0.5, 2.0, 0.25, 0.0],
    [0.5, 0.0, 0.25, 1.0, 0.125],
    [0.0, 0.0, 0.0, 0.125, 0.5],
]


def _quadratic_expression(matrix: list[list[float]]) -> str:
    terms = []
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if j < i or value == 0:
                continue
            coefficient = value if i == j else 2 * value
            terms.append(f"{coefficient!r}*x{i + 1}*x{j + 1}")
    return "0.5*(" + " + ".join(terms) + ")"


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def himmelblau(x: torch.Tensor) -> torch.Tensor:
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def beale(x: torch.Tensor) -> torch.Tensor:
    return ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
            + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2)


_A = torch.tensor(QUADRATIC_A)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x @ (_A @ x))


ANALYTIC = {
    # name: (torch function, spec function, function_params, init, objective
    #        description)
    "rosenbrock": (rosenbrock, "rosenbrock", {"dims": 2, "a": 1.0, "b": 100.0}, [-1.5, 2.0],
                   {"kind": "rosenbrock", "a": 1.0, "b": 100.0}),
    "himmelblau": (himmelblau, "himmelblau", {}, [-1.0, -1.0], {"kind": "himmelblau"}),
    "beale": (beale, "beale", {}, [1.0, 1.0], {"kind": "beale"}),
    "quadratic": (quadratic, {"expression": _quadratic_expression(QUADRATIC_A),
                              "variables": ["x1", "x2", "x3", "x4", "x5"]}, {},
                  [1.0, -1.0, 0.5, 2.0, -0.5], {"kind": "quadratic", "A": QUADRATIC_A}),
}

# (label, optimizer config, starting lr per objective); the lr is halved until the run is
# bounded and well-conditioned (see ``_choose_lr``).
OPTIMIZER_CASES: list[tuple[str, dict[str, Any], dict[str, float]]] = [
    ("sgd", {"name": "sgd"}, {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2,
                              "quadratic": 0.1}),
    ("sgd-momentum-nesterov-wd", {"name": "sgd", "momentum": 0.9, "nesterov": True,
                                  "weight_decay": 0.01},
     {"rosenbrock": 2e-4, "himmelblau": 2e-3, "beale": 2e-3, "quadratic": 0.02}),
    ("sgd-momentum-dampening", {"name": "sgd", "momentum": 0.8, "dampening": 0.3},
     {"rosenbrock": 2e-4, "himmelblau": 2e-3, "beale": 2e-3, "quadratic": 0.02}),
    ("adam", {"name": "adam"}, {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05,
                                "quadratic": 0.05}),
    ("adam-amsgrad-wd", {"name": "adam", "amsgrad": True, "betas": [0.8, 0.99],
                         "weight_decay": 0.01},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("adamw", {"name": "adamw"}, {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05,
                                  "quadratic": 0.05}),
    ("adamw-amsgrad", {"name": "adamw", "amsgrad": True, "weight_decay": 0.1},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("rmsprop", {"name": "rmsprop"}, {"rosenbrock": 0.01, "himmelblau": 0.01, "beale": 0.01,
                                      "quadratic": 0.01}),
    ("rmsprop-centered-momentum", {"name": "rmsprop", "centered": True, "momentum": 0.9,
                                   "weight_decay": 0.001},
     {"rosenbrock": 1e-3, "himmelblau": 1e-3, "beale": 1e-3, "quadratic": 1e-3}),
    ("adagrad", {"name": "adagrad"}, {"rosenbrock": 0.1, "himmelblau": 0.1, "beale": 0.1,
                                      "quadratic": 0.1}),
    ("adagrad-lr-decay", {"name": "adagrad", "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                          "weight_decay": 0.001},
     {"rosenbrock": 0.3, "himmelblau": 0.3, "beale": 0.3, "quadratic": 0.3}),
    ("adadelta", {"name": "adadelta"}, {"rosenbrock": 1.0, "himmelblau": 1.0, "beale": 1.0,
                                        "quadratic": 1.0}),
    ("adadelta-rho-wd", {"name": "adadelta", "rho": 0.95, "eps": 1e-4, "weight_decay": 0.01},
     {"rosenbrock": 1.0, "himmelblau": 1.0, "beale": 1.0, "quadratic": 1.0}),
    ("adamax", {"name": "adamax"}, {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05,
                                    "quadratic": 0.05}),
    ("adamax-wd", {"name": "adamax", "betas": [0.7, 0.9], "weight_decay": 0.01},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("nadam", {"name": "nadam"}, {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05,
                                  "quadratic": 0.05}),
    ("nadam-decoupled", {"name": "nadam", "momentum_decay": 0.01, "weight_decay": 0.01,
                         "decoupled_weight_decay": True},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("nadam-coupled-wd", {"name": "nadam", "weight_decay": 0.05},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("radam", {"name": "radam"}, {"rosenbrock": 0.01, "himmelblau": 0.05, "beale": 0.05,
                                  "quadratic": 0.05}),
    ("radam-decoupled", {"name": "radam", "betas": [0.9, 0.99], "weight_decay": 0.01,
                         "decoupled_weight_decay": True},
     {"rosenbrock": 0.01, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("rprop", {"name": "rprop"}, {"rosenbrock": 0.01, "himmelblau": 0.01, "beale": 0.01,
                                  "quadratic": 0.01}),
    ("rprop-etas-bounds", {"name": "rprop", "etas": [0.3, 1.5], "step_sizes": [1e-4, 0.5]},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("asgd", {"name": "asgd"}, {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2,
                                "quadratic": 0.1}),
    ("asgd-averaging-wd", {"name": "asgd", "lambd": 0.01, "alpha": 0.6, "t0": 20.0,
                           "weight_decay": 0.01},
     {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2, "quadratic": 0.1}),
    ("adafactor", {"name": "adafactor"}, {"rosenbrock": 0.05, "himmelblau": 0.05,
                                          "beale": 0.05, "quadratic": 0.05}),
    ("adafactor-decay-clip-wd", {"name": "adafactor", "beta2_decay": -0.5, "eps": [1e-20, 0.01],
                                 "d": 2.0, "weight_decay": 0.01},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
]


# --------------------------------------------------------------------------- runs


def run_analytic(function: Callable, init: list[float], optimizer: dict[str, Any], lr: float,
                 steps: int) -> dict[str, list]:
    if optimizer["name"] in SCHEDULE_FREE:
        return run_schedule_free(function, init, optimizer, lr, steps)
    x = torch.tensor(init, requires_grad=True)
    opt = make_optimizer([x], optimizer, lr)
    params, losses, lrs = [list(map(float, init))], [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = function(x)
        losses.append(loss.item())
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        params.append(x.detach().tolist())
    with torch.no_grad():
        losses.append(function(x).item())
    return {"params": params, "loss": losses, "lr": lrs, **reported_state(opt, [x])}


def reported_state(opt: torch.optim.Optimizer, tensors: list[torch.Tensor]) -> dict[str, list]:
    """What a result reports beside the final point: ASGD's running average ``ax``."""
    if not isinstance(opt, torch.optim.ASGD):
        return {}
    return {"averaged_params": torch.cat([opt.state[t]["ax"].reshape(-1)
                                          for t in tensors]).tolist()}


def _well_behaved(function: Callable, init: list[float], optimizer: dict[str, Any],
                  lr: float) -> bool:
    """Bounded, finite, and not chaotic: a 1e-12 relative nudge of the start point must not
    grow beyond 1e-8 relative over the run (so rounding differences stay far below the 1e-9
    the tests demand). Sign-based updates (Rprop) are exempt from the nudge: a nudge moves no
    sign, or moves a whole step; what they need is that no gradient component sits within
    rounding of zero, which the tests then check step for step."""
    base = run_analytic(function, init, optimizer, lr, STEPS)
    trajectory = np.array(base["params"])
    if not np.all(np.isfinite(trajectory)) or np.max(np.abs(trajectory)) > 1e3:
        return False
    if not np.all(np.isfinite(base["loss"])) or base["loss"][-1] > 10 * base["loss"][0] + 1:
        return False
    if optimizer["name"] in SIGN_BASED:
        return True
    nudged_init = [value * (1 + 1e-12) for value in init]
    nudged = np.array(run_analytic(function, nudged_init, optimizer, lr, STEPS)["params"])
    scale = np.max(np.abs(trajectory))
    return float(np.max(np.abs(nudged - trajectory))) <= 1e-8 * scale


def _choose_lr(function: Callable, init: list[float], optimizer: dict[str, Any],
               lr: float) -> float:
    for _ in range(30):
        if _well_behaved(function, init, optimizer, lr):
            return lr
        lr /= 2
    raise RuntimeError(f"no well-behaved lr for {optimizer}")


def analytic_cases(configs: list[tuple[str, dict[str, Any], dict[str, float]]] | None = None
                   ) -> list[dict[str, Any]]:
    cases = []
    for label, config, start_lrs in OPTIMIZER_CASES if configs is None else configs:
        optimizer = full_optimizer(config)
        for objective_name, (function, spec_function, function_params, init,
                             objective) in ANALYTIC.items():
            if objective_name not in start_lrs:  # left out: see BEYOND_TORCH_CASES
                continue
            lr = _choose_lr(function, init, optimizer, start_lrs[objective_name])
            spec: dict[str, Any] = {"function": spec_function}
            if function_params:
                spec["function_params"] = function_params
            spec |= {"optimizer": optimizer, "learning_rate": lr,
                     "schedule": {"name": "constant"}, "init": init, "max_steps": STEPS,
                     "grad_tol": 0.0}
            cases.append({"id": f"{objective_name}/{label}", "objective": objective,
                          "spec": spec, **run_analytic(function, init, optimizer, lr, STEPS)})
    return cases


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    """50 samples, 3 features, y = X w + b + noise; rounded so the JSON stays short."""
    rng = np.random.default_rng(20240601)
    features = np.round(rng.normal(size=(50, 3)), 3)
    target = np.round(features @ np.array([1.5, -2.0, 0.5]) + 0.7
                      + 0.1 * rng.normal(size=50), 3)
    return features, target


def run_regression(optimizer: dict[str, Any], lr: float, schedule: dict[str, Any],
                   batch_size: int, steps: int) -> dict[str, list]:
    """nn.Linear-like params [w_1..w_d, b] in one tensor, MSELoss (mean, no 1/2)."""
    features_np, target_np = regression_data()
    features, target = torch.tensor(features_np), torch.tensor(target_np)
    n_samples, n_features = features_np.shape
    p = torch.zeros(n_features + 1, requires_grad=True)

    def mse(rows: slice) -> torch.Tensor:
        prediction = features[rows] @ p[:n_features] + p[n_features]
        return torch.nn.functional.mse_loss(prediction, target[rows])

    opt = make_optimizer([p], optimizer, lr)
    scheduler, total_steps = make_scheduler(opt, schedule, steps)
    use_beta1 = "betas" in opt.defaults
    batches_per_epoch = math.ceil(n_samples / batch_size)
    params, losses, lrs, momenta, metrics = [p.detach().tolist()], [], [], [], []
    for k in range(steps):
        first = (k % batches_per_epoch) * batch_size
        opt.zero_grad()
        with torch.no_grad():
            losses.append(mse(slice(None)).item())
        loss = mse(slice(first, min(first + batch_size, n_samples)))
        loss.backward()
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        momenta.append(group["betas"][0] if use_beta1 else group.get("momentum"))
        opt.step()
        params.append(p.detach().tolist())
        if schedule["name"] == "plateau":
            metrics.append(loss.item())
            scheduler.step(loss.item())
        elif scheduler is not None and (total_steps is None or k + 1 <= total_steps):
            scheduler.step()
    with torch.no_grad():
        losses.append(mse(slice(None)).item())
    result: dict[str, list[Any]] = {"params": params, "loss": losses, "lr": lrs}
    if schedule["name"] in ("onecycle", "cyclic") and schedule.get("cycle_momentum", True):
        result["momentum"] = momenta
    if metrics:
        result["metric"] = metrics
    return result


def make_scheduler(opt: torch.optim.Optimizer, schedule: dict[str, Any], steps: int):
    """The torch scheduler for a (partial) schedule config; also its total_steps (onecycle)."""
    lr_scheduler = torch.optim.lr_scheduler
    params = {key: value for key, value in schedule.items() if key != "name"}
    name = schedule["name"]
    if name == "constant":
        return None, None
    if name == "step":
        return lr_scheduler.StepLR(opt, **params), None
    if name == "multistep":
        return lr_scheduler.MultiStepLR(opt, **params), None
    if name == "exponential":
        return lr_scheduler.ExponentialLR(opt, **params), None
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=params.pop("t_max"), **params), None
    if name == "linear":
        return lr_scheduler.LinearLR(opt, **params), None
    if name == "onecycle":
        max_lr = params.pop("max_lr", None) or opt.param_groups[0]["lr"]
        total = params.pop("total_steps", None) or steps
        return lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, **params), total
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(opt, **params), None
    return make_added_scheduler(opt, name, params), None


# The formulas of the lambda / multiplicative cases, as the Python functions torch is given.
FACTOR_FORMULAS: dict[str, Callable[[int], float]] = {
    "0.95**step": lambda step: 0.95**step,
    "1/(1 + 0.05*step)": lambda step: 1 / (1 + 0.05 * step),
    "0.5*(1 + cos(pi*step/150))": lambda step: 0.5 * (1 + math.cos(math.pi * step / 150)),
    "0.995 - 0.0001*step": lambda step: 0.995 - 0.0001 * step,
    "0.99": lambda step: 0.99,
}


def make_added_scheduler(opt: torch.optim.Optimizer, name: str, params: dict[str, Any]):
    """The schedulers of SPEC §5.1; a combinator's members are built in order on ``opt``, as
    a user would (a ``constant`` member is ConstantLR with factor 1)."""
    lr_scheduler = torch.optim.lr_scheduler
    if name == "constant_factor":
        return lr_scheduler.ConstantLR(opt, **params)
    if name == "polynomial":
        return lr_scheduler.PolynomialLR(opt, **params)
    if name == "cosine_warm_restarts":
        return lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=params.pop("t_0"), T_mult=params.pop("t_mult", 1), **params)
    if name == "cyclic":
        base_lr = params.pop("base_lr", None) or opt.param_groups[0]["lr"]
        return lr_scheduler.CyclicLR(opt, base_lr=base_lr, **params)
    if name in ("lambda", "multiplicative"):
        cls = lr_scheduler.LambdaLR if name == "lambda" else lr_scheduler.MultiplicativeLR
        return cls(opt, FACTOR_FORMULAS[params["factor"]])
    if name in ("sequential", "chained"):
        members = [make_scheduler(opt, member, 0)[0] or lr_scheduler.ConstantLR(opt, factor=1.0)
                   for member in params["schedules"]]
        if name == "chained":
            return lr_scheduler.ChainedScheduler(members, opt)
        return lr_scheduler.SequentialLR(opt, members, milestones=params["milestones"])
    raise ValueError(name)


SCHEDULE_CASES: list[dict[str, Any]] = [
    {"name": "constant"},
    {"name": "step", "step_size": 25, "gamma": 0.5},
    {"name": "multistep", "milestones": [30, 80, 80, 150], "gamma": 0.5},
    {"name": "exponential", "gamma": 0.98},
    {"name": "cosine", "t_max": 60, "eta_min": 0.001},
    {"name": "cosine", "t_max": 200},
    {"name": "linear"},
    {"name": "linear", "start_factor": 0.1, "end_factor": 0.9, "total_iters": 50},
    {"name": "onecycle"},
    {"name": "onecycle", "max_lr": 0.08, "total_steps": 150, "three_phase": True,
     "anneal_strategy": "linear", "pct_start": 0.25, "base_momentum": 0.8,
     "max_momentum": 0.9},
    {"name": "onecycle", "cycle_momentum": False, "div_factor": 10.0, "final_div_factor": 100.0},
    {"name": "plateau", "patience": 5, "factor": 0.5, "threshold": 0.01},
    {"name": "plateau", "patience": 3, "factor": 0.3, "threshold": 0.001,
     "threshold_mode": "abs", "cooldown": 4, "min_lr": 0.002},
]
# SPEC §5.1's schedulers, each with its edge steps inside the 200: ConstantLR's total_iters,
# PolynomialLR reaching zero, the warm restarts (10, 30, 70, 150), CyclicLR's turns, and the
# combinators' milestones (including one at 0, and every member kind restarted at one).
ADDED_SCHEDULE_CASES: list[dict[str, Any]] = [
    {"name": "constant_factor"},
    {"name": "constant_factor", "factor": 0.5, "total_iters": 40},
    {"name": "polynomial", "total_iters": 120, "power": 2.0},
    {"name": "polynomial", "total_iters": 50, "power": 0.5},
    {"name": "cosine_warm_restarts", "t_0": 30},
    {"name": "cosine_warm_restarts", "t_0": 10, "t_mult": 2, "eta_min": 0.001},
    {"name": "cyclic", "max_lr": 0.06, "step_size_up": 20},
    {"name": "cyclic", "base_lr": 0.005, "max_lr": 0.04, "step_size_up": 15,
     "step_size_down": 25, "mode": "triangular2", "base_momentum": 0.7, "max_momentum": 0.95},
    {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.05, "step_size_up": 10, "mode": "exp_range",
     "gamma": 0.99},
    {"name": "cyclic", "max_lr": 0.04, "step_size_up": 30, "cycle_momentum": False},
    {"name": "lambda", "factor": "0.95**step"},
    {"name": "lambda", "factor": "0.5*(1 + cos(pi*step/150))"},
    {"name": "multiplicative", "factor": "0.995 - 0.0001*step"},
    {"name": "sequential", "milestones": [20],
     "schedules": [{"name": "linear", "start_factor": 0.1, "total_iters": 20},
                   {"name": "cosine", "t_max": 180}]},
    {"name": "sequential", "milestones": [10, 50],
     "schedules": [{"name": "linear", "start_factor": 0.2, "total_iters": 10},
                   {"name": "constant"}, {"name": "cosine", "t_max": 100, "eta_min": 0.001}]},
    {"name": "sequential", "milestones": [30, 60, 100, 150],
     "schedules": [{"name": "constant_factor", "factor": 0.5, "total_iters": 10},
                   {"name": "exponential", "gamma": 0.98},
                   {"name": "multiplicative", "factor": "0.99"},
                   {"name": "lambda", "factor": "1/(1 + 0.05*step)"},
                   {"name": "step", "step_size": 20, "gamma": 0.5}]},
    {"name": "sequential", "milestones": [0, 60, 60, 120],
     "schedules": [{"name": "exponential", "gamma": 0.9},
                   {"name": "polynomial", "total_iters": 40},
                   {"name": "linear"},
                   {"name": "cosine_warm_restarts", "t_0": 25},
                   {"name": "multistep", "milestones": [0, 10, 20], "gamma": 0.5}]},
    {"name": "sequential", "milestones": [20, 80],
     "schedules": [{"name": "exponential", "gamma": 0.97},
                   {"name": "linear", "start_factor": 0.25, "end_factor": 0.75, "total_iters": 30},
                   {"name": "polynomial", "total_iters": 100, "power": 2.0}]},
    {"name": "chained",
     "schedules": [{"name": "constant_factor", "factor": 0.5, "total_iters": 30},
                   {"name": "exponential", "gamma": 0.99}]},
    {"name": "chained",
     "schedules": [{"name": "linear", "start_factor": 0.2, "total_iters": 20},
                   {"name": "cosine", "t_max": 50, "eta_min": 0.001},
                   {"name": "step", "step_size": 40, "gamma": 0.5}]},
    {"name": "chained",
     "schedules": [{"name": "lambda", "factor": "1/(1 + 0.05*step)"},
                   {"name": "polynomial", "total_iters": 150, "power": 1.5},
                   {"name": "multistep", "milestones": [0, 50, 100], "gamma": 0.5}]},
    {"name": "chained",
     "schedules": [{"name": "cosine_warm_restarts", "t_0": 40, "t_mult": 2},
                   {"name": "multiplicative", "factor": "0.99"},
                   {"name": "constant"}]},
]
SCHEDULE_OPTIMIZERS: list[tuple[str, dict[str, Any], float]] = [
    ("momentum", {"name": "sgd", "momentum": 0.9}, 0.02),
    ("adam", {"name": "adam"}, 0.05),
]


def regression_spec(optimizer: dict[str, Any], lr: float, schedule: dict[str, Any],
                    batching: str, batch_size: int | None) -> dict[str, Any]:
    features, target = regression_data()
    spec = {"function": "linear_regression",
            "data": {"X": features.tolist(), "y": target.tolist()},
            "optimizer": optimizer, "learning_rate": lr, "schedule": schedule,
            "batching": batching}
    if batch_size is not None:
        spec["batch_size"] = batch_size
    spec |= {"shuffle": False, "init": [0.0, 0.0, 0.0, 0.0], "max_steps": STEPS,
             "grad_tol": 0.0}
    return spec


def schedule_cases() -> list[dict[str, Any]]:
    cases = []
    for label, config, lr in SCHEDULE_OPTIMIZERS:
        optimizer = full_optimizer(config)
        for index, schedule in enumerate(SCHEDULE_CASES + ADDED_SCHEDULE_CASES):
            run = run_regression(optimizer, lr, schedule, 50, STEPS)
            cases.append({
                "id": f"linear_regression/{label}/{schedule['name']}-{index}",
                "objective": {"kind": "linear_regression"},
                "spec": regression_spec(optimizer, lr, schedule, "full", None), **run})
    return cases


def batching_cases() -> list[dict[str, Any]]:
    cases = []
    for label, config, lr in [("sgd", {"name": "sgd"}, 0.05), ("adam", {"name": "adam"}, 0.05)]:
        optimizer = full_optimizer(config)
        for batching, batch_size in [("full", 50), ("stochastic", 1), ("minibatch", 16)]:
            run = run_regression(optimizer, lr, {"name": "constant"}, batch_size, STEPS)
            cases.append({
                "id": f"linear_regression/{label}/{batching}",
                "objective": {"kind": "linear_regression"},
                "spec": regression_spec(optimizer, lr, {"name": "constant"}, batching,
                                        16 if batching == "minibatch" else None), **run})
    return cases


def write(name: str, cases: list[dict[str, Any]]) -> None:
    document = {
        "format": "descent-golden/1",
        "generator": "tests/golden/make_goldens.py",
        "torch_version": torch.__version__,
        "loop": "for k < max_steps: zero_grad; loss = f(params, batch k); backward; "
                "opt.step(); sched.step() (plateau: sched.step(loss.item())); "
                "onecycle is not stepped past total_steps (lr and momentum hold)",
        "fields": {
            "params": "max_steps + 1 points: the state after k updates",
            "loss": "full objective (all samples) at each point",
            "lr": "the learning rate update k used",
            "momentum": "onecycle or cyclic with cycle_momentum: the momentum / beta1 "
                        "update k used",
            "metric": "plateau: the loss handed to ReduceLROnPlateau.step after update k "
                      "(the batch loss the update's gradient came from)",
        },
        "torch_defaults": DEFAULTS,
        "cases": cases,
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"{name}.json"
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{path}: {len(cases)} cases, {path.stat().st_size / 1e6:.2f} MB")


# --------------------------------------------------------------------------- per-tensor models
# Lamb's trust ratio and Adafactor's factored moments depend on how the flat parameter vector
# splits into tensors (engine/optimizers/layout.py): these runs keep every tensor apart, shaped
# as the engine's layout says (W features × classes, row-major).


def model_data(model: str) -> tuple[np.ndarray, np.ndarray]:
    """30 samples, 2 features; three classes (softmax) or a smooth real target (mlp)."""
    rng = np.random.default_rng(20261203)
    features = np.round(rng.normal(size=(30, 2)), 3)
    if model == "softmax_regression":
        target = (features[:, 0] > 0.3).astype(float) + (features[:, 1] > 0.0)
    else:
        target = np.round(np.sin(features[:, 0]) + 0.5 * features[:, 1], 3)
    return features, target


MODELS: dict[str, dict[str, Any]] = {
    "softmax_regression": {"function_params": {"classes": 3}, "shapes": [(2, 3), (3,)]},
    "mlp": {"function_params": {"hidden": 3, "activation": "tanh", "loss": "mse"},
            "shapes": [(2, 3), (3,), (3, 1), (1,)]},
}


def model_init(model: str) -> list[float]:
    size = sum(math.prod(shape) for shape in MODELS[model]["shapes"])
    return np.round(np.random.default_rng(7).uniform(-0.8, 0.8, size), 3).tolist()


def model_loss(model: str, tensors: list[torch.Tensor], features: torch.Tensor,
               target: torch.Tensor) -> torch.Tensor:
    if model == "softmax_regression":
        weights, bias = tensors
        return torch.nn.functional.cross_entropy(features @ weights + bias, target.long())
    first, first_bias, second, second_bias = tensors
    hidden = torch.tanh(features @ first + first_bias)
    return torch.nn.functional.mse_loss((hidden @ second + second_bias).squeeze(1), target)


def run_model(model: str, optimizer: dict[str, Any], lr: float, steps: int,
              init: list[float] | None = None) -> dict[str, list]:
    """Full-batch steps on ``model`` with one tensor per layout entry."""
    features_np, target_np = model_data(model)
    features, target = torch.tensor(features_np), torch.tensor(target_np)
    flat = torch.tensor(init or model_init(model))
    tensors, start = [], 0
    for shape in MODELS[model]["shapes"]:
        size = math.prod(shape)
        tensors.append(flat[start:start + size].reshape(shape).clone().requires_grad_(True))
        start += size
    opt = make_optimizer(tensors, optimizer, lr)

    def flat_params() -> list[float]:
        return torch.cat([t.detach().reshape(-1) for t in tensors]).tolist()

    params, losses, lrs = [flat_params()], [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = model_loss(model, tensors, features, target)
        losses.append(loss.item())
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        params.append(flat_params())
    with torch.no_grad():
        losses.append(model_loss(model, tensors, features, target).item())
    return {"params": params, "loss": losses, "lr": lrs, **reported_state(opt, tensors)}


def _model_well_behaved(model: str, optimizer: dict[str, Any], lr: float) -> bool:
    """As ``_well_behaved``: bounded, and a 1e-12 nudge of the start stays below 1e-10 (the
    engine's gradients sum the samples in another order than autograd: a run that amplifies
    such differences a hundredfold is no test of the optimizer)."""
    base = run_model(model, optimizer, lr, STEPS)
    trajectory = np.array(base["params"])
    if not np.all(np.isfinite(trajectory)) or np.max(np.abs(trajectory)) > 1e3:
        return False
    nudged_init = [value * (1 + 1e-12) for value in model_init(model)]
    nudged = np.array(run_model(model, optimizer, lr, STEPS, nudged_init)["params"])
    return float(np.max(np.abs(nudged - trajectory))) <= 1e-10 * np.max(np.abs(trajectory))


def model_cases(configs: list[tuple[str, dict[str, Any], float]]) -> list[dict[str, Any]]:
    """Each (label, optimizer, starting lr) on both models, the lr halved until well behaved."""
    cases = []
    for label, config, start_lr in configs:
        optimizer = full_optimizer(config)
        for model, setup in MODELS.items():
            if (label, model) in MODEL_CASES_LEFT_OUT:
                continue
            lr = start_lr
            while not _model_well_behaved(model, optimizer, lr):
                lr /= 2
            features, target = model_data(model)
            spec = {"function": model, "function_params": setup["function_params"],
                    "data": {"X": features.tolist(), "y": target.tolist()},
                    "optimizer": optimizer, "learning_rate": lr,
                    "schedule": {"name": "constant"}, "batching": "full", "shuffle": False,
                    "init": model_init(model), "max_steps": STEPS, "grad_tol": 0.0}
            cases.append({"id": f"{model}/{label}", "objective": {"kind": model},
                          "spec": spec, **run_model(model, optimizer, lr, STEPS)})
    return cases


MODEL_CASES_LEFT_OUT = {
    # pre_norm scales the gradients by a factor computed in float32: on the mlp's four tensors
    # the engine's gradients (its own sum order) round that factor to the neighbouring float32
    # at some step, a 6e-8 change of one step (checked: with torch's gradients the kernel agrees
    # to 2e-16 at every step)
    ("lamb-pre-norm", "mlp"),
    # eps1 = 1e-20 leaves the bias's second moment unfloored: where its gradient crosses zero
    # the step g / sqrt(V) is sign-like, ruled by the rounding of g (the kernel with torch's
    # gradients agrees to 3e-16 at every step)
    ("adafactor-decay-clip-wd", "softmax_regression"),
}
TORCH_MODEL_CASES: list[tuple[str, dict[str, Any], float]] = [
    ("adafactor", {"name": "adafactor"}, 0.05),
    ("adafactor-decay-clip-wd", {"name": "adafactor", "beta2_decay": -0.5,
                                 "eps": [1e-20, 0.01], "d": 2.0, "weight_decay": 0.01}, 0.05),
]


# --------------------------------------------------------------------------- beyond torch
# Optimizers from other packages (docs/spec.md §4.1), run through the same loops; their
# package versions are recorded in beyond_torch.json.

REFERENCE_PACKAGES = ("lion-pytorch", "pytorch_optimizer", "schedulefree")
SCHEDULE_FREE = ("adamw_schedulefree", "sgd_schedulefree")
REFERENCE_HYPERPARAMETERS = {
    "adamw_schedulefree": ["betas", "eps", "weight_decay", "warmup_steps", "r",
                           "weight_lr_power"],
    "sgd_schedulefree": ["momentum", "weight_decay", "warmup_steps", "r", "weight_lr_power"],
    "lion": ["betas", "weight_decay", "decoupled_weight_decay"],
    "adabelief": ["betas", "weight_decay", "weight_decouple", "fixed_decay", "rectify",
                  "n_sma_threshold", "degenerated_to_sgd", "ams_bound", "eps"],
    "lamb": ["betas", "weight_decay", "weight_decouple", "fixed_decay", "rectify",
             "degenerated_to_sgd", "n_sma_threshold", "grad_averaging", "max_grad_norm",
             "adam", "pre_norm", "eps"],
}


def reference_classes() -> dict[str, Any]:
    import lion_pytorch
    import pytorch_optimizer
    import schedulefree

    return {"lion": lion_pytorch.Lion, "adabelief": pytorch_optimizer.AdaBelief,
            "lamb": pytorch_optimizer.Lamb,
            "adamw_schedulefree": schedulefree.AdamWScheduleFree,
            "sgd_schedulefree": schedulefree.SGDScheduleFree}


def reference_defaults() -> dict[str, dict[str, Any]]:
    """Default lr and hyperparameters of each reference optimizer, from its signature."""
    defaults = {}
    for name, cls in reference_classes().items():
        signature = inspect.signature(cls.__init__).parameters
        entry = {"lr": float(signature["lr"].default)}
        for hyper in REFERENCE_HYPERPARAMETERS[name]:
            entry[hyper] = _json_value(signature[hyper].default)
        defaults[name] = entry
    return defaults


def make_reference_optimizer(params: list[torch.Tensor], name: str, lr: float,
                             kwargs: dict[str, Any]):
    """The reference class; pytorch_optimizer's per-tensor path (``foreach=False``)."""
    if name in ("adabelief", "lamb", *SCHEDULE_FREE):
        kwargs = {**kwargs, "foreach": False}
    for count in ("n_sma_threshold", "warmup_steps"):
        if count in kwargs:
            kwargs[count] = int(kwargs[count])
    return reference_classes()[name](params, lr=lr, **kwargs)


BEYOND_TORCH_CASES: list[tuple[str, dict[str, Any], dict[str, float]]] = [
    ("lion", {"name": "lion"}, {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2,
                                "quadratic": 1e-2}),
    ("lion-betas-wd", {"name": "lion", "betas": [0.8, 0.95], "weight_decay": 0.1},
     {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2, "quadratic": 1e-2}),
    ("lion-decoupled", {"name": "lion", "weight_decay": 1e-4, "decoupled_weight_decay": True},
     {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2, "quadratic": 1e-2}),
    ("adabelief", {"name": "adabelief"}, {"rosenbrock": 0.05, "himmelblau": 0.05,
                                          "beale": 0.05, "quadratic": 0.05}),
    ("adabelief-coupled-ams", {"name": "adabelief", "weight_decay": 0.01,
                               "weight_decouple": False, "ams_bound": True, "eps": 1e-12},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("adabelief-fixed-decay", {"name": "adabelief", "weight_decay": 0.01, "fixed_decay": True},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("adabelief-rectify", {"name": "adabelief", "rectify": True, "betas": [0.9, 0.99]},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    # rectified runs that converge on the quadratic end where rounding rules: the belief
    # (g − m)² of a converged run is rounding noise, and the engine's gradient rounds
    # differently from autograd's (so no quadratic here and in lamb-rectify)
    ("adabelief-rectify-no-sgd", {"name": "adabelief", "rectify": True, "betas": [0.9, 0.99],
                                  "degenerated_to_sgd": False, "n_sma_threshold": 6},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05}),
    ("lamb", {"name": "lamb"}, {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05,
                                "quadratic": 0.05}),
    ("lamb-coupled-wd-no-averaging", {"name": "lamb", "weight_decay": 0.01,
                                      "weight_decouple": False, "grad_averaging": False},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("lamb-fixed-decay-adam", {"name": "lamb", "weight_decay": 0.01, "fixed_decay": True,
                               "adam": True},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("lamb-pre-norm", {"name": "lamb", "pre_norm": True, "max_grad_norm": 0.5},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("lamb-rectify", {"name": "lamb", "rectify": True, "betas": [0.9, 0.99]},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05}),
    ("lamb-rectify-sgd", {"name": "lamb", "rectify": True, "betas": [0.9, 0.99],
                          "degenerated_to_sgd": True},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    # (no quadratic: converged, Adam's g / sqrt(v) is ruled by the gradient's rounding)
    ("adamw_schedulefree", {"name": "adamw_schedulefree"},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05}),
    ("adamw_schedulefree-warmup-wd-r", {"name": "adamw_schedulefree", "warmup_steps": 20,
                                        "weight_decay": 0.01, "r": 1.0, "weight_lr_power": 1.0,
                                        "betas": [0.95, 0.99]},
     {"rosenbrock": 0.05, "himmelblau": 0.05, "beale": 0.05, "quadratic": 0.05}),
    ("sgd_schedulefree", {"name": "sgd_schedulefree"},
     {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2, "quadratic": 0.1}),
    ("sgd_schedulefree-warmup-wd-r", {"name": "sgd_schedulefree", "momentum": 0.8,
                                      "warmup_steps": 20, "weight_decay": 0.01, "r": 1.0},
     {"rosenbrock": 1e-3, "himmelblau": 1e-2, "beale": 1e-2, "quadratic": 0.1}),
]
def run_schedule_free(function: Callable, init: list[float], optimizer: dict[str, Any],
                      lr: float, steps: int) -> dict[str, list]:
    """Train mode throughout (the gradient at y, where the reference takes it); each point
    recorded is the eval-mode x = lerp(y, z, 1 − 1/beta1), computed out of place (``eval()``
    then ``train()`` would round y on the way back), with its loss."""
    y = torch.tensor(init, requires_grad=True)
    opt = make_optimizer([y], optimizer, lr)
    opt.train()
    beta1 = optimizer["betas"][0] if "betas" in optimizer else optimizer["momentum"]
    params, losses, lrs = [list(map(float, init))], [], []
    with torch.no_grad():
        losses.append(function(y).item())
    for _ in range(steps):
        opt.zero_grad()
        function(y).backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        with torch.no_grad():
            x = torch.lerp(y, opt.state[y]["z"], 1 - 1 / beta1)
            params.append(x.tolist())
            losses.append(function(x).item())
    return {"params": params, "loss": losses, "lr": lrs}


BEYOND_TORCH_MODEL_CASES: list[tuple[str, dict[str, Any], float]] = [
    ("lamb", {"name": "lamb"}, 0.05),
    ("lamb-coupled-wd", {"name": "lamb", "weight_decay": 0.01, "weight_decouple": False}, 0.05),
    ("lamb-pre-norm", {"name": "lamb", "pre_norm": True, "max_grad_norm": 0.5}, 0.05),
]


def write_beyond_torch() -> None:
    """beyond_torch.json: the optimizers beyond torch against their reference packages."""
    from importlib.metadata import version

    cases = analytic_cases(BEYOND_TORCH_CASES) + model_cases(BEYOND_TORCH_MODEL_CASES)
    document = {
        "format": "descent-golden/1",
        "generator": "tests/golden/make_goldens.py",
        "torch_version": torch.__version__,
        "reference_packages": {package: version(package) for package in REFERENCE_PACKAGES},
        "loop": "for k < max_steps: zero_grad; loss = f(params); backward; opt.step()",
        "fields": {"params": "max_steps + 1 points: the state after k updates",
                   "loss": "the objective at each point", "lr": "the learning rate update k used"},
        "reference_defaults": reference_defaults(),
        "cases": cases,
    }
    path = DATA_DIR / "beyond_torch.json"
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{path}: {len(cases)} cases, {path.stat().st_size / 1e6:.2f} MB")


# --------------------------------------------------------------------------- L-BFGS
# One engine step is one ``LBFGS.step(closure)``; the closure evaluates the step's batch (the
# whole data set here but for the mini-batch case, whose closure keeps the step's batch, as a
# torch training loop's closure does). ``function_evaluations``: torch's state["func_evals"]
# after k steps.

LBFGS_DEFAULTS = {"max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7,
                  "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None}
LBFGS_STEPS = 25
LBFGS_CASES: list[tuple[str, dict[str, Any], float]] = [
    # (label, hyperparameters, lr)
    ("default", {}, 0.1),
    ("strong-wolfe", {"line_search_fn": "strong_wolfe"}, 1.0),
    ("history3-iter5", {"history_size": 3, "max_iter": 5}, 0.1),
    ("history3-iter5-wolfe", {"history_size": 3, "max_iter": 5,
                              "line_search_fn": "strong_wolfe"}, 1.0),
    ("one-iter", {"max_iter": 1, "history_size": 4}, 0.05),
    ("max-eval-wolfe", {"max_iter": 10, "max_eval": 4, "history_size": 3,
                        "line_search_fn": "strong_wolfe"}, 1.0),
    ("loose-tolerances", {"tolerance_grad": 1e-3, "tolerance_change": 1e-4}, 0.1),
    ("loose-tolerances-wolfe", {"tolerance_grad": 1e-4, "tolerance_change": 1e-5,
                                "line_search_fn": "strong_wolfe"}, 1.0),
]


def logistic_data() -> tuple[np.ndarray, np.ndarray]:
    """40 samples, 2 features, labels 0/1 that overlap (so the minimum is finite)."""
    rng = np.random.default_rng(20261204)
    features = np.round(rng.normal(size=(40, 2)), 3)
    target = (features @ np.array([1.0, -1.5]) + 0.3 + rng.normal(size=40) > 0).astype(float)
    return features, target


def _any_step(function: Callable[[torch.Tensor], torch.Tensor]
              ) -> Callable[[torch.Tensor, int], torch.Tensor]:
    return lambda x, k: function(x)


def _lbfgs_problems() -> dict[str, tuple[Callable[[torch.Tensor, int], torch.Tensor], dict[str, Any],
                                         list[float], dict[str, Any]]]:
    """name: (loss of (params, step), spec fields, init, objective description)."""
    problems: dict[str, Any] = {}
    for name in ("rosenbrock", "himmelblau", "quadratic"):
        function, spec_function, function_params, init, objective = ANALYTIC[name]
        fields: dict[str, Any] = {"function": spec_function}
        if function_params:
            fields["function_params"] = function_params
        problems[name] = (_any_step(function), fields, init, objective)
    features_np, target_np = regression_data()
    features, target = torch.tensor(features_np), torch.tensor(target_np)

    def mse(p: torch.Tensor, rows: slice) -> torch.Tensor:
        return torch.nn.functional.mse_loss(features[rows] @ p[:3] + p[3], target[rows])

    data = {"X": features_np.tolist(), "y": target_np.tolist()}
    problems["linear_regression"] = (
        lambda p, k: mse(p, slice(None)),
        {"function": "linear_regression", "data": data, "batching": "full", "shuffle": False},
        [0.0] * 4, {"kind": "linear_regression"})
    problems["linear_regression_minibatch"] = (  # batches of 16 in order: 16, 16, 16, 2
        lambda p, k: mse(p, slice((k % 4) * 16, min((k % 4) * 16 + 16, 50))),
        {"function": "linear_regression", "data": data, "batching": "minibatch",
         "batch_size": 16, "shuffle": False},
        [0.0] * 4, {"kind": "linear_regression"})
    logistic_x_np, logistic_y_np = logistic_data()
    logistic_x, logistic_y = torch.tensor(logistic_x_np), torch.tensor(logistic_y_np)
    problems["logistic_regression"] = (
        lambda p, k: torch.nn.functional.binary_cross_entropy_with_logits(
            logistic_x @ p[:2] + p[2], logistic_y),
        {"function": "logistic_regression",
         "data": {"X": logistic_x_np.tolist(), "y": logistic_y_np.tolist()},
         "batching": "full", "shuffle": False},
        [0.0] * 3, {"kind": "logistic_regression"})
    return problems


def run_lbfgs(loss_at: Callable[[torch.Tensor, int], torch.Tensor], init: list[float],
              optimizer: dict[str, Any], lr: float, schedule: dict[str, Any], steps: int,
              full_loss: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, list]:
    x = torch.tensor(init, requires_grad=True)
    kwargs = {key: value for key, value in optimizer.items() if key != "name"}
    opt = torch.optim.LBFGS([x], lr=lr, **kwargs)
    scheduler, _ = make_scheduler(opt, schedule, steps)
    params, losses, lrs, evaluations = [list(map(float, init))], [], [], [0]
    for k in range(steps):
        def closure(k: int = k) -> torch.Tensor:
            opt.zero_grad()
            loss = loss_at(x, k)
            loss.backward()
            return loss

        with torch.no_grad():
            losses.append(full_loss(x).item())
        lrs.append(opt.param_groups[0]["lr"])
        loss = opt.step(closure)  # the first closure's loss
        params.append(x.detach().tolist())
        evaluations.append(opt.state[x]["func_evals"])
        if schedule["name"] == "plateau":
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        losses.append(full_loss(x).item())
    return {"params": params, "loss": losses, "lr": lrs, "function_evaluations": evaluations}


def _lbfgs_stable_steps(trajectory: np.ndarray, nudged: list[list[float]]) -> int:
    """How many steps a run keeps where a 1e-12 relative nudge of its start grows at most
    10⁴-fold (as ``_well_behaved`` asks): L-BFGS's curvature pairs y = g − g_prev cancel as a run
    converges, so rounding can grow past the tests' 1e-9 within a few steps of a fixed-step
    run; the trajectory is kept up to there."""
    error = np.max(np.abs(np.array(nudged) - trajectory), axis=1)
    scale = float(np.max(np.abs(trajectory)))
    grown = np.nonzero(error > 1e-8 * scale)[0]
    return len(trajectory) - 1 if not len(grown) else int(grown[0]) - 1


def lbfgs_cases() -> list[dict[str, Any]]:
    """Every LBFGS_CASES configuration on every problem (mini-batch: the first two), plus a
    schedule on rosenbrock; a case whose run is not finite or bounded is left out."""
    cases = []
    problems = _lbfgs_problems()
    runs: list[tuple[str, dict[str, Any], float, str, dict[str, Any]]] = [
        (label, config, lr, problem, {"name": "constant"})
        for label, config, lr in LBFGS_CASES for problem in problems
        if problem != "linear_regression_minibatch" or label in ("default", "strong-wolfe")]
    runs += [("step-schedule-wolfe", {"line_search_fn": "strong_wolfe", "max_iter": 3}, 1.0,
              "rosenbrock", {"name": "step", "step_size": 5, "gamma": 0.5}),
             ("exponential-schedule", {"max_iter": 4}, 0.1, "himmelblau",
              {"name": "exponential", "gamma": 0.9}),
             ("plateau-schedule", {"max_iter": 2, "history_size": 5}, 0.05,
              "linear_regression_minibatch",
              {"name": "plateau", "patience": 1, "factor": 0.5, "threshold": 0.01})]
    for label, config, lr, problem, schedule in runs:
        loss_at, fields, init, objective = problems[problem]
        optimizer = {"name": "lbfgs", **LBFGS_DEFAULTS, **config}
        whole = problems[problem.replace("_minibatch", "")][0]

        def full(params: torch.Tensor, whole: Callable[..., torch.Tensor] = whole) -> torch.Tensor:
            return whole(params, 0)

        run = run_lbfgs(loss_at, init, optimizer, lr, schedule, LBFGS_STEPS, full)
        trajectory = np.array(run["params"])
        if not np.all(np.isfinite(trajectory)) or np.max(np.abs(trajectory)) > 1e3:
            print(f"left out: {problem}/{label}")
            continue
        steps = _lbfgs_stable_steps(trajectory, run_lbfgs(
            loss_at, [value * (1 + 1e-12) + 1e-14 for value in init], optimizer, lr, schedule,
            LBFGS_STEPS, full)["params"])
        if steps < 3:
            print(f"left out (rounding grows): {problem}/{label}")
            continue
        run = {key: values[:steps + (key != "lr")] for key, values in run.items()}
        spec = {**fields, "optimizer": optimizer, "learning_rate": lr, "schedule": schedule,
                "init": init, "max_steps": steps, "grad_tol": None}
        cases.append({"id": f"{problem}/{label}", "objective": objective, "spec": spec, **run})
    return cases


def write_lbfgs() -> None:
    """lbfgs.json: torch.optim.LBFGS, one step(closure) per step, its func_evals recorded."""
    document = {
        "format": "descent-golden/1",
        "generator": "tests/golden/make_goldens.py",
        "torch_version": torch.__version__,
        "loop": "for k < max_steps: opt.step(closure) with closure = zero_grad; loss = f(params, "
                "batch k); backward; return loss; sched.step()",
        "fields": {"params": "max_steps + 1 points: the state after k steps",
                   "loss": "full objective at each point", "lr": "the lr step k used",
                   "function_evaluations": "torch's state['func_evals'] after k steps"},
        "torch_defaults": {"lr": 1.0, **LBFGS_DEFAULTS},
        "cases": lbfgs_cases(),
    }
    path = DATA_DIR / "lbfgs.json"
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{path}: {len(document['cases'])} cases, {path.stat().st_size / 1e6:.2f} MB")


# --------------------------------------------------------------------------- muon
# torch.optim.Muon on the models' 2-D weights held as torch holds them (nn.Linear's weight,
# outputs x inputs: the transpose of the engine's layout), torch.optim.AdamW on the biases, the
# two stepped together as torch's documentation shows; the parameters are written back in the
# engine's layout (W features x outputs, row-major).

MUON_HYPERPARAMETERS = ["momentum", "nesterov", "weight_decay", "eps", "ns_steps",
                        "adjust_lr_fn"]
MUON_CASES: list[tuple[str, dict[str, Any], float, int | None]] = [
    # (label, the optimizer's non-default hyperparameters, lr, batch size or None: full batch)
    ("default", {}, 0.02, None),
    ("default-minibatch", {}, 0.02, 8),
    ("no-nesterov-match-rms", {"nesterov": False, "adjust_lr_fn": "match_rms_adamw"}, 0.02,
     None),
    ("wd-adamw-lr", {"weight_decay": 0.05, "momentum": 0.9, "adamw_lr": 0.003,
                     "adamw_betas": [0.8, 0.99], "adamw_eps": 1e-6,
                     "adamw_weight_decay": 0.1}, 0.02, None),
    ("ns3-no-decay-minibatch", {"ns_steps": 3, "weight_decay": 0.0, "nesterov": False,
                                "adjust_lr_fn": "match_rms_adamw", "adamw_lr": 0.01}, 0.05, 8),
]


def full_muon(given: dict[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of the engine's muon written out: torch.optim.Muon's defaults
    (adjust_lr_fn None is "original") and torch.optim.AdamW's for the adamw_* part."""
    muon_defaults = inspect.signature(torch.optim.Muon.__init__).parameters
    adamw_defaults = DEFAULTS["adamw"]
    full: dict[str, Any] = {"name": "muon"}
    for name in MUON_HYPERPARAMETERS:
        default = muon_defaults[name].default
        full[name] = given.get(name, "original" if default is None else default)
    full["adamw_lr"] = given.get("adamw_lr")
    full["adamw_betas"] = given.get("adamw_betas", adamw_defaults["betas"])
    full["adamw_eps"] = given.get("adamw_eps", adamw_defaults["eps"])
    full["adamw_weight_decay"] = given.get("adamw_weight_decay", adamw_defaults["weight_decay"])
    return full


def run_muon(model: str, optimizer: dict[str, Any], lr: float, steps: int,
             batch_size: int | None, init: list[float] | None = None) -> dict[str, list]:
    features_np, target_np = model_data(model)
    features, target = torch.tensor(features_np), torch.tensor(target_np)
    n_samples = len(target_np)
    size = batch_size or n_samples
    batches_per_epoch = math.ceil(n_samples / size)
    flat = torch.tensor(init or model_init(model))
    tensors, start = [], 0  # as torch holds them: a weight is outputs x inputs
    for shape in MODELS[model]["shapes"]:
        block = flat[start:start + math.prod(shape)].reshape(shape)
        tensors.append((block.T if len(shape) == 2 else block).clone().requires_grad_(True))
        start += math.prod(shape)

    def layout_tensors() -> list[torch.Tensor]:
        return [tensor.T if tensor.ndim == 2 else tensor for tensor in tensors]

    muon = torch.optim.Muon(
        [tensor for tensor in tensors if tensor.ndim == 2], lr=lr,
        **{name: optimizer[name] for name in MUON_HYPERPARAMETERS})
    adamw = torch.optim.AdamW(
        [tensor for tensor in tensors if tensor.ndim != 2],
        lr=lr if optimizer["adamw_lr"] is None else optimizer["adamw_lr"],
        betas=tuple(optimizer["adamw_betas"]), eps=optimizer["adamw_eps"],
        weight_decay=optimizer["adamw_weight_decay"], foreach=False)

    def flat_params() -> list[float]:
        return torch.cat([tensor.detach().reshape(-1) for tensor in layout_tensors()]).tolist()

    params, losses, lrs = [flat_params()], [], []
    for k in range(steps):
        first = (k % batches_per_epoch) * size
        rows = slice(first, min(first + size, n_samples))
        muon.zero_grad()
        adamw.zero_grad()
        with torch.no_grad():
            losses.append(model_loss(model, layout_tensors(), features, target).item())
        model_loss(model, layout_tensors(), features[rows], target[rows]).backward()
        lrs.append(muon.param_groups[0]["lr"])
        muon.step()
        adamw.step()
        params.append(flat_params())
    with torch.no_grad():
        losses.append(model_loss(model, layout_tensors(), features, target).item())
    return {"params": params, "loss": losses, "lr": lrs}


def _muon_well_behaved(model: str, optimizer: dict[str, Any], lr: float,
                       batch_size: int | None) -> bool:
    """As ``_model_well_behaved``: bounded, and a 1e-12 nudge of the start stays below 1e-10
    (a nudge that flips one bfloat16 rounding of the iteration moves the run by ~lr / 256)."""
    base = np.array(run_muon(model, optimizer, lr, STEPS, batch_size)["params"])
    if not np.all(np.isfinite(base)) or np.max(np.abs(base)) > 1e3:
        return False
    nudged_init = [value * (1 + 1e-12) for value in model_init(model)]
    nudged = np.array(run_muon(model, optimizer, lr, STEPS, batch_size, nudged_init)["params"])
    return float(np.max(np.abs(nudged - base))) <= 1e-10 * np.max(np.abs(base))


def muon_cases() -> list[dict[str, Any]]:
    cases = []
    for label, given, start_lr, batch_size in MUON_CASES:
        optimizer = full_muon(given)
        for model, setup in MODELS.items():
            lr = start_lr
            while not _muon_well_behaved(model, optimizer, lr, batch_size):
                lr /= 2
            features, target = model_data(model)
            spec = {"function": model, "function_params": setup["function_params"],
                    "data": {"X": features.tolist(), "y": target.tolist()},
                    "optimizer": optimizer, "learning_rate": lr,
                    "schedule": {"name": "constant"},
                    "batching": "full" if batch_size is None else "minibatch",
                    **({} if batch_size is None else {"batch_size": batch_size}),
                    "shuffle": False, "init": model_init(model), "max_steps": STEPS,
                    "grad_tol": 0.0}
            cases.append({"id": f"{model}/muon-{label}", "objective": {"kind": model},
                          "spec": spec, **run_muon(model, optimizer, lr, STEPS, batch_size)})
    return cases


GOLDEN_FILES: dict[str, Callable[[], None]] = {
    "optimizers": lambda: write("optimizers", analytic_cases() + model_cases(TORCH_MODEL_CASES)),
    "schedules": lambda: write("schedules", schedule_cases()),
    "batching": lambda: write("batching", batching_cases()),
    "beyond_torch": write_beyond_torch,
    "lbfgs": write_lbfgs,
    "muon": lambda: write("muon", muon_cases()),
}


def main() -> None:
    """Every golden file, or those named on the command line (e.g. ``beyond_torch``)."""
    import sys

    for name in sys.argv[1:] or list(GOLDEN_FILES):
        GOLDEN_FILES[name]()


if __name__ == "__main__":
    main()
