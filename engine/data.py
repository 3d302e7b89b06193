"""Datasets for the dataset models (SPEC.md §2 ``data``, §3.3): seeded generators and inline data.

Every random draw comes from ``numpy.random.default_rng(seed)`` (never the global RNG), in a
fixed, documented order, so the same arguments give the same arrays bit for bit.

Generators (``X`` has shape ``(n_samples, n_features)``, ``y`` shape ``(n_samples,)``):

``linear``
    ``X ~ N(0, 1)`` (option ``x_distribution: "uniform"`` for ``U(−1, 1)``), then
    ``y = X·w_true + b_true + noise·ε`` with ``ε ~ N(0, 1)``. Defaults ``w_true = (2, …, 2)``,
    ``b_true = 1`` (the textbook ``y = 2x + 1``); options ``weights`` (d numbers) and ``bias``.
    Draw order: X, then ε.
``logistic``
    ``X ~ N(0, 1)``, logit ``z = X·w_true + b_true`` (defaults ``w_true = (2, …, 2)``,
    ``b_true = 0``; options ``weights``, ``bias``), ``y = 1[z + noise·L > 0]`` with ``L`` a
    standard logistic variable. Since ``P(L > −t) = σ(t)``, this is exactly the logistic model
    ``P(y = 1 | x) = σ(z / noise)``: ``noise`` is its temperature, and ``noise = 0`` gives
    linearly separable labels ``1[z > 0]``. Draw order: X, then L.
``blobs``
    ``k`` isotropic Gaussian clusters (sklearn ``make_blobs``): option ``centers`` is ``k``
    (default 3) or a list of ``k`` centre coordinates; with ``k`` the centres are drawn
    ``U(−1, 1)^d``. Sample ``i`` before shuffling belongs to class ``i mod k`` (balanced
    classes), ``x = centre + noise·N(0, I)``; labels ``0..k−1``. Draw order: centres (when
    drawn), offsets, then a shuffling permutation.
``moons``
    Two interleaving half circles in 2-D (sklearn ``make_moons``): the first ``n // 2`` samples
    ``(cos t, sin t)`` with label 0, the rest ``(1 − cos t, 0.5 − sin t)`` with label 1, ``t``
    evenly spaced on ``[0, π]``, plus ``noise·N(0, I)``; ``n_features`` must be 2. Draw order:
    offsets, then a shuffling permutation.

Caps (:data:`MAX_SAMPLES`, :data:`MAX_FEATURES`) keep one dataset within memory a worker can
spare (10⁶ × 1000 float64 would already be 8 GB; the product is capped too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.errors import SpecError

MAX_SAMPLES = 1_000_000
"""Largest ``n_samples`` a generator or inline dataset may have."""
MAX_FEATURES = 1000
"""Largest ``n_features`` a generator or inline dataset may have."""
MAX_VALUES = 50_000_000
"""Largest ``n_samples × n_features`` (400 MB of float64)."""

GENERATORS = ("linear", "logistic", "blobs", "moons")
_GENERATOR_OPTIONS = {
    "linear": ("weights", "bias", "x_distribution"),
    "logistic": ("weights", "bias"),
    "blobs": ("centers",),
    "moons": (),
}
_DEFAULT_FEATURES = {"linear": 1, "logistic": 1, "blobs": 2, "moons": 2}
_DEFAULT_WEIGHT = 2.0

CLASSIFICATION_MODELS = ("logistic_regression", "softmax_regression")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_int(field: str, value: Any, low: int, high: int | None = None) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"an integer ≥ {low}" if high is None else f"an integer in {low}..{high}"
        raise SpecError(field, f"must be {bound}, got {value!r}")
    return int(value)


def _check_finite(field: str, value: Any, minimum: float | None = None) -> float:
    if (
        not _is_number(value)
        or not math.isfinite(value)
        or (minimum is not None and value < minimum)
    ):
        what = "a finite number" if minimum is None else f"a finite number ≥ {minimum:g}"
        raise SpecError(field, f"must be {what}, got {value!r}")
    return float(value)


def _vector_option(field: str, value: Any, length: int) -> np.ndarray:
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != length:
        raise SpecError(
            field, f"must be a list of {length} numbers (one per feature), got {value!r}"
        )
    for index, item in enumerate(value):
        _check_finite(f"{field}[{index}]", item)
    return np.asarray(value, dtype=np.float64)


def generate_dataset(
    generator: str,
    n_samples: int = 200,
    n_features: int | None = None,
    noise: float = 0.1,
    seed: int = 0,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(X, y)`` from a named generator (see the module docstring for each formula).

    ``n_features=None`` means the generator's natural size (1 for ``linear`` and
    ``logistic``, 2 for ``blobs`` and ``moons``). Returns float64 C-contiguous ``X (n, d)`` and
    ``y (n,)`` (class labels as whole floats). Raises ``SpecError("data.<field>", …)``.
    """
    if generator not in GENERATORS:
        raise SpecError(
            "data.generator", f"unknown generator {generator!r}; choose one of {list(GENERATORS)}"
        )
    n = _check_int("data.n_samples", n_samples, 1, MAX_SAMPLES)
    d = _DEFAULT_FEATURES[generator] if n_features is None else n_features
    d = _check_int("data.n_features", d, 1, MAX_FEATURES)
    if n * d > MAX_VALUES:
        raise SpecError(
            "data.n_samples",
            f"n_samples × n_features = {n * d} exceeds the cap of {MAX_VALUES} values",
        )
    noise_level = _check_finite("data.noise", noise, minimum=0.0)
    if not _is_int(seed) or seed < 0:
        raise SpecError("data.seed", f"must be an integer ≥ 0, got {seed!r}")
    allowed = _GENERATOR_OPTIONS[generator]
    for name in options:
        if name not in allowed:
            raise SpecError(
                f"data.options.{name}",
                f"unknown option for generator {generator!r}; allowed: {list(allowed)}",
            )
    rng = np.random.default_rng(int(seed))
    X, y = _GENERATOR_FUNCTIONS[generator](rng, n, d, noise_level, options)
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)


