"""The schedules that set the lr from their own bounds and cycle the momentum (or beta1)
with it: ``onecycle`` (torch OneCycleLR) and ``cyclic`` (torch CyclicLR). Both are closed
forms of the step, tabulated by compiled loops; the momentum table is one column shared by
the runs, written into the optimizer's momentum (or beta1) before each update.

``onecycle`` past ``total_steps``: torch raises; here the lr (and momentum) hold the last value
torch can report, the one after ``total_steps`` scheduler steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.kernels import compiled

# --------------------------------------------------------------------------- onecycle


@compiled()
def _anneal(start, end, pct, cosine):
    if cosine:
        cos_out = math.cos(math.pi * pct) + 1.0
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


@compiled()
def _onecycle_values(step_num, phase_ends, starts, ends, cosine):
    """OneCycleLR.get_lr for one quantity: ``starts[i]``/``ends[i]`` are phase i's endpoints."""
    start_step = 0.0
    last = phase_ends.shape[0] - 1
    for i in range(phase_ends.shape[0]):
        end_step = phase_ends[i]
        if step_num <= end_step or i == last:
            span = end_step - start_step
            pct = (step_num - start_step) / span if span != 0.0 else 0.0
            return _anneal(starts[i], ends[i], pct, cosine)
        start_step = end_step
    return ends[last]


@compiled()
def _onecycle_table(max_lr, n_steps, total_steps, phase_ends, phase_lr_keys, div_factor,
                    final_div_factor, cosine):
    """OneCycleLR lr column. ``phase_lr_keys`` (P, 2): each phase's start/end lr as
    0 = initial_lr (max_lr / div_factor), 1 = max_lr, 2 = min_lr (initial / final_div)."""
    n_runs = max_lr.shape[0]
    table = np.empty((n_runs, n_steps))
    points = np.empty(3)
    starts = np.empty(phase_ends.shape[0])
    ends = np.empty(phase_ends.shape[0])
    for r in range(n_runs):
        points[0] = max_lr[r] / div_factor
        points[1] = max_lr[r]
        points[2] = points[0] / final_div_factor
        for i in range(phase_ends.shape[0]):
            starts[i] = points[phase_lr_keys[i, 0]]
            ends[i] = points[phase_lr_keys[i, 1]]
        for k in range(n_steps):
            table[r, k] = _onecycle_values(float(min(k, total_steps)), phase_ends, starts, ends,
                                           cosine)
    return table


@compiled()
def _onecycle_momenta(n_steps, total_steps, phase_ends, starts, ends, cosine):
    table = np.empty(n_steps)
    for k in range(n_steps):
        table[k] = _onecycle_values(float(min(k, total_steps)), phase_ends, starts, ends, cosine)
    return table


