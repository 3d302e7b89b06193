"""What every ``descent`` command does with a problem the user can fix: one line on stderr that
says what and where, and an exit code (docs/spec.md §10) — never a Python traceback.

Exit codes: 0 done, 1 a failed job or an unreachable server, 2 bad input (a file, its JSON, a
spec, an option, or a request the server refused as bad), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """A problem the user can fix, reported as ``descent: <message>`` with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def read_json(path: str | Path, what: str = "a JSON object") -> Any:
    """The JSON document in the file ``path`` (``-``: standard input), or a ``CommandError``
    naming the file: missing, a directory, unreadable, not UTF-8, or not valid JSON (with the
    line and column)."""
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise CommandError(f"{name} is a directory, not {what} file") from None
    except UnicodeDecodeError as error:
        raise CommandError(f"{name} is not a text file (not UTF-8 at byte {error.start})") from None
    except OSError as error:
        raise CommandError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        shown = "standard input" if name == "-" else name
        raise CommandError(
            f"{shown} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """Like ``read_json``, and the document must be an object (``what`` names it, e.g.
    "a job spec")."""
    document = read_json(path, what)
    if not isinstance(document, dict):
        shown = "standard input" if str(path) == "-" else str(path)
        raise CommandError(f"{shown} is not {what}: {what} is a JSON object, "
                           f"not {json_kind(document)}")
    return document


def json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a number"


def check_output_path(path: str | None) -> None:
    """Fail before any work when ``-o PATH`` cannot be written: its folder is missing or it is
    a folder itself."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"cannot write {path}: it is a directory")
    if not target.parent.is_dir():
        raise CommandError(f"cannot write {path}: no such folder {target.parent}")


def write_output(path: str, data: bytes) -> None:
    """Write ``-o PATH``, or a ``CommandError`` naming it (disk full, no permission)."""
    try:
        Path(path).write_bytes(data)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", EXIT_FAILED) from None


def spec_problems(errors: Any) -> str:
    """A spec's problems (``engine.SpecErrors``) on one line: ``field: message; …``."""
    return "; ".join(f"{error.field or '(spec)'}: {error.message}" for error in errors.errors)
