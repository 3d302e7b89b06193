"""Full-data passes of the run loop, counted: the full loss (and gradient) at a point is computed
once, however many of a record, an epoch's end and the final result need it.

The objective here is linear regression with a kernel that counts the calls covering every
sample (a full pass) and notes the point each was made at, then runs the real kernel: the loop,
the driver and the arithmetic are the engine's own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numba import njit

from engine import resolve_spec, run_group
from engine.kernels import OBJECTIVE_SIGNATURE
from engine.objectives.models import linear_regression_kernel

N_SAMPLES = 100
MAX_PASSES = 1000


@njit(OBJECTIVE_SIGNATURE)
def _counting_kernel(x, consts, data, batch, loss_out, grad_out):  # pragma: no cover - compiled
    """``consts[0]``: full passes so far; ``consts[1 + k]``: the first parameter of run 0 at
    pass k. Then the real linear-regression kernel."""
    if batch.shape[0] == data.shape[0]:
        count = int(consts[0])
        consts[1 + count] = x[0, 0]
        consts[0] = count + 1
    linear_regression_kernel(x, consts, data, batch, loss_out, grad_out)


def linear(**overrides):
    return {
        "function": "linear_regression",
        "data": {"generator": "linear", "n_samples": N_SAMPLES, "n_features": 3, "noise": 0.5,
                 "seed": 4},
        "optimizer": "momentum",
        "learning_rate": 0.02,
        **overrides,
    }


def counted_runs(specs):
    """Run ``specs`` as one group through the counting kernel: (results, full passes, the
    first parameter of run 0 at each pass)."""
    prepared = [resolve_spec(spec) for spec in specs]
    objective = dataclasses.replace(
        prepared[0].objective, kernel=_counting_kernel, consts=np.zeros(1 + MAX_PASSES)
    )
    for run in prepared:
        run.objective = objective
    results = run_group(prepared)
    passes = int(objective.consts[0])
    return results, passes, objective.consts[1 : 1 + passes]


def distinct_points(steps: int, record_every: int, steps_per_epoch: int) -> int:
    """The points a mini-batch run needs the full loss at: its record grid (below its last
    step), the end of each epoch, and its final point."""
    grid = set(range(0, steps, record_every))
    epoch_ends = set(range(steps_per_epoch, steps + 1, steps_per_epoch))
    return len(grid | epoch_ends | {steps})


def test_records_every_epoch_take_the_epoch_end_passes():
    spec = linear(batching="minibatch", batch_size=10, max_epochs=4, record_every=10)
    (result,), passes, points = counted_runs([spec])
    assert result.steps == 40 and result.stop_reason == "max_epochs"
    assert passes == 5  # steps 0, 10, 20, 30, 40: one each
    assert len(set(points.tolist())) == passes  # never twice at one point
    # the shared pass serves all three: the record at an epoch's end, that epoch's loss, and
    # the final point, to the bit
    records = dict(zip(result.trajectory["step"].tolist(), result.trajectory["loss"].tolist()))
    assert result.epoch_loss.tolist() == [records[10], records[20], records[30], records[40]]
    assert result.final["loss"] == result.epoch_loss[-1]


@pytest.mark.parametrize("record_every, max_steps", [(3, 30), (5, 30), (7, 30), (10, 25),
                                                     (20, 45), (100, 30)])
def test_each_point_is_passed_once(record_every, max_steps):
    spec = linear(batching="minibatch", batch_size=10, max_steps=max_steps,
                  record_every=record_every)
    (result,), passes, points = counted_runs([spec])
    assert result.steps == max_steps
    assert passes == distinct_points(max_steps, record_every, steps_per_epoch=10)
    assert len(set(points.tolist())) == passes


def test_stochastic_batches_pass_once_per_epoch_when_recording_every_epoch():
    spec = linear(batching="stochastic", max_epochs=2, record_every=N_SAMPLES)
    (result,), passes, points = counted_runs([spec])
    assert result.steps == 2 * N_SAMPLES
    assert passes == 3
    assert len(set(points.tolist())) == passes


def test_full_batch_makes_one_pass_per_step_and_one_for_the_final_point():
    (result,), passes, points = counted_runs([linear(max_steps=12, record_every=5)])
    assert result.steps == 12
    assert passes == 13
    assert len(set(points.tolist())) == passes


def test_a_group_of_runs_shares_each_pass():
    specs = [linear(batching="minibatch", batch_size=10, max_epochs=3, record_every=10,
                    learning_rate=rate) for rate in (0.005, 0.01, 0.02)]
    results, passes, _ = counted_runs(specs)
    assert passes == 4  # steps 0, 10, 20, 30 for all three runs at once
    for spec, grouped in zip(specs, results):
        (alone,), _, _ = counted_runs([spec])
        np.testing.assert_array_equal(grouped.trajectory["params"], alone.trajectory["params"])
        np.testing.assert_array_equal(grouped.trajectory["loss"], alone.trajectory["loss"])
        np.testing.assert_array_equal(grouped.epoch_loss, alone.epoch_loss)
        np.testing.assert_array_equal(grouped.final["params"], alone.final["params"])
        assert grouped.final["loss"] == alone.final["loss"]
        assert grouped.final["grad_norm"] == alone.final["grad_norm"]


def test_a_run_stopped_at_an_epoch_end_takes_that_pass_for_its_final_point():
    # target_loss is checked at recorded points: with records at each epoch's end the run
    # stops at one, and its final loss is that point's pass (no pass of its own)
    spec = linear(batching="minibatch", batch_size=10, max_epochs=50, record_every=10,
                  target_loss=1.0, learning_rate=0.05)
    (result,), passes, points = counted_runs([spec])
    assert result.stop_reason == "target_loss"
    assert result.steps % 10 == 0
    assert passes == result.steps // 10 + 1
    assert len(set(points.tolist())) == passes
    assert result.final["loss"] == result.epoch_loss[-1] == result.trajectory["loss"][-1]
