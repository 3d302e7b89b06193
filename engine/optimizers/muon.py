"""Muon (torch.optim.Muon, torch 2.13) on a model's weight matrices, AdamW on its other tensors.

torch's documentation advises Muon for the 2-D weights of hidden layers and a standard method
such as AdamW for the rest (biases), two optimizers stepped together; ``muon_update`` is both
in one kernel, per tensor of the layout (``engine.optimizers.layout``): a matrix takes
``torch.optim._muon._single_tensor_muon``'s step, a vector ``torch.optim.AdamW``'s
(``_single_tensor_adamw``, amsgrad off) with the ``adamw_*`` hyperparameters.

Orientation: the layout stores W as inputs × outputs (features × classes), the transpose of
``nn.Linear.weight``. Muon is not symmetric in its matrix (the learning-rate adjustment reads
the shape (A, B) = (outputs, inputs), and a square matrix is orthogonalised as X Xᵀ, not
Xᵀ X), so the kernel steps the matrix torch would hold, Wᵀ, and writes the result back into W.

torch runs the Newton–Schulz iteration in bfloat16 on the CPU; the kernel reproduces that
arithmetic to the bit, as torch 2.13's own CPU kernels do it (checked against torch on random
matrices): the float64 update rounded to float32 then to bfloat16; the Frobenius norm as a
float32 sum of squares in order; ``X @ Xᵀ`` as float32 sums in order; ``addmm`` as float32
dot products in four interleaved partial sums (``cpublas``'s ``sum``) combined as
``fma(beta, C, alpha * dot)``; every result rounded to bfloat16 (round half to even). Checked
on random matrices up to 32 × 16 (1 of 1,300 differed); torch computes larger products with
other kernels (oneDNN), whose summation order is not reproduced: there an entry of an update can
differ in its last bfloat16 bit (at 64 × 32, a quarter of the updates have such an entry).
The coefficients (a, b, c) are torch's defaults (3.4445, -4.7750, 2.0315).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from engine.kernels import OPTIMIZER_SIGNATURE, compiled
from engine.optimizers.base import Layout, hyper_columns
from engine.optimizers.kernels import _decay_and_moments, _lerp
from engine.optimizers.layout import layout_slots

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # torch.optim._muon DEFAULT_A, DEFAULT_B, DEFAULT_C

MUON = hyper_columns(
    "momentum", "nesterov", "weight_decay", "eps", "ns_steps", "adjust_lr_fn",
    "adamw_lr", "adamw_beta1", "adamw_beta2", "adamw_eps", "adamw_weight_decay",
)
MATCH_RMS_ADAMW = 2.0  # adjust_lr_fn's column: 1 original, 2 match_rms_adamw

# state slots
BUFFER, EXP_AVG_SQ, ORTHO, ORTHO_NEXT, GRAM, GRAM_UPDATE, BASE_LR, ENDS, COLUMNS = range(9)
STATE_SLOTS = 9


def init_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
               learning_rate: np.ndarray | None = None) -> np.ndarray:
    """Zeros (Muon's momentum buffer and AdamW's exp_avg share slot 0: tensors are apart),
    scratch for the iteration, each run's base learning rate (slot 6, column 0: a set adamw_lr
    follows a schedule in proportion; a base of 0, or none given, leaves adamw_lr as set) and
    the layout."""
    state = np.zeros((STATE_SLOTS, n_runs, dims))
    if learning_rate is not None:
        state[BASE_LR, :, 0] = learning_rate
    state[ENDS], state[COLUMNS] = layout_slots(layout, n_runs, dims)
    return state


@compiled(inline="always")
def _f32(x):
    """Round to float32 (a float32 sum, product or quotient of float32 values computed in
    float64 and rounded once is the float32 result: double rounding is innocuous there)."""
    return float(np.float32(x))


@intrinsic
def _float32_bits(typingctx, value):
    """The bits of ``value`` rounded to float32, as a non-negative int64."""
    if not isinstance(value, types.Float):
        return None

    def codegen(context, builder, signature, args):
        single = builder.fptrunc(args[0], ir.FloatType()) if value.bitwidth == 64 else args[0]
        return builder.zext(builder.bitcast(single, ir.IntType(32)), ir.IntType(64))

    return types.int64(value), codegen


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose bits are the low 32 of ``bits``, as a float64."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        word = builder.trunc(args[0], ir.IntType(32))
        return builder.fpext(builder.bitcast(word, ir.FloatType()), ir.DoubleType())

    return types.float64(bits), codegen


@compiled(inline="always")
def _bf16(x):
    """Round to float32, then to bfloat16 (to nearest, ties to even), as c10::BFloat16 converts
    a float: add 0x7FFF plus the lowest kept bit, cut the low 16 bits (a carry out of the
    largest finite values gives infinity)."""
    if math.isnan(x):
        return x
    bits = _float32_bits(x)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return _float32_from_bits(bits)


@compiled(inline="always")
def _newton_schulz(state, r, start, n, m, ns_steps, eps):
    """torch's ``_zeropower_via_newtonschulz`` on the wide matrix X (n × m, n <= m, row-major,
    already bfloat16) in ``state[ORTHO, r, start:]``; the result is left there."""
    a = _f32(NS_COEFFICIENTS[0])
    b = _f32(NS_COEFFICIENTS[1])
    c = _f32(NS_COEFFICIENTS[2])
    ortho = state[ORTHO, r]
    ortho_next = state[ORTHO_NEXT, r]
    gram = state[GRAM, r]
    gram_update = state[GRAM_UPDATE, r]
    squares = 0.0
    for i in range(start, start + n * m):
        squares = _f32(squares + ortho[i] * ortho[i])
    norm = max(_bf16(_f32(math.sqrt(squares))), _bf16(_f32(eps)))
    for i in range(start, start + n * m):
        ortho[i] = _bf16(_f32(ortho[i] / norm))
    for _ in range(ns_steps):
        for i in range(n):  # gram = X Xᵀ
            for k in range(n):
                total = 0.0
                for j in range(m):
                    total = _f32(total + ortho[start + i * m + j] * ortho[start + k * m + j])
                gram[start + i * n + k] = _bf16(total)
        for i in range(n):  # gram_update = addmm(gram, gram, gram, beta=b, alpha=c)
            for k in range(n):
                dot = _interleaved_dot(gram, start + i * n, 1, gram, start + k, n, n)
                gram_update[start + i * n + k] = _bf16(_f32(
                    b * gram[start + i * n + k] + _f32(c * dot)))
        for i in range(n):  # X = addmm(X, gram_update, X, beta=a)
            for j in range(m):
                dot = _interleaved_dot(gram_update, start + i * n, 1, ortho, start + j, m, n)
                ortho_next[start + i * m + j] = _bf16(_f32(a * ortho[start + i * m + j] + dot))
        for i in range(start, start + n * m):
            ortho[i] = ortho_next[i]


@compiled(inline="always")
def _interleaved_dot(left, left_start, left_stride, right, right_start, right_stride, length):
    """ATen's ``cpublas`` ``sum``: a float32 dot product in four partial sums (element l goes
    to partial l % 4 while four remain, the rest to the first), added up in order."""
    p0 = p1 = p2 = p3 = 0.0
    index = 0
    while index + 4 <= length:
        p0 = _f32(p0 + left[left_start + index * left_stride]
                  * right[right_start + index * right_stride])
        p1 = _f32(p1 + left[left_start + (index + 1) * left_stride]
                  * right[right_start + (index + 1) * right_stride])
        p2 = _f32(p2 + left[left_start + (index + 2) * left_stride]
                  * right[right_start + (index + 2) * right_stride])
        p3 = _f32(p3 + left[left_start + (index + 3) * left_stride]
                  * right[right_start + (index + 3) * right_stride])
        index += 4
    while index < length:
        p0 = _f32(p0 + left[left_start + index * left_stride]
                  * right[right_start + index * right_stride])
        index += 1
    return _f32(_f32(_f32(p0 + p1) + p2) + p3)


@compiled(inline="always")
def _muon_matrix(params, grads, state, hyper, r, start, rows, cols, lr_r):
    """One Muon step on the matrix W (rows × cols) at ``start``: torch's weight is Wᵀ."""
    momentum = hyper[r, MUON.momentum]
    nesterov = hyper[r, MUON.nesterov] != 0.0
    weight_decay = hyper[r, MUON.weight_decay]
    eps = hyper[r, MUON.eps]
    ns_steps = int(hyper[r, MUON.ns_steps])
    # the wide matrix torch orthogonalises: Wᵀ (outputs × inputs), or its transpose W when
    # torch's weight is tall (more outputs than inputs)
    wide_is_w = cols > rows
    n = rows if wide_is_w else cols
    m = cols if wide_is_w else rows
    weight = 1.0 - momentum
    for i in range(rows):
        for j in range(cols):
            k = start + i * cols + j
            g = grads[r, k]
            buffer = _lerp(state[BUFFER, r, k], g, weight)
            state[BUFFER, r, k] = buffer
            update = _lerp(g, buffer, momentum) if nesterov else buffer
            at = start + (i * cols + j if wide_is_w else j * rows + i)
            state[ORTHO, r, at] = _bf16(_f32(update))
    _newton_schulz(state, r, start, n, m, ns_steps, eps)
    outputs = float(cols)  # torch's param_shape[:2] = (A, B) = (outputs, inputs)
    inputs = float(rows)
    if hyper[r, MUON.adjust_lr_fn] == MATCH_RMS_ADAMW:
        ratio = 0.2 * math.sqrt(max(outputs, inputs))
    else:
        ratio = math.sqrt(max(1.0, outputs / inputs))
    neg_adjusted_lr = -(lr_r * ratio)
    shrink = 1.0 - lr_r * weight_decay
    for i in range(rows):
        for j in range(cols):
            k = start + i * cols + j
            at = start + (i * cols + j if wide_is_w else j * rows + i)
            params[r, k] = params[r, k] * shrink + neg_adjusted_lr * state[ORTHO, r, at]