def _linear(rng: np.random.Generator, n: int, d: int, noise: float, options: dict):
    weights = _vector_option(
        "data.options.weights", options.get("weights", [_DEFAULT_WEIGHT] * d), d
    )
    bias = _check_finite("data.options.bias", options.get("bias", 1.0))
    distribution = options.get("x_distribution", "normal")
    if distribution == "normal":
        X = rng.standard_normal((n, d))
    elif distribution == "uniform":
        X = rng.uniform(-1.0, 1.0, (n, d))
    else:
        raise SpecError(
            "data.options.x_distribution", f"must be 'normal' or 'uniform', got {distribution!r}"
        )
    y = X @ weights + bias + noise * rng.standard_normal(n)
    return X, y


def _logistic(rng: np.random.Generator, n: int, d: int, noise: float, options: dict):
    weights = _vector_option(
        "data.options.weights", options.get("weights", [_DEFAULT_WEIGHT] * d), d
    )
    bias = _check_finite("data.options.bias", options.get("bias", 0.0))
    X = rng.standard_normal((n, d))
    logits = X @ weights + bias
    y = (logits + noise * rng.logistic(0.0, 1.0, n) > 0.0).astype(np.float64)
    return X, y


def _blobs(rng: np.random.Generator, n: int, d: int, noise: float, options: dict):
    centers_option = options.get("centers", 3)
    if _is_int(centers_option):
        k = _check_int("data.options.centers", centers_option, 1, 1000)
        centers = rng.uniform(-1.0, 1.0, (k, d))
    else:
        if not isinstance(centers_option, (list, tuple, np.ndarray)) or len(centers_option) < 1:
            raise SpecError(
                "data.options.centers",
                f"must be a class count or a list of centres, got {centers_option!r}",
            )
        centers = np.stack(
            [
                _vector_option(f"data.options.centers[{c}]", row, d)
                for c, row in enumerate(centers_option)
            ]
        )
        k = centers.shape[0]
    labels = np.arange(n) % k
    X = centers[labels] + noise * rng.standard_normal((n, d))
    order = rng.permutation(n)
    return X[order], labels[order].astype(np.float64)


def _moons(rng: np.random.Generator, n: int, d: int, noise: float, options: dict):
    if d != 2:
        raise SpecError("data.n_features", f"the moons generator is 2-D: must be 2, got {d}")
    n_outer = n // 2
    n_inner = n - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
            np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
        ]
    )
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    X = X + noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return X[order], y[order]


_GENERATOR_FUNCTIONS: dict[str, Callable] = {
    "linear": _linear,
    "logistic": _logistic,
    "blobs": _blobs,
    "moons": _moons,
}


