"""Optimizer kernels and registry against torch.optim (goldens from tests/golden/make_goldens.py).

The kernels are driven directly, in a plain Python loop, with NumPy gradients of the golden
objectives; the trajectories must match torch's to 1e-9 relative (SPEC.md §4).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.build import resolve_spec
from engine.errors import SpecError
from engine.kernels import native, no_hessian
from engine.objectives.base import EMPTY_BATCH, Objective
from engine.optimizers import (
    ALIASES,
    OPTIMIZERS,
    Hyperparameter,
    OptimizerDef,
    describe_optimizers,
    hyper_labels,
    hyper_row,
    resolve_optimizer,
)
from engine.optimizers.base import hyper_columns
from engine.optimizers.layout import parameter_layout
from engine.schedules import (
    learning_rate_table,
    momentum_table,
    plateau_initial_state,
    plateau_settings,
    plateau_step,
    resolve_schedule,
)

GOLDEN_DIR = Path(__file__).parents[1] / "golden" / "data"
RELATIVE_TOLERANCE = 1e-9


@cache
def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN_DIR / f"{name}.json").read_text())


def _cases(name: str) -> list[dict[str, Any]]:
    return golden(name)["cases"]


# --------------------------------------------------------------------------- objectives


def analytic_loss_and_gradient(objective: dict[str, Any], x: np.ndarray
                               ) -> tuple[float, np.ndarray]:
    """The golden analytic objectives in NumPy, for one point x (d,)."""
    kind = objective["kind"]
    if kind == "rosenbrock":
        a, b = objective["a"], objective["b"]
        u, v = x
        loss = (a - u) ** 2 + b * (v - u * u) ** 2
        return loss, np.array([-2 * (a - u) - 4 * b * u * (v - u * u), 2 * b * (v - u * u)])
    if kind == "himmelblau":
        u, v = x
        first, second = u * u + v - 11, u + v * v - 7
        loss = first**2 + second**2
        return loss, np.array([4 * u * first + 2 * second, 2 * first + 4 * v * second])
    if kind == "beale":
        u, v = x
        terms = [1.5 - u + u * v, 2.25 - u + u * v**2, 2.625 - u + u * v**3]
        loss = sum(term**2 for term in terms)
        grad_u = sum(2 * term * (v**power - 1) for power, term in enumerate(terms, start=1))
        grad_v = sum(2 * term * power * u * v ** (power - 1)
                     for power, term in enumerate(terms, start=1))
        return loss, np.array([grad_u, grad_v])
    if kind == "quadratic":
        matrix = np.array(objective["A"])
        return 0.5 * x @ matrix @ x, matrix @ x
    raise AssertionError(kind)


def regression_loss_and_gradient(spec: dict[str, Any], x: np.ndarray, rows: slice
                                 ) -> tuple[float, np.ndarray]:
    """mean((X w + b - y)^2) over ``rows`` and its gradient in [w, b]."""
    features = np.array(spec["data"]["X"])[rows]
    target = np.array(spec["data"]["y"])[rows]
    residual = features @ x[:-1] + x[-1] - target
    scale = 2.0 / len(target)
    return float(np.mean(residual**2)), np.append(scale * features.T @ residual,
                                                  scale * residual.sum())


# --------------------------------------------------------------------------- the loop


def model_objective(spec: dict[str, Any]) -> Objective:
    """A per-tensor golden's dataset model (softmax_regression, mlp), built by the engine: its
    gradients are the engine's own (checked against torch's losses below)."""
    return resolve_spec(spec).objective


def run_kernel(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The torch loop of make_goldens.py with our kernel, tables and plateau_step."""
    spec = case["spec"]
    defn, values = resolve_optimizer(spec["optimizer"])
    steps = spec["max_steps"]
    params = np.array([spec["init"]], dtype=np.float64)
    hyper = hyper_row(defn, values)[None, :].copy()
    model = case["objective"]["kind"] in MODEL_KINDS
    objective = model_objective(spec) if model or defn.closure else None
    layout = parameter_layout(objective) if objective is not None else None
    state = defn.init_state(hyper, 1, params.shape[1], layout,
                            np.array([spec["learning_rate"]]))
    schedule = resolve_schedule(spec.get("schedule"))
    base_lr = np.array([spec["learning_rate"]])
    table = learning_rate_table(schedule, base_lr, steps)
    momenta = momentum_table(schedule, steps)
    plateau = schedule["name"] == "plateau"
    if plateau:
        settings = plateau_settings(schedule)
        plateau_state = plateau_initial_state(settings, 1)
    lr = table[:, 0].copy()
    is_dataset = "data" in spec and objective is None
    if is_dataset:
        n_samples = len(spec["data"]["y"])
        batch_size = {"full": n_samples, "stochastic": 1}.get(spec.get("batching", "full"),
                                                              spec.get("batch_size", 32))
        batches_per_epoch = math.ceil(n_samples / batch_size)
    trajectory, lrs, used_momenta = [params[0].copy()], [], []
    evaluations = np.zeros(1, dtype=np.int64)
    for k in range(steps):
        if objective is not None:
            losses, grads = objective.evaluate(params)
            loss, grad = float(losses[0]), grads[0]
        elif is_dataset:
            first = (k % batches_per_epoch) * batch_size
            loss, grad = regression_loss_and_gradient(
                spec, params[0], slice(first, min(first + batch_size, n_samples)))
        else:
            loss, grad = analytic_loss_and_gradient(case["objective"], params[0])
        if not plateau and table.shape[1] > 1:
            lr[:] = table[:, k]
        if momenta is not None:
            hyper[:, defn.momentum_column] = momenta[k]
            used_momenta.append(momenta[k])
        lrs.append(lr[0])
        if defn.closure:  # the loop's evaluation at params, then the kernel's own
            assert objective is not None
            defn.kernel(native(objective.kernel), native(no_hessian), objective.consts,
                        objective.data, EMPTY_BATCH, params, np.ascontiguousarray(grad[None, :]),
                        np.array([loss]), state, hyper, k + 1, lr, evaluations)
        else:
            defn.kernel(params, np.ascontiguousarray(grad[None, :]), state, hyper, k + 1, lr)
        trajectory.append(params[0].copy())
        if plateau:
            plateau_step(lr, np.array([loss]), plateau_state, settings)
    reported = {name: state[slot, 0].copy() for name, slot in defn.reported_state}
    return {"params": np.array(trajectory), "lr": np.array(lrs),
            "momentum": np.array(used_momenta), **reported}


