"""The run loop as a user sees it: stopping, recording, batching, determinism, many runs at once."""

import math

import numpy as np
import pytest

from engine import SpecErrors, dumps, loads, resolve_spec, run_group, run_spec
from engine.errors import SpecError

LINEAR = {
    "function": "linear_regression",
    "data": {"generator": "linear", "n_samples": 50, "n_features": 1, "noise": 0.1, "seed": 3},
    "optimizer": "sgd",
    "learning_rate": 0.05,
}


def same(a, b):
    """Bit-for-bit equality of two result documents' arrays (nan == nan)."""
    return loads(dumps(a)) == loads(dumps(b))


def test_result_document_has_the_spec_shape():
    result = run_spec({"function": "sphere", "init": [1.0, -2.0], "learning_rate": 0.1, "max_steps": 20})
    document = loads(dumps(result.to_document()))
    assert set(document) >= {"stop_reason", "steps", "epochs", "final", "trajectory", "epoch_loss",
                             "nearest_stationary_point", "elapsed_s"}
    trajectory = document["trajectory"]
    assert trajectory["step"] == list(range(21))
    assert len(trajectory["params"]) == len(trajectory["loss"]) == len(trajectory["lr"]) == 21
    assert trajectory["params"][0] == [1.0, -2.0]
    assert trajectory["loss"][0] == pytest.approx(5.0)
    assert trajectory["grad_norm"][0] == pytest.approx(math.sqrt(4 + 16))
    # plain GD on the sphere: x <- x - 0.1 * 2x = 0.8 x
    assert trajectory["params"][1] == pytest.approx([0.8, -1.6])
    assert document["final"]["params"] == trajectory["params"][-1]
    assert document["stop_reason"] == "max_steps" and document["steps"] == 20
    assert document["nearest_stationary_point"]["kind"] == "global"


def test_record_every_keeps_first_and_last():
    result = run_spec({"function": "sphere", "init": [1.0, 1.0], "max_steps": 25, "record_every": 10,
                       "learning_rate": 0.01})
    assert result.trajectory["step"].tolist() == [0, 10, 20, 25]


@pytest.mark.parametrize(
    "spec, reason",
    [
        ({"function": "sphere", "init": [1.0, 1.0], "learning_rate": 0.1, "grad_tol": 1e-6}, "grad_tol"),
        ({"function": "sphere", "init": [1.0, 1.0], "learning_rate": 0.1, "target_loss": 1e-4}, "target_loss"),
        ({"function": "sphere", "init": [1.0, 1.0], "learning_rate": 1.5}, "diverged"),
        ({"function": "rosenbrock", "learning_rate": 0.01, "max_steps": 300}, "diverged"),
        ({"function": "sphere", "init": [1.0, 1.0], "learning_rate": 0.01, "max_steps": 7}, "max_steps"),
    ],
)
def test_stop_reasons(spec, reason):
    result = run_spec(spec)
    assert result.stop_reason == reason
    assert result.trajectory["step"][-1] == result.steps
    if reason == "grad_tol":
        assert result.final["grad_norm"] <= 1e-6
    if reason == "target_loss":
        assert result.final["loss"] <= 1e-4
    if reason == "diverged":
        assert result.steps < spec.get("max_steps", 1000)
        document = loads(dumps(result.to_document()))  # non-finite numbers become null
        assert document["stop_reason"] == "diverged"


def test_cancel_keeps_the_partial_trajectory():
    calls = []

    def callback(progress):
        calls.append(progress)
        return len(calls) < 2

    result = run_spec({"function": "rosenbrock", "optimizer": "adam", "learning_rate": 1e-4,
                       "max_steps": 10_000_000, "record_every": 1000}, callback)
    assert result.stop_reason == "cancelled"
    assert 0 < result.steps < 10_000_000
    assert result.trajectory["step"][-1] == result.steps
    assert calls[-1].step <= result.steps and 0 < calls[-1].fraction < 1


def test_same_spec_same_result_bit_for_bit_including_shuffle_and_noise():
    specs = [
        {**LINEAR, "batching": "minibatch", "batch_size": 8, "max_epochs": 4, "seed": 11},
        {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "gradient_noise": 0.5,
         "seed": 5, "max_steps": 3000},
        {"function": {"expression": "x**2 + 3*y**2", "variables": ["x", "y"]}, "seed": 2},
    ]
    for spec in specs:
        first = run_spec(spec).to_document()
        # a callback makes the driver cut the run into slices: the result must not change
        second = run_spec(spec, lambda progress: True).to_document()
        for document in (first, second):
            document.pop("elapsed_s")
        assert same(first, second)


def test_seed_changes_shuffled_batches():
    a = run_spec({**LINEAR, "batching": "minibatch", "batch_size": 8, "max_epochs": 2, "seed": 1})
    b = run_spec({**LINEAR, "batching": "minibatch", "batch_size": 8, "max_epochs": 2, "seed": 2})
    assert not np.array_equal(a.final["params"], b.final["params"])


@pytest.mark.parametrize("batching, batch_size, steps_per_epoch", [
    ("full", 32, 1), ("stochastic", 32, 50), ("minibatch", 16, 4),
])
def test_epochs_count_updates_per_batching_mode(batching, batch_size, steps_per_epoch):
    result = run_spec({**LINEAR, "batching": batching, "batch_size": batch_size, "max_epochs": 3,
                       "shuffle": False})
    assert result.stop_reason == "max_epochs"
    assert result.steps == 3 * steps_per_epoch
    assert result.epochs == pytest.approx(3.0)
    assert len(result.epoch_loss) == 3
    # epoch_loss is the full loss after each epoch: the last one is the final loss
    assert result.epoch_loss[-1] == pytest.approx(result.final["loss"])


