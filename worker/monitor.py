"""The run loop's callback for a worker: progress, cancellation and the run-time budget.

``run_group`` calls it between slices of about 0.1 s. It writes progress at most every
``interval_s`` (``report`` gets ``None`` in between, and still reads the cancellation flag),
stops a cancelled run and stops a run over its budget, which then keeps its partial trajectory.
"""

from __future__ import annotations

import time
from typing import Any


class RunMonitor:
    def __init__(self, budget_s: float, interval_s: float) -> None:
        self.budget_s, self.interval_s = budget_s, interval_s
        self.started = self.last_write = time.monotonic()
        self.over_budget = False

    def report(self, progress: Any | None) -> bool:
        """Write ``progress`` (when given) and return whether the work was cancelled."""
        raise NotImplementedError

    def __call__(self, progress: Any) -> bool:
        now = time.monotonic()
        due = now - self.last_write >= self.interval_s
        if due:
            self.last_write = now
        if self.report(progress if due else None):
            return False
        if now - self.started > self.budget_s:
            self.over_budget = True
            return False
        return True