def assert_trajectory_close(ours: np.ndarray, torch_values: np.ndarray, what: str) -> None:
    """|ours - torch| <= 1e-9 |torch|, with a floor of 1e-12 of the trajectory's scale for
    components that pass through zero (where relative error means nothing)."""
    torch_values = np.asarray(torch_values, dtype=np.float64)
    assert ours.shape == torch_values.shape, what
    scale = float(np.max(np.abs(torch_values)))
    error = np.abs(ours - torch_values)
    allowed = RELATIVE_TOLERANCE * np.abs(torch_values) + 1e-12 * scale
    worst = int(np.argmax(error - allowed))
    assert np.all(error <= allowed), (
        f"{what}: worst at flat index {worst}: ours {ours.flat[worst]!r} vs torch "
        f"{torch_values.flat[worst]!r}")


MODEL_KINDS = ("softmax_regression", "mlp")
OPTIMIZER_CASES = _cases("optimizers") + _cases("beyond_torch")
ANALYTIC_CASES = [case for case in OPTIMIZER_CASES if case["objective"]["kind"] not in MODEL_KINDS]
MODEL_CASES = [case for case in OPTIMIZER_CASES if case["objective"]["kind"] in MODEL_KINDS]
DATASET_CASES = _cases("schedules") + _cases("batching")


@pytest.mark.parametrize("case", ANALYTIC_CASES, ids=[case["id"] for case in ANALYTIC_CASES])
def test_trajectory_matches_torch_on_analytic_objective(case: dict[str, Any]) -> None:
    """Every optimizer (beyond torch: against its reference package) on one tensor."""
    ours = run_kernel(case)
    assert_trajectory_close(ours["params"], case["params"], case["id"])
    if "averaged_params" in case:  # ASGD's running average, which results report
        assert_trajectory_close(ours["averaged_params"], case["averaged_params"], case["id"])


@pytest.mark.parametrize("case", MODEL_CASES, ids=[case["id"] for case in MODEL_CASES])
def test_per_tensor_optimizers_match_on_models_of_several_tensors(case: dict[str, Any]) -> None:
    """Lamb's trust ratio and Adafactor's factored second moment per tensor of the layout
    (softmax: W 2×3 and b; mlp: W1, b1, W2, b2), the reference keeping each tensor apart."""
    ours = run_kernel(case)
    assert_trajectory_close(ours["params"], case["params"], case["id"])
    objective = model_objective(case["spec"])
    losses = objective.value(np.asarray(case["params"]))
    np.testing.assert_allclose(losses, case["loss"], rtol=1e-12)