def _first_bad_row(rows: Sequence[Any]) -> tuple[int, str]:
    """The index of the first row that is not a list of finite numbers of the first row's
    length, and what is wrong with it (the slow path, only taken when fast conversion fails)."""
    width: int | None = None
    for index, row in enumerate(rows):
        if not isinstance(row, (list, tuple, np.ndarray)):
            return index, f"row {index} is not a list of numbers: {row!r}"
        if width is None:
            width = len(row)
        if len(row) != width:
            return index, f"row {index} has {len(row)} values, row 0 has {width} (ragged)"
        for value in row:
            if not _is_number(value):
                return index, f"row {index} holds a non-number {value!r}"
            if not math.isfinite(value):
                return index, f"row {index} holds a non-finite value {value!r}"
    return -1, ""


def load_inline_data(X: Any, y: Any, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate inline data ``{"X": [[…], …], "y": […]}`` and return float64 ``(X (n, d), y (n,))``.

    ``X`` must be rectangular (one list per sample; a flat list of numbers is one feature),
    finite, with ``1 ≤ n ≤ MAX_SAMPLES`` rows and ``1 ≤ d ≤ MAX_FEATURES`` columns; ``y`` finite,
    one entry per row, and valid labels for ``model`` (:func:`check_labels`). Errors name
    ``data.X`` / ``data.y`` and the index of the first bad row.
    """
    if not isinstance(X, (list, tuple, np.ndarray)) or len(X) == 0:
        raise SpecError(
            "data.X", "must be a non-empty list of rows (one list of numbers per sample)"
        )
    if len(X) > MAX_SAMPLES:
        raise SpecError("data.X", f"has {len(X)} rows, more than the cap of {MAX_SAMPLES}")
    if all(_is_number(value) for value in X):  # a flat list: one feature
        X = [[value] for value in X]
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (ValueError, TypeError):
        matrix = None
    if matrix is None or matrix.ndim != 2:
        _, message = _first_bad_row(X)
        raise SpecError("data.X", message or "must be a list of rows of numbers")
    n, d = matrix.shape
    if d < 1:
        raise SpecError("data.X", "rows must hold at least one feature")
    if d > MAX_FEATURES:
        raise SpecError("data.X", f"rows have {d} features, more than the cap of {MAX_FEATURES}")
    finite_rows = np.isfinite(matrix).all(axis=1)
    if not finite_rows.all():
        index = int(np.argmin(finite_rows))
        bad = matrix[index][~np.isfinite(matrix[index])][0]
        raise SpecError("data.X", f"row {index} holds a non-finite value {float(bad)!r}")

    if not isinstance(y, (list, tuple, np.ndarray)):
        raise SpecError("data.y", "must be a list of numbers, one per row of data.X")
    try:
        target = np.asarray(y, dtype=np.float64)
    except (ValueError, TypeError):
        target = None
    if target is None or target.ndim != 1 or not np.isfinite(target).all():
        for index, value in enumerate(y):
            if not _is_number(value) or not math.isfinite(value):
                raise SpecError("data.y", f"entry {index} is not a finite number: {value!r}")
    if len(y) != n:
        raise SpecError("data.y", f"has {len(y)} entries but data.X has {n} rows")
    assert target is not None  # every entry was checked to be a finite number
    check_labels(model, target)
    return np.ascontiguousarray(matrix), np.ascontiguousarray(target)


def check_labels(model: str, y: np.ndarray, classes: int | None = None) -> None:
    """Raise ``SpecError("data.y", …)`` naming the first entry that is not a valid label:
    ``logistic_regression`` needs ``y ∈ {0, 1}``; ``softmax_regression`` (and an ``mlp`` with
    ``loss: "cross_entropy"``, when ``classes`` is given) needs whole numbers ``0..k−1``."""
    if model == "logistic_regression":
        bad = np.flatnonzero((y != 0.0) & (y != 1.0))
        if bad.size:
            raise SpecError(
                "data.y",
                f"logistic_regression needs labels 0 or 1; entry {bad[0]} is {float(y[bad[0]])!r}",
            )
    elif model == "softmax_regression" or classes is not None:
        upper = np.inf if classes is None else classes - 1
        bad = np.flatnonzero((y != np.floor(y)) | (y < 0) | (y > upper))
        if bad.size:
            allowed = "whole numbers ≥ 0" if classes is None else f"whole numbers 0..{classes - 1}"
            raise SpecError(
                "data.y",
                f"{model} needs class labels {allowed}; entry {bad[0]} is {float(y[bad[0]])!r}",
            )


__all__ = [
    "GENERATORS",
    "MAX_FEATURES",
    "MAX_SAMPLES",
    "MAX_VALUES",
    "check_labels",
    "generate_dataset",
    "load_inline_data",
]
