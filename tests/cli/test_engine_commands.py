"""The commands that need no server, run as a user runs them: ``descent --version``, ``--help``,
``run``, ``sweep``, ``functions``, ``optimizers`` and ``plot``, with and without their options,
human output checked as well as ``--json``."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from cli.main import main
from tests.cli.commands import assert_one_line_error, descent, interrupted_on_a_terminal

COMMANDS = ("run", "sweep", "plot", "functions", "optimizers", "serve", "worker", "submit")
SWEEP = {"base": {"function": "rosenbrock", "optimizer": "adam", "max_steps": 300},
         "grid": {"learning_rate": [0.001, 0.01, 0.1]},
         "overrides": [{"optimizer": "sgd", "learning_rate": 0.001}]}


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_version_is_the_installed_package_version() -> None:
    done = descent("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"descent {metadata.version('descent')}" == "descent 0.1.0"


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_help_speaks_to_users(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:  # argparse's --help, in this process
        main([*([command] if command else []), "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: descent {command}".rstrip())
    for internal in ("``", "SPEC.md", "spec.md", "§", ":func:", ":class:"):
        assert internal not in text, (internal, text)
    if not command:
        assert all(name in text for name in COMMANDS) and "exit status" in text


def test_no_command_is_a_usage_error() -> None:
    done = descent()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "usage: descent" in done.stderr


def test_run_writes_the_result_and_prints_a_summary(tmp_path: Path) -> None:
    spec = write(tmp_path / "job.json", {"function": "himmelblau", "optimizer": "adam",
                                         "learning_rate": 0.05, "max_steps": 500})
    out = tmp_path / "result.json"
    done = descent("run", spec, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no terminal, no progress bar
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert lines["function"] == "himmelblau"
    assert lines["optimizer"].startswith("adam  lr=0.05")
    assert lines["stop_reason"] == "max_steps after 500 steps"
    assert lines["nearest"].startswith("global at [")
    document = json.loads(out.read_text())
    assert document["steps"] == 500
    assert len(document["trajectory"]["step"]) == 501
    assert document["nearest_stationary_point"]["kind"] == "global"
    assert document["spec"]["optimizer"]["name"] == "adam"  # the resolved spec travels along


@pytest.mark.parametrize(("spec", "line"), [
    ({"function": "rosenbrock", "optimizer": "lbfgs", "max_steps": 5}, "evaluations"),
    ({"function": "rosenbrock", "optimizer": "asgd", "learning_rate": 1e-3, "max_steps": 50},
     "averaged"),
    ({"function": "saddle", "optimizer": "newton", "init": [0.3, 0.2], "max_steps": 3},
     "hessian"),
])
def test_run_prints_what_the_optimizer_reports_beside_the_final_point(
        tmp_path: Path, spec: dict, line: str) -> None:
    done = descent("run", write(tmp_path / "job.json", spec))
    assert done.returncode == 0, done.stderr
    lines = dict(entry.split(None, 1) for entry in done.stdout.splitlines())
    assert {"evaluations", "averaged", "hessian"} & set(lines) == {line}
    if line == "hessian":
        assert lines[line] == "0 positive definite, 3 indefinite, 0 singular steps"
    elif line == "evaluations":
        assert int(lines[line].split()[0]) > 5


def test_run_without_options_reads_stdin_and_writes_no_file(tmp_path: Path) -> None:
    done = descent("run", "-", "-q", cwd=tmp_path,
                   stdin=json.dumps({"function": "sphere", "max_steps": 10}))
    assert done.returncode == 0, done.stderr
    assert "stop_reason   max_steps after 10 steps" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_run_draws_a_progress_bar_on_a_terminal_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """On a terminal the bar is drawn; Ctrl-C (SIGINT) ends the run with one line and 130."""
    spec = write(tmp_path / "long.json", {"function": "rosenbrock", "optimizer": "adam",
                                          "max_steps": 5_000_000, "record_every": 100_000})
    code, _, text = interrupted_on_a_terminal(
        ["run", spec], ready=lambda seen: b"step " in seen, cwd=tmp_path)  # the bar is drawn
    assert code == 130
    assert "%" in text and "/5000000" in text
    assert "Traceback" not in text
    assert text.rstrip().splitlines()[-1].endswith("descent: interrupted")


def test_sweep_prints_the_best_runs_first(tmp_path: Path) -> None:
    done = descent("sweep", write(tmp_path / "sweep.json", SWEEP))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "4 runs; best first:"
    assert lines[1].split() == ["rank", "run", "final", "loss", "steps", "stop_reason",
                                "overrides"]
    assert len(lines) == 6
    assert lines[2].split()[:2] == ["1", "2"]  # lr 0.1 is best on Rosenbrock in 300 steps
    assert "learning_rate=0.1" in lines[2]
    assert any("optimizer=sgd" in line for line in lines[2:])


def test_sweep_prints_each_groups_best_and_what_halving_spent(tmp_path: Path) -> None:
    body = {"base": {"function": "rosenbrock", "max_steps": 300},
            "grid": {"optimizer": ["gd", "adam"], "learning_rate": [1e-4, 1e-3, 0.01, 0.1]},
            "best_by": ["optimizer"], "search": {"method": "halving", "eta": 3, "min_steps": 30}}
    done = descent("sweep", write(tmp_path / "sweep.json", body))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "pruned" in done.stdout
    assert lines[-3].startswith("best of optimizer=gd: run 1, learning_rate 0.001, final loss")
    assert lines[-2].startswith("best of optimizer=adam: run 7, learning_rate 0.1, final loss")
    assert lines[-1] == ("halving (eta 3, rungs [30, 90, 270, 300]): 847 run-steps of the full "
                         "grid's 2,400 (35%)")
    diverging = {**body, "grid": {"optimizer": ["gd"], "learning_rate": [0.5, 1.0]}}
    del diverging["search"]
    done = descent("sweep", write(tmp_path / "diverging.json", diverging))
    assert done.stdout.splitlines()[-1] == ("best of optimizer=gd: none (every run diverged or "
                                            "was pruned)")


def test_sweep_with_every_option(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = descent("sweep", write(tmp_path / "sweep.json", SWEEP), "-o", str(out),
                   "--trajectories", "0,3", "--max-points", "50", "-q")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [entry["index"] for entry in result["runs"]] == [0, 1, 2, 3]
    with_trajectory = [entry["index"] for entry in result["runs"] if "trajectory" in entry]
    assert with_trajectory == [0, 3]
    assert len(result["runs"][0]["trajectory"]["step"]) == 50
    assert result["table"][0] == 2
    every = descent("sweep", "-", "-o", str(out), "--trajectories", "all", stdin=json.dumps(SWEEP))
    assert every.returncode == 0, every.stderr
    assert all(len(entry["trajectory"]["step"]) == 301
               for entry in json.loads(out.read_text())["runs"])


def test_a_bad_spec_exits_2_naming_each_field_in_one_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "job.json", {"function": "sphere", "optimizer": "adamm",
                                         "max_steps": 0, "colour": 1})
    line = assert_one_line_error(descent("run", spec), 2, "job.json", "invalid spec")
    for field in ("optimizer", "max_steps", "colour"):
        assert field in line


def test_a_bad_sweep_exits_2_naming_the_run(tmp_path: Path) -> None:
    sweep = write(tmp_path / "sweep.json", {"base": {"function": "sphere"},
                                            "grid": {"learning_rate": [0.1, -1]}})
    assert_one_line_error(descent("sweep", sweep), 2, "sweep.json", "learning_rate")


def test_functions_table_and_json() -> None:
    table = descent("functions")
    assert table.returncode == 0, table.stderr
    functions, models = table.stdout.split("\n\n")
    header, *rows = functions.splitlines()
    assert header.split() == ["name", "dims", "description"]
    by_name = {row.split()[0]: row for row in rows}
    assert {"rosenbrock", "himmelblau", "six_hump_camel", "saddle", "quadratic"} <= set(by_name)
    assert "banana" in by_name["rosenbrock"]
    model_names = [line.split()[0] for line in models.splitlines()[1:] if line[:1] != " "]
    assert model_names == ["linear_regression", "logistic_regression", "softmax_regression",
                           "mlp"]
    listed = descent("functions", "--json")
    assert listed.returncode == 0
    assert [entry["name"] for entry in json.loads(listed.stdout)] == [*by_name, *model_names]


def test_optimizers_table_and_json() -> None:
    table = descent("optimizers")
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert "aliases: gd, momentum (momentum=0.9), nesterov (momentum=0.9, nesterov=true)" in text
    assert "betas=[0.9, 0.999], eps=1e-08" in text
    listed = json.loads(descent("optimizers", "--json").stdout)
    names = [entry["name"] for entry in listed]
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam",
            "radam"} <= set(names)
    for entry in listed:  # each optimizer heads a line: name and default learning rate
        if entry["applicable"]:
            assert f"\n{entry['name']:<9} lr={entry['default_learning_rate']:<7g} " in "\n" + text
        else:  # torch's sparse_adam: listed, and why it does not apply
            assert f"\n{entry['name']:<9} not applicable: " in "\n" + text
    assert not all(entry["applicable"] for entry in listed)


def test_plot_with_and_without_its_options(tmp_path: Path) -> None:
    spec = {"function": "booth", "optimizer": "gd", "learning_rate": 0.05, "max_steps": 60}
    result = tmp_path / "booth.json"
    assert descent("run", write(tmp_path / "spec.json", spec), "-o", str(result)).returncode == 0
    plain = descent("plot", str(result), "-o", str(tmp_path / "booth.png"))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == f"wrote {tmp_path / 'booth.png'}"
    assert (tmp_path / "booth.png").read_bytes().startswith(b"\x89PNG")
    document = json.loads(result.read_text())
    del document["spec"]
    bare = write(tmp_path / "bare.json", document)
    dressed = descent("plot", bare, "--spec", str(tmp_path / "spec.json"), "--title", "Booth",
                      "--dpi", "40", "-o", str(tmp_path / "booth.svg"))
    assert dressed.returncode == 0, dressed.stderr
    svg = (tmp_path / "booth.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "Booth" in svg
