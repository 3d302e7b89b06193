"""Dataset models (SPEC.md §3.3) and their data: exact losses and gradients, batching
semantics, seeded generators, and the errors a user gets for bad data or parameters."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.errors import SpecError
from engine.objectives.datasets import (
    DATASET_MODELS,
    build_dataset_objective,
    default_init,
    generate_dataset,
    load_inline_data,
)

# (model, function_params, generator, n_features)
MODEL_CASES = [
    ("linear_regression", {}, "linear", 1),
    ("linear_regression", {}, "linear", 4),
    ("logistic_regression", {}, "logistic", 3),
    ("logistic_regression", {"loss": "mse"}, "logistic", 2),
    ("softmax_regression", {}, "blobs", 3),
    ("softmax_regression", {"classes": 5}, "blobs", 2),
    ("mlp", {"hidden": 4}, "linear", 2),
    ("mlp", {"hidden": 5, "activation": "relu"}, "linear", 3),
    ("mlp", {"hidden": 3, "activation": "sigmoid"}, "linear", 2),
    ("mlp", {"hidden": 4, "loss": "cross_entropy"}, "moons", 2),
]
CASE_IDS = [f"{m}-{p}-{g}{d}" for m, p, g, d in MODEL_CASES]


def _objective(model, params, generator, n_features, n_samples=30, seed=3):
    X, y = generate_dataset(generator, n_samples, n_features, noise=0.3, seed=seed)
    return build_dataset_objective(model, params, X, y), X, y


def _random_params(objective, rng, runs=1):
    return rng.normal(0.0, 0.7, (runs, objective.dims))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _numpy_loss(model, params, X, y, theta):
    """Each model's loss written independently with whole-array NumPy (no shared code)."""
    n, d = X.shape
    if model == "linear_regression":
        return np.mean((X @ theta[:d] + theta[d] - y) ** 2)
    if model == "logistic_regression":
        p = _sigmoid(X @ theta[:d] + theta[d])
        if params.get("loss") == "mse":
            return np.mean((p - y) ** 2)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    if model == "softmax_regression":
        k = params.get("classes", int(y.max()) + 1)
        logits = X @ theta[: d * k].reshape(d, k) + theta[d * k :]
        return -np.mean(_log_softmax(logits)[np.arange(n), y.astype(int)])
    h = params["hidden"]
    cross_entropy = params.get("loss") == "cross_entropy"
    o = int(y.max()) + 1 if cross_entropy else 1
    W1, rest = theta[: d * h].reshape(d, h), theta[d * h :]
    b1, rest = rest[:h], rest[h:]
    W2, b2 = rest[: h * o].reshape(h, o), rest[h * o :]
    pre = X @ W1 + b1
    hidden = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "sigmoid": _sigmoid}[
        params.get("activation", "tanh")
    ](pre)
    out = hidden @ W2 + b2
    if cross_entropy:
        return -np.mean(_log_softmax(out)[np.arange(n), y.astype(int)])
    return np.mean((out[:, 0] - y) ** 2)


@pytest.mark.parametrize(("model", "params", "generator", "n_features"), MODEL_CASES, ids=CASE_IDS)
def test_gradient_matches_central_differences(model, params, generator, n_features):
    objective, _, _ = _objective(model, params, generator, n_features)
    theta = _random_params(objective, np.random.default_rng(11))[0]
    _, grad = objective.evaluate(theta)
    numeric = np.empty(objective.dims)
    for j in range(objective.dims):
        step = 1e-6 * max(1.0, abs(theta[j]))
        plus, minus = theta.copy(), theta.copy()
        plus[j] += step
        minus[j] -= step
        numeric[j] = (objective.value(plus)[0] - objective.value(minus)[0]) / (2 * step)
    assert np.linalg.norm(grad[0] - numeric) <= 1e-6 * np.linalg.norm(numeric) + 1e-9


@pytest.mark.parametrize(("model", "params", "generator", "n_features"), MODEL_CASES, ids=CASE_IDS)
def test_loss_matches_an_independent_numpy_formula(model, params, generator, n_features):
    objective, X, y = _objective(model, params, generator, n_features)
    rng = np.random.default_rng(5)
    for theta in _random_params(objective, rng, runs=3):
        expected = _numpy_loss(model, params, X, y, theta)
        assert objective.value(theta)[0] == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_logistic_loss_and_gradient_by_hand():
    # z = 2x: [0, 2, -2] for targets [1, 0, 1]
    X, y = np.array([[0.0], [1.0], [-1.0]]), np.array([1.0, 0.0, 1.0])
    objective = build_dataset_objective("logistic_regression", None, X, y)
    loss, grad = objective.evaluate(np.array([2.0, 0.0]))
    s2 = 1.0 / (1.0 + math.exp(-2.0))
    assert loss[0] == pytest.approx(
        (math.log(2.0) + 2.0 * math.log1p(math.exp(2.0))) / 3.0, rel=1e-14
    )
    assert grad[0] == pytest.approx([2.0 * s2 / 3.0, -1.0 / 6.0], rel=1e-14)


