"""Expression functions (SPEC.md §3.2): what users can type, what they get back, and that
nothing they type is ever run as Python."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError, SpecError
from engine.objectives import expression as expression_module
from engine.objectives.expression import (
    build_expression_objective,
    compile_expression,
    parse_expression,
)

XY = ["x", "y"]

# (formula, variables, point, value computed by hand)
ACCEPTED = [
    ("x**2 + 3*y**2", XY, (1.0, 2.0), 13.0),
    ("sin(x)*cos(y)", XY, (0.5, 0.25), math.sin(0.5) * math.cos(0.25)),
    ("-x^2", XY, (3.0, 0.0), -9.0),
    ("2e-3*x", XY, (5.0, 0.0), 0.01),
    ("exp(-(x**2+y**2))", XY, (1.0, 1.0), math.exp(-2.0)),
    ("abs(x)", XY, (-2.5, 0.0), 2.5),
    ("sqrt(x**2+1)", XY, (2.0, 0.0), math.sqrt(5.0)),
    ("2**3**2", ["x"], (0.0,), 512.0),  # right-associative
    ("-2**2", ["x"], (0.0,), -4.0),  # unary minus binds looser than power
    ("x**-2", ["x"], (2.0,), 0.25),
    ("1/2*x", ["x"], (3.0,), 1.5),
    ("x - y - 1", XY, (5.0, 2.0), 2.0),  # left-associative
    ("pi*e", ["x"], (0.0,), math.pi * math.e),
    ("ln(e) + atan(1) + arctan(1)", ["x"], (0.0,), 1.0 + math.pi / 2),
    ("tanh(x) + sinh(x) + cosh(x)", ["x"], (0.5,), math.tanh(0.5) + math.exp(0.5)),
    ("asin(x) + arccos(x) + tan(x)", ["x"], (0.5,), math.pi / 2 + math.tan(0.5)),
    (".5e1 * x1 + 1.25", ["x1"], (2.0,), 11.25),
    ("  x\t*\n2 ", ["x"], (4.0,), 8.0),
    ("w", ["w", "unused"], (7.0, 1.0), 7.0),  # a listed variable may go unused
    ("((((x))))", ["x"], (3.0,), 3.0),
]


@pytest.mark.parametrize("formula, variables, point, expected", ACCEPTED)
def test_accepted_formulas_evaluate_to_the_hand_computed_value(formula, variables, point,
                                                               expected):
    objective = build_expression_objective(formula, variables)
    value = objective.value(np.array([point]))
    assert value[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)


# (formula, a fragment of the message saying what is wrong)
REJECTED = [
    ("__import__('os')", "not allowed"),
    ("x.real", "attribute access is not allowed"),
    ("lambda", "unknown name 'lambda'"),
    ("x[0]", "indexing is not allowed"),
    ("x if y else 1", "unexpected name 'if' at position 2"),
    ("foo(x)", "unknown function 'foo'"),
    ("x**1000", "exponent 1000 at position 1 is too large"),
    ("(x**50)**50", "exponent 2500"),
    ("x**60 * x**60", "exponent 120"),
    ("9**99**99", "too large"),
    ("(" * 60 + "x" + ")" * 60, "nested more than 50 levels"),
    ("-" * 60 + "x", "nested more than 50 levels"),
    ("x" * 600, "at most 500"),
    ("+".join(["x"] * 250), "more than 400 tokens"),
    ("1e999**x", "number '1e999' at position 0 is too large"),
    ("9" * 400, "too large"),
    ("", "empty"),
    ("   ", "empty"),
    ("x,y", "single argument"),
    (";", "only one expression"),
    ("x; y", "only one expression"),
    ("z", "unknown name 'z' at position 0; allowed: x, y, pi, e"),
    ("ｘ", "U+FF58"),  # fullwidth x, NFKC-normalises to x in Python source
    ("x\u2212y", "U+2212"),  # unicode minus
    ("x\u200b", "U+200B"),  # zero-width space
    ("x²", "U+00B2"),
    ("x @ y", "matrix multiplication is not allowed"),
    ("2x", "implicit multiplication is not allowed"),
    ("x(2)", "'x' at position 0 is not a function"),
    ("sin", "needs an argument in parentheses"),
    ("sin()", "needs an argument"),
    ("sin(x", "expected ')'"),
    ("x +", "ends early"),
    ("x y", "implicit multiplication"),
    ("* x", "unexpected '*' at position 0"),
    ("x == y", "comparisons"),
    ("1/0", "not a finite number"),
    ("log(-1)", "not real-valued"),
    ("sqrt(-2)*x", "not real-valued"),
    ("tan(pi/2)", "not a finite number"),
    ("x % 2", "modulo"),
    ("'x'", "strings are not allowed"),
    ("x\\y", "not allowed"),
    ("os.system('ls')", "not allowed"),
    ("().__class__", "not allowed"),
]


@pytest.mark.parametrize("formula, fragment", REJECTED)
def test_rejected_formulas_say_what_is_not_allowed(formula, fragment):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(formula, XY)
    assert fragment in caught.value.message
    assert caught.value.field == "function.expression"


@pytest.mark.parametrize("variables, fragment", [
    ([], "between 1 and 10"),
    ("x", "between 1 and 10"),
    ([f"v{i}" for i in range(11)], "at most 10"),
    (["sin"], "function or constant name"),
    (["e"], "function or constant name"),
    (["x", "x"], "listed twice"),
    (["1x"], "not a valid variable name"),
    (["x-y"], "not a valid variable name"),
    (["ｘ"], "not a valid variable name"),
    ([3], "not a valid variable name"),
])
def test_bad_variable_lists_are_errors_on_function_variables(variables, fragment):
    with pytest.raises(ExpressionError) as caught:
        parse_expression("1", variables)
    assert caught.value.field == "function.variables"
    assert fragment in caught.value.message


@pytest.mark.parametrize("bounds, fragment", [
    ([[-1, 1]], "one [low, high] pair per variable"),
    ([[-1, 1], [2, 1]], "low < high"),
    ([[-1, 1], [0, float("inf")]], "finite"),
    ([[-1, 1], "ab"], "not a [low, high] pair"),
])
def test_bad_bounds_are_errors_on_function_bounds(bounds, fragment):
    with pytest.raises(SpecError) as caught:
        build_expression_objective("x + y", XY, bounds)
    assert caught.value.field == "function.bounds"
    assert fragment in caught.value.message


def test_objective_metadata():
    objective = build_expression_objective("x**2 + 3*y**2", XY)
    assert objective.name == "x**2 + 3*y**2"
    assert objective.dims == 2
    assert objective.parameter_names == ("x", "y")
    assert objective.bounds == ((-5.0, 5.0), (-5.0, 5.0))
    assert objective.start is None
    assert objective.stationary_points == ()
    assert objective.n_samples == 0
    custom = build_expression_objective("x + y", XY, [[0, 1], [-2, 3]])
    assert custom.bounds == ((0.0, 1.0), (-2.0, 3.0))


def test_kernel_evaluates_a_batch_of_points_with_exact_gradient():
    objective = build_expression_objective("x**2 + 3*y**2 + x*y", XY)
    points = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]])
    loss, grad = objective.evaluate(points)
    x, y = points[:, 0], points[:, 1]
    np.testing.assert_array_equal(loss, x**2 + 3 * y**2 + x * y)
    np.testing.assert_array_equal(grad, np.stack([2 * x + y, 6 * y + x], axis=1))


@pytest.mark.parametrize("formula, point, expected_value", [
    ("log(x)", -1.0, "nan"),
    ("log(x)", 0.0, "-inf"),
    ("1/x", 0.0, "inf"),
    ("x**-2", 0.0, "inf"),
    ("sqrt(x)", -4.0, "nan"),
    ("acos(x)", 2.0, "nan"),
    ("exp(x)", 1000.0, "inf"),
    ("x**0.5", -1.0, "nan"),
])
def test_undefined_points_give_nan_or_inf_not_an_exception(formula, point, expected_value):
    objective = build_expression_objective(formula, ["x"])
    loss, grad = objective.evaluate(np.array([[point]]))
    np.testing.assert_array_equal(loss, [float(expected_value)])
    assert grad.shape == (1, 1)


def _central_difference_gradient(function, point, step=1e-6):
    gradient = np.empty_like(point)
    for i in range(point.size):
        forward, backward = point.copy(), point.copy()
        forward[i] += step
        backward[i] -= step
        gradient[i] = (function(forward) - function(backward)) / (2 * step)
    return gradient


SMOOTH = [
    ("x**2 + 3*y**2", (0.7, -1.2)),
    ("sin(x)*cos(y) + exp(x*y)/(1 + y**2)", (0.3, 0.8)),
    ("(x**2+y-11)**2+(x+y**2-7)**2", (1.5, -0.5)),
    ("atan(x*y) + sqrt(x**2 + y**2) + log(1 + x**2)", (0.4, -0.9)),
    ("tanh(x)**3 * cosh(y) - sinh(x - y)", (0.2, 0.6)),
    ("x**y", (1.3, 0.7)),
]


@pytest.mark.parametrize("formula, point", SMOOTH)
def test_gradient_and_hessian_match_finite_differences(formula, point):
    objective = build_expression_objective(formula, XY)
    x = np.array(point)

    def value(p):
        return objective.value(p[None, :])[0]

    def gradient(p):
        return objective.gradient(p[None, :])[0]

    np.testing.assert_allclose(objective.gradient(x)[0],
                               _central_difference_gradient(value, x), rtol=1e-6, atol=1e-6)
    hessian = objective.hessian(x[None, :])[0]
    expected = np.stack([_central_difference_gradient(lambda p, j=j: gradient(p)[j], x)
                         for j in range(2)])
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(hessian, hessian.T)


def test_hessian_of_abs_is_zero_away_from_the_kink():
    objective = build_expression_objective("abs(x) + y**2", XY)
    hessian = objective.hessian(np.array([[1.5, 0.0], [-1.0, 2.0]]))
    np.testing.assert_array_equal(hessian, [[[0, 0], [0, 2]], [[0, 0], [0, 2]]])


def test_huge_formulas_are_refused_before_slow_compilation():
    quotient = "/".join(f"(x+{i})" for i in range(1, 60))
    quotient = quotient[: quotient.rfind("/", 0, 400)]
    with pytest.raises(ExpressionError, match="operations once compiled"):
        compile_expression(quotient, ["x"])


def test_same_formula_is_compiled_once_per_process():
    first = build_expression_objective("x**2 + sin(y)", XY)
    second = build_expression_objective("x**2 + sin(y)", XY)
    assert first.kernel is second.kernel
    assert compile_expression("x**2 + sin(y)", XY) is compile_expression("x**2 + sin(y)", XY)


def test_parsing_never_sympifies_or_evals_user_text(monkeypatch):
    import builtins

    def no_eval(*args, **kwargs):
        raise AssertionError("eval called")

    sympify_module = sys.modules["sympy.core.sympify"]
    real_sympify = sympify_module.sympify

    def sympify_without_strings(value, *args, **kwargs):
        assert not isinstance(value, str), f"sympify called on text {value!r}"
        return real_sympify(value, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", no_eval)
    monkeypatch.setattr(sympify_module, "sympify", sympify_without_strings)
    monkeypatch.setattr(sympy, "sympify", sympify_without_strings)
    tree = parse_expression("x**2 + 3*y**2 - sin(x)/2 + e**pi", XY)
    x, y = sympy.symbols("x y", real=True)
    assert sympy.simplify(tree - (x**2 + 3 * y**2 - sympy.sin(x) / 2 + sympy.E**sympy.pi)) == 0
    for hostile in ("__import__('os').system('true')", "exec('1')", "eval", "getattr(x, 'y')"):
        with pytest.raises(ExpressionError):
            parse_expression(hostile, XY)


# ---------------------------------------------------------------------------------------------
# Property tests

TOKENS = ["x", "y", "z", "1", "2.5", "1e3", "1e999", "+", "-", "*", "/", "**", "^", "(", ")",
          "sin", "log", "sqrt", "abs", "pi", "e", "foo", ",", ".", "[", "]", "'", "__import__",
          " ", "lambda", "0", "100", "1000", "_"]


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_random_text_only_ever_raises_expression_error(text):
    try:
        parse_expression(text, XY)
    except ExpressionError:
        pass


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_token_soup_only_ever_raises_expression_error(tokens):
    try:
        tree = parse_expression("".join(tokens), XY)
    except ExpressionError:
        return
    assert tree.free_symbols <= set(sympy.symbols("x y", real=True))


SMOOTH_FUNCTIONS = ["sin", "cos", "tanh", "atan", "exp"]


def _smooth_formulas() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["x", "y", "0.5", "2", "pi", "e"])

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(children, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}"),
            st.tuples(st.sampled_from(SMOOTH_FUNCTIONS), children).map(
                lambda t: f"{t[0]}({t[1]})"),
            children.map(lambda c: f"{c} / (1 + ({c})**2)"),
            children.map(lambda c: f"-{c}"),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_smooth_formulas(), st.tuples(st.floats(-1, 1), st.floats(-1, 1)))
def test_generated_formulas_have_gradients_matching_finite_differences(formula, point):
    compiled = compile_expression(formula, XY)
    evaluate = compiled.value_and_gradient()
    x = np.array(point)
    result = evaluate(x[None, :])[0]
    if not np.all(np.isfinite(result)) or np.max(np.abs(result)) > 1e6:
        return
    expected = _central_difference_gradient(lambda p: evaluate(p[None, :])[0, 0], x)
    np.testing.assert_allclose(result[1:], expected, rtol=1e-5, atol=1e-5)


def test_numpy_evaluator_and_numba_kernel_agree():
    formula = "sin(x)*cos(y) + exp(x*y)/(1 + y**2) + abs(x - y)**3"
    objective = build_expression_objective(formula, XY)
    points = np.random.default_rng(0).uniform(-2, 2, (50, 2))
    loss, grad = objective.evaluate(points)
    reference = compile_expression(formula, XY).value_and_gradient()(points)
    np.testing.assert_allclose(loss, reference[:, 0], rtol=1e-14)
    np.testing.assert_allclose(grad, reference[:, 1:], rtol=1e-13, atol=1e-14)


def test_limits_are_the_documented_ones():
    assert expression_module.MAX_LENGTH == 500
    assert expression_module.MAX_DEPTH == 50
    assert expression_module.MAX_EXPONENT == 100
    assert expression_module.MAX_VARIABLES == 10
