"""Bad input to every ``descent`` command is one line on stderr that says what and where, exit 2
(1 for an unreachable server or a port already taken), and never a traceback (docs/spec.md §10).

Most cases run ``cli.main.main`` in this process (the console script's own function: an
exception escaping it would fail the test); a few run the real process to prove the entry point
behaves the same."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.main import main
from tests.cli.commands import assert_one_line_error, descent
from worker.embedded import free_port

JOB = {"function": "sphere", "max_steps": 5}
SWEEP = {"base": JOB, "grid": {"learning_rate": [0.1, 0.2]}}
UNREACHABLE = "http://127.0.0.1:1"


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``main(ARGS)`` here: its exit code and what it printed, as a finished process."""
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """One file of each kind of bad input (and good ones), by name."""
    contents: dict[str, bytes] = {
        "broken.json": b'{"function": "sphere",\n "max_steps": }',
        "empty.json": b"",
        "list.json": b"[1, 2]",
        "number.json": b"42",
        "binary.json": b"\xff\xfe\x00garbage",
        "job.json": json.dumps(JOB).encode(),
        "sweep.json": json.dumps(SWEEP).encode(),
    }
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder").mkdir()
    return {name: str(tmp_path / name) for name in [*contents, "folder", "missing.json"]}


# (the command line before the file, the command line after it)
FILE_COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "run": (["run"], []),
    "sweep": (["sweep"], []),
    "plot": (["plot"], ["-o", "picture.png"]),
    "submit": (["submit"], ["--url", UNREACHABLE]),
}
# file name -> (exit code, words the line must contain, {file} standing for the path)
FILE_CASES: dict[str, tuple[int, tuple[str, ...]]] = {
    "missing.json": (2, ("no such file", "{file}")),
    "folder": (2, ("{file}", "is a directory")),
    "broken.json": (2, ("{file}", "not valid JSON", "line 2 column")),
    "empty.json": (2, ("{file}", "not valid JSON", "line 1 column 1")),
    "binary.json": (2, ("{file}", "not UTF-8")),
    "list.json": (2, ("{file}", "not", "list")),
    "number.json": (2, ("{file}", "not")),
}


@pytest.mark.parametrize("case", FILE_CASES)
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_a_bad_input_file_is_one_line_naming_it(
    command: str, case: str, files: dict[str, str], capsys: pytest.CaptureFixture[str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    before, after = FILE_COMMANDS[command]
    exit_code, words = FILE_CASES[case]
    done = run_main(capsys, *before, files[case], *after)
    assert_one_line_error(done, exit_code, *(w.format(file=files[case]) for w in words))
    assert not (tmp_path / "picture.png").exists()


@pytest.mark.parametrize("command", ["run", "sweep", "submit", "plot"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    command: str, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    document = files["sweep.json" if command == "sweep" else "job.json"]
    extra = ["--url", UNREACHABLE] if command == "submit" else []
    suffix = ".png" if command == "plot" else ".json"
    missing_folder = str(Path(files["folder"]) / "nowhere" / f"out{suffix}")
    assert_one_line_error(run_main(capsys, command, document, "-o", missing_folder, *extra), 2,
                          "cannot write", "no such folder")
    folder_as_file = files["folder"] if command != "plot" else files["folder"] + ".png"
    if command == "plot":
        Path(folder_as_file).mkdir()
    assert_one_line_error(run_main(capsys, command, document, "-o", folder_as_file, *extra), 2,
                          "cannot write", "is a directory")


BAD_OPTIONS: dict[str, tuple[Callable[[dict[str, str]], list[str]], int, tuple[str, ...]]] = {
    "sweep --trajectories": (lambda f: ["sweep", f["sweep.json"], "--trajectories", "1,x"], 2,
                             ("--trajectories", "'1,x'")),
    "sweep negative run": (lambda f: ["sweep", f["sweep.json"], "--trajectories", "-1"], 2,
                           ("--trajectories", "-1")),
    "sweep --max-points": (lambda f: ["sweep", f["sweep.json"], "--max-points", "1"], 2,
                           ("--max-points", "at least 2")),
    "plot format": (lambda f: ["plot", f["job.json"], "-o", "picture.jpgx"], 2,
                    ("picture.jpgx", ".png")),
    "plot --dpi": (lambda f: ["plot", f["job.json"], "-o", "p.png", "--dpi", "0"], 2,
                   ("--dpi",)),
    "plot --spec broken": (lambda f: ["plot", f["job.json"], "-o", "p.png", "--spec",
                                      f["broken.json"]], 2, ("broken.json", "not valid JSON")),
    "plot --spec list": (lambda f: ["plot", f["job.json"], "-o", "p.png", "--spec",
                                    f["list.json"]], 2, ("list.json", "not a job spec")),
    "plot a spec, not a result": (lambda f: ["plot", f["job.json"], "-o", "p.png"], 2,
                                  ("job.json", "neither a result document")),
    "submit --url": (lambda f: ["submit", f["job.json"], "--url", "localhost:8000"], 2,
                     ("--url", "http://")),
    "submit unreachable": (lambda f: ["submit", f["job.json"], "--url", UNREACHABLE], 1,
                           ("cannot reach", UNREACHABLE)),
    "worker --concurrency": (lambda f: ["worker", "--concurrency", "0"], 2,
                             ("--concurrency", "at least 1")),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_one_line_naming_it(
    case: str, files: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments, exit_code, words = BAD_OPTIONS[case]
    assert_one_line_error(run_main(capsys, *arguments(files)), exit_code, *words)


def test_a_bad_setting_in_the_environment_is_one_line_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCENT_WORKERS", "many")
    assert_one_line_error(run_main(capsys, "worker"), 2, "DESCENT_WORKERS")


def test_the_real_command_reports_the_same_way(files: dict[str, str], tmp_path: Path) -> None:
    """Through ``python -m cli`` (what the ``descent`` script runs): a missing file, broken
    JSON from stdin, an unreachable server."""
    assert_one_line_error(descent("run", files["missing.json"]), 2, "no such file")
    assert_one_line_error(descent("sweep", "-", stdin="{"), 2, "standard input",
                          "not valid JSON")
    assert_one_line_error(descent("submit", files["job.json"], "--url", UNREACHABLE), 1,
                          "cannot reach")


def test_serve_refuses_a_taken_port_and_bad_options_in_one_line(tmp_path: Path) -> None:
    """``descent serve`` fails before starting anything (these run the real process: serve
    installs signal handlers)."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        taken = descent("serve", "--port", str(port), cwd=tmp_path)
    assert_one_line_error(taken, 1, f"127.0.0.1:{port}", "--port")
    assert_one_line_error(descent("serve", "--port", "70000", cwd=tmp_path), 2, "--port 70000")
    assert_one_line_error(descent("serve", "--workers", "0", cwd=tmp_path), 2, "--workers")
    assert_one_line_error(descent("serve", "--host", "no.such.host.invalid", cwd=tmp_path), 2,
                          "--host")
    (tmp_path / "data-file").write_text("not a folder")
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("DESCENT_")}
    environment["DESCENT_DATA_DIR"] = str(tmp_path / "data-file")
    assert_one_line_error(descent("serve", "--port", str(free_port()), "--workers", "1",
                                  cwd=tmp_path, env=environment), 1, "embedded Redis",
                          "data-file")
    assert not list(tmp_path.glob("*.png"))
