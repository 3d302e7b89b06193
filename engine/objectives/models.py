"""Compiled loss-and-gradient kernels of the dataset models (SPEC.md §3.3).

Each kernel follows ``engine.kernels.OBJECTIVE_SIGNATURE``: ``data`` holds one sample per row
(``d`` features, then the target), ``batch`` the int64 indices of the rows to average over,
``x`` one parameter vector per run. The loss is the mean over the batch and the gradient is
exact (hand-derived backward pass, no finite differences).

Why the loops look the way they do:

* Rows are visited once, in batch order, and every run (``R``) is evaluated on a row while it is
  in cache, forward and backward fused: one pass over the data per call, which is what bounds
  the full-batch time on large datasets (the data does not fit in cache; parameters do).
* Mini-batches pick rows at random from a large matrix, so every row is a cache (and TLB) miss.
  The kernels hint the CPU to fetch the row ``PREFETCH_DISTANCE`` positions ahead
  (``llvm.prefetch``, a pure hint with no effect on results), overlapping the memory latency
  with the arithmetic of the current row.
* Sums are plain left-to-right float64 (IEEE, no fastmath): the same inputs give the same bits.
* Scratch buffers (logits, hidden activations) are allocated once per call, never per row.

Constants (``consts``) per kernel:
    linear_regression    ()
    logistic_regression  (loss,)                          loss 0 = BCE with logits, 1 = MSE on σ
    softmax_regression   (classes,)
    mlp                  (hidden, outputs, activation, loss)
                         activation 0 = tanh, 1 = relu, 2 = sigmoid; loss 0 = MSE, 1 = cross-entropy
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from engine.kernels import OBJECTIVE_SIGNATURE, compiled

PREFETCH_DISTANCE = 2
"""How many batch positions ahead a row is prefetched (measured: 1–4 all help; 2 is safe)."""

LOGISTIC_LOSS_CODES = {"bce": 0, "mse": 1}
MLP_ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2}
MLP_LOSS_CODES = {"mse": 0, "cross_entropy": 1}


@intrinsic
def _prefetch_item(typingctx, array, row, column):
    """Ask the CPU to fetch the cache line holding ``array[row, column]`` into cache
    (``llvm.prefetch``: read, high temporal locality, data cache). A hint only: it never faults
    and never changes a result."""
    signature = types.void(array, row, column)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        array_struct = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer2(
            context,
            builder,
            data=array_struct.data,
            shape=cgutils.unpack_tuple(builder, array_struct.shape),
            strides=cgutils.unpack_tuple(builder, array_struct.strides),
            layout=array_type.layout,
            inds=[args[1], args[2]],
            wraparound=False,
            boundscheck=False,
        )
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        prefetch = cgutils.get_or_insert_function(
            builder.module, function_type, "llvm.prefetch.p0i8"
        )
        builder.call(
            prefetch, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)]
        )
        return context.get_dummy_value()

    return signature, codegen


@compiled()
def _prefetch_ahead(data, batch, k):
    """Prefetch every cache line of the row ``PREFETCH_DISTANCE`` batch positions after ``k``."""
    ahead = k + PREFETCH_DISTANCE
    if ahead < batch.shape[0]:
        row = batch[ahead]
        width = data.shape[1]
        for column in range(0, width, 8):  # 8 float64 = one 64-byte line
            _prefetch_item(data, row, column)
        _prefetch_item(data, row, width - 1)  # rows are not line-aligned: the tail line


@compiled()
def _zero(loss_out, grad_out):
    for r in range(grad_out.shape[0]):
        loss_out[r] = 0.0
        for j in range(grad_out.shape[1]):
            grad_out[r, j] = 0.0


@compiled()
def _average(loss_out, grad_out, batch_size, grad_factor):
    """Turn the sums over the batch into means (the gradient also times ``grad_factor``)."""
    if batch_size == 0:
        return
    loss_scale = 1.0 / batch_size
    grad_scale = grad_factor / batch_size
    for r in range(grad_out.shape[0]):
        loss_out[r] *= loss_scale
        for j in range(grad_out.shape[1]):
            grad_out[r, j] *= grad_scale


@compiled()
def _sigmoid(z):
    """σ(z) = 1 / (1 + e^−z), evaluated without overflow for either sign of z."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@compiled()