def test_logistic_loss_is_stable_for_huge_logits():
    X, y = np.array([[1.0], [-1.0]]), np.array([0.0, 1.0])
    objective = build_dataset_objective("logistic_regression", None, X, y)
    loss, grad = objective.evaluate(np.array([1000.0, 0.0]))  # both predictions very wrong
    assert loss[0] == pytest.approx(1000.0, rel=1e-15)
    assert grad[0] == pytest.approx([1.0, 0.0])


def test_softmax_cross_entropy_by_hand():
    # W = [1, 0, -1], b = 0; x = 1, 0, 2 with labels 0, 1, 2
    X, y = np.array([[1.0], [0.0], [2.0]]), np.array([0.0, 1.0, 2.0])
    objective = build_dataset_objective("softmax_regression", None, X, y)
    loss = objective.value(np.array([1.0, 0.0, -1.0, 0.0, 0.0, 0.0]))[0]
    by_hand = (
        math.log(math.e + 1 + 1 / math.e)
        - 1.0
        + math.log(3.0)
        + math.log(math.e**2 + 1 + math.e**-2)
        + 2.0
    ) / 3.0
    assert loss == pytest.approx(by_hand, rel=1e-14)
    assert objective.parameter_names == ("W[1,0]", "W[1,1]", "W[1,2]", "b[0]", "b[1]", "b[2]")


@pytest.mark.parametrize(("model", "params", "generator", "n_features"), MODEL_CASES, ids=CASE_IDS)
def test_a_batch_averages_over_exactly_its_samples(model, params, generator, n_features):
    objective, _, _ = _objective(model, params, generator, n_features)
    theta = _random_params(objective, np.random.default_rng(2))
    batch = np.array([7, 0, 13, 7, 29], dtype=np.int64)  # a repeated index counts twice
    loss, grad = objective.evaluate(theta, batch)
    singles = [objective.evaluate(theta, np.array([i], dtype=np.int64)) for i in batch]
    assert loss[0] == pytest.approx(np.mean([s[0][0] for s in singles]), rel=1e-12)
    assert grad[0] == pytest.approx(
        np.mean([s[1][0] for s in singles], axis=0), rel=1e-10, abs=1e-13
    )


@pytest.mark.parametrize(("model", "params", "generator", "n_features"), MODEL_CASES, ids=CASE_IDS)
def test_many_runs_at_once_equal_single_runs_bit_for_bit(model, params, generator, n_features):
    objective, _, _ = _objective(model, params, generator, n_features)
    thetas = _random_params(objective, np.random.default_rng(8), runs=4)
    loss, grad = objective.evaluate(thetas)
    for r, theta in enumerate(thetas):
        single_loss, single_grad = objective.evaluate(theta)
        assert loss[r] == single_loss[0]
        assert np.array_equal(grad[r], single_grad[0])


def test_least_squares_solution_has_zero_gradient_and_is_the_listed_minimum():
    X, y = generate_dataset("linear", 500, 3, noise=0.5, seed=4)
    objective = build_dataset_objective("linear_regression", None, X, y)
    (minimum,) = objective.stationary_points
    assert minimum.kind == "global"
    loss, grad = objective.evaluate(np.array(minimum.params))
    assert np.abs(grad[0]).max() < 1e-12
    assert loss[0] == pytest.approx(minimum.value)
    assert loss[0] == pytest.approx(0.25, rel=0.2)  # the noise variance


def test_one_feature_linear_regression_is_the_w_b_picture():
    X, y = generate_dataset("linear", 200, seed=0)  # y = 2x + 1 + noise
    objective = build_dataset_objective("linear_regression", None, X, y)
    assert objective.dims == 2 and objective.parameter_names == ("w", "b")
    (w_box, b_box) = objective.bounds
    w, b = objective.stationary_points[0].params
    assert w == pytest.approx(2.0, abs=0.05) and b == pytest.approx(1.0, abs=0.05)
    for (low, high), centre in zip((w_box, b_box), (w, b)):
        assert low < 0.0 < high  # the default start (0, 0) is on the picture
        assert low < centre < high


def test_linear_hessian_is_exact_and_constant():
    X, y = generate_dataset("linear", 40, 2, seed=1)
    objective = build_dataset_objective("linear_regression", None, X, y)
    design = np.column_stack([X, np.ones(40)])
    hessians = objective.hessian(np.array([[0.0, 0.0, 0.0], [5.0, -1.0, 2.0]]))
    for hessian in hessians:
        assert hessian == pytest.approx(2.0 / 40 * design.T @ design, rel=1e-13)


