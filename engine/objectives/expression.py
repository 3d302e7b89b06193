"""Expression functions (SPEC.md §3.2): a formula the user types, e.g. ``x**2 + 3*y**2``.

Safety first: the text is never handed to Python (no ``eval``) nor to ``sympy.sympify`` /
``parse_expr`` (which ``eval`` under the hood). A hand-written tokenizer and a
recursive-descent parser accept only this grammar and build the sympy tree from sympy's
constructors::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom (("**" | "^") unary)?          right-associative: 2**3**2 = 2**9
    atom    := number | variable | "pi" | "e" | function "(" sum ")" | "(" sum ")"

Every limit (length, tokens, nesting depth, exponent size, tree size, size of the
derivatives) is checked *before* the work it guards, so a hostile formula is refused fast
instead of hanging sympy.

Gradient and Hessian are exact: ``sympy.diff`` of the parsed tree. Code generation walks the
(whitelisted) tree after common-subexpression elimination (``sympy.cse``) and prints Python
source for an ``@njit(OBJECTIVE_SIGNATURE)`` kernel, compiled with ``exec``: the source comes
only from whitelisted nodes, never from the user's text. The kernel uses numba's
``error_model="numpy"`` and float exponents for negative powers, so ``1/x`` at 0 gives inf and
``log(x)`` at x < 0 gives nan instead of raising.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy
from numba import njit

from engine.errors import ExpressionError
from engine.kernels import HESSIAN_SIGNATURE, OBJECTIVE_SIGNATURE
from engine.objectives.base import Objective

MAX_LENGTH = 500
MAX_TOKENS = 400
MAX_DEPTH = 50
MAX_EXPONENT = 100
MAX_VARIABLES = 10
MAX_TREE_NODES = 2_000
MAX_GRADIENT_NODES = 30_000
# Arithmetic operations of value + gradient after common-subexpression elimination. numba's
# compile time grows with it (about 5 s at 600): past the cap the formula is refused.
MAX_KERNEL_OPERATIONS = 800
# Past this size the symbolic Hessian costs seconds to minutes: use differences of the
# exact gradient instead (see _central_difference_hessian).
MAX_SYMBOLIC_HESSIAN_NODES = 20_000
MAX_CONSTANT_BITS = 1_100  # a constant must fit a float64 (2**1024) with some slack
DEFAULT_BOUND = 5.0
KERNEL_CACHE_SIZE = 64

EXPRESSION_FIELD = "function.expression"
VARIABLES_FIELD = "function.variables"
BOUNDS_FIELD = "function.bounds"

FUNCTIONS: dict[str, type[sympy.Function]] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,  # a helper returning Pow(arg, 1/2), not a class; fine for calling
    "abs": sympy.Abs,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "arctan": sympy.atan,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    # aliases
    "ln": sympy.log,
    "atan": sympy.atan,
    "asin": sympy.asin,
    "acos": sympy.acos,
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
RESERVED_NAMES = frozenset(FUNCTIONS) | frozenset(CONSTANTS)
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
WHITESPACE = frozenset(" \t\r\n")

# Node classes a parsed formula may contain (sympy may rewrite what the user typed, e.g.
# sqrt(x**2) -> Abs(x), log(e) -> 1, but only into these).
_PARSED_NODE_TYPES: tuple[type, ...] = (
    sympy.Symbol,
    sympy.Add,
    sympy.Mul,
    sympy.Pow,
    sympy.sin,
    sympy.cos,
    sympy.tan,
    sympy.exp,
    sympy.log,
    sympy.Abs,
    sympy.tanh,
    sympy.sinh,
    sympy.cosh,
    sympy.atan,
    sympy.asin,
    sympy.acos,
)


class _SizeLimit(Exception):
    """Internal: a tree has more nodes than allowed."""


def _allowed_names_text(variables: list[str]) -> str:
    functions = ", ".join(sorted(FUNCTIONS))
    return f"allowed: {', '.join(variables)}, pi, e, {functions}"


# --------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "number" | "name" | "op" | "end"
    text: str
    position: int


_CHARACTER_HINTS = {
    ".": "attribute access is not allowed",
    ",": "functions take a single argument",
    "[": "indexing is not allowed",
    "]": "indexing is not allowed",
    "=": "comparisons and assignments are not allowed",
    "<": "comparisons are not allowed",
    ">": "comparisons are not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "@": "matrix multiplication is not allowed",
    "%": "the modulo operator is not allowed",
    ";": "only one expression is allowed",
    ":": "only one expression is allowed",
}


def _describe_character(character: str) -> str:
    if character.isascii() and character.isprintable():
        return repr(character)
    return f"{character!r} (U+{ord(character):04X})"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        character = text[i]
        if character in WHITESPACE:
            i += 1
            continue
        if character.isascii() and (character.isdigit() or (
            character == "." and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit()
        )):
            match = NUMBER.match(text, i)
            assert match is not None
            tokens.append(_Token("number", match.group(), i))
            i = match.end()
        elif character.isascii() and (character.isalpha() or character == "_"):
            match = VARIABLE_NAME.match(text, i)
            assert match is not None
            tokens.append(_Token("name", match.group(), i))
            i = match.end()
        elif text.startswith("**", i):
            tokens.append(_Token("op", "**", i))
            i += 2
        elif character in "+-*/^()":
            tokens.append(_Token("op", character, i))
            i += 1
        else:
            hint = _CHARACTER_HINTS.get(character, "")
            if not character.isascii():
                hint = "only ASCII letters, digits, spaces and + - * / ** ^ ( ) are allowed"
            message = f"character {_describe_character(character)} at position {i} is not allowed"
            raise ExpressionError(f"{message}: {hint}" if hint else message)
        if len(tokens) > MAX_TOKENS:
            raise ExpressionError(f"the expression has more than {MAX_TOKENS} tokens")
    tokens.append(_Token("end", "", n))
    return tokens


# --------------------------------------------------------------------------------------------
# Parser


def _short(number: sympy.Expr) -> str:
    text = str(number)
    return text if len(text) <= 20 else f"{text[:8]}... ({len(text)} characters)"


def _finite_real_constant(node: sympy.Expr) -> bool:
    if node in (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        return False
    if not node.is_Number:
        return True
    if node.is_Integer or node.is_Rational:
        return abs(node.p).bit_length() - abs(node.q).bit_length() <= MAX_CONSTANT_BITS
    return math.isfinite(float(node))


class _Parser:
    def __init__(self, text: str, variables: list[str]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.variable_names = variables
        self.symbols = {name: sympy.Symbol(name, real=True) for name in variables}

    # -- helpers ------------------------------------------------------------------------------
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def fail_unexpected(self, expected: str) -> None:
        token = self.token
        if token.kind == "end":
            raise ExpressionError(f"the expression ends early at position {token.position}: "
                                  f"expected {expected}")
        raise ExpressionError(f"unexpected {token.text!r} at position {token.position}: "
                              f"expected {expected}")

    def checked(self, node: sympy.Expr, position: int) -> sympy.Expr:
        """Refuse constants that are not finite reals and exponents over the limit, right
        where they appear (sympy folds ``x**60 * x**60`` to ``x**120``, so look one level
        into what was just built)."""
        for part in (node, *node.args):
            if part is sympy.I:
                raise ExpressionError(
                    f"the expression is not real-valued at position {position} "
                    "(square root or logarithm of a negative constant)")
            if not _finite_real_constant(part):
                raise ExpressionError(
                    f"the constant at position {position} is not a finite number "
                    "(division by zero or overflow)")
            if part.is_Pow and part.exp.is_Number and abs(part.exp) > MAX_EXPONENT:
                raise ExpressionError(
                    f"exponent {_short(part.exp)} at position {position} is too large "
                    f"(|exponent| <= {MAX_EXPONENT})")
        return node

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> sympy.Expr:
        node = self.parse_sum()
        if self.token.kind != "end":
            token = self.token
            known = token.kind == "number" or token.text == "(" or (
                token.kind == "name" and (token.text in self.symbols
                                          or token.text in RESERVED_NAMES))
            if token.kind == "name" and not known:
                raise ExpressionError(
                    f"unexpected name {token.text!r} at position {token.position}: expected an "
                    "operator or the end of the expression")
            if known:
                raise ExpressionError(
                    f"missing operator before {token.text!r} at position {token.position} "
                    "(implicit multiplication is not allowed: write 2*x, not 2x)")
            self.fail_unexpected("an operator or the end of the expression")
        return node

    def parse_sum(self) -> sympy.Expr:
        node = self.parse_product()
        while self.at_op("+", "-"):
            operator = self.advance()
            right = self.parse_product()
            if operator.text == "-":
                right = sympy.Mul(sympy.S.NegativeOne, right)
            node = self.checked(sympy.Add(node, right), operator.position)
        return node

    def parse_product(self) -> sympy.Expr:
        node = self.parse_unary()
        while self.at_op("*", "/"):
            operator = self.advance()
            right = self.parse_unary()
            if operator.text == "/":
                right = self.checked(sympy.Pow(right, sympy.S.NegativeOne), operator.position)
            node = self.checked(sympy.Mul(node, right), operator.position)
        return node

    def parse_unary(self) -> sympy.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is nested more than {MAX_DEPTH} levels deep "
                f"at position {self.token.position}")
        try:
            if self.at_op("-"):
                operator = self.advance()
                operand = self.parse_unary()
                return self.checked(sympy.Mul(sympy.S.NegativeOne, operand), operator.position)
            if self.at_op("+"):
                self.advance()
                return self.parse_unary()
            return self.parse_power()
        finally:
            self.depth -= 1

    def parse_power(self) -> sympy.Expr:
        base = self.parse_atom()
        if not self.at_op("**", "^"):
            return base
        operator = self.advance()
        exponent = self.parse_unary()
        position = operator.position
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponent {_short(exponent)} at position {position} is too large "
                f"(|exponent| <= {MAX_EXPONENT})")
        if base.is_Number and exponent.is_Number and base != 0:
            # Estimate the size of base**exponent before sympy computes it exactly.
            bits = float(abs(exponent)) * abs(math.log2(abs(float(base)))) if abs(
                float(base)) != math.inf else math.inf
            if bits > MAX_CONSTANT_BITS:
                raise ExpressionError(
                    f"the constant power at position {position} is too large")
        return self.checked(sympy.Pow(base, exponent), position)

    def parse_atom(self) -> sympy.Expr:
        token = self.token
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "name":
            self.advance()
            if self.at_op("("):
                return self.function_call(token)
            return self.name(token)
        if self.at_op("("):
            self.advance()
            node = self.parse_sum()
            if not self.at_op(")"):
                self.fail_unexpected(f"')' to close the '(' at position {token.position}")
            self.advance()
            return node
        self.fail_unexpected("a number, a variable, a function or '('")
        raise AssertionError("unreachable")

    def number(self, token: _Token) -> sympy.Expr:
        value = float(token.text)
        if not math.isfinite(value):
            raise ExpressionError(f"number {token.text!r} at position {token.position} "
                                  "is too large for a float64")
        if re.fullmatch(r"[0-9]+", token.text):
            return sympy.Integer(int(token.text))
        return sympy.Float(value)

    def name(self, token: _Token) -> sympy.Expr:
        if token.text in self.symbols:
            return self.symbols[token.text]
        if token.text in CONSTANTS:
            return CONSTANTS[token.text]
        if token.text in FUNCTIONS:
            raise ExpressionError(f"function {token.text!r} at position {token.position} "
                                  f"needs an argument in parentheses: {token.text}(...)")
        raise ExpressionError(f"unknown name {token.text!r} at position {token.position}; "
                              f"{_allowed_names_text(self.variable_names)}")

    def function_call(self, token: _Token) -> sympy.Expr:
        function = FUNCTIONS.get(token.text)
        if function is None:
            if token.text in self.symbols or token.text in CONSTANTS:
                raise ExpressionError(
                    f"{token.text!r} at position {token.position} is not a function "
                    f"(write {token.text}*(...) to multiply)")
            raise ExpressionError(
                f"unknown function {token.text!r} at position {token.position}; "
                f"allowed functions: {', '.join(sorted(FUNCTIONS))}")
        self.advance()  # "("
        if self.at_op(")"):
            raise ExpressionError(f"function {token.text!r} at position {token.position} "
                                  "needs an argument")
        argument = self.parse_sum()
        if not self.at_op(")"):
            self.fail_unexpected(f"')' to close {token.text}( at position {token.position}")
        self.advance()
        return self.checked(function(argument), token.position)


def _count_nodes(expressions: list[sympy.Expr], limit: int) -> int:
    """Number of nodes of the trees (as trees, shared subtrees counted each time), stopping
    as soon as ``limit`` is passed so a huge tree costs no more than ``limit`` steps."""
    count = 0
    for expression in expressions:
        for _ in sympy.preorder_traversal(expression):
            count += 1
            if count > limit:
                raise _SizeLimit
    return count


def validate_variables(variables: object) -> list[str]:
    """The variable list: 1..10 distinct ASCII identifiers that are not function or constant
    names. Raises ``ExpressionError`` on ``function.variables``."""
    if not isinstance(variables, (list, tuple)) or not variables:
        raise ExpressionError("give between 1 and 10 variable names, e.g. [\"x\", \"y\"]",
                              VARIABLES_FIELD)
    if len(variables) > MAX_VARIABLES:
        raise ExpressionError(f"{len(variables)} variables given; at most {MAX_VARIABLES}",
                              VARIABLES_FIELD)
    seen: set[str] = set()
    for name in variables:
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name) or len(name) > 50:
            raise ExpressionError(
                f"{name!r} is not a valid variable name (letters, digits and _, starting "
                "with a letter or _, at most 50 characters)", VARIABLES_FIELD)
        if name in RESERVED_NAMES:
            raise ExpressionError(f"{name!r} is a function or constant name and cannot be a "
                                  "variable", VARIABLES_FIELD)
        if name in seen:
            raise ExpressionError(f"variable {name!r} is listed twice", VARIABLES_FIELD)
        seen.add(name)
    return list(variables)


def formula_variables(expression: str) -> list[str]:
    """The variables a formula uses when it does not list them (docs/spec.md §3.2): every
    name that is not a function or a constant, in alphabetical (character) order, so
    ``"y**2 + x"`` gives ``["x", "y"]``. A name followed by ``(`` is a call, not a variable.
    Raises ``ExpressionError`` for text the tokenizer refuses, no variable at all, or more
    than ``MAX_VARIABLES``."""
    if not isinstance(expression, str):
        raise ExpressionError("the expression must be a string")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(expression)} characters long; at most {MAX_LENGTH}")
    tokens = _tokenize(expression)
    names = sorted({
        token.text for token, following in itertools.pairwise(tokens)
        if token.kind == "name" and token.text not in RESERVED_NAMES
        and not (following.kind == "op" and following.text == "(")
    })
    if not names:
        raise ExpressionError("the expression uses no variable; list them in variables, "
                              "e.g. [\"x\"]", VARIABLES_FIELD)
    if len(names) > MAX_VARIABLES:
        raise ExpressionError(f"the expression uses {len(names)} variables "
                              f"({', '.join(names)}); at most {MAX_VARIABLES}", VARIABLES_FIELD)
    return validate_variables(names)


def parse_expression(expression: str, variables: list[str]) -> sympy.Expr:
    """Parse ``expression`` over ``variables`` into a sympy tree of whitelisted nodes.

    Raises ``ExpressionError`` (field ``function.expression``, or ``function.variables``) that
    says what is not allowed and where. Never evaluates the text as Python.
    """
    variables = validate_variables(variables)
    if not isinstance(expression, str):
        raise ExpressionError("the expression must be a string")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(expression)} characters long; at most {MAX_LENGTH}")
    if not expression.strip():
        raise ExpressionError("the expression is empty")
    tree = _Parser(expression, variables).parse()
    try:
        _count_nodes([tree], MAX_TREE_NODES)
    except _SizeLimit:
        raise ExpressionError(f"the expression is too large (more than {MAX_TREE_NODES} "
                              "nodes once parsed)") from None
    for node in sympy.preorder_traversal(tree):
        if node.is_Number:
            if not (node.is_real and _finite_real_constant(node)):
                raise ExpressionError("the expression contains a constant that is not a "
                                      "finite real number")
        elif node in (sympy.pi, sympy.E):
            continue
        elif not isinstance(node, _PARSED_NODE_TYPES):
            raise ExpressionError(
                f"the expression simplifies to {node}, which is not a real-valued formula "
                "(e.g. sqrt or log of a negative constant)")
    return tree


# --------------------------------------------------------------------------------------------
# Code generation


_MATH_FUNCTIONS = {
    sympy.sin: "math.sin", sympy.cos: "math.cos", sympy.tan: "math.tan",
    sympy.exp: "math.exp", sympy.log: "math.log", sympy.tanh: "math.tanh",
    sympy.sinh: "math.sinh", sympy.cosh: "math.cosh", sympy.atan: "math.atan",
    sympy.asin: "math.asin", sympy.acos: "math.acos", sympy.Abs: "abs",
    sympy.sign: "np.sign",
}
_NUMPY_FUNCTIONS = {
    sympy.sin: "np.sin", sympy.cos: "np.cos", sympy.tan: "np.tan",
    sympy.exp: "np.exp", sympy.log: "np.log", sympy.tanh: "np.tanh",
    sympy.sinh: "np.sinh", sympy.cosh: "np.cosh", sympy.atan: "np.arctan",
    sympy.asin: "np.arcsin", sympy.acos: "np.arccos", sympy.Abs: "np.abs",
    sympy.sign: "np.sign",
}


class _Emitter:
    """Prints a whitelisted sympy tree as Python source (scalar ``math`` or array ``np``)."""

    def __init__(self, names: dict[sympy.Symbol, str], numpy_mode: bool) -> None:
        self.names = names
        self.functions = _NUMPY_FUNCTIONS if numpy_mode else _MATH_FUNCTIONS
        self.module = "np" if numpy_mode else "math"

    def __call__(self, node: sympy.Expr) -> str:
        if node.is_Symbol:
            if node not in self.names:
                raise ExpressionError(f"internal: unexpected symbol {node}")
            return self.names[node]
        if node.is_Number:
            value = float(node)
            if not math.isfinite(value):
                raise ExpressionError("a derivative contains a constant that is not finite")
            return f"({value!r})" if value < 0 else repr(value)
        if node == sympy.pi:
            return f"{self.module}.pi"
        if node == sympy.E:
            return f"{self.module}.e"
        if node.is_Add:
            return "(" + " + ".join(self(arg) for arg in node.args) + ")"
        if node.is_Mul:
            return "(" + " * ".join(self(arg) for arg in node.args) + ")"
        if node.is_Pow:
            base = self(node.base)
            exponent = node.exp
            if exponent == sympy.S.Half:
                return f"{self.module}.sqrt({base})"
            if exponent == -sympy.S.Half:
                return f"(1.0 / {self.module}.sqrt({base}))"
            if exponent.is_Integer:
                # numba's integer power raises on 0**-n: divide instead (gives inf).
                if exponent < 0:
                    return f"(1.0 / ({base} ** {int(-exponent)}))"
                return f"({base} ** {int(exponent)})"
            return f"({base} ** {self(exponent)})"
        if isinstance(node, sympy.DiracDelta):
            return "0.0"  # the Hessian of abs away from its kink
        if isinstance(node, sympy.re):
            return self(node.args[0])  # every value here is real
        if isinstance(node, sympy.im):
            return "0.0"
        function = self.functions.get(type(node))
        if function is not None:
            return f"{function}({self(node.args[0])})"
        raise ExpressionError(f"the derivative contains {type(node).__name__}, which cannot "
                              "be compiled; simplify the expression")


def _cse(expressions: list[sympy.Expr]) -> tuple[list[tuple[sympy.Symbol, sympy.Expr]],
                                                 list[sympy.Expr]]:
    replacements, reduced = sympy.cse(
        expressions, symbols=sympy.numbered_symbols("cse", cls=sympy.Dummy), order="none")
    return replacements, list(reduced)


def _assignments(replacements, emitter: _Emitter, names: dict, indent: str) -> list[str]:
    lines = []
    for index, (symbol, value) in enumerate(replacements):
        names[symbol] = f"t{index}"
        lines.append(f"{indent}t{index} = {emitter(value)}")
    return lines


def _row_kernel_source(signature: str, symbols: list[sympy.Symbol], replacements: list,
                       body: Callable[[_Emitter], list[str]]) -> str:
    """Source of a numba kernel over the rows of ``x``: each row's variables ``v<i>``, the CSE
    temporaries, then the lines ``body`` writes with the row's emitter."""
    names = {symbol: f"v{i}" for i, symbol in enumerate(symbols)}
    emitter = _Emitter(names, numpy_mode=False)
    indent = " " * 8
    lines = [f"def {signature}:", "    for r in range(x.shape[0]):"]
    lines += [f"{indent}v{i} = x[r, {i}]" for i in range(len(symbols))]
    lines += _assignments(replacements, emitter, names, indent)
    lines += [indent + line for line in body(emitter)]
    return "\n".join(lines) + "\n"


def _kernel_source(replacements: list, reduced: list[sympy.Expr],
                   symbols: list[sympy.Symbol]) -> str:
    """Source of the numba kernel from the CSE'd value (``reduced[0]``) and gradient."""
    return _row_kernel_source(
        "expression_kernel(x, consts, data, batch, loss_out, grad_out)", symbols, replacements,
        lambda emitter: [f"loss_out[r] = {emitter(reduced[0])}"] + [
            f"grad_out[r, {i}] = {emitter(entry)}" for i, entry in enumerate(reduced[1:])])


def _hessian_kernel_source(entries: list[sympy.Expr], symbols: list[sympy.Symbol]) -> str:
    """Source of the numba Hessian kernel (``engine.kernels.HESSIAN_SIGNATURE``)
    from the row-major second derivatives: the upper triangle, CSE'd, mirrored."""
    d = len(symbols)
    upper = [(i, j) for i in range(d) for j in range(i, d)]
    replacements, reduced = _cse([entries[i * d + j] for i, j in upper])

    def body(emitter: _Emitter) -> list[str]:
        lines = []
        for (i, j), entry in zip(upper, reduced):
            lines.append(f"hess_out[r, {i}, {j}] = {emitter(entry)}")
            if i != j:
                lines.append(f"hess_out[r, {j}, {i}] = hess_out[r, {i}, {j}]")
        return lines

    return _row_kernel_source("expression_hessian_kernel(x, consts, data, batch, hess_out)",
                              symbols, replacements, body)


def numpy_source(name: str, entries: list[sympy.Expr], targets: list[str],
                  symbols: list[sympy.Symbol], out_shape: str) -> str:
    names = {symbol: f"v{i}" for i, symbol in enumerate(symbols)}
    emitter = _Emitter(names, numpy_mode=True)
    replacements, reduced = _cse(entries)
    indent = " " * 4
    lines = [f"def {name}(x):"]
    lines += [f"{indent}v{i} = x[:, {i}]" for i in range(len(symbols))]
    lines += _assignments(replacements, emitter, names, indent)
    lines.append(f"{indent}out = np.empty({out_shape})")
    lines += [f"{indent}out[{target}] = {emitter(entry)}"
              for target, entry in zip(targets, reduced)]
    lines.append(f"{indent}return out")
    return "\n".join(lines) + "\n"


def exec_function(source: str, name: str) -> Callable:
    # The source was printed by _Emitter from whitelisted sympy nodes only.
    namespace: dict = {"math": math, "np": np}
    exec(compile(source, f"<descent expression {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _with_ignored_float_errors(function: Callable) -> Callable:
    def wrapped(x: np.ndarray) -> np.ndarray:
        points = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
        with np.errstate(all="ignore"):
            return function(points)

    return wrapped


def _differentiate(expressions: list[sympy.Expr], symbols: list[sympy.Symbol],
                   limit: int) -> list[sympy.Expr]:
    """Every derivative of every expression, row-major; ``_SizeLimit`` as soon as their
    total size passes ``limit`` (checked after each one, so the work stays bounded)."""
    derivatives = []
    total = 0
    for expression in expressions:
        for symbol in symbols:
            derivative = sympy.diff(expression, symbol)
            total += _count_nodes([derivative], limit - total)
            derivatives.append(derivative)
    return derivatives


def _central_difference_hessian(value_and_gradient: Callable, dims: int) -> Callable:
    """Hessian by central differences of the exact gradient, for formulas whose symbolic
    Hessian would be too large: H[:, i, :] = (g(x + s e_i) - g(x - s e_i)) / 2s with
    s = 1e-5 * max(1, |x_i|) (error O(s^2)), symmetrised."""

    def hessian(x: np.ndarray) -> np.ndarray:
        points = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
        result = np.empty((points.shape[0], dims, dims))
        for i in range(dims):
            step = 1e-5 * np.maximum(1.0, np.abs(points[:, i]))
            forward = points.copy()
            backward = points.copy()
            forward[:, i] += step
            backward[:, i] -= step
            with np.errstate(all="ignore"):
                difference = (value_and_gradient(forward)[:, 1:]
                              - value_and_gradient(backward)[:, 1:])
                result[:, i, :] = difference / (2.0 * step[:, None])
        return 0.5 * (result + np.transpose(result, (0, 2, 1)))

    return hessian


@dataclass
class CompiledExpression:
    """A parsed formula with its exact derivatives and compiled evaluators (built lazily)."""

    expression: str
    variables: tuple[str, ...]
    tree: sympy.Expr
    symbols: list[sympy.Symbol]
    gradient: list[sympy.Expr]
    replacements: list  # CSE of [value, *gradient]: (symbol, subexpression) pairs
    reduced: list[sympy.Expr]
    _kernel: Callable | None = None
    _hessian_entries: list[sympy.Expr] | None = None
    _hessian: Callable | None = None
    _hessian_kernel: Callable | None = None
    _value_and_gradient: Callable | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dims(self) -> int:
        return len(self.symbols)

    def kernel(self) -> Callable:
        """The numba kernel (``OBJECTIVE_SIGNATURE``)."""
        with self._lock:
            if self._kernel is None:
                source = _kernel_source(self.replacements, self.reduced, self.symbols)
                python_function = exec_function(source, "expression_kernel")
                kernel = njit(OBJECTIVE_SIGNATURE, error_model="numpy")(python_function)
                # lets engine.analysis find the formula behind an Objective (a numba Dispatcher
                # takes attributes of ours, which its stub cannot declare)
                kernel.descent_expression = (  # type: ignore[attr-defined]
                    self.expression, self.variables)
                self._kernel = kernel
            return self._kernel

    def hessian_entries(self) -> list[sympy.Expr] | None:
        """The d*d second derivatives, row-major; None when they would be too large."""
        if self._hessian_entries is None:
            gradient_size = _count_nodes(self.gradient, MAX_GRADIENT_NODES)
            if gradient_size * self.dims > MAX_SYMBOLIC_HESSIAN_NODES // 10:
                return None  # would take many seconds of sympy work: don't even start
            try:
                self._hessian_entries = _differentiate(self.gradient, self.symbols,
                                                       MAX_SYMBOLIC_HESSIAN_NODES)
            except _SizeLimit:
                return None
        return self._hessian_entries

    def hessian_kernel(self) -> Callable | None:
        """The numba kernel of the exact (symbolic) Hessian
        (``engine.kernels.HESSIAN_SIGNATURE``), compiled on first use; None when
        the second derivatives are too large to derive (then there is no exact Hessian)."""
        entries = self.hessian_entries()
        if entries is None:
            return None
        with self._lock:
            if self._hessian_kernel is None:
                source = _hessian_kernel_source(entries, self.symbols)
                python_function = exec_function(source, "expression_hessian_kernel")
                self._hessian_kernel = njit(HESSIAN_SIGNATURE, error_model="numpy")(
                    python_function)
            return self._hessian_kernel

    def hessian(self) -> Callable[[np.ndarray], np.ndarray]:
        """NumPy ``(R, d) -> (R, d, d)``; non-finite entries where the formula is undefined.
        Exact (symbolic) unless the formula is huge, then central differences of the exact
        gradient."""
        if self._hessian is None:
            d = self.dims
            entries = self.hessian_entries()
            if entries is None:
                self._hessian = _central_difference_hessian(self.value_and_gradient(), d)
                return self._hessian
            targets = [f":, {i}, {j}" for i in range(d) for j in range(d)]
            source = numpy_source("expression_hessian", entries, targets,
                                   self.symbols, f"(x.shape[0], {d}, {d})")
            self._hessian = _with_ignored_float_errors(
                exec_function(source, "expression_hessian"))
        return self._hessian

    def value_and_gradient(self) -> Callable[[np.ndarray], np.ndarray]:
        """NumPy ``(R, d) -> (R, 1 + d)``: column 0 the value, then the gradient. Needs no
        numba compilation (tests and quick checks use it)."""
        if self._value_and_gradient is None:
            targets = [f":, {i}" for i in range(self.dims + 1)]
            source = numpy_source("expression_value_and_gradient", [self.tree, *self.gradient],
                                   targets, self.symbols, f"(x.shape[0], {self.dims + 1})")
            self._value_and_gradient = _with_ignored_float_errors(
                exec_function(source, "expression_value_and_gradient"))
        return self._value_and_gradient


_CACHE: OrderedDict[tuple[str, tuple[str, ...]], CompiledExpression] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def compile_expression(expression: str, variables: list[str]) -> CompiledExpression:
    """Parse and differentiate ``expression`` (LRU-cached per process by text and variables)."""
    key = (expression, tuple(variables) if isinstance(variables, (list, tuple)) else ())
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    tree = parse_expression(expression, variables)
    symbols = [sympy.Symbol(name, real=True) for name in variables]
    try:
        gradient = _differentiate([tree], symbols, MAX_GRADIENT_NODES)
    except _SizeLimit:
        raise ExpressionError(f"the gradient of the expression is too large to compile (more "
                              f"than {MAX_GRADIENT_NODES} nodes); simplify it") from None
    replacements, reduced = _cse([tree, *gradient])
    operations = sum(sympy.count_ops(value) for _, value in replacements) + sum(
        sympy.count_ops(value) for value in reduced)
    if operations > MAX_KERNEL_OPERATIONS:
        raise ExpressionError(f"the expression and its gradient need {operations} operations "
                              f"once compiled; at most {MAX_KERNEL_OPERATIONS}: simplify it")
    compiled = CompiledExpression(expression, tuple(variables), tree, symbols, gradient,
                                  replacements, reduced)
    with _CACHE_LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > KERNEL_CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


def _validate_bounds(bounds: object, dims: int) -> tuple[tuple[float, float], ...]:
    if bounds is None:
        return tuple((-DEFAULT_BOUND, DEFAULT_BOUND) for _ in range(dims))
    if not isinstance(bounds, (list, tuple)) or len(bounds) != dims:
        raise ExpressionError(f"give one [low, high] pair per variable ({dims}), got {bounds!r}",
                              BOUNDS_FIELD)
    checked = []
    for index, pair in enumerate(bounds):
        try:
            low, high = (float(value) for value in pair)
        except (TypeError, ValueError):
            raise ExpressionError(f"entry {index} is {pair!r}, not a [low, high] pair of "
                                  "numbers", BOUNDS_FIELD) from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ExpressionError(f"entry {index} is {pair!r}: need finite low < high",
                                  BOUNDS_FIELD)
        checked.append((low, high))
    return tuple(checked)


def _lazy_hessian(compiled: CompiledExpression) -> Callable[[np.ndarray], np.ndarray]:
    # Second derivatives cost d*d sympy.diff calls: only when someone asks (analysis).
    def hessian(x: np.ndarray) -> np.ndarray:
        return compiled.hessian()(x)

    return hessian


def build_expression_objective(expression: str, variables: list[str],
                               bounds: list[list[float]] | None = None) -> Objective:
    """The ``Objective`` of a typed formula: compiled kernel, exact NumPy Hessian, bounds
    (default [-5, 5] per variable), no standard start (the caller draws one) and no
    stationary points yet (``engine.analysis`` finds them on demand)."""
    compiled = compile_expression(expression, variables)
    checked_bounds = _validate_bounds(bounds, compiled.dims)
    return Objective(
        name=expression,
        dims=compiled.dims,
        kernel=compiled.kernel(),
        consts=np.zeros(0),
        hessian=_lazy_hessian(compiled),
        bounds=checked_bounds,
        start=None,
        stationary_points=(),
        parameter_names=tuple(variables),
    )


def expression_of(objective: Objective) -> CompiledExpression | None:
    """The compiled formula behind an expression objective, or None for other objectives."""
    source = getattr(objective.kernel, "descent_expression", None)
    if source is None:
        return None
    expression, variables = source
    return compile_expression(expression, list(variables))


__all__ = [
    "CompiledExpression",
    "build_expression_objective",
    "compile_expression",
    "expression_of",
    "formula_variables",
    "parse_expression",
    "validate_variables",
]
