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
regression), ``batching.json`` (full / stochastic / minibatch). Each case is self-describing:
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
}


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (tuple, list)):
        return [float(item) for item in value]
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
    """The optimizer object with every hyperparameter written out (torch defaults filled)."""
    name = config["name"]
    full = {"name": name}
    for hyper in HYPERPARAMETERS[name]:
        full[hyper] = _json_value(config.get(hyper, DEFAULTS[name][hyper]))
    return full


def make_optimizer(params: list[torch.Tensor], optimizer: dict[str, Any], lr: float):
    kwargs = {key: value for key, value in optimizer.items() if key != "name"}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
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
]


# --------------------------------------------------------------------------- runs


def run_analytic(function: Callable, init: list[float], optimizer: dict[str, Any], lr: float,
                 steps: int) -> dict[str, list]:
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
    return {"params": params, "loss": losses, "lr": lrs}


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


def analytic_cases() -> list[dict[str, Any]]:
    cases = []
    for label, config, start_lrs in OPTIMIZER_CASES:
        optimizer = full_optimizer(config)
        for objective_name, (function, spec_function, function_params, init,
                             objective) in ANALYTIC.items():
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
    if schedule["name"] == "onecycle" and schedule.get("cycle_momentum", True):
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
        for index, schedule in enumerate(SCHEDULE_CASES):
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
            "momentum": "onecycle with cycle_momentum: the momentum / beta1 update k used",
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


def main() -> None:
    write("optimizers", analytic_cases())
    write("schedules", schedule_cases())
    write("batching", batching_cases())


if __name__ == "__main__":
    main()