@pytest.mark.parametrize(
    ("model", "params", "generator", "n_features"),
    [MODEL_CASES[2], MODEL_CASES[3], MODEL_CASES[4], MODEL_CASES[6]],
    ids=["logistic", "logistic-mse", "softmax", "mlp"],
)
def test_hessian_matches_differences_of_the_gradient(model, params, generator, n_features):
    objective, _, _ = _objective(model, params, generator, n_features)
    theta = _random_params(objective, np.random.default_rng(1))[0]
    hessian = objective.hessian(theta)[0]
    step = 1e-6
    for j in range(objective.dims):
        plus, minus = theta.copy(), theta.copy()
        plus[j] += step
        minus[j] -= step
        column = (objective.gradient(plus)[0] - objective.gradient(minus)[0]) / (2 * step)
        assert hessian[:, j] == pytest.approx(column, rel=1e-5, abs=1e-7)


def test_default_start_is_zero_for_convex_models_and_a_seeded_draw_for_mlp():
    rng = np.random.default_rng(0)
    assert default_init("linear_regression", 3, None, rng).tolist() == [0.0] * 4
    assert default_init("softmax_regression", 2, {"classes": 3}, rng).tolist() == [0.0] * 9
    y = np.array([0.0, 2.0, 1.0])
    assert default_init("softmax_regression", 2, {}, rng, y=y).shape == (9,)
    first = default_init("mlp", 4, {"hidden": 16}, np.random.default_rng(7))
    again = default_init("mlp", 4, {"hidden": 16}, np.random.default_rng(7))
    other = default_init("mlp", 4, {"hidden": 16}, np.random.default_rng(8))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.shape == (4 * 16 + 16 + 16 + 1,)
    assert np.abs(first[: 4 * 16 + 16]).max() <= 1 / math.sqrt(4)  # U(±1/√fan_in)
    assert np.abs(first[4 * 16 + 16 :]).max() <= 1 / math.sqrt(16)


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize(
    ("generator", "n_features", "options"),
    [
        ("linear", 1, {}),
        ("linear", 5, {"x_distribution": "uniform"}),
        ("logistic", 3, {}),
        ("blobs", 2, {"centers": 4}),
        ("moons", 2, {}),
    ],
)
def test_generators_are_deterministic_by_seed(generator, n_features, options):
    first = generate_dataset(generator, 100, n_features, 0.2, seed=12, **options)
    again = generate_dataset(generator, 100, n_features, 0.2, seed=12, **options)
    other = generate_dataset(generator, 100, n_features, 0.2, seed=13, **options)
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (100, n_features) and first[1].shape == (100,)
    assert first[0].flags.c_contiguous and first[0].dtype == np.float64


def test_generators_do_not_touch_the_global_random_state():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    generate_dataset("blobs", 50, 2, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)


def test_linear_generator_follows_its_documented_model():
    X, y = generate_dataset("linear", 50, 2, noise=0.0, seed=0, weights=[3.0, -1.0], bias=0.5)
    assert y == pytest.approx(3.0 * X[:, 0] - X[:, 1] + 0.5, rel=1e-14)
    X, y = generate_dataset("linear", 50, 1, noise=0.0, seed=0)
    assert y == pytest.approx(2.0 * X[:, 0] + 1.0, rel=1e-14)


def test_classification_generators_give_valid_labels():
    X, y = generate_dataset("logistic", 300, 2, noise=0.0, seed=0)
    assert set(y) == {0.0, 1.0}
    assert np.array_equal(y, (X @ [2.0, 2.0] > 0).astype(float))  # noise 0: separable
    _, y = generate_dataset("blobs", 300, 3, seed=0, centers=[[0, 0, 0], [5, 5, 5]])
    assert sorted(set(y)) == [0.0, 1.0] and (y == 0).sum() == 150
    _, y = generate_dataset("blobs", 300, 2, seed=0)
    assert sorted(set(y)) == [0.0, 1.0, 2.0]
    X, y = generate_dataset("moons", 301, 2, noise=0.0, seed=0)
    assert (y == 0).sum() == 150 and (y == 1).sum() == 151
    outer = X[y == 0]
    assert np.hypot(outer[:, 0], outer[:, 1]) == pytest.approx(np.ones(150))