def test_layouts_name_the_tensors_of_each_model() -> None:
    shapes = {case["id"].split("/")[0]: parameter_layout(model_objective(case["spec"]))
              for case in MODEL_CASES}
    assert shapes == {"softmax_regression": ((2, 3), (3,)),
                      "mlp": ((2, 3), (3,), (3, 1), (1,))}


@pytest.mark.parametrize("case", DATASET_CASES, ids=[case["id"] for case in DATASET_CASES])
def test_trajectory_matches_torch_on_linear_regression(case: dict[str, Any]) -> None:
    """Kernels + schedule tables + plateau + batching, together, as the run loop uses them."""
    ours = run_kernel(case)
    assert_trajectory_close(ours["params"], case["params"], case["id"])
    np.testing.assert_allclose(ours["lr"], case["lr"], rtol=1e-12, atol=0)
    if "momentum" in case:
        np.testing.assert_allclose(ours["momentum"], case["momentum"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", ANALYTIC_CASES[::4], ids=[c["id"] for c in ANALYTIC_CASES[::4]])
def test_golden_objectives_agree_with_numpy_reimplementation(case: dict[str, Any]) -> None:
    """Guards the test's own objective formulas: torch's losses at torch's points."""
    losses = [analytic_loss_and_gradient(case["objective"], np.array(point))[0]
              for point in case["params"]]
    np.testing.assert_allclose(losses, case["loss"], rtol=1e-12, atol=1e-14)


def test_every_family_and_both_weight_decay_forms_have_goldens() -> None:
    """Every first-order family here (lbfgs has its own goldens and tests: test_lbfgs.py)."""
    families = {case["spec"]["optimizer"]["name"] for case in ANALYTIC_CASES}
    first_order = {name for name, defn in OPTIMIZERS.items()
                   if not defn.closure and not defn.needs_matrices}  # muon: test_muon.py
    assert first_order | {"adamw_schedulefree", "sgd_schedulefree"} <= families
    assert families <= set(OPTIMIZERS)
    per_tensor = {case["spec"]["optimizer"]["name"] for case in MODEL_CASES}
    assert per_tensor == {"lamb", "adafactor"}


# --------------------------------------------------------------------------- registry


DEFAULTS_KNOWN = sorted({*golden("optimizers")["torch_defaults"],
                         *golden("beyond_torch")["reference_defaults"]})


@pytest.mark.parametrize("family", DEFAULTS_KNOWN)
def test_defaults_are_torch_defaults(family: str) -> None:
    """torch's defaults, or the reference package's for the optimizers beyond torch."""
    torch_defaults = dict(golden("optimizers")["torch_defaults"].get(family)
                          or golden("beyond_torch")["reference_defaults"][family])
    defn, values = resolve_optimizer(family)
    assert defn.default_lr == torch_defaults.pop("lr")
    assert {key: value for key, value in values.items() if key != "name"} == torch_defaults
    assert values["name"] == family


@pytest.mark.parametrize(
    ("alias", "family", "expected"),
    [
        ("gd", "sgd", {"momentum": 0.0, "nesterov": False}),
        ("momentum", "sgd", {"momentum": 0.9, "nesterov": False}),
        ("nesterov", "sgd", {"momentum": 0.9, "nesterov": True, "dampening": 0.0}),
        ("GD", "sgd", {"momentum": 0.0}),
    ],
)
def test_aliases_resolve_to_their_family(alias: str, family: str, expected: dict) -> None:
    defn, values = resolve_optimizer(alias)
    assert defn.name == family and values["name"] == family
    assert {key: values[key] for key in expected} == expected


def test_alias_presets_yield_to_explicit_hyperparameters() -> None:
    _, values = resolve_optimizer({"name": "momentum", "momentum": 0.5})
    assert values["momentum"] == 0.5


def test_object_form_fills_the_rest_with_defaults() -> None:
    defn, values = resolve_optimizer({"name": "adam", "betas": [0.8, 0.99], "amsgrad": True})
    assert values == {"name": "adam", "betas": [0.8, 0.99], "eps": 1e-8, "weight_decay": 0.0,
                      "amsgrad": True}
    np.testing.assert_array_equal(hyper_row(defn, values), [0.8, 0.99, 1e-8, 0.0, 1.0])
    assert hyper_labels(defn) == ["betas[0]", "betas[1]", "eps", "weight_decay", "amsgrad"]


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ("shampoo", "optimizer", "'shampoo'"),
        ({"name": "sgd2"}, "optimizer", "known: sgd"),
        ({"momentum": 0.9}, "optimizer.name", "required"),
        (42, "optimizer", "42"),
        ({"name": "adam", "betas": [0.9, 1.0]}, "optimizer.betas", "1.0"),
        ({"name": "adam", "betas": [-0.1, 0.9]}, "optimizer.betas", "-0.1"),
        ({"name": "adam", "betas": 0.9}, "optimizer.betas", "0.9"),
        ({"name": "adam", "betas": [0.9, "x"]}, "optimizer.betas", "'x'"),
        ({"name": "adam", "eps": -1e-8}, "optimizer.eps", "-1e-08"),
        ({"name": "adam", "amsgrad": "yes"}, "optimizer.amsgrad", "'yes'"),
        ({"name": "adam", "lr": 0.1}, "optimizer.lr", "learning_rate"),
        ({"name": "adam", "momentum": 0.9}, "optimizer.momentum", "'momentum'"),
        ({"name": "adamw", "weight_decay": -0.01}, "optimizer.weight_decay", "-0.01"),
        ({"name": "sgd", "momentum": -0.5}, "optimizer.momentum", "-0.5"),
        ({"name": "sgd", "momentum": float("nan")}, "optimizer.momentum", "nan"),
        ({"name": "sgd", "nesterov": True}, "optimizer.nesterov", "momentum"),
        ({"name": "sgd", "nesterov": True, "momentum": 0.9, "dampening": 0.1},
         "optimizer.nesterov", "dampening"),
        ({"name": "nesterov", "momentum": 0.0}, "optimizer.nesterov", "momentum"),
        ({"name": "rmsprop", "alpha": -0.9}, "optimizer.alpha", "-0.9"),
        ({"name": "rmsprop", "centered": 1}, "optimizer.centered", "1"),
        ({"name": "adagrad", "lr_decay": -1}, "optimizer.lr_decay", "-1"),
        ({"name": "adagrad", "initial_accumulator_value": -0.1},
         "optimizer.initial_accumulator_value", "-0.1"),
        ({"name": "adadelta", "rho": 1.5}, "optimizer.rho", "1.5"),
        ({"name": "nadam", "momentum_decay": -0.004}, "optimizer.momentum_decay", "-0.004"),
        ({"name": "radam", "decoupled_weight_decay": "no"},
         "optimizer.decoupled_weight_decay", "'no'"),
        ({"name": "asgd", "lambd": -1e-4}, "optimizer.lambd", "-0.0001"),
        ({"name": "adafactor", "beta2_decay": 0.5}, "optimizer.beta2_decay", "0.5"),
        ({"name": "adafactor", "d": 0.5}, "optimizer.d", "0.5"),
        ({"name": "adafactor", "eps": [None, 1e-3]}, "optimizer.eps", "None"),
        ({"name": "lion", "betas": [0.9, 1.5]}, "optimizer.betas", "1.5"),
        ({"name": "lion", "lr": 1e-4}, "optimizer.lr", "learning_rate"),
        ({"name": "adabelief", "n_sma_threshold": 2.5}, "optimizer.n_sma_threshold", "2.5"),
        ({"name": "lamb", "max_grad_norm": -1.0}, "optimizer.max_grad_norm", "-1.0"),
        ({"name": "lamb", "momentum": 0.9}, "optimizer.momentum", "'momentum'"),
    ],
)
def test_bad_hyperparameters_name_the_field_and_value(config: Any, field: str,
                                                      fragment: str) -> None:
    with pytest.raises(SpecError) as raised:
        resolve_optimizer(config)
    assert raised.value.field == field
    assert fragment in raised.value.message