def _onecycle_phases(config: dict[str, Any], total_steps: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase ends, lr keys and momentum endpoints exactly as OneCycleLR.__init__ builds them."""
    pct_start = config["pct_start"]
    high, low = config["max_momentum"], config["base_momentum"]
    if config["three_phase"]:
        ends = [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2,
                total_steps - 1]
        lr_keys = [(0, 1), (1, 0), (0, 2)]
        momenta = [(high, low), (low, high), (high, high)]
    else:
        ends = [float(pct_start * total_steps) - 1, total_steps - 1]
        lr_keys = [(0, 1), (1, 2)]
        momenta = [(high, low), (low, high)]
    return (np.array(ends, dtype=np.float64), np.array(lr_keys, dtype=np.int64),
            np.array(momenta, dtype=np.float64))


def _total_steps(config: dict[str, Any], n_steps: int, max_steps: int | None) -> int:
    total = config.get("total_steps")
    if total is None:
        total = n_steps if max_steps is None else max_steps
    return int(total)


def onecycle_lr_table(config: dict[str, Any], base: np.ndarray, n_steps: int,
                      max_steps: int | None) -> np.ndarray:
    total = _total_steps(config, n_steps, max_steps)
    max_lr = base if config["max_lr"] is None else np.full_like(base, config["max_lr"])
    phase_ends, lr_keys, _ = _onecycle_phases(config, total)
    return _onecycle_table(max_lr, n_steps, total, phase_ends, lr_keys,
                           float(config["div_factor"]), float(config["final_div_factor"]),
                           config["anneal_strategy"] == "cos")


def onecycle_momentum_table(config: dict[str, Any], n_steps: int,
                            max_steps: int | None) -> np.ndarray:
    total = _total_steps(config, n_steps, max_steps)
    phase_ends, _, momenta = _onecycle_phases(config, total)
    return _onecycle_momenta(n_steps, total, phase_ends, momenta[:, 0].copy(),
                             momenta[:, 1].copy(), config["anneal_strategy"] == "cos")


# --------------------------------------------------------------------------- cyclic

TRIANGULAR, TRIANGULAR2, EXP_RANGE = 0, 1, 2
CYCLIC_MODES = {"triangular": TRIANGULAR, "triangular2": TRIANGULAR2, "exp_range": EXP_RANGE}


@compiled()
def _cyclic_position(epoch, step_size_up, step_size_down, mode, gamma):
    """CyclicLR.get_lr at ``last_epoch = epoch``: the scale factor (0 at a cycle's start, 1 at
    its peak) and the amplitude's scale (``scale_fn`` of the cycle or of the step)."""
    total_size = step_size_up + step_size_down
    step_ratio = step_size_up / total_size
    cycle = math.floor(1 + epoch / total_size)
    x = 1.0 + epoch / total_size - cycle
    if x <= step_ratio:
        scale_factor = x / step_ratio
    else:
        scale_factor = (x - 1) / (step_ratio - 1)
    if mode == TRIANGULAR2:
        scale = 1 / (2.0 ** (cycle - 1))
    elif mode == EXP_RANGE:
        scale = gamma ** float(epoch)
    else:
        scale = 1.0
    return scale_factor, scale


@compiled()
def _cyclic_lr_table(base_lr, max_lr, n_steps, step_size_up, step_size_down, mode, gamma):
    table = np.empty((base_lr.shape[0], n_steps))
    for k in range(n_steps):
        scale_factor, scale = _cyclic_position(k, step_size_up, step_size_down, mode, gamma)
        for r in range(base_lr.shape[0]):
            base_height = (max_lr[r] - base_lr[r]) * scale_factor
            table[r, k] = base_lr[r] + base_height * scale
    return table


@compiled()
def _cyclic_momentum_table(n_steps, step_size_up, step_size_down, mode, gamma, base_momentum,
                           max_momentum):
    table = np.empty(n_steps)
    for k in range(n_steps):
        scale_factor, scale = _cyclic_position(k, step_size_up, step_size_down, mode, gamma)
        base_height = (max_momentum - base_momentum) * scale_factor
        table[k] = max_momentum - base_height * scale
    return table


def _cyclic_sizes(config: dict[str, Any]) -> tuple[float, float]:
    up = float(config["step_size_up"])
    down = up if config["step_size_down"] is None else float(config["step_size_down"])
    return up, down


def cyclic_lr_table(config: dict[str, Any], base: np.ndarray, n_steps: int) -> np.ndarray:
    base_lr = base if config["base_lr"] is None else np.full_like(base, config["base_lr"])
    max_lr = np.full_like(base, config["max_lr"])
    up, down = _cyclic_sizes(config)
    return _cyclic_lr_table(base_lr, max_lr, n_steps, up, down, CYCLIC_MODES[config["mode"]],
                            float(config["gamma"]))


def cyclic_momentum_table(config: dict[str, Any], n_steps: int) -> np.ndarray:
    up, down = _cyclic_sizes(config)
    return _cyclic_momentum_table(n_steps, up, down, CYCLIC_MODES[config["mode"]],
                                  float(config["gamma"]), float(config["base_momentum"]),
                                  float(config["max_momentum"]))
