"""descent's engine: objectives, torch-exact optimizers and schedules, batching, the run loop.

Pure NumPy + numba; never imports the service (api/, worker/) or web/queue libraries.
"""

from engine.build import Limits, PreparedRun, parse_spec, resolve_spec
from engine.errors import EngineError, ExpressionError, SpecError, SpecErrors
from engine.jsonio import dumps, loads
from engine.objectives.catalogue import describe_function, list_functions
from engine.optimizers.registry import describe_optimizers
from engine.result import RunResult, shrink_trajectory
from engine.run import Progress, group_key, run_group, run_spec
from engine.spec import JobSpec

__all__ = [
    "EngineError", "ExpressionError", "JobSpec", "Limits", "PreparedRun", "Progress",
    "RunResult", "SpecError", "SpecErrors", "describe_function", "describe_optimizers", "dumps",
    "group_key", "list_functions", "loads", "parse_spec", "resolve_spec", "run_group", "run_spec",
    "shrink_trajectory",
]
