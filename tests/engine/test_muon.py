"""muon: torch.optim.Muon on the weight matrices, torch.optim.AdamW on the biases (docs/spec.md
§4.1), against torch 2.13 (tests/golden/data/muon.json, written by make_goldens.py ``muon``).

The kernel is driven directly here, with the engine's own model gradients on each step's batch,
and must follow torch's trajectory to 1e-9 (test_goldens.py runs the same cases through
run_spec). torch orthogonalises in bfloat16: the tests below pin the rounding the kernel
reproduces bit for bit, and the 422 on objectives without a weight matrix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine
from engine.build import resolve_spec
from engine.errors import SpecErrors
from engine.optimizers import OPTIMIZERS, describe_optimizers, hyper_row, resolve_optimizer
from engine.optimizers.layout import parameter_layout
from engine.optimizers.muon import _bf16, _newton_schulz, init_state
from engine.sweep import expand_sweep, run_sweep_locally

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "data" / "muon.json").read_text())
CASES = GOLDEN["cases"]


def run_kernel(case: dict[str, Any]) -> np.ndarray:
    """torch's loop (make_goldens.run_muon) with the kernel: batch k is the k-th consecutive
    slice of the samples, cycling epochs."""
    spec = case["spec"]
    prepared = resolve_spec(spec)
    objective = prepared.objective
    defn = prepared.optimizer
    hyper = prepared.hyper[None, :].copy()
    params = np.array([spec["init"]])
    lr = np.array([spec["learning_rate"]])
    state = defn.init_state(hyper, 1, params.shape[1], parameter_layout(objective), lr)
    n_samples = objective.n_samples
    size = spec.get("batch_size", n_samples)
    batches_per_epoch = math.ceil(n_samples / size)
    trajectory = [params[0].copy()]
    loss = np.zeros(1)
    grads = np.zeros_like(params)
    for k in range(spec["max_steps"]):
        first = (k % batches_per_epoch) * size
        batch = np.arange(first, min(first + size, n_samples), dtype=np.int64)
        objective.kernel(params, objective.consts, objective.data, batch, loss, grads)
        defn.kernel(params, grads, state, hyper, k + 1, lr)
        trajectory.append(params[0].copy())
    return np.array(trajectory)


def assert_close_to_torch(ours: np.ndarray, torch_values: Any) -> None:
    torch_values = np.asarray(torch_values, dtype=float)
    allowed = 1e-9 * np.abs(torch_values) + 1e-12 * np.max(np.abs(torch_values))
    assert np.all(np.abs(ours - torch_values) <= allowed)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_kernel_follows_torch_muon_and_adamw(case: dict[str, Any]) -> None:
    assert_close_to_torch(run_kernel(case), case["params"])


def test_goldens_cover_both_models_batchings_and_option_branches() -> None:
    specs = [case["spec"] for case in CASES]
    assert {spec["function"] for spec in specs} == {"softmax_regression", "mlp"}
    assert {spec["batching"] for spec in specs} == {"full", "minibatch"}
    options = [spec["optimizer"] for spec in specs]
    assert {option["nesterov"] for option in options} == {True, False}
    assert {option["adjust_lr_fn"] for option in options} == {"original", "match_rms_adamw"}
    assert {option["weight_decay"] for option in options} >= {0.0, 0.1}
    assert {option["ns_steps"] for option in options} == {3, 5}
    assert any(option["adamw_lr"] is not None for option in options)


def _float32_to_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """c10::BFloat16's rounding on the bits: add 0x7FFF plus the kept part's lowest bit, cut."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def test_bfloat16_rounding_is_to_nearest_ties_to_even() -> None:
    assert _bf16(1.0 + 2.0**-8) == 1.0  # a tie: the even neighbour
    assert _bf16(1.0 + 3 * 2.0**-8) == 1.0 + 2.0**-6
    assert _bf16(-(1.0 + 2.0**-8 + 2.0**-20)) == -(1.0 + 2.0**-7)
    assert _bf16(float(np.float32(3.4e38))) == math.inf  # past bfloat16's largest finite
    rng = np.random.default_rng(3)
    values = (rng.normal(size=4000) * 2.0 ** rng.integers(-140, 120, size=4000)).astype(np.float32)
    expected = _float32_to_bfloat16_bits(values)
    ours = np.array([_bf16(float(value)) for value in values])
    np.testing.assert_array_equal(ours, expected)


