"""Dataset models (SPEC.md §3.3): metadata, parameter validation, objectives, default starts.

A dataset model's parameters are a flat vector; its kernel (``engine.objectives.models``) reads
samples from ``data = [X | y]`` (one row per sample) and averages the loss over a batch of rows.

Parameter layouts (row-major, in this order):
    linear_regression, logistic_regression   w_1..w_d, b
    softmax_regression                       W (d×k), b (k)
    mlp                                      W1 (d×h), b1 (h), W2 (h×o), b2 (o);
                                             o = 1 for loss "mse", o = classes for "cross_entropy"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.data import check_labels, generate_dataset, load_inline_data
from engine.errors import SpecError
from engine.objectives.base import Objective, StationaryPoint
from engine.objectives.models import (
    LOGISTIC_LOSS_CODES,
    MLP_ACTIVATION_CODES,
    MLP_LOSS_CODES,
    linear_regression_kernel,
    logistic_regression_kernel,
    mlp_kernel,
    softmax_regression_kernel,
)

MAX_CLASSES = 1000
MAX_HIDDEN = 1024
_LEAST_SQUARES_BUDGET = 2e8
"""Largest n·(d+1)² for which the least-squares minimum of linear_regression is computed when
the objective is built (well under a second: the API builds objectives to validate specs);
beyond it no stationary point is listed."""


@dataclass(frozen=True)
class ModelParameter:
    """One entry of a dataset model's ``function_params``."""

    name: str
    type: str
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class DatasetModel:
    """What ``GET /v1/functions`` shows about a dataset model."""

    name: str
    description: str
    loss: str
    params: tuple[ModelParameter, ...]
    layout: str
    labels: str
    generators: tuple[str, ...]
    example_params: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``GET /v1/functions/{name}`` of a model (docs/spec.md §3.3): its parameters, the
        layout of its parameter vector with the names for two features as an example, the
        labels it accepts and the generators that draw data for it."""
        document = {"name": self.name, "kind": "model", **asdict(self)}
        document["params"] = [
            {key: value for key, value in asdict(p).items() if value is not None}
            for p in self.params
        ]
        example = dict(self.example_params)
        resolved = resolve_model_params(self.name, example, np.array([0.0, 1.0, 2.0]))
        document["example"] = {"n_features": 2, "function_params": example,
                               "parameters": list(parameter_names(self.name, 2, resolved))}
        document.pop("example_params")
        return document


def list_models() -> list[dict[str, Any]]:
    """The dataset models as ``GET /v1/functions`` lists them (``kind`` ``"model"``)."""
    return [model.to_dict() for model in DATASET_MODELS.values()]


_CLASSES = ModelParameter(
    "classes",
    "integer",
    None,
    "number of classes k; default max(y) + 1 (at least 2)",
    minimum=2,
    maximum=MAX_CLASSES,
)

DATASET_MODELS: dict[str, DatasetModel] = {
    "linear_regression": DatasetModel(
        name="linear_regression",
        description="Least-squares linear regression ŷ = X·w + b. With one feature the "
        "parameters are (w, b) and the trajectory is drawn on the (w, b) loss surface.",
        loss="mean((X·w + b − y)²)  (torch MSELoss, no ½)",
        params=(),
        layout="[w_1..w_d, b]",
        labels="any real targets",
        generators=("linear",),
    ),
    "logistic_regression": DatasetModel(
        name="logistic_regression",
        description="Binary logistic regression p = σ(X·w + b). loss 'mse' is one sigmoid "
        "neuron trained by the delta rule: the delta rule with step α is gradient descent on "
        "this loss with learning rate α/2.",
        loss="bce: mean(max(z,0) − z·y + log(1 + e^−|z|)), z = X·w + b (torch "
        "BCEWithLogitsLoss); mse: mean((σ(z) − y)²)",
        params=(ModelParameter("loss", "string", "bce", "training loss", choices=("bce", "mse")),),
        layout="[w_1..w_d, b]",
        labels="y ∈ {0, 1}",
        generators=("logistic", "moons"),
    ),
    "softmax_regression": DatasetModel(
        name="softmax_regression",
        description="Multinomial logistic regression: logits z = xᵀW + b, probabilities softmax(z).",
        loss="mean(logsumexp(z) − z_y)  (torch CrossEntropyLoss)",
        params=(_CLASSES,),
        layout="W (d×k) row-major (W[j,c] at j·k + c), then b (k)",
        labels="y ∈ {0, …, k−1}",
        generators=("blobs", "moons", "logistic"),
        example_params=(("classes", 3),),
    ),
    "mlp": DatasetModel(
        name="mlp",
        description="A one-hidden-layer perceptron out = f(xᵀW1 + b1)ᵀW2 + b2 (torch "
        "Linear → activation → Linear); starts from a seeded draw U(−1/√fan_in, 1/√fan_in) "
        "like torch nn.Linear.",
        loss="mse: mean((out − y)²) (one output); cross_entropy: mean(logsumexp(out) − out_y) "
        "(k outputs)",
        params=(
            ModelParameter("hidden", "integer", 8, "hidden units h", minimum=1, maximum=MAX_HIDDEN),
            ModelParameter(
                "activation",
                "string",
                "tanh",
                "hidden activation f",
                choices=tuple(MLP_ACTIVATION_CODES),
            ),
            ModelParameter(
                "loss",
                "string",
                "mse",
                "mse (regression) or cross_entropy (classification)",
                choices=tuple(MLP_LOSS_CODES),
            ),
            ModelParameter(
                "classes",
                "integer",
                None,
                "cross_entropy only: number of classes k; default max(y) + 1 (at least 2)",
                minimum=2,
                maximum=MAX_CLASSES,
            ),
        ),
        layout="W1 (d×h) row-major, b1 (h), W2 (h×o) row-major, b2 (o); o = 1 for mse, "
        "o = classes for cross_entropy",
        labels="mse: any real targets; cross_entropy: y ∈ {0, …, k−1}",
        generators=("linear", "moons", "blobs", "logistic"),
        example_params=(("hidden", 2), ("loss", "cross_entropy"), ("classes", 2)),
    ),
}


def _unknown_model(name: str) -> SpecError:
    return SpecError(
        "function", f"unknown dataset model {name!r}; choose one of {list(DATASET_MODELS)}"
    )


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(f"function_params.{name}", f"must be one of {list(choices)}, got {value!r}")
    return value


def _check_count(name: str, value: Any, minimum: int, maximum: int) -> int:
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or not minimum <= value <= maximum
    ):
        raise SpecError(
            f"function_params.{name}", f"must be an integer in {minimum}..{maximum}, got {value!r}"
        )
    return int(value)


def resolve_model_params(
    name: str, params: dict[str, Any] | None, y: np.ndarray | None = None
) -> dict[str, Any]:
    """Validate ``function_params`` of a dataset model and fill every default.

    ``classes`` (softmax, mlp with cross-entropy) defaults to ``max(y) + 1`` (at least 2), so
    it needs either the parameter or the labels ``y``. Raises ``SpecError("function_params.<p>")``.
    """
    if name not in DATASET_MODELS:
        raise _unknown_model(name)
    given = dict(params or {})
    allowed = [p.name for p in DATASET_MODELS[name].params]
    for key in given:
        if key not in allowed:
            raise SpecError(
                f"function_params.{key}",
                f"unknown parameter for {name}; allowed: {allowed}"
                if allowed
                else f"{name} takes no function_params",
            )
    resolved: dict[str, Any] = {}
    if name == "logistic_regression":
        resolved["loss"] = _check_choice(
            "loss", given.get("loss", "bce"), tuple(LOGISTIC_LOSS_CODES)
        )
    elif name == "mlp":
        resolved["hidden"] = _check_count("hidden", given.get("hidden", 8), 1, MAX_HIDDEN)
        resolved["activation"] = _check_choice(
            "activation", given.get("activation", "tanh"), tuple(MLP_ACTIVATION_CODES)
        )
        resolved["loss"] = _check_choice("loss", given.get("loss", "mse"), tuple(MLP_LOSS_CODES))
        if "classes" in given and resolved["loss"] != "cross_entropy":
            raise SpecError("function_params.classes", "only applies with loss 'cross_entropy'")
    if name == "softmax_regression" or resolved.get("loss") == "cross_entropy":
        if given.get("classes") is not None:
            resolved["classes"] = _check_count("classes", given["classes"], 2, MAX_CLASSES)
        elif y is not None and len(y):
            resolved["classes"] = max(int(np.max(y)) + 1, 2)
        else:
            raise SpecError("function_params.classes", f"{name} needs the number of classes")
    return resolved


def _output_count(name: str, resolved: dict[str, Any]) -> int:
    if name == "softmax_regression":
        return resolved["classes"]
    if name == "mlp":
        return resolved["classes"] if resolved["loss"] == "cross_entropy" else 1
    return 1


def parameter_count(name: str, n_features: int, resolved: dict[str, Any]) -> int:
    """The length of the parameter vector (see the module docstring for the layout)."""
    d = n_features
    if name == "softmax_regression":
        k = resolved["classes"]
        return d * k + k
    if name == "mlp":
        h, o = resolved["hidden"], _output_count(name, resolved)
        return d * h + h + h * o + o
    return d + 1


def parameter_names(name: str, n_features: int, resolved: dict[str, Any]) -> tuple[str, ...]:
    """Names in layout order: ``("w", "b")`` for one feature, ``("w1".."wd", "b")`` otherwise;
    matrices as ``W[j,c]`` with features numbered from 1 (like ``w1``), classes by label (from
    0) and hidden units from 1."""
    d = n_features
    features = range(1, d + 1)
    if name == "softmax_regression":
        classes = range(resolved["classes"])
        return tuple(f"W[{j},{c}]" for j in features for c in classes) + tuple(
            f"b[{c}]" for c in classes
        )
    if name == "mlp":
        units = range(1, resolved["hidden"] + 1)
        if resolved["loss"] == "cross_entropy":
            outputs = [f",{c}" for c in range(resolved["classes"])]
            biases = [f"b2[{c}]" for c in range(resolved["classes"])]
        else:
            outputs, biases = [""], ["b2"]
        return (
            tuple(f"W1[{j},{i}]" for j in features for i in units)
            + tuple(f"b1[{i}]" for i in units)
            + tuple(f"W2[{i}{c}]" for i in units for c in outputs)
            + tuple(biases)
        )
    if d == 1:
        return ("w", "b")
    return tuple(f"w{j}" for j in features) + ("b",)


def _consts(name: str, resolved: dict[str, Any]) -> np.ndarray:
    if name == "logistic_regression":
        return np.array([LOGISTIC_LOSS_CODES[resolved["loss"]]], dtype=np.float64)
    if name == "softmax_regression":
        return np.array([resolved["classes"]], dtype=np.float64)
    if name == "mlp":
        return np.array(
            [
                resolved["hidden"],
                _output_count(name, resolved),
                MLP_ACTIVATION_CODES[resolved["activation"]],
                MLP_LOSS_CODES[resolved["loss"]],
            ],
            dtype=np.float64,
        )
    return np.zeros(0)


_KERNELS: dict[str, Callable] = {
    "linear_regression": linear_regression_kernel,
    "logistic_regression": logistic_regression_kernel,
    "softmax_regression": softmax_regression_kernel,
    "mlp": mlp_kernel,
}


def _design(X: np.ndarray) -> np.ndarray:
    """``[X 1]``: the features with a column of ones for the bias."""
    return np.column_stack([X, np.ones(X.shape[0])])


def _linear_hessian(X: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The exact, constant Hessian of the mean squared error: ``2/n [X 1]ᵀ[X 1]`` (computed on
    first use, not when the objective is built)."""
    cache: list[np.ndarray] = []

    def hessian(x: np.ndarray) -> np.ndarray:
        if not cache:
            design = _design(X)
            cache.append(2.0 / X.shape[0] * (design.T @ design))
        points = np.atleast_2d(x)
        return np.broadcast_to(cache[0], (points.shape[0], *cache[0].shape)).copy()

    return hessian