# ---------------------------------------------------------------- errors users see


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"generator": "spiral"}, "data.generator", "spiral"),
        ({"generator": "linear", "n_samples": 2_000_000}, "data.n_samples", "2000000"),
        ({"generator": "linear", "n_samples": 0}, "data.n_samples", "0"),
        ({"generator": "linear", "n_features": 1001}, "data.n_features", "1001"),
        (
            {"generator": "linear", "n_samples": 1_000_000, "n_features": 1000},
            "data.n_samples",
            "cap",
        ),
        ({"generator": "linear", "noise": -1.0}, "data.noise", "-1.0"),
        ({"generator": "linear", "noise": float("nan")}, "data.noise", "nan"),
        ({"generator": "linear", "seed": -3}, "data.seed", "-3"),
        ({"generator": "linear", "n_features": 2, "weights": [1.0]}, "data.options.weights", "2"),
        ({"generator": "linear", "colour": "red"}, "data.options.colour", "unknown"),
        (
            {"generator": "linear", "x_distribution": "cauchy"},
            "data.options.x_distribution",
            "cauchy",
        ),
        ({"generator": "blobs", "centers": 0}, "data.options.centers", "0"),
        ({"generator": "moons", "n_features": 3}, "data.n_features", "3"),
    ],
)
def test_generator_errors_name_the_field_and_value(kwargs, field, words):
    with pytest.raises(SpecError) as caught:
        generate_dataset(**kwargs)
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("X", "y", "model", "field", "words"),
    [
        ([[1.0, 2.0], [3.0, 4.0], [5.0]], [0, 1, 0], "linear_regression", "data.X", "row 2"),
        ([[1.0], [float("nan")], [2.0]], [0, 1, 0], "linear_regression", "data.X", "row 1"),
        ([[1.0], [2.0], [float("inf")]], [0, 1, 0], "linear_regression", "data.X", "row 2"),
        ([[1.0], ["a"]], [0, 1], "linear_regression", "data.X", "row 1"),
        ([], [], "linear_regression", "data.X", "non-empty"),
        ([[1.0], [2.0]], [0.0, 1.0, 1.0], "linear_regression", "data.y", "3 entries"),
        ([[1.0], [2.0]], [0.0, float("nan")], "linear_regression", "data.y", "entry 1"),
        ([[1.0], [2.0], [3.0]], [0, 1, 2], "logistic_regression", "data.y", "entry 2"),
        ([[1.0], [2.0], [3.0]], [0, 0.5, 1], "softmax_regression", "data.y", "entry 1"),
        ([[1.0], [2.0], [3.0]], [0, -1, 1], "softmax_regression", "data.y", "entry 1"),
        ([[0.0] * 1001], [1.0], "linear_regression", "data.X", "1001"),
    ],
)
def test_inline_data_errors_name_the_field_and_first_bad_row(X, y, model, field, words):
    with pytest.raises(SpecError) as caught:
        load_inline_data(X, y, model)
    assert caught.value.field == field
    assert words in caught.value.message


def test_inline_data_is_returned_as_float_matrices():
    X, y = load_inline_data([[1, 2], [3, 4]], [1, 0], "logistic_regression")
    assert X.dtype == np.float64 and X.shape == (2, 2) and y.tolist() == [1.0, 0.0]
    X, _ = load_inline_data([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], "linear_regression")
    assert X.shape == (3, 1)  # a flat list is one feature


@pytest.mark.parametrize(
    ("model", "params", "y", "field", "words"),
    [
        (
            "linear_regression",
            {"dims": 3},
            [0.0, 1.0],
            "function_params.dims",
            "no function_params",
        ),
        ("logistic_regression", {"loss": "hinge"}, [0.0, 1.0], "function_params.loss", "hinge"),
        ("mlp", {"hidden": 0}, [0.0, 1.0], "function_params.hidden", "0"),
        ("mlp", {"activation": "gelu"}, [0.0, 1.0], "function_params.activation", "gelu"),
        ("mlp", {"classes": 3}, [0.0, 1.0], "function_params.classes", "cross_entropy"),
        ("softmax_regression", {"classes": 1}, [0.0, 0.0], "function_params.classes", "1"),
        ("softmax_regression", {"classes": 2}, [0.0, 2.0], "data.y", "entry 1"),
        ("mlp", {"loss": "cross_entropy", "classes": 2}, [0.0, 3.0], "data.y", "entry 1"),
        ("logistic_regression", {}, [0.0, 3.0], "data.y", "entry 1"),
    ],
)
def test_model_parameter_errors_name_the_field(model, params, y, field, words):
    with pytest.raises(SpecError) as caught:
        build_dataset_objective(model, params, np.array([[1.0], [2.0]]), np.array(y))
    assert caught.value.field == field
    assert words in caught.value.message


def test_metadata_describes_every_model_as_json():
    assert set(DATASET_MODELS) == {
        "linear_regression",
        "logistic_regression",
        "softmax_regression",
        "mlp",
    }
    for name, model in DATASET_MODELS.items():
        document = json.loads(json.dumps(model.to_dict()))
        assert document["name"] == name and document["loss"] and document["layout"]
    mlp_params = {p["name"]: p for p in DATASET_MODELS["mlp"].to_dict()["params"]}
    assert mlp_params["hidden"]["default"] == 8 and mlp_params["activation"]["default"] == "tanh"
