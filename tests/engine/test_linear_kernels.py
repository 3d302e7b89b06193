"""The linear models' kernels add in the order their docstrings give, so the same inputs give
the same bits on any machine: checked against a plain-Python sum in that order (IEEE float64,
one operation at a time), across feature counts below, at and above the lane width and batch
sizes that leave every remainder of the four-row blocks, with and without prefetching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.objectives.models import (
    LANES,
    ROW_BLOCK,
    linear_regression_kernel,
    logistic_regression_kernel,
)

N_SAMPLES = 300


def lane_dot(w, row, count):
    """The documented order of ``_lane_dot``: lane l sums j ≡ l (mod LANES) left to right, then
    the lanes are added in halves (lane l + lane l + half) until one is left."""
    lanes = [0.0] * LANES
    for j in range(count):
        lanes[j % LANES] += w[j] * row[j]
    while len(lanes) > 1:
        half = len(lanes) // 2
        lanes = [lanes[i] + lanes[i + half] for i in range(half)]
    return lanes[0]


def score(w, row, d):
    """``_affine``: the bias, then the lane sum of the first d − d mod LANES products, then the
    rest left to right."""
    full = d - d % LANES
    z = w[d]
    if full:
        z += lane_dot(w, row, full)
    for j in range(full, d):
        z += w[j] * row[j]
    return z


def reference(x, data, batch, loss):
    """Loss and gradient, row by row in batch order, every sum left to right."""
    runs, n_params = x.shape
    d = n_params - 1
    total = [0.0] * runs
    grad = [[0.0] * n_params for _ in range(runs)]
    for k in batch:
        row = [float(v) for v in data[k]]
        target = row[d]
        for r in range(runs):
            w = [float(v) for v in x[r]]
            z = score(w, row, d)
            if loss == "squared":
                term = delta = z - target
                term *= term
            else:
                tail = math.exp(-abs(z))
                probability = 1.0 / (1.0 + tail) if z >= 0.0 else tail / (1.0 + tail)
                term = max(z, 0.0) - z * target + math.log1p(tail)
                delta = probability - target
            total[r] += term
            for j in range(d):
                grad[r][j] += delta * row[j]
            grad[r][d] += delta
    factor = 2.0 if loss == "squared" else 1.0
    loss_scale, grad_scale = 1.0 / len(batch), factor / len(batch)
    return (np.array([t * loss_scale for t in total]),
            np.array([[g * grad_scale for g in row] for row in grad]))


def data_set(d, seed=0, labels=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, d))
    y = (X @ rng.standard_normal(d) > 0).astype(float) if labels else rng.standard_normal(N_SAMPLES)
    return np.ascontiguousarray(np.column_stack([X, y]))


BATCHES = {
    "one row": np.array([17]),
    "one block": np.array([3, 250, 41, 9]),
    "blocks and a tail of 3": np.random.default_rng(1).permutation(N_SAMPLES)[:2 * ROW_BLOCK + 3],
    "a mini-batch of 64": np.random.default_rng(2).permutation(N_SAMPLES)[:64],
    "every row in order": np.arange(N_SAMPLES),
}


@pytest.mark.parametrize("d", [1, 3, 15, 16, 21, 37, 100])
@pytest.mark.parametrize("batch_name", list(BATCHES))
def test_linear_regression_adds_in_the_documented_order(d, batch_name):
    data = data_set(d)
    batch = BATCHES[batch_name].astype(np.int64)
    x = np.random.default_rng(d).standard_normal((2, d + 1))
    loss, grad = np.empty(2), np.empty((2, d + 1))
    linear_regression_kernel(x, np.zeros(0), data, batch, loss, grad)
    expected_loss, expected_grad = reference(x, data, batch, "squared")
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize("d", [2, 16, 37, 100])
@pytest.mark.parametrize("batch_name", list(BATCHES))
def test_logistic_regression_adds_in_the_documented_order(d, batch_name):
    data = data_set(d, labels=True)
    batch = BATCHES[batch_name].astype(np.int64)
    x = 0.3 * np.random.default_rng(d).standard_normal((2, d + 1))
    loss, grad = np.empty(2), np.empty((2, d + 1))
    logistic_regression_kernel(x, np.zeros(1), data, batch, loss, grad)
    expected_loss, expected_grad = reference(x, data, batch, "bce")
    # the same operations in the same order; exp and log1p are the C library's in both, which
    # a compiler may still evaluate differently in the last bit
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-16)


def test_a_sample_and_the_whole_set_in_the_same_order_give_the_same_bits():
    # a batch smaller than the data set is prefetched, the whole set is not: hints only
    data = data_set(37)
    x = np.random.default_rng(3).standard_normal((3, 38))
    whole = np.arange(N_SAMPLES, dtype=np.int64)
    most = whole[:-1]
    loss_whole, grad_whole = np.empty(3), np.empty((3, 38))
    loss_most, grad_most = np.empty(3), np.empty((3, 38))
    linear_regression_kernel(x, np.zeros(0), data[:-1].copy(), most, loss_whole, grad_whole)
    linear_regression_kernel(x, np.zeros(0), data, most, loss_most, grad_most)
    np.testing.assert_array_equal(loss_whole, loss_most)
    np.testing.assert_array_equal(grad_whole, grad_most)