def _logistic_hessian(X: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The exact Hessian of the mean BCE with logits: ``1/n [X 1]ᵀ diag(σ(z)(1 − σ(z))) [X 1]``."""

    def hessian(x: np.ndarray) -> np.ndarray:
        design = _design(X)
        points = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.empty((points.shape[0], design.shape[1], design.shape[1]))
        for r, point in enumerate(points):
            p = 1.0 / (1.0 + np.exp(-(design @ point)))
            out[r] = (design * (p * (1.0 - p))[:, None]).T @ design / X.shape[0]
        return out

    return hessian


def _finite_difference_hessian(
    kernel: Callable, consts: np.ndarray, data: np.ndarray, dims: int
) -> Callable[[np.ndarray], np.ndarray]:
    """Central differences of the exact gradient, ``H[:, j] ≈ (∇L(x + h e_j) − ∇L(x − h e_j)) / 2h``
    with ``h = 1e-5·max(1, |x_j|)``, symmetrised (about 1e-8 relative accuracy). All 2·dims
    shifted points go through the kernel as one batch of runs (in blocks, to bound memory)."""
    batch = np.arange(data.shape[0], dtype=np.int64)
    block = max(1, min(dims, 4_000_000 // max(dims, 1)))

    def hessian(x: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.empty((points.shape[0], dims, dims))
        for r, point in enumerate(points):
            for start in range(0, dims, block):
                columns = np.arange(start, min(start + block, dims))
                steps = 1e-5 * np.maximum(1.0, np.abs(point[columns]))
                shifted = np.repeat(point[None, :], 2 * columns.size, axis=0)
                shifted[np.arange(columns.size), columns] += steps
                shifted[columns.size + np.arange(columns.size), columns] -= steps
                loss = np.empty(shifted.shape[0])
                grad = np.empty_like(shifted)
                kernel(shifted, consts, data, batch, loss, grad)
                out[r][:, columns] = (
                    (grad[: columns.size] - grad[columns.size :]) / (2.0 * steps[:, None])
                ).T
            out[r] = 0.5 * (out[r] + out[r].T)
        return out

    return hessian


def _least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimiser of ‖[X 1]θ − y‖² (the minimum-norm one when [X 1] is rank deficient)."""
    return np.linalg.lstsq(_design(X), y, rcond=None)[0]


def _surface_box(center: np.ndarray) -> tuple[tuple[float, float], ...]:
    """A box around the least-squares point that also holds the origin (the default start):
    per axis ``c ± max(1.5·|c|, 1)``."""
    half = np.maximum(1.5 * np.abs(center), 1.0)
    return tuple((float(c - h), float(c + h)) for c, h in zip(center, half))


def build_dataset_objective(
    name: str, params: dict[str, Any] | None, X: np.ndarray, y: np.ndarray
) -> Objective:
    """The objective of dataset model ``name`` on samples ``X (n, d)``, targets ``y (n,)``.

    ``data = [X | y]`` (float64, C-contiguous), ``n_samples = n``, ``start = None`` (the caller
    draws :func:`default_init`). ``linear_regression`` lists its least-squares solution as the
    global minimum and has the exact Hessian; with one feature it also has ``bounds``, a box
    around that solution for contour plots of the (w, b) loss surface. ``logistic_regression``
    (BCE) has the exact Hessian; the other models a finite-difference one.
    """
    if name not in DATASET_MODELS:
        raise _unknown_model(name)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise SpecError("data.X", f"must be a non-empty matrix of samples, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise SpecError("data.y", f"has {y.size} entries but data.X has {X.shape[0]} rows")
    resolved = resolve_model_params(name, params, y)
    check_labels(name, y, resolved.get("classes"))

    n, d = X.shape
    data = np.ascontiguousarray(np.column_stack([X, y]), dtype=np.float64)
    kernel = _KERNELS[name]
    consts = _consts(name, resolved)
    dims = parameter_count(name, d, resolved)

    hessian: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[tuple[float, float], ...] = ()
    stationary: tuple[StationaryPoint, ...] = ()
    if name == "linear_regression":
        hessian = _linear_hessian(X)
        if n * (d + 1) ** 2 <= _LEAST_SQUARES_BUDGET:
            solution = _least_squares(X, y)
            loss = np.empty(1)
            kernel(solution[None, :].copy(), consts, data, np.arange(n), loss, np.empty((1, dims)))
            stationary = (StationaryPoint(tuple(map(float, solution)), float(loss[0]), "global"),)
            if d == 1:
                bounds = _surface_box(solution)
    elif name == "logistic_regression" and resolved["loss"] == "bce":
        hessian = _logistic_hessian(X)
    else:
        hessian = _finite_difference_hessian(kernel, consts, data, dims)

    return Objective(
        name=name,
        dims=dims,
        kernel=kernel,
        consts=consts,
        hessian=hessian,
        bounds=bounds,
        start=None,
        stationary_points=stationary,
        data=data,
        n_samples=n,
        parameter_names=parameter_names(name, d, resolved),
    )


def default_init(
    name: str,
    n_features: int,
    params: dict[str, Any] | None,
    rng: np.random.Generator,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """The default start of a dataset model: zeros for the linear, logistic and softmax models
    (their losses are convex); for ``mlp`` (where zeros would be a symmetric saddle) a seeded
    draw like torch ``nn.Linear``: W1 and b1 ~ U(−1/√d, 1/√d), then W2 and b2 ~ U(−1/√h, 1/√h),
    drawn in that order from ``rng``. ``y`` supplies the default ``classes`` (max(y) + 1) when
    ``params`` does not give it."""
    resolved = resolve_model_params(name, params, y)
    dims = parameter_count(name, n_features, resolved)
    if name != "mlp":
        return np.zeros(dims)
    d, h, o = n_features, resolved["hidden"], _output_count(name, resolved)
    first_bound = 1.0 / np.sqrt(d)
    second_bound = 1.0 / np.sqrt(h)
    return np.concatenate(
        [
            rng.uniform(-first_bound, first_bound, d * h),
            rng.uniform(-first_bound, first_bound, h),
            rng.uniform(-second_bound, second_bound, h * o),
            rng.uniform(-second_bound, second_bound, o),
        ]
    )


__all__ = [
    "DATASET_MODELS",
    "DatasetModel",
    "ModelParameter",
    "build_dataset_objective",
    "default_init",
    "generate_dataset",
    "list_models",
    "load_inline_data",
    "parameter_count",
    "parameter_names",
    "resolve_model_params",
]
