"""The compiled exact Hessians (engine/objectives/hessians.py): every kernel against central
differences of the compiled gradient, and against the NumPy Hessian where the objective has
one; which objectives have a kernel and which do not."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import SpecError
from engine.objectives.base import Objective
from engine.objectives.catalogue import CATALOGUE, build_catalogue_objective
from engine.objectives.datasets import build_dataset_objective
from engine.objectives.expression import build_expression_objective
from engine.objectives.hessians import HESSIAN_KERNELS, hessian_kernel, require_hessian

CATALOGUE_CASES = (
    *((name, {}) for name in CATALOGUE),
    *((name, {"dims": 5}) for name in ("sphere", "rosenbrock", "rastrigin", "ackley",
                                      "styblinski_tang", "quadratic")),
    ("rosenbrock", {"a": 2.0, "b": 10.0, "dims": 3}),
    ("rastrigin", {"A": 3.0, "dims": 3}),
    ("ackley", {"a": 10.0, "b": 0.5, "c": 3.0, "dims": 3}),
    ("quadratic", {"condition": 100.0, "dims": 4, "rotation_seed": 7}),
    ("quadratic", {"angle": 0.5}),
)
FORMULAS = (
    ("3*x**2 + 2*x*y + y**2 - x", ["x", "y"]),
    ("sin(x)*exp(y) + x**3*y**2", ["x", "y"]),
    ("log(1 + x**2 + y**2) + tanh(z*x) - sqrt(2 + y**2)*z", ["x", "y", "z"]),
    ("arctan(x*y) + cosh(x) / (2 + sinh(y)**2)", ["x", "y"]),
    ("x**4", ["x"]),
)


def compiled_hessian(objective: Objective, x: np.ndarray, batch: np.ndarray) -> np.ndarray:
    kernel = hessian_kernel(objective)
    assert kernel is not None
    out = np.full((x.shape[0], objective.dims, objective.dims), np.nan)
    kernel(np.ascontiguousarray(x), objective.consts, objective.data, batch, out)
    return out


def difference_hessian(objective: Objective, x: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Central differences of the compiled gradient, step 1e-5·max(1, |x_i|)."""
    out = np.empty((x.shape[0], objective.dims, objective.dims))
    for i in range(objective.dims):
        step = 1e-5 * np.maximum(1.0, np.abs(x[:, i]))
        forward, backward = x.copy(), x.copy()
        forward[:, i] += step
        backward[:, i] -= step
        difference = objective.evaluate(forward, batch)[1] - objective.evaluate(backward, batch)[1]
        out[:, i, :] = difference / (2.0 * step[:, None])
    return out


def sample_points(objective: Objective, count: int, seed: int) -> np.ndarray:
    bounds = np.array(objective.bounds) if objective.bounds else np.tile([-2.0, 2.0],
                                                                         (objective.dims, 1))
    # inside a quarter of the box: eggholder's and ackley's scales stay moderate there
    center = bounds.mean(axis=1)
    half = (bounds[:, 1] - bounds[:, 0]) / 8.0
    rng = np.random.default_rng(seed)
    return center + half * rng.uniform(-1.0, 1.0, (count, objective.dims))


def assert_close_to_differences(exact: np.ndarray, differences: np.ndarray) -> None:
    scale = 1.0 + np.max(np.abs(exact), axis=(1, 2), keepdims=True)
    assert np.all(np.abs(exact - differences) <= 1e-6 * scale)


@pytest.mark.parametrize(("name", "params"), CATALOGUE_CASES,
                         ids=[f"{n}-{p}" for n, p in CATALOGUE_CASES])
def test_catalogue_hessian_kernels_are_exact(name: str, params: dict) -> None:
    objective = build_catalogue_objective(name, params)
    x = sample_points(objective, 16, seed=len(name))
    batch = np.zeros(0, dtype=np.int64)
    exact = compiled_hessian(objective, x, batch)
    assert np.array_equal(exact, np.transpose(exact, (0, 2, 1)))
    assert_close_to_differences(exact, difference_hessian(objective, x, batch))
    assert objective.hessian is not None
    reference = objective.hessian(x)
    assert np.allclose(exact, reference, rtol=1e-12, atol=1e-12 * (1.0 + np.abs(reference).max()))


def test_every_catalogue_function_has_a_hessian_kernel() -> None:
    assert {entry.kernel for entry in CATALOGUE.values()} <= set(HESSIAN_KERNELS)


@pytest.mark.parametrize(("expression", "variables"), FORMULAS)
def test_formula_hessian_kernels_are_the_symbolic_second_derivatives(
        expression: str, variables: list[str]) -> None:
    objective = build_expression_objective(expression, variables)
    x = np.random.default_rng(3).uniform(-1.5, 1.5, (12, objective.dims))
    batch = np.zeros(0, dtype=np.int64)
    exact = compiled_hessian(objective, x, batch)
    assert np.array_equal(exact, np.transpose(exact, (0, 2, 1)))
    assert_close_to_differences(exact, difference_hessian(objective, x, batch))
    assert objective.hessian is not None
    assert np.allclose(exact, objective.hessian(x), rtol=1e-13, atol=1e-13)


def test_a_formula_with_a_huge_hessian_has_no_kernel() -> None:
    # a product of many distinct factors: its d·d second derivatives pass the symbolic cap
    terms = " * ".join(f"sin({a}*x + {b}*y + z)" for a, b in zip(range(1, 9), range(9, 1, -1)))
    objective = build_expression_objective(f"exp({terms}) * tanh(w*x*y*z)",
                                           ["w", "x", "y", "z"])
    assert hessian_kernel(objective) is None
    with pytest.raises(SpecError, match="too large to derive") as raised:
        require_hessian(objective, "newton")
    assert raised.value.field == "optimizer"


def dataset(kind: str, n: int = 40, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    X = rng.standard_normal((n, d))
    if kind == "regression":
        return X, X @ np.arange(1.0, d + 1) + 0.3 * rng.standard_normal(n)
    return X, (X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(n) > 0).astype(float)


MODEL_CASES = (
    ("linear_regression", "regression", None),
    ("logistic_regression", "classification", {"loss": "bce"}),
    ("logistic_regression", "classification", {"loss": "mse"}),
)


@pytest.mark.parametrize(("name", "kind", "params"), MODEL_CASES)
def test_model_hessian_kernels_are_exact_over_the_batch(name: str, kind: str,
                                                        params: dict | None) -> None:
    X, y = dataset(kind)
    objective = build_dataset_objective(name, params, X, y)
    x = np.random.default_rng(5).uniform(-1.0, 1.0, (4, objective.dims))
    everything = np.arange(len(y), dtype=np.int64)
    some = np.array([3, 17, 17, 29, 0], dtype=np.int64)
    for batch in (everything, some):
        exact = compiled_hessian(objective, x, batch)
        assert np.array_equal(exact, np.transpose(exact, (0, 2, 1)))
        assert_close_to_differences(exact, difference_hessian(objective, x, batch))
    if params is None or params["loss"] == "bce":  # the models with a NumPy exact Hessian
        assert objective.hessian is not None
        reference = objective.hessian(x)
        exact = compiled_hessian(objective, x, everything)
        assert np.allclose(exact, reference, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "params"), [("softmax_regression", None),
                                              ("mlp", {"hidden": 2})])
def test_models_without_an_exact_hessian_have_no_kernel(name: str, params: dict | None) -> None:
    X, y = dataset("classification")
    objective = build_dataset_objective(name, params, X, y)
    assert hessian_kernel(objective) is None
    with pytest.raises(SpecError, match=f"which {name} does not have"):
        require_hessian(objective, "newton")
