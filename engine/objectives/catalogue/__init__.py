"""The catalogue of analytic test functions (SPEC.md §3.1): exact value, gradient and Hessian,
bounds, standard start and known stationary points. Formulas follow the Virtual Library of
Simulation Experiments (Surjanovic & Bingham, https://www.sfu.ca/~ssurjano/optimization.html).
"""

from engine.objectives.catalogue.model import MAX_DIMS, CatalogueFunction, FunctionParam
from engine.objectives.catalogue.registry import (
    CATALOGUE,
    build_catalogue_objective,
    describe_function,
    get_function,
    list_functions,
)

__all__ = [
    "CATALOGUE",
    "MAX_DIMS",
    "CatalogueFunction",
    "FunctionParam",
    "build_catalogue_objective",
    "describe_function",
    "get_function",
    "list_functions",
]
