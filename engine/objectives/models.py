"""Compiled loss-and-gradient kernels of the dataset models (SPEC.md §3.3).

Each kernel follows ``engine.kernels.OBJECTIVE_SIGNATURE``: ``data`` holds one sample per row
(``d`` features, then the target), ``batch`` the int64 indices of the rows to average over,
``x`` one parameter vector per run. The loss is the mean over the batch and the gradient is
exact (hand-derived backward pass, no finite differences).

Why the loops look the way they do:

* Rows are visited once, in batch order, and every run (``R``) is evaluated on a row while it is
  in cache, forward and backward fused: one pass over the data per call, which is what bounds
  the full-batch time on large datasets (the data does not fit in cache; parameters do).
* The linear models (linear, logistic) take rows four at a time: the score of each row, then
  one sweep over the gradient adding the four rows' terms, ``g_j ← (((g_j + δ₀x₀ⱼ) + δ₁x₁ⱼ) +
  δ₂x₂ⱼ) + δ₃x₃ⱼ`` — the same additions in the same order as four one-row sweeps, with a quarter
  of the loads and stores of ``g``. Their score ``w·x`` is a fixed-order lane sum
  (:func:`_lane_dot`): a left-to-right sum is one chain of dependent additions, which made the
  full-batch pass three times slower than reading the data.
* Mini-batches pick rows at random from a large matrix, so every row is a cache (and TLB) miss.
  The kernels hint the CPU to fetch rows ahead of use (``llvm.prefetch``, a pure hint with no
  effect on results), overlapping the memory latency with the arithmetic of the current rows.
  A pass over the whole data set reads it in order, which the hardware prefetcher streams by
  itself: there the linear models give no hints (they would only take issue slots).
* Sums are plain float64 in a fixed order (IEEE, no fastmath, no reassociation by the
  compiler): the same inputs give the same bits, on any machine (the lane sum is written as
  LLVM vector operations whose order does not depend on the CPU's vector width).
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
"""How many batch positions ahead the softmax and MLP kernels prefetch a row (measured: 1–4 all
help; 2 is safe)."""
PREFETCH_ROWS = 16
"""How many batch positions ahead the linear models prefetch a row, into L2 (their rows cost
little arithmetic, so the fetch must start earlier; measured on N=200k, d=100, batches of 256:
1.7–1.9× faster than hints into L1, which do no better than none; 8–32 rows ahead do alike)."""
LANES = 16
"""Width of the fixed-order dot product :func:`_lane_dot`."""
ROW_BLOCK = 4
"""Rows the linear models take at a time (one gradient sweep per block)."""

LOGISTIC_LOSS_CODES = {"bce": 0, "mse": 1}
MLP_ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2}
MLP_LOSS_CODES = {"mse": 0, "cross_entropy": 1}


def _prefetch_codegen(locality: int):
    """Code for ``llvm.prefetch`` of the cache line holding ``array[row, column]``: a read into
    the data cache with ``locality`` 3 (all levels, L1 too) or 2 (L2 and beyond)."""

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
            prefetch,
            [builder.bitcast(pointer, byte_pointer), int32(0), int32(locality), int32(1)],
        )
        return context.get_dummy_value()

    return codegen


@intrinsic
def _prefetch_item(typingctx, array, row, column):
    """Ask the CPU to fetch the cache line holding ``array[row, column]`` into L1 (and every
    level below). A hint only: it never faults and never changes a result."""
    return types.void(array, row, column), _prefetch_codegen(3)


@intrinsic
def _prefetch_item_l2(typingctx, array, row, column):
    """Like :func:`_prefetch_item`, into L2: far-ahead hints that do not crowd L1."""
    return types.void(array, row, column), _prefetch_codegen(2)


def _lane_dot_codegen(context, builder, signature, args):
    """A loop over ``j`` in steps of :data:`LANES` keeping ``LANES`` partial sums in one LLVM
    vector, then the vector halved until one lane is left (see :func:`_lane_dot`)."""
    a_type, b_type, count_type = signature.args
    a_pointer = context.make_array(a_type)(context, builder, args[0]).data
    b_pointer = context.make_array(b_type)(context, builder, args[1]).data
    count = context.cast(builder, args[2], count_type, types.intp)
    vector = ir.VectorType(ir.DoubleType(), LANES)
    entry = builder.block
    head = builder.append_basic_block("lanes.head")
    body = builder.append_basic_block("lanes.body")
    done = builder.append_basic_block("lanes.done")
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(count.type)
    index.add_incoming(ir.Constant(count.type, 0), entry)
    partial = builder.phi(vector)
    partial.add_incoming(ir.Constant(vector, [0.0] * LANES), entry)
    builder.cbranch(builder.icmp_signed("<", index, count), body, done)
    builder.position_at_end(body)

    def load(pointer):
        address = builder.bitcast(builder.gep(pointer, [index]), vector.as_pointer())
        return builder.load(address, align=8)

    partial.add_incoming(builder.fadd(partial, builder.fmul(load(a_pointer), load(b_pointer))), body)
    index.add_incoming(builder.add(index, ir.Constant(count.type, LANES)), body)
    builder.branch(head)
    builder.position_at_end(done)
    value, width = partial, LANES
    while width > 1:
        width //= 2
        halves = [
            builder.shuffle_vector(
                value, value, ir.Constant(ir.VectorType(ir.IntType(32), width), list(positions))
            )
            for positions in (range(width), range(width, 2 * width))
        ]
        value = builder.fadd(halves[0], halves[1])
    return builder.extract_element(value, ir.Constant(ir.IntType(32), 0))


@intrinsic
def _lane_dot(typingctx, a, b, count):
    """``Σ a[j]·b[j]`` over ``j < count`` (``count`` a multiple of :data:`LANES`) in a fixed
    order: lane ``l`` sums the products with ``j ≡ l (mod LANES)`` left to right, then the lanes
    are added in halves until one is left: ``s_l ← s_l + s_{l+8}``, then ``s_l + s_{l+4}``,
    ``s_l + s_{l+2}``, ``s_0 + s_1``.

    Sixteen independent chains of additions instead of one, so the CPU's vector units run them
    side by side (measured: 8 lanes leave the full-batch pass ~10% slower). Written as LLVM
    ``<16 x double>`` multiplies and adds (separate, never fused), which every target computes
    lane by lane with the same rounding, whatever its vector width: the bits do not depend on
    the CPU. ``a`` and ``b``: C-contiguous float64 vectors of at least ``count`` entries."""
    vectors = (a, b)
    if not all(
        isinstance(v, types.Array) and v.ndim == 1 and v.layout == "C" and v.dtype == types.float64
        for v in vectors
    ):
        return None
    return types.float64(a, b, count), _lane_dot_codegen


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


@compiled()
def _prefetch_rows(data, batch, start, stop):
    """Prefetch (into L2) every cache line of the rows at batch positions ``start..stop − 1``."""
    width = data.shape[1]
    for k in range(start, min(stop, batch.shape[0])):
        row = batch[k]
        for column in range(0, width, 8):  # 8 float64 = one 64-byte line
            _prefetch_item_l2(data, row, column)
        _prefetch_item_l2(data, row, width - 1)  # rows are not line-aligned: the tail line


@compiled(inline="always")
def _affine(w, row, d):  # pragma: no cover - compiled
    """``w[:d]·row[:d] + w[d]``: the linear models' score of one sample (bias last). The bias
    first, then the lane sum of the first ``d − d mod LANES`` products, then the rest left to
    right (so with fewer than 16 features it is the plain left-to-right sum)."""
    full = d - d % LANES
    z = w[d]
    if full:
        z += _lane_dot(w, row, full)
    for j in range(full, d):
        z += w[j] * row[j]
    return z


@compiled(inline="always")
def _add_affine_gradient(g, row, d, delta):  # pragma: no cover - compiled
    """``g += delta·[row[:d], 1]``: the gradient of ``delta·z`` for an affine score z."""
    for j in range(d):
        g[j] += delta * row[j]
    g[d] += delta


@compiled(inline="always")
def _add_affine_gradients(g, r0, r1, r2, r3, d, e0, e1, e2, e3):  # pragma: no cover - compiled
    """Four :func:`_add_affine_gradient` calls in one sweep over ``g``: the same additions in
    the same order, with one load and one store of each ``g[j]`` instead of four."""
    for j in range(d):
        g[j] = (((g[j] + e0 * r0[j]) + e1 * r1[j]) + e2 * r2[j]) + e3 * r3[j]
    g[d] = (((g[d] + e0) + e1) + e2) + e3


SQUARED_ERROR, LOGISTIC_BCE, LOGISTIC_SQUARED_ERROR = range(3)
"""The losses of :func:`_affine_pass` (an affine score z, then a loss of z and the target)."""


@compiled(inline="always")
def _affine_loss(z, target, loss):  # pragma: no cover - compiled
    """``(ℓ, ∂ℓ/∂z)`` of one sample (``∂ℓ/∂z`` without the constant factor the caller applies
    once, 2 for the squared error of the linear model)."""
    if loss == SQUARED_ERROR:
        error = z - target
        return error * error, error
    # σ(z) = 1/(1 + e^−z) for z ≥ 0, e^z/(1 + e^z) otherwise: one exponential, e^−|z|, serves
    # both branches and the log1p of the cross-entropy
    tail = math.exp(-abs(z))
    probability = 1.0 / (1.0 + tail) if z >= 0.0 else tail / (1.0 + tail)
    if loss == LOGISTIC_SQUARED_ERROR:
        error = probability - target
        return error * error, 2.0 * error * probability * (1.0 - probability)
    return max(z, 0.0) - z * target + math.log1p(tail), probability - target


@compiled()
def _affine_pass(x, data, batch, loss_out, grad_out, loss):
    """Sums over ``batch`` of ``ℓ`` and ``∂ℓ/∂z·[x, 1]`` for the affine score ``z = x·w + b``
    (params ``[w_1..w_d, b]``), rows four at a time (module docstring)."""
    runs, n_params = x.shape
    d = n_params - 1
    size = batch.shape[0]
    prefetch = size < data.shape[0]  # a sample of rows at random (a whole pass streams in order)
    if prefetch:
        _prefetch_rows(data, batch, 0, PREFETCH_ROWS)
    _zero(loss_out, grad_out)
    blocked = size - size % ROW_BLOCK
    for k in range(0, blocked, ROW_BLOCK):
        if prefetch:
            _prefetch_rows(data, batch, k + PREFETCH_ROWS, k + PREFETCH_ROWS + ROW_BLOCK)
        r0 = data[batch[k]]
        r1 = data[batch[k + 1]]
        r2 = data[batch[k + 2]]
        r3 = data[batch[k + 3]]
        for r in range(runs):
            w = x[r]
            l0, e0 = _affine_loss(_affine(w, r0, d), r0[d], loss)
            l1, e1 = _affine_loss(_affine(w, r1, d), r1[d], loss)
            l2, e2 = _affine_loss(_affine(w, r2, d), r2[d], loss)
            l3, e3 = _affine_loss(_affine(w, r3, d), r3[d], loss)
            loss_out[r] = (((loss_out[r] + l0) + l1) + l2) + l3
            _add_affine_gradients(grad_out[r], r0, r1, r2, r3, d, e0, e1, e2, e3)
    for k in range(blocked, size):
        row = data[batch[k]]
        for r in range(runs):
            term, delta = _affine_loss(_affine(x[r], row, d), row[d], loss)
            loss_out[r] += term
            _add_affine_gradient(grad_out[r], row, d, delta)


@compiled(OBJECTIVE_SIGNATURE)
def linear_regression_kernel(x, consts, data, batch, loss_out, grad_out):
    """Mean squared error of ``ŷ = X·w + b`` (torch ``MSELoss``, no ½):
    ``L = 1/B Σ (ŷ − y)²``, ``∇L = 2/B Σ (ŷ − y)·[x, 1]``; params ``[w_1..w_d, b]``."""
    _affine_pass(x, data, batch, loss_out, grad_out, SQUARED_ERROR)
    _average(loss_out, grad_out, batch.shape[0], 2.0)


@compiled(OBJECTIVE_SIGNATURE)
def logistic_regression_kernel(x, consts, data, batch, loss_out, grad_out):
    """Logistic regression, ``z = X·w + b``, params ``[w_1..w_d, b]``.

    loss 0 (torch ``BCEWithLogitsLoss``): ``ℓ = max(z, 0) − z·y + log1p(e^−|z|)``,
    ``∂ℓ/∂z = σ(z) − y``. loss 1 (one sigmoid neuron, squared error):
    ``ℓ = (σ(z) − y)²``, ``∂ℓ/∂z = 2(σ(z) − y)·σ(z)(1 − σ(z))``. ``L`` = mean of ℓ over the batch.
    """
    squared_error = consts[0] == 1.0
    loss = LOGISTIC_SQUARED_ERROR if squared_error else LOGISTIC_BCE
    _affine_pass(x, data, batch, loss_out, grad_out, loss)
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
    "LANES",
    "LOGISTIC_LOSS_CODES",
    "MLP_ACTIVATION_CODES",
    "MLP_LOSS_CODES",
    "PREFETCH_DISTANCE",
    "PREFETCH_ROWS",
    "ROW_BLOCK",
    "linear_regression_kernel",
    "logistic_regression_kernel",
    "mlp_kernel",
    "softmax_regression_kernel",
]