def _softmax_delta(logits, label):
    """Turn ``logits`` (k) in place into ``softmax(logits) − onehot(label)`` (the gradient of
    the cross-entropy with respect to the logits) and return the cross-entropy
    ``logsumexp(logits) − logits[label]``, computed stably (shifted by the largest logit)."""
    classes = logits.shape[0]
    largest = logits[0]
    for c in range(1, classes):
        largest = max(largest, logits[c])
    label_logit = logits[label]
    total = 0.0
    for c in range(classes):
        logits[c] = math.exp(logits[c] - largest)
        total += logits[c]
    for c in range(classes):
        logits[c] /= total
    logits[label] -= 1.0
    return largest + math.log(total) - label_logit


@compiled(inline="always")
def _affine(w, row, d):  # pragma: no cover - compiled
    """``w[:d]·row[:d] + w[d]``: the linear models' score of one sample (bias last)."""
    z = w[d]
    for j in range(d):
        z += w[j] * row[j]
    return z


@compiled(inline="always")
def _add_affine_gradient(g, row, d, delta):  # pragma: no cover - compiled
    """``g += delta·[row[:d], 1]``: the gradient of ``delta·z`` for an affine score z."""
    for j in range(d):
        g[j] += delta * row[j]
    g[d] += delta


@compiled(OBJECTIVE_SIGNATURE)
def linear_regression_kernel(x, consts, data, batch, loss_out, grad_out):
    """Mean squared error of ``ŷ = X·w + b`` (torch ``MSELoss``, no ½):
    ``L = 1/B Σ (ŷ − y)²``, ``∇L = 2/B Σ (ŷ − y)·[x, 1]``; params ``[w_1..w_d, b]``."""
    runs, n_params = x.shape
    d = n_params - 1
    _zero(loss_out, grad_out)
    for k in range(batch.shape[0]):
        _prefetch_ahead(data, batch, k)
        row = data[batch[k]]
        target = row[d]
        for r in range(runs):
            error = _affine(x[r], row, d) - target
            loss_out[r] += error * error
            _add_affine_gradient(grad_out[r], row, d, error)
    _average(loss_out, grad_out, batch.shape[0], 2.0)


@compiled(OBJECTIVE_SIGNATURE)
def logistic_regression_kernel(x, consts, data, batch, loss_out, grad_out):
    """Logistic regression, ``z = X·w + b``, params ``[w_1..w_d, b]``.

    loss 0 (torch ``BCEWithLogitsLoss``): ``ℓ = max(z, 0) − z·y + log1p(e^−|z|)``,
    ``∂ℓ/∂z = σ(z) − y``. loss 1 (one sigmoid neuron, squared error):
    ``ℓ = (σ(z) − y)²``, ``∂ℓ/∂z = 2(σ(z) − y)·σ(z)(1 − σ(z))``. ``L`` = mean of ℓ over the batch.
    """
    runs, n_params = x.shape
    d = n_params - 1
    squared_error = consts[0] == 1.0
    _zero(loss_out, grad_out)
    for k in range(batch.shape[0]):
        _prefetch_ahead(data, batch, k)
        row = data[batch[k]]
        target = row[d]
        for r in range(runs):
            z = _affine(x[r], row, d)
            probability = _sigmoid(z)
            if squared_error:
                error = probability - target
                loss_out[r] += error * error
                delta = 2.0 * error * probability * (1.0 - probability)
            else:
                loss_out[r] += max(z, 0.0) - z * target + math.log1p(math.exp(-abs(z)))
                delta = probability - target
            _add_affine_gradient(grad_out[r], row, d, delta)
    _average(loss_out, grad_out, batch.shape[0], 1.0)


@compiled(OBJECTIVE_SIGNATURE)
def softmax_regression_kernel(x, consts, data, batch, loss_out, grad_out):
    """Multinomial logistic regression: logits ``z = xᵀW + b`` (W d×k row-major, then b k),
    ``ℓ = logsumexp(z) − z_y`` (torch ``CrossEntropyLoss``), ``∂ℓ/∂z = softmax(z) − onehot(y)``,
    ``∂ℓ/∂W[j, c] = x_j·∂ℓ/∂z_c``. Labels are the target column, whole numbers 0..k−1."""
    runs = x.shape[0]
    classes = int(consts[0])
    d = data.shape[1] - 1
    bias = d * classes
    logits = np.empty(classes)
    _zero(loss_out, grad_out)
    for k in range(batch.shape[0]):
        _prefetch_ahead(data, batch, k)
        row = data[batch[k]]
        label = int(row[d])
        for r in range(runs):
            w = x[r]
            for c in range(classes):
                logits[c] = w[bias + c]
            for j in range(d):
                feature = row[j]
                offset = j * classes
                for c in range(classes):
                    logits[c] += feature * w[offset + c]
            loss_out[r] += _softmax_delta(logits, label)
            g = grad_out[r]
            for j in range(d):
                feature = row[j]
                offset = j * classes
                for c in range(classes):
                    g[offset + c] += feature * logits[c]
            for c in range(classes):
                g[bias + c] += logits[c]
    _average(loss_out, grad_out, batch.shape[0], 1.0)


