"""``descent plot``: pictures from result documents and lesson files, clear errors otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from cli import plot
from cli.main import main as descent_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def descent_plot(*args: str) -> int:
    """``descent plot ARGS`` through the subcommand ``cli.plot.register`` adds."""
    parser = argparse.ArgumentParser(prog="descent")
    plot.register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["plot", *args])
    return int(parsed.handler(parsed))


def run_to_file(tmp_path: Path, name: str, spec: dict) -> Path:
    """``descent run SPEC -o RESULT`` (the result carries the resolved spec)."""
    spec_path, result_path = tmp_path / f"{name}.spec.json", tmp_path / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    assert descent_main(["run", str(spec_path), "-o", str(result_path), "-q"]) == 0
    return result_path


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000  # a drawn picture, not an empty canvas


def test_plot_two_dimensional_results_on_one_contour(tmp_path: Path) -> None:
    base = {"function": "himmelblau", "optimizer": "gd", "learning_rate": 0.01, "max_steps": 300}
    first = run_to_file(tmp_path, "a", {**base, "init": [1, 1]})
    second = run_to_file(tmp_path, "b", {**base, "init": [-1, -4]})
    out = tmp_path / "himmelblau.png"
    assert descent_plot(str(first), str(second), "-o", str(out)) == 0
    assert_png(out)


def test_plot_linear_regression_on_the_w_b_surface(tmp_path: Path) -> None:
    spec = {
        "function": "linear_regression",
        "data": {"generator": "linear", "n_samples": 50, "seed": 0},
        "optimizer": "sgd", "learning_rate": 0.1, "batching": "minibatch", "batch_size": 10,
        "max_epochs": 3, "init": [-1, -1],
    }
    result = run_to_file(tmp_path, "regression", spec)
    out = tmp_path / "regression.png"
    assert descent_plot(str(result), "-o", str(out)) == 0
    assert_png(out)


def test_plot_a_lesson_file_runs_it(tmp_path: Path) -> None:
    out = tmp_path / "saddle.png"
    assert descent_plot(str(EXAMPLES / "06_saddle.json"), "-o", str(out)) == 0
    assert_png(out)


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert descent_plot(str(missing), "-o", str(tmp_path / "x.png")) == plot.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "no such file" in error and "nope.json" in error
    assert "Traceback" not in error
    assert not (tmp_path / "x.png").exists()


def test_result_without_spec_needs_spec_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"function": "booth", "optimizer": "gd", "learning_rate": 0.05, "max_steps": 50}
    result = run_to_file(tmp_path, "booth", spec)
    document = json.loads(result.read_text())
    del document["spec"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(document))
    out = tmp_path / "booth.png"

    assert descent_plot(str(bare), "-o", str(out)) == plot.EXIT_BAD_INPUT
    assert "--spec" in capsys.readouterr().err

    spec_path = tmp_path / "booth.spec.json"
    assert descent_plot(str(bare), "--spec", str(spec_path), "-o", str(out)) == 0
    assert_png(out)


def test_missing_matplotlib_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"function": "booth", "optimizer": "gd", "learning_rate": 0.05, "max_steps": 20}
    result = run_to_file(tmp_path, "booth", spec)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    assert descent_plot(str(result), "-o", str(tmp_path / "x.png")) == plot.EXIT_FAILED
    assert "descent[plot]" in capsys.readouterr().err
