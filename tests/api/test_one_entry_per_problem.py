"""Errors a person can act on (docs/spec.md §2, added): one entry per problem, a field with
several forms checked as the form its key names, and every stage's problems in one answer,
from the API and from the command line alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.commands import assert_one_line_error, descent

MODEL = {"function": "linear_regression"}


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({**MODEL, "data": {"generator": "linear", "n_samples": 0}}, ["body", "data", "n_samples"],
     "greater than or equal to 1"),
    ({**MODEL, "data": {"dataset_id": ""}}, ["body", "data", "dataset_id"], "at least 1"),
    ({**MODEL, "data": {"X": [[1.0]], "y": ["a"]}}, ["body", "data", "y", 0], "valid number"),
    ({**MODEL, "data": {"X": [[1.0]]}}, ["body", "data", "y"], "Field required"),
    ({**MODEL, "data": {"samples": [1, 2]}}, ["body", "data"], '{"generator": …}'),
    ({**MODEL, "data": {"generator": "linear", "extra": 1}}, ["body", "data", "extra"],
     "Extra inputs"),
    ({"function": 5}, ["body", "function"], '{"expression": …}'),
    ({"function": {"expression": ""}}, ["body", "function", "expression"], "at least 1"),
])
def test_a_field_with_several_forms_is_one_entry_of_the_form_its_key_names(
        http: Any, body: dict[str, Any], loc: list[Any], words: str) -> None:
    answer = http.post("/v1/jobs", json=body)
    assert answer.status_code == 422, answer.text
    (entry,) = answer.json()["detail"]
    assert entry["loc"] == loc and words in entry["msg"], entry


BAD = {"function": "rosenbrock", "optimizer": {"name": "adam", "betas": [2, 0.9]},
       "init": [1, 2, 3], "max_steps": 0}


def test_every_stage_reports_in_one_answer(http: Any) -> None:
    """A shape problem (max_steps), a later stage's (the optimizer's betas, the start point's
    length against the function) and none hidden behind another."""
    detail = http.post("/v1/jobs", json=BAD).json()["detail"]
    assert sorted(tuple(map(str, entry["loc"])) for entry in detail) == [
        ("body", "init"), ("body", "max_steps"), ("body", "optimizer", "betas")]
    unknown = http.post("/v1/jobs", json={"function": "rosenbrok", "seed": -1}).json()["detail"]
    assert {tuple(entry["loc"]) for entry in unknown} == {("body", "seed"), ("body", "function")}


def test_the_command_line_reports_the_same_problems(tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps(BAD))
    line = assert_one_line_error(descent("run", str(spec)), 2, "bad.json")
    for field in ("max_steps", "init", "optimizer.betas"):
        assert field in line, (field, line)