def test_initial_state_follows_torch() -> None:
    adagrad, values = resolve_optimizer({"name": "adagrad", "initial_accumulator_value": 0.25})
    hyper = np.tile(hyper_row(adagrad, values), (3, 1))
    np.testing.assert_array_equal(adagrad.init_state(hyper, 3, 4), np.full((1, 3, 4), 0.25))
    nadam, values = resolve_optimizer("nadam")
    state = nadam.init_state(hyper_row(nadam, values)[None, :], 1, 2)
    assert state.shape == (3, 1, 2)
    np.testing.assert_array_equal(state[2], 1.0)
    np.testing.assert_array_equal(state[:2], 0.0)
    for defn in OPTIMIZERS.values():
        if defn.state_slots == 0:  # sized by its hyperparameters (lbfgs: test_lbfgs.py)
            continue
        _, values = resolve_optimizer(defn.name)
        state = defn.init_state(hyper_row(defn, values)[None, :], 2, 3)
        assert state.shape == (defn.state_slots, 2, 3)


@pytest.mark.parametrize(
    ("family", "column"),
    [("sgd", "momentum"), ("rmsprop", "momentum"), ("adam", "betas[0]"), ("adamw", "betas[0]"),
     ("adamax", "betas[0]"), ("nadam", "betas[0]"), ("radam", "betas[0]"), ("adagrad", None),
     ("adadelta", None), ("asgd", None), ("adafactor", None), ("lion", "betas[0]"),
     ("adabelief", "betas[0]"), ("lamb", "betas[0]"), ("adamw_schedulefree", None),
     ("sgd_schedulefree", None)],
)
def test_onecycle_cycles_momentum_or_beta1(family: str, column: str | None) -> None:
    defn = OPTIMIZERS[family]
    if column is None:
        assert defn.momentum_column is None
    else:
        assert defn.momentum_column is not None
        assert hyper_labels(defn)[defn.momentum_column] == column


