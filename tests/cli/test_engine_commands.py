"""`descent run`, `descent functions`, `descent optimizers` as a user runs them."""

import json
import subprocess
import sys


def descent(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def test_run_writes_the_result_and_prints_a_summary(tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05,
                                "max_steps": 500}))
    out = tmp_path / "result.json"
    done = descent("run", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "stop_reason" in done.stdout and "himmelblau" in done.stdout
    document = json.loads(out.read_text())
    assert document["steps"] == 500
    assert len(document["trajectory"]["step"]) == 501
    assert document["nearest_stationary_point"]["kind"] == "global"


def test_a_bad_spec_exits_2_naming_each_field(tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"function": "sphere", "optimizer": "adamm", "max_steps": 0,
                                "colour": 1}))
    done = descent("run", str(spec))
    assert done.returncode == 2
    for field in ("optimizer", "max_steps", "colour"):
        assert field in done.stderr


def test_catalogue_listings():
    functions = descent("functions", "--json")
    assert functions.returncode == 0
    names = {entry["name"] for entry in json.loads(functions.stdout)}
    assert {"rosenbrock", "himmelblau", "six_hump_camel", "saddle", "quadratic"} <= names
    optimizers = descent("optimizers", "--json")
    assert {entry["name"] for entry in json.loads(optimizers.stdout)} >= {
        "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam"}
    table = descent("functions")
    assert table.returncode == 0 and "rosenbrock" in table.stdout
