"""The whitelisting expression parser: what it accepts exactly, and what it refuses, fast."""

from __future__ import annotations

import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sympy import Rational, symbols

from symbackprop.core.expr import ExprError, parse_expression
from symbackprop.registry import Sigmoid, expression_functions

EXPRESSION_FUNCTIONS = expression_functions()

x, y, z = symbols("x y z")
SYMBOLS = {"x": x, "y": y, "z": z}


def parse(text: str) -> sympy.Expr:
    return parse_expression(text, SYMBOLS, EXPRESSION_FUNCTIONS)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(x + y)*z", (x + y) * z),
        ("x - y - z", x - y - z),
        ("x / y / z", x / y / z),
        ("2**3**2", sympy.Integer(512)),
        ("-x**2", -(x**2)),
        ("2**-1", Rational(1, 2)),
        ("0.5*x", Rational(1, 2) * x),
        ("1e-3 + .25 + 2.", Rational(1, 1000) + Rational(1, 4) + 2),
        ("sigmoid(x*y + 1)", Sigmoid(x * y + 1)),
        ("max(x, y, 0)", sympy.Max(x, y, 0)),
        ("exp(log(sqrt(x)))", sympy.sqrt(x)),
        ("  x\n +\t y ", x + y),
    ],
)
def test_accepts_arithmetic_exactly(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('touch pwned')", "__"),
        ("().__class__.__bases__", "attribute"),
        ("x.real", "attribute"),
        ("x[0]", "subscript"),
        ("lambda: 0", "lambda"),
        ("'abc'", "string"),
        ("x ^ 2", "**"),
        ("exec(x)", "unknown function"),
        ("foo", "undefined symbol 'foo'"),
        ("x(y)", "not a function"),
        ("sigmoid", "must be called"),
        ("sigmoid(x, y)", "argument"),
        ("x = 1", "assignment"),
        ("x y", "missing operator"),
        ("(x + y", "missing ')'"),
        ("x + y)", "unexpected ')'"),
        ("", "empty"),
        ("9!!!", "unexpected character"),
        ("\u0445 + 1", "unexpected character"),  # Cyrillic look-alike of x
        ("\x00\xff", "unexpected character"),
        ("1/0", "undefined"),
        ("x**(10**10**10)", "too large"),
        ("10**10**10", "too large"),
        ("1" * 101, "too large"),
        ("x" + "+x" * 5000, "longer than 10000"),
        ("(" * 201 + "x" + ")" * 201, "nested deeper than 200"),
        ("-" * 300 + "x", "nested deeper than 200"),
    ],
)
def test_refuses_everything_else_with_a_message(text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExprError) as info:
        parse(text)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_undefined_symbol_error_names_it():
    with pytest.raises(ExprError) as info:
        parse("x + later")
    assert info.value.name == "later"


# A random expression tree, printed in the parser's own syntax, parses back to itself.
leaves = st.sampled_from(["x", "y", "z", "2", "3", "0.5"])


def _tree(children):
    binary = st.tuples(st.sampled_from(["+", "-", "*", "/"]), children, children).map(
        lambda t: f"({t[1]} {t[0]} {t[2]})"
    )
    call = st.tuples(st.sampled_from(["sigmoid", "tanh", "exp", "relu"]), children).map(lambda t: f"{t[0]}({t[1]})")
    power = children.map(lambda c: f"({c})**2")
    return binary | call | power


@settings(max_examples=100, deadline=None)
@given(st.recursive(leaves, _tree, max_leaves=8))
def test_round_trip_through_python_semantics(text):
    try:
        parsed = parse(text)
    except ExprError as err:  # only a division by zero may be refused
        assert "undefined" in str(err)
        assume(False)
    namespace = {"x": x, "y": y, "z": z, "sigmoid": Sigmoid, "tanh": sympy.tanh, "exp": sympy.exp}
    namespace["relu"] = EXPRESSION_FUNCTIONS["relu"][0]
    # the reference builds the same tree with SymPy operators directly (our own test text only)
    expected = _build(text, namespace)
    assert sympy.simplify(parsed - expected) == 0 or parsed == expected


def _build(text: str, namespace: dict) -> sympy.Expr:
    """Reference construction by a second, independent recursive-descent reading."""
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    position = 0

    def atom():
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "(":
            value = expr()
            position += 1  # ")"
        elif token in namespace and token not in ("x", "y", "z"):
            position += 1  # "("
            value = namespace[token](expr())
            position += 1  # ")"
        elif token in ("x", "y", "z"):
            value = namespace[token]
        else:
            value = sympy.Rational(token)
        while position < len(tokens) and tokens[position].startswith("**"):
            position += 1
            value = value ** sympy.Integer(2)
        return value

    def expr():
        nonlocal position
        value = atom()
        while position < len(tokens) and tokens[position] in "+-*/":
            op = tokens[position]
            position += 1
            right = atom()
            value = {"+": value + right, "-": value - right, "*": value * right, "/": value / right}[op]
        return value

    return expr()