@compiled()
def _activate(z, activation):
    if activation == 0:
        return math.tanh(z)
    if activation == 1:
        return max(z, 0.0)
    return _sigmoid(z)


@compiled()
def _activation_slope(a, activation):
    """f′(z) written through a = f(z): tanh 1 − a², relu 1[a > 0] (0 at z = 0, as torch),
    sigmoid a(1 − a)."""
    if activation == 0:
        return 1.0 - a * a
    if activation == 1:
        return 1.0 if a > 0.0 else 0.0
    return a * (1.0 - a)


@compiled(OBJECTIVE_SIGNATURE)
def mlp_kernel(x, consts, data, batch, loss_out, grad_out):
    """One-hidden-layer perceptron ``out = f(xᵀW1 + b1)ᵀW2 + b2``.

    Params: W1 (d×h) row-major, b1 (h), W2 (h×o) row-major, b2 (o). loss 0: ``(out − y)²``
    with o = 1 (``MSELoss``); loss 1: cross-entropy of ``softmax(out)`` with o = classes.
    Backward (exact): ``δ_out = ∂ℓ/∂out``, ``∂W2 = a δ_outᵀ``, ``δ_h = (W2 δ_out) ⊙ f′``,
    ``∂W1 = x δ_hᵀ``.
    """
    runs = x.shape[0]
    hidden = int(consts[0])
    outputs = int(consts[1])
    activation = int(consts[2])
    cross_entropy = consts[3] == 1.0
    d = data.shape[1] - 1
    b1 = d * hidden
    w2 = b1 + hidden
    b2 = w2 + hidden * outputs
    units = np.empty(hidden)
    out = np.empty(outputs)
    _zero(loss_out, grad_out)
    for k in range(batch.shape[0]):
        _prefetch_ahead(data, batch, k)
        row = data[batch[k]]
        target = row[d]
        for r in range(runs):
            w = x[r]
            g = grad_out[r]
            # forward
            for i in range(hidden):
                units[i] = w[b1 + i]
            for j in range(d):
                feature = row[j]
                offset = j * hidden
                for i in range(hidden):
                    units[i] += feature * w[offset + i]
            for i in range(hidden):
                units[i] = _activate(units[i], activation)
            for c in range(outputs):
                out[c] = w[b2 + c]
            for i in range(hidden):
                unit = units[i]
                offset = w2 + i * outputs
                for c in range(outputs):
                    out[c] += unit * w[offset + c]
            # loss and δ_out (left in ``out``)
            if cross_entropy:
                loss_out[r] += _softmax_delta(out, int(target))
            else:
                error = out[0] - target
                loss_out[r] += error * error
                out[0] = 2.0 * error
            # backward: W2, b2, then δ_h (left in ``units``), W1, b1
            for i in range(hidden):
                unit = units[i]
                offset = w2 + i * outputs
                back = 0.0
                for c in range(outputs):
                    g[offset + c] += unit * out[c]
                    back += w[offset + c] * out[c]
                units[i] = back * _activation_slope(unit, activation)
            for c in range(outputs):
                g[b2 + c] += out[c]
            for j in range(d):
                feature = row[j]
                offset = j * hidden
                for i in range(hidden):
                    g[offset + i] += feature * units[i]
            for i in range(hidden):
                g[b1 + i] += units[i]
    _average(loss_out, grad_out, batch.shape[0], 1.0)


__all__ = [
    "LOGISTIC_LOSS_CODES",
    "MLP_ACTIVATION_CODES",
    "MLP_LOSS_CODES",
    "PREFETCH_DISTANCE",
    "linear_regression_kernel",
    "logistic_regression_kernel",
    "mlp_kernel",
    "softmax_regression_kernel",
]
