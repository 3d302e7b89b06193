"""Running ``descent`` as a user does: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def descent(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``descent ARGS`` in a fresh process (``python -m cli``: the installed script's code)."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=environment, input=stdin, timeout=timeout,
                          check=False)


def assert_one_line_error(done: subprocess.CompletedProcess[str], exit_code: int,
                          *words: str) -> str:
    """The command failed with ``exit_code`` and said so in one line on stderr, naming each of
    ``words``, with no traceback anywhere; returns that line."""
    assert done.returncode == exit_code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert lines[0].startswith("descent"), lines[0]
    return lines[0]


def interrupted_on_a_terminal(args: list[str], ready: Callable[[bytes], bool],
                              cwd: Path | str = ROOT) -> tuple[int, bytes, str]:
    """``descent ARGS`` with stderr on a terminal (a pty), sent SIGINT (Ctrl-C) once its
    stderr so far is ``ready``; returns its exit code, what it showed before the signal and
    all it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=cwd,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    try:
        while not ready(seen):
            chunk = os.read(leader, 1024)
            assert chunk, seen
            seen += chunk
        before = seen
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
        try:
            while chunk := os.read(leader, 1024):
                seen += chunk
        except OSError:  # the terminal closes with the process
            pass
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, before, seen.decode()