def test_newton_schulz_orthogonalises_roughly_as_muon_means() -> None:
    """NS maps a matrix to about U Vᵀ of its SVD: singular values in ~(0.5, 1.5) (Keller
    Jordan's coefficients overshoot 1 on purpose), whatever the scale of the input."""
    rng = np.random.default_rng(4)
    n, m = 3, 7
    state = np.zeros((9, 1, n * m))
    matrix = rng.normal(size=(n, m)) * 1e3
    state[2, 0] = [_bf16(float(np.float32(value))) for value in matrix.ravel()]
    _newton_schulz(state, 0, 0, n, m, 5, 1e-7)
    singular = np.linalg.svd(state[2, 0].reshape(n, m), compute_uv=False)
    assert np.all((singular > 0.5) & (singular < 1.5))


def test_the_matrix_torch_steps_is_the_linear_weight_the_transpose_of_w() -> None:
    """The golden's softmax W is 2 × 3 (features × classes) in the layout; torch held it as
    nn.Linear does, 3 × 2 (classes × features), so its 'original' step is lr · sqrt(3 / 2)
    times a bfloat16 matrix: undoing torch's first step with that factor gives bfloat16 values,
    with the factor of the 2 × 3 orientation, sqrt(max(1, 2 / 3)) = 1, it does not."""
    case = next(case for case in CASES if case["id"] == "softmax_regression/muon-default")
    assert parameter_layout(resolve_spec(case["spec"]).objective) == ((2, 3), (3,))
    start = np.asarray(case["params"][0][:6])
    first_step = np.asarray(case["params"][1][:6]) - start
    lr = case["spec"]["learning_rate"]
    without_decay = first_step + lr * 0.1 * start

    def on_bfloat16_grid(values: np.ndarray) -> bool:
        rounded = np.array([_bf16(float(np.float32(value))) for value in values])
        return bool(np.all(np.abs(rounded - values) <= 1e-9 * np.abs(values)))

    assert on_bfloat16_grid(without_decay / (-lr * math.sqrt(3 / 2)))
    assert not on_bfloat16_grid(without_decay / -lr)


@pytest.mark.parametrize("spec", [
    {"function": "rosenbrock"},
    {"function": {"expression": "x**2 + 3*y**2"}},
    {"function": "linear_regression", "data": {"generator": "linear", "n_samples": 20}},
    {"function": "logistic_regression", "data": {"generator": "logistic", "n_samples": 20}},
])
def test_muon_is_refused_where_there_is_no_weight_matrix(spec: dict[str, Any]) -> None:
    with pytest.raises(SpecErrors) as refused:
        resolve_spec({**spec, "optimizer": {"name": "muon", "momentum": 0.9}})
    (error,) = refused.value.errors
    assert error.field == "optimizer"
    assert "orthogonalises 2-D weight matrices" in error.message
    assert "softmax_regression or mlp" in error.message


def test_the_refusal_is_one_entry_beside_the_others() -> None:
    with pytest.raises(SpecErrors) as refused:
        resolve_spec({"function": "rosenbrock", "optimizer": "muon",
                      "schedule": {"name": "onecycle", "cycle_momentum": True,
                                   "max_lr": 0.1, "total_steps": 10}, "max_steps": 10,
                      "init": [1.0, 2.0, 3.0]})
    fields = [error.field for error in refused.value.errors]
    assert fields.count("optimizer") == 1