def test_full_batch_loss_decreases_monotonically_on_linear_regression():
    result = run_spec({**LINEAR, "max_steps": 200})
    assert np.all(np.diff(result.trajectory["loss"]) <= 1e-12)


ADAM_SETTINGS = [  # shared hyperparameters (the vectorised path), then a mix of them
    [({"learning_rate": lr}, {}) for lr in (1e-3, 1e-2, 5e-2, 0.3)],
    [({"learning_rate": 0.05}, {}), ({"learning_rate": 0.01}, {"betas": [0.5, 0.9]}),
     ({"learning_rate": 0.02}, {"amsgrad": True}), ({"learning_rate": 0.03}, {"weight_decay": 0.1}),
     ({"learning_rate": 0.02}, {"eps": 1e-3})],
]


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=["shared", "mixed"])
def test_many_runs_at_once_equal_single_runs(optimizer, dims, settings):
    base = {"function": "rosenbrock", "optimizer": optimizer, "max_steps": 500,
            "function_params": {"dims": dims}, "init": [-1.2, 1.0, 0.5][:dims]}
    specs = [{**base, **setting, "optimizer": {"name": optimizer, **hyper}} for setting, hyper in settings]
    prepared = [resolve_spec(spec) for spec in specs]
    shared = prepared[0].objective
    for run in prepared:
        run.objective = shared
    together = run_group(prepared)
    for spec, result in zip(specs, together):
        alone = run_spec(spec)
        np.testing.assert_array_equal(alone.trajectory["params"], result.trajectory["params"])
        assert alone.stop_reason == result.stop_reason


def test_a_diverging_run_does_not_stop_the_others():
    base = {"function": "sphere", "init": [1.0, 1.0], "max_steps": 100}
    prepared = [resolve_spec({**base, "learning_rate": lr}) for lr in (0.1, 2.0)]
    prepared[1].objective = prepared[0].objective
    converging, diverging = run_group(prepared)
    assert diverging.stop_reason == "diverged" and diverging.steps < 100
    assert converging.stop_reason == "max_steps" and converging.steps == 100


def test_lr_column_follows_the_schedule():
    result = run_spec({"function": "sphere", "init": [1.0, 1.0], "learning_rate": 0.1, "max_steps": 6,
                       "schedule": {"name": "step", "step_size": 2, "gamma": 0.5}})
    assert result.trajectory["lr"].tolist() == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])


def test_default_start_is_the_functions_standard_start_or_a_seeded_draw():
    rosenbrock = resolve_spec({"function": "rosenbrock"})
    assert rosenbrock.spec["init"] == list(rosenbrock.objective.start)
    formula = {"function": {"expression": "x**2 + y**2", "variables": ["x", "y"]}}
    a = resolve_spec({**formula, "seed": 1}).spec["init"]
    b = resolve_spec({**formula, "seed": 1}).spec["init"]
    c = resolve_spec({**formula, "seed": 2}).spec["init"]
    assert a == b != c
    assert all(-5 <= v <= 5 for v in a)


def test_resolved_spec_reproduces_the_result():
    prepared = resolve_spec({"function": "himmelblau", "optimizer": "nesterov", "learning_rate": 0.01})
    assert prepared.spec["optimizer"]["name"] == "sgd" and prepared.spec["optimizer"]["nesterov"] is True
    again = run_spec(prepared.spec)
    first = run_spec({"function": "himmelblau", "optimizer": "nesterov", "learning_rate": 0.01})
    np.testing.assert_array_equal(again.trajectory["params"], first.trajectory["params"])


@pytest.mark.parametrize(
    "spec, fields",
    [
        ({"function": "sphere", "colour": "red"}, {"colour"}),
        ({"function": "sphere", "batching": "minibatch"}, {"batching"}),
        ({"function": "sphere", "learning_rate": -1}, {"learning_rate"}),
        ({"function": "sphere", "init": [1, 2, 3]}, {"init"}),
        ({"function": "nope"}, {"function"}),
        ({"function": "sphere", "optimizer": "adamm"}, {"optimizer"}),
        ({"function": "sphere", "optimizer": {"name": "adam", "betas": [0.9, 1.5]}}, {"optimizer.betas"}),
        ({"function": "sphere", "schedule": {"name": "step", "gamma": 0.5, "step_size": 0}},
         {"schedule.step_size"}),
        ({"function": "linear_regression"}, {"data"}),
        ({"function": "sphere", "max_steps": 0, "record_every": 0}, {"max_steps", "record_every"}),
        ({"function": "sphere", "optimizer": "adamm", "schedule": {"name": "nope"}},
         {"optimizer", "schedule.name"}),
    ],
)
def test_bad_specs_name_every_bad_field(spec, fields):
    with pytest.raises(SpecErrors) as caught:
        resolve_spec(spec)
    named = {error.field for error in caught.value.errors}
    for field in fields:
        assert any(name == field or name.startswith(field + ".") for name in named), (field, named)


def test_missing_function_is_an_error():
    with pytest.raises(SpecErrors) as caught:
        resolve_spec({})
    assert [e.field for e in caught.value.errors] == ["function"]


def test_error_locations_turn_only_ascii_digits_into_indices():
    """Only an index that fits 64 bits becomes a number (a grid key of twenty digits, found by
    the schemathesis run, stays a string: as a number it would not serialise, a 500)."""
    errors = SpecErrors([SpecError("grid.²", "bad"), SpecError("overrides.3.x", "bad"),
                         SpecError("grid.20000000000000000000", "bad")])
    detail = errors.to_detail(("body",))
    assert [entry["loc"] for entry in detail] == [
        ["body", "grid", "²"], ["body", "overrides", 3, "x"],
        ["body", "grid", "20000000000000000000"]]
    dumps(detail)  # serialisable, every one
