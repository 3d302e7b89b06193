"""Friendlier formulas (docs/spec.md §3.2): a formula without ``variables`` takes them from its
text in alphabetical order, and a ``function`` string that reads as a formula is a 422 that
shows the object form to send."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from engine import SpecErrors, resolve_spec, run_spec
from engine.objectives.expression import formula_variables


@pytest.mark.parametrize("expression, variables", [
    ("x**2 + y**2", ["x", "y"]),
    ("y**2 + x", ["x", "y"]),  # alphabetical, not order of appearance
    ("sin(x) + pi*y + e + log(abs(z))", ["x", "y", "z"]),  # functions and constants are not
    ("b + a + B", ["B", "a", "b"]),  # character order: capitals first
    ("x10 + x2 + x1", ["x1", "x10", "x2"]),  # character order, not numeric
    ("w*w*w - 3*w", ["w"]),  # each name once
])
def test_variables_are_the_names_the_formula_uses_in_alphabetical_order(expression, variables):
    assert formula_variables(expression) == variables
    prepared = resolve_spec({"function": {"expression": expression}, "max_steps": 1})
    assert prepared.spec["function"]["variables"] == variables
    assert prepared.objective.dims == len(variables)


def test_the_order_decides_which_init_entry_is_which_variable():
    # f = y**2 + x at (x, y) = (1, 2) is 5; were the order of appearance used, it would be 3
    result = run_spec({"function": {"expression": "y**2 + x"}, "init": [1.0, 2.0],
                       "max_steps": 3, "learning_rate": 0.1})
    assert result.trajectory["loss"][0] == 5.0
    explicit = run_spec({"function": {"expression": "y**2 + x", "variables": ["x", "y"]},
                         "init": [1.0, 2.0], "max_steps": 3, "learning_rate": 0.1})
    assert np.array_equal(result.trajectory["params"], explicit.trajectory["params"])
    # listing them in another order is still the user's choice
    swapped = run_spec({"function": {"expression": "y**2 + x", "variables": ["y", "x"]},
                        "init": [1.0, 2.0], "max_steps": 3, "learning_rate": 0.1})
    assert swapped.trajectory["loss"][0] == 3.0  # y = 1, x = 2


def test_the_resolved_spec_lists_the_variables_and_runs_the_same_again():
    first = resolve_spec({"function": {"expression": "(1 - a)**2 + 100*(b - a**2)**2"},
                          "optimizer": "adam", "learning_rate": 0.01, "max_steps": 20})
    assert first.spec["function"]["variables"] == ["a", "b"]
    again = resolve_spec(first.spec)
    assert again.spec == first.spec
    assert np.array_equal(run_spec(first.spec).trajectory["params"],
                          run_spec({"function": {"expression": "(1 - a)**2 + 100*(b - a**2)**2"},
                                    "optimizer": "adam", "learning_rate": 0.01,
                                    "max_steps": 20}).trajectory["params"])


@pytest.mark.parametrize("expression, fragment", [
    ("2 + 3", "uses no variable; list them in variables"),
    ("pi * e", "uses no variable"),
    (" + ".join(f"v{i}" for i in range(11)), "uses 11 variables (v0, v1, v10, v2"),
])
def test_a_formula_without_usable_variables_is_a_422_on_function_variables(expression,
                                                                             fragment):
    with pytest.raises(SpecErrors) as caught:
        resolve_spec({"function": {"expression": expression}})
    [error] = caught.value.errors
    assert error.field == "function.variables"
    assert fragment in error.message


def test_a_bad_formula_without_variables_still_says_what_is_wrong():
    with pytest.raises(SpecErrors) as caught:
        resolve_spec({"function": {"expression": "x**2 + y @ 3"}})
    [error] = caught.value.errors
    assert error.field == "function.expression"
    assert "'@' at position 9 is not allowed" in error.message


@pytest.mark.parametrize("text", ["x**2 + y**2", "sin(x) * cos(y)", "(1 - a)**2", "x^2"])
def test_a_formula_sent_as_a_name_gets_the_object_form_to_send(text):
    with pytest.raises(SpecErrors) as caught:
        resolve_spec({"function": text, "max_steps": 5})
    [error] = caught.value.errors
    assert error.field == "function"
    assert "is not a catalogue name, but it reads as a formula" in error.message
    shown = json.dumps({"expression": text})
    assert f'"function": {shown}' in error.message
    # what the message shows is a spec that works, as it says
    sent = json.loads(re.search(r'"function": (\{.*?\})', error.message).group(1))
    prepared = resolve_spec({"function": sent, "max_steps": 5})
    assert ", ".join(prepared.spec["function"]["variables"]) in error.message


@pytest.mark.parametrize("text", ["rosenbrok", "Sphere", "x y", "2 + 3", "f(x) + 1"])
def test_a_misspelt_name_or_a_non_formula_keeps_the_catalogue_message(text):
    with pytest.raises(SpecErrors) as caught:
        resolve_spec({"function": text})
    [error] = caught.value.errors
    assert error.field == "function"
    assert error.message.startswith(f"unknown function {text!r}; known: sphere, rosenbrock")


def test_catalogue_names_and_dataset_models_are_unchanged():
    assert resolve_spec({"function": "himmelblau", "max_steps": 1}).objective.dims == 2
    data = {"generator": "linear", "n_samples": 20, "seed": 0}
    assert resolve_spec({"function": "linear_regression", "data": data,
                         "max_steps": 1}).objective.dims == 2
