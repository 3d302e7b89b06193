"""descent for Python (docs/spec.md §12): run a spec here, or use the service.

>>> import descent
>>> result = descent.run({"function": "rosenbrock", "optimizer": "adam",
...                       "learning_rate": 0.05, "max_steps": 500})
>>> result.stop_reason, result.trajectory.params.shape
('max_steps', (501, 2))

``descent.Client(url)`` / ``descent.AsyncClient(url)`` submit jobs and sweeps to a server and
fetch their results the same way (``descent.client``).
"""

from __future__ import annotations

from typing import Any

from descent.client import (
    AsyncClient,
    AsyncJob,
    AsyncSweep,
    Client,
    Dataset,
    Job,
    Sweep,
    WaitTimeout,
)
from descent.errors import (
    Conflict,
    DescentError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    SpecError,
    Unauthorized,
)
from descent.results import Result, Trajectory, result_from_document

__all__ = [
    "AsyncClient", "AsyncJob", "AsyncSweep", "Client", "Conflict", "Dataset", "DescentError",
    "Job", "NotFound", "RateLimited", "Result", "ServiceUnavailable", "SpecError", "Sweep",
    "Trajectory", "Unauthorized", "WaitTimeout", "run",
]


def run(spec: dict[str, Any]) -> Result:
    """Run one spec (docs/spec.md §2) here, with no server; ``SpecError`` lists every bad
    field, as the service's 422 does."""
    import engine

    try:
        outcome = engine.run_spec(spec)
    except engine.SpecErrors as errors:
        detail = errors.to_detail(prefix=("body",))
        raise SpecError(f"422: {errors}", detail=detail) from None
    return result_from_document(outcome.to_document())