@pytest.mark.parametrize("family", list(OPTIMIZERS))
def test_kernel_columns_are_the_declared_hyperparameters(family: str) -> None:
    """The names the kernel reads its hyper row by (``columns``, beside the kernel) are the
    declared hyperparameters in order, a pair as its two parts; the row packs them so."""
    defn = OPTIMIZERS[family]
    expanded = [part for hyper in defn.hyperparameters
                for part in (hyper.parts if hyper.kind == "pair" else (hyper.name,))]
    assert list(defn.columns._fields) == expanded
    assert list(defn.columns) == list(range(len(expanded)))
    _, values = resolve_optimizer(family)
    assert hyper_row(defn, values).shape == (len(expanded),)
    assert len(hyper_labels(defn)) == len(expanded)


def test_columns_out_of_the_declared_order_are_refused() -> None:
    adam = OPTIMIZERS["adam"]
    swapped = hyper_columns("beta1", "beta2", "weight_decay", "eps", "amsgrad")
    with pytest.raises(ValueError, match="declare them in the kernel's order"):
        replace(adam, columns=swapped)
    with pytest.raises(ValueError, match="'adam'"):
        replace(adam, columns=hyper_columns("beta1", "beta2", "eps", "weight_decay"))
    renamed = (replace(adam.hyperparameters[0], parts=("b1", "b2")), *adam.hyperparameters[1:])
    with pytest.raises(ValueError, match="b1"):
        replace(adam, hyperparameters=renamed)
    with pytest.raises(ValueError, match="parts"):
        Hyperparameter("betas", (0.9, 0.999), kind="pair")
    with pytest.raises(ValueError, match="parts"):
        Hyperparameter("eps", 1e-8, parts=("eps1", "eps2"))
    with pytest.raises(ValueError, match="momentum_column 5"):
        replace(adam, momentum_column=5)


@pytest.mark.parametrize(("config", "column"), [
    ({"name": "adam", "amsgrad": True}, 0), ({"name": "asgd", "t0": 5.0}, 2),
    ({"name": "lion"}, 0), ({"name": "adabelief", "rectify": True}, 0),
    ({"name": "lamb"}, 0), ({"name": "adafactor"}, 0),
])
def test_runs_are_independent_rows(config: dict[str, Any], column: int) -> None:
    """A sweep's runs share one call: each row must move exactly as it would alone, the same
    hyperparameters (the vectorised path) or not (run 1 differs in ``column``)."""
    defn, values = resolve_optimizer(config)
    row = hyper_row(defn, values)
    hyper = np.vstack([row, row, row])
    hyper[1, column] = 0.5 * hyper[1, column] - 0.1
    _check_rows_move_alone(defn, hyper)
    _check_rows_move_alone(defn, np.vstack([row, row, row]))


