"""A dependency-free progress bar for terminals (stderr), used as the run loop's callback."""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressBar:
    """Draws ``[#####.....] 48% step 480/1000 loss 1.2e-3`` at most ten times a second."""

    WIDTH = 30

    def __init__(self, enabled: bool = True, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.drawn = False

    def update(self, progress: Any) -> bool:
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.1:
            self.last = now
            filled = int(self.WIDTH * progress.fraction)
            loss = "" if progress.loss is None else f" loss {progress.loss:.4g}"
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress.fraction:4.0%}"
                f" step {progress.step}/{progress.total_steps}{loss}   "
            )
            self.stream.flush()
            self.drawn = True
        return True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