@compiled(inline="always")
def _adamw_vector(params, grads, state, hyper, r, start, end, lr_r, t):
    """torch.optim.AdamW's step (amsgrad off) on the vector at start..end."""
    beta1 = hyper[r, MUON.adamw_beta1]
    beta2 = hyper[r, MUON.adamw_beta2]
    eps = hyper[r, MUON.adamw_eps]
    weight_decay = hyper[r, MUON.adamw_weight_decay]
    bias_correction1 = 1.0 - beta1**t
    bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
    neg_step_size = -(lr_r / bias_correction1)
    for k in range(start, end):
        _, p, m, v = _decay_and_moments(grads[r, k], params[r, k], state[BUFFER, r, k],
                                        state[EXP_AVG_SQ, r, k], weight_decay, True, lr_r,
                                        1.0 - beta1, beta2, 1.0 - beta2)
        state[BUFFER, r, k] = m
        state[EXP_AVG_SQ, r, k] = v
        params[r, k] = p + neg_step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)


@compiled(OPTIMIZER_SIGNATURE)
def muon_update(params, grads, state, hyper, step, lr):
    """Muon on the layout's matrices, AdamW on its vectors. hyper: momentum, nesterov,
    weight_decay, eps, ns_steps, adjust_lr_fn (1 original, 2 match_rms_adamw), adamw_lr (nan:
    the step's lr), adamw_betas (2), adamw_eps, adamw_weight_decay.

    Matrix (torch's weight P = Wᵀ, shape A × B): buf = lerp(buf, g, 1 − momentum);
    u = lerp(g, buf, momentum) (nesterov) or buf;  O = NS(u) in bfloat16 (the module
    docstring);  P = P · (1 − lr · wd) − lr · s · O with s = sqrt(max(1, A/B)) (original) or
    0.2 · sqrt(max(A, B)) (match_rms_adamw).  Vector: AdamW with lr · adamw_lr / learning_rate
    (adamw_lr null: lr).  state: see ``init_state``."""
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        lr_r = lr[r]
        adamw_lr_r = lr_r
        if not math.isnan(hyper[r, MUON.adamw_lr]):
            base_lr = state[BASE_LR, r, 0]
            adamw_lr_r = hyper[r, MUON.adamw_lr] * (lr_r / base_lr if base_lr != 0.0 else 1.0)
        start = 0
        while start < dims:
            end = int(state[ENDS, r, start])
            cols = int(state[COLUMNS, r, start])
            if cols > 0:
                _muon_matrix(params, grads, state, hyper, r, start, (end - start) // cols, cols,
                             lr_r)
            else:
                _adamw_vector(params, grads, state, hyper, r, start, end, adamw_lr_r, t)
            start = end