@pytest.mark.parametrize(("given", "field"), [
    ({"adjust_lr_fn": "rms"}, "optimizer.adjust_lr_fn"),
    ({"ns_steps": 100}, "optimizer.ns_steps"),
    ({"ns_steps": 2.5}, "optimizer.ns_steps"),
    ({"momentum": -0.1}, "optimizer.momentum"),
    ({"adamw_betas": [0.9, 1.0]}, "optimizer.adamw_betas"),
    ({"adamw_lr": -1.0}, "optimizer.adamw_lr"),
    ({"ns_coefficients": [1, 2, 3]}, "optimizer.ns_coefficients"),
])
def test_bad_hyperparameters_name_their_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(Exception) as refused:
        resolve_optimizer({"name": "muon", **given})
    assert getattr(refused.value, "field", None) == field


def test_defaults_are_torchs_and_the_catalogue_says_what_muon_is() -> None:
    defn, values = resolve_optimizer("muon")
    assert values == {"name": "muon", "momentum": 0.95, "nesterov": True, "weight_decay": 0.1,
                      "eps": 1e-7, "ns_steps": 5, "adjust_lr_fn": "original", "adamw_lr": None,
                      "adamw_betas": [0.9, 0.999], "adamw_eps": 1e-8,
                      "adamw_weight_decay": 1e-2}
    assert defn.default_lr == 1e-3 and OPTIMIZERS["muon"].needs_matrices
    assert math.isnan(hyper_row(defn, values)[6])  # adamw_lr null: the job's learning rate
    (entry,) = [entry for entry in describe_optimizers() if entry["name"] == "muon"]
    assert "torch.optim.Muon" in entry["description"]
    assert "torch.optim.AdamW" in entry["description"]
    assert [hyper["name"] for hyper in entry["hyperparameters"]][-4:] == [
        "adamw_lr", "adamw_betas", "adamw_eps", "adamw_weight_decay"]


def test_adamw_lr_follows_the_schedule_in_proportion() -> None:
    """The biases' lr at a step is adamw_lr × (the step's lr / learning_rate): with a step
    schedule halving the lr, the AdamW part's first step after the drop is half as long."""
    _, values = resolve_optimizer({"name": "muon", "adamw_lr": 0.004})
    hyper = hyper_row(OPTIMIZERS["muon"], values)[None, :]
    layout = ((2, 2), (2,))
    state = init_state(hyper, 1, 6, layout, np.array([0.1]))
    params = np.zeros((1, 6))
    grads = np.ones((1, 6))
    OPTIMIZERS["muon"].kernel(params, grads, state, hyper, 1, np.array([0.05]))
    np.testing.assert_allclose(params[0, 4:], -0.002, rtol=1e-7)  # m / (sqrt(v) + eps)


def test_a_grid_over_muons_hyperparameters_equals_each_run_alone() -> None:
    base = {"function": "mlp", "function_params": {"hidden": 4},
            "data": {"generator": "moons", "n_samples": 40, "seed": 2},
            "optimizer": {"name": "muon", "adamw_lr": 0.01}, "learning_rate": 0.02,
            "max_steps": 40, "batching": "minibatch", "batch_size": 16}
    body = {"base": base, "grid": {"optimizer.nesterov": [True, False],
                                   "optimizer.adjust_lr_fn": ["original", "match_rms_adamw"],
                                   "learning_rate": [0.02, 0.05]}}
    result = run_sweep_locally(body, trajectories=True)
    runs = expand_sweep(body)
    assert len(runs) == 8
    for run, entry in zip(runs, result["runs"]):
        alone = engine.run_spec(run.spec)
        np.testing.assert_array_equal(entry["final"]["params"], alone.final["params"])
    finals = {tuple(entry["final"]["params"]) for entry in result["runs"]}
    assert len(finals) == 8  # every hyperparameter reaches the kernel
