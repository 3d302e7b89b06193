"""``plateau`` (torch ReduceLROnPlateau): its lr depends on the losses, so it cannot be
tabulated; the run loop keeps its state and calls ``plateau_step`` after every update."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types

from engine.kernels import compiled

PLATEAU_SETTINGS = ("mode_is_max", "factor", "patience", "threshold", "threshold_is_rel",
                    "cooldown", "min_lr", "eps")


def plateau_settings(config: dict[str, Any]) -> np.ndarray:
    """The resolved plateau config as the float vector ``plateau_step`` reads, in the order of
    ``PLATEAU_SETTINGS`` (mode and threshold_mode as 0/1)."""
    return np.array([
        1.0 if config["mode"] == "max" else 0.0,
        config["factor"],
        config["patience"],
        config["threshold"],
        1.0 if config["threshold_mode"] == "rel" else 0.0,
        config["cooldown"],
        config["min_lr"],
        config["eps"],
    ], dtype=np.float64)


def plateau_initial_state(settings: np.ndarray, n_runs: int) -> np.ndarray:
    """Per-run state ``(R, 3)``: best metric (+inf for min, -inf for max), bad-step count,
    cooldown counter — ReduceLROnPlateau._reset."""
    state = np.zeros((n_runs, 3))
    state[:, 0] = -np.inf if settings[0] != 0.0 else np.inf
    return state


_PLATEAU_SIGNATURE = types.void(types.float64[::1], types.float64[::1], types.float64[:, ::1],
                                types.float64[::1])


@compiled(_PLATEAU_SIGNATURE)
def plateau_step(lr, metric, state, settings):
    """One ``ReduceLROnPlateau.step(metric)`` per run, in place on ``lr`` and ``state``.

    Better means ``a < best * (1 - threshold)`` (min, rel), ``a < best - threshold`` (min, abs),
    ``a > best * (1 + threshold)`` (max, rel), ``a > best + threshold`` (max, abs). After more
    than ``patience`` steps that are not better, lr = max(lr * factor, min_lr) (skipped if the
    change is <= eps) and ``cooldown`` steps follow in which bad steps are not counted.
    """
    mode_max = settings[0] != 0.0
    factor = settings[1]
    patience = settings[2]
    threshold = settings[3]
    threshold_abs = settings[4] == 0.0
    cooldown = settings[5]
    min_lr = settings[6]
    eps = settings[7]
    for r in range(lr.shape[0]):
        current = metric[r]
        best = state[r, 0]
        if not mode_max and not threshold_abs:
            better = current < best * (1.0 - threshold)
        elif not mode_max:
            better = current < best - threshold
        elif not threshold_abs:
            better = current > best * (threshold + 1.0)
        else:
            better = current > best + threshold
        if better:
            state[r, 0] = current
            state[r, 1] = 0.0
        else:
            state[r, 1] += 1.0
        if state[r, 2] > 0.0:
            state[r, 2] -= 1.0
            state[r, 1] = 0.0
        if state[r, 1] > patience:
            old_lr = lr[r]
            new_lr = max(old_lr * factor, min_lr)
            if old_lr - new_lr > eps:
                lr[r] = new_lr
            state[r, 2] = cooldown
            state[r, 1] = 0.0
