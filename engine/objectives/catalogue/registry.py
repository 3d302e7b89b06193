"""The catalogue: every analytic test function by name, built into an ``Objective`` for the
run loop and described as JSON for ``GET /v1/functions``."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from engine.errors import SpecError
from engine.objectives.base import Objective, StationaryPoint
from engine.objectives.catalogue.model import (
    MAX_DIMS,
    CatalogueFunction,
    Params,
    parameter_names,
)
from engine.objectives.catalogue.n_dimensional_entries import N_DIMENSIONAL_FUNCTIONS
from engine.objectives.catalogue.stationary import kernel_evaluator, resolve_points
from engine.objectives.catalogue.two_dimensional_entries import TWO_DIMENSIONAL_FUNCTIONS

CATALOGUE: dict[str, CatalogueFunction] = {
    entry.name: entry for entry in N_DIMENSIONAL_FUNCTIONS + TWO_DIMENSIONAL_FUNCTIONS
}


def get_function(name: str) -> CatalogueFunction:
    """The catalogue entry called ``name``, or a SpecError on ``function`` listing the names."""
    entry = CATALOGUE.get(name) if isinstance(name, str) else None
    if entry is None:
        raise SpecError("function", f"unknown function {name!r}; known: {', '.join(CATALOGUE)}")
    return entry


def bind_consts(
    hessian: Callable[[np.ndarray, np.ndarray], np.ndarray], consts: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """``x (R, d) -> (R, d, d)``: the Hessian with this objective's constants bound."""

    def bound(x: np.ndarray) -> np.ndarray:
        return hessian(x, consts)

    return bound


def _freeze(params: Params) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


@lru_cache(maxsize=256)
def _stationary_points(
    name: str, dims: int, frozen_params: tuple[tuple[str, Any], ...]
) -> tuple[StationaryPoint, ...]:
    """Refined, classified stationary points; cached because refining costs a few Newton
    solves (and a numerical minimisation for Rosenbrock n-D with a ∉ {0, 1})."""
    entry = CATALOGUE[name]
    params = dict(frozen_params)
    consts = np.ascontiguousarray(entry.make_consts(dims, params), dtype=np.float64)
    return resolve_points(
        kernel_evaluator(entry.kernel, consts),
        bind_consts(entry.hessian, consts),
        entry.known_points(dims, params),
    )


def build_catalogue_objective(name: str, params: dict | None = None) -> Objective:
    """The catalogue function ``name`` with the spec's ``function_params`` (``dims`` among
    them for n-D functions), ready for the run loop.

    Raises SpecError on ``function`` for an unknown name and on ``function_params.<name>``
    for an unknown parameter or a bad value.
    """
    entry = get_function(name)
    dims, resolved = entry.resolve_params(params)
    consts = np.ascontiguousarray(entry.make_consts(dims, resolved), dtype=np.float64)
    return Objective(
        name=entry.name,
        dims=dims,
        kernel=entry.kernel,
        consts=consts,
        hessian=bind_consts(entry.hessian, consts),
        bounds=entry.bounds(dims, resolved),
        start=entry.start(dims, resolved),
        stationary_points=_stationary_points(entry.name, dims, _freeze(resolved)),
        parameter_names=parameter_names(dims, entry.n_dimensional),
    )


def describe_function(name: str, params: dict | None = None) -> dict:
    """JSON-ready metadata for ``GET /v1/functions/{name}``: formula, dims, parameters with
    defaults, bounds, standard start and the stationary points for these ``params``."""
    entry = get_function(name)
    dims, resolved = entry.resolve_params(params)
    listed_params = [p.to_dict() for p in entry.params]
    if entry.n_dimensional:
        dims_param = {
            "name": "dims",
            "default": entry.default_dims,
            "type": "int",
            "description": "number of dimensions",
            "minimum": entry.min_dims,
            "maximum": MAX_DIMS,
        }
        listed_params.insert(0, dims_param)
    return {
        "kind": "function",
        "name": entry.name,
        "description": entry.description,
        "formula": entry.formula,
        "dims": dims,
        "n_dimensional": entry.n_dimensional,
        "min_dims": entry.min_dims if entry.n_dimensional else dims,
        "params": listed_params,
        "param_values": resolved | ({"dims": dims} if entry.n_dimensional else {}),
        "parameter_names": list(parameter_names(dims, entry.n_dimensional)),
        "bounds": [list(pair) for pair in entry.bounds(dims, resolved)],
        "start": list(entry.start(dims, resolved)),
        "stationary_points": [
            point.to_dict() for point in _stationary_points(entry.name, dims, _freeze(resolved))
        ],
        "notes": entry.notes,
        "source": entry.source,
    }


def list_functions() -> list[dict]:
    """Short entries for ``GET /v1/functions``, in catalogue order (the dataset models follow
    them there: ``engine.objectives.datasets.list_models``)."""
    return [
        {
            "name": entry.name,
            "kind": "function",
            "description": entry.description,
            "formula": entry.formula,
            "dims": entry.default_dims,
            "n_dimensional": entry.n_dimensional,
            "params": [p.name for p in entry.params],
        }
        for entry in CATALOGUE.values()
    ]
