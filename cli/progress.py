"""A dependency-free progress bar for terminals (stderr), used as the run loop's callback."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def interruptible(callback: Callable[[Any], bool]) -> Iterator[Callable[[Any], bool]]:
    """``callback`` for the run loop, made to stop the run at the next slice on Ctrl-C, which
    then raises ``KeyboardInterrupt`` when the run has returned. An exception thrown into
    the middle of the compiled loop's machinery could come out as some other error (numba
    turns it into a TypeError at times); a stop asked for by the callback always ends the
    run cleanly. A second Ctrl-C (say during the first run's compilation) interrupts at once.
    """
    stop = threading.Event()

    def on_interrupt(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield lambda progress: bool(callback(progress)) and not stop.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        raise KeyboardInterrupt