def _check_rows_move_alone(defn: OptimizerDef, hyper: np.ndarray) -> None:
    starts = np.array([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]])
    lrs = np.array([0.1, 0.01, 0.05])
    together = starts.copy()
    state = defn.init_state(hyper, 3, 2)
    for step in range(1, 20):
        defn.kernel(together, np.ascontiguousarray(2 * together), state, hyper, step, lrs)
    for r in range(3):
        alone = starts[r:r + 1].copy()
        single_state = defn.init_state(hyper[r:r + 1].copy(), 1, 2)
        for step in range(1, 20):
            defn.kernel(alone, np.ascontiguousarray(2 * alone), single_state,
                        hyper[r:r + 1].copy(), step, lrs[r:r + 1].copy())
        np.testing.assert_array_equal(alone[0], together[r])


def test_torchs_optimizers_for_sparse_gradients_are_listed_as_not_applicable_and_refused(
) -> None:
    (sparse,) = [entry for entry in describe_optimizers() if not entry["applicable"]]
    assert sparse["name"] == "sparse_adam" and "dense" in sparse["description"]
    with pytest.raises(SpecError, match="sparse_adam is not applicable here") as refused:
        resolve_optimizer("sparse_adam")
    assert refused.value.field == "optimizer"


def test_describe_optimizers_lists_every_family_with_its_hyperparameters() -> None:
    described = {entry["name"]: entry for entry in describe_optimizers() if entry["applicable"]}
    assert set(described) == set(OPTIMIZERS)
    assert {alias["name"] for entry in described.values() for alias in entry["aliases"]} == set(
        ALIASES)
    assert described["adadelta"]["default_learning_rate"] == 1.0
    json.dumps(described)  # JSON-ready as GET /v1/optimizers serves it
    for name, entry in described.items():
        hyper_names = [hyper["name"] for hyper in entry["hyperparameters"]]
        assert hyper_names == [hyper.name for hyper in OPTIMIZERS[name].hyperparameters]
        for hyper in entry["hyperparameters"]:
            assert {"type", "default", "range", "description"} <= set(hyper)
            assert hyper["description"]
    betas = next(h for h in described["adam"]["hyperparameters"] if h["name"] == "betas")
    assert betas["type"] == "pair" and betas["range"] == "in [0.0, 1.0)"


def test_flat_is_a_view_of_the_rows_it_is_given():
    from numba import njit

    from engine.kernels import flat

    @njit
    def bump_second_slot(state, first, stop):
        rows = flat(state[1, first:stop])
        for k in range(rows.shape[0]):
            rows[k] += 1.0
        return rows.shape[0]

    state = np.zeros((3, 4, 2))
    assert bump_second_slot(state, 1, 3) == 4
    expected = np.zeros((3, 4, 2))
    expected[1, 1:3] = 1.0
    np.testing.assert_array_equal(state, expected)


@pytest.mark.parametrize(("optimizer", "grid"), [
    ("asgd", {"optimizer.t0": [5.0, 50.0], "optimizer.lambd": [1e-4, 1e-2]}),
    ("adafactor", {"optimizer.eps": [[1e-30, 1e-3], [1e-10, 1e-2]], "optimizer.d": [1.0, 2.0]}),
    ("lion", {"optimizer.betas": [[0.9, 0.99], [0.8, 0.9]], "optimizer.weight_decay": [0, 0.1]}),
    ("adabelief", {"optimizer.rectify": [False, True], "optimizer.weight_decouple": [False, True]}),
    ("lamb", {"optimizer.adam": [False, True], "optimizer.pre_norm": [False, True]}),
])
def test_new_optimizers_sweep_over_their_hyperparameters(optimizer: str,
                                                         grid: dict[str, list]) -> None:
    """A grid over each family's own hyperparameters and the learning rate: one vectorised
    group per family, every run as it would be alone (and ASGD's average reported per run)."""
    from engine import run_spec
    from engine.sweep import prepare_sweep, run_sweep

    base = {"function": "rosenbrock", "optimizer": optimizer, "max_steps": 60,
            "init": [-1.0, 1.5]}
    prepared = prepare_sweep({"base": base, "grid": {"learning_rate": [1e-4, 1e-3], **grid}})
    assert len(prepared.groups) == 1
    results = run_sweep(prepared)
    for run, result in zip(prepared.runs, results, strict=True):
        assert result is not None
        alone = run_spec(run.spec)
        np.testing.assert_array_equal(result.trajectory["params"], alone.trajectory["params"])
        if optimizer == "asgd":
            assert result.stop_reason == "max_steps"
            np.testing.assert_array_equal(result.final["averaged_params"],
                                          alone.final["averaged_params"])
