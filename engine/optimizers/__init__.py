"""Optimizers: torch.optim's families as compiled in-place update kernels plus a registry."""

from engine.optimizers.base import Hyperparameter, OptimizerDef
from engine.optimizers.registry import (
    ALIASES,
    OPTIMIZERS,
    describe_optimizers,
    hyper_labels,
    hyper_row,
    resolve_optimizer,
)

__all__ = [
    "ALIASES",
    "OPTIMIZERS",
    "Hyperparameter",
    "OptimizerDef",
    "describe_optimizers",
    "hyper_labels",
    "hyper_row",
    "resolve_optimizer",
]
