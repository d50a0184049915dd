"""Tests for symbackprop.expr: exact parses, specific refusals, adversarial inputs, properties."""

from __future__ import annotations

import ast
import time
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy import Integer, Rational

import symbackprop.core.expr as expr_module
from symbackprop.core.expr import MAX_DEPTH, MAX_LENGTH, ExprError, parse_expression

x, y, z, a, b, c = sympy.symbols("x y z a b c")
SYMBOLS = {"x": x, "y": y, "z": z, "a": a, "b": b, "c": c}
sigmoid = sympy.Function("sigmoid")
FUNCTIONS = {
    "exp": (sympy.exp, 1, 1),
    "log": (sympy.log, 1, 2),
    "sqrt": (sympy.sqrt, 1, 1),
    "tanh": (sympy.tanh, 1, 1),
    "max": (sympy.Max, 2, None),
    "min": (sympy.Min, 2, None),
    "sigmoid": (sigmoid, 1, 1),
}


def parse(text: object, **kwargs: int) -> sympy.Expr:
    return parse_expression(text, SYMBOLS, FUNCTIONS, **kwargs)  # type: ignore[arg-type]


def refusal(text: object, **kwargs: int) -> ExprError:
    with pytest.raises(ExprError) as info:
        parse(text, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert "\n" not in str(err) and "\r" not in str(err)
    return err


# --- what is accepted, exactly ------------------------------------------------------------

VALID = [
    ("x", x),
    ("(x + y)*z", (x + y) * z),
    ("x + y*z", x + y * z),
    ("x*(y + z)", x * (y + z)),
    ("2**3**2", Integer(512)),
    ("(2**3)**2", Integer(64)),
    ("a - b - c", a - b - c),
    ("a - (b - c)", a - b + c),
    ("a / b / c", a / (b * c)),
    ("a / (b / c)", a * c / b),
    ("a * b / c * a", a**2 * b / c),
    ("-x**2", -(x**2)),
    ("(-x)**2", x**2),
    ("-2**2", Integer(-4)),
    ("(-2)**2", Integer(4)),
    ("2**-1", Rational(1, 2)),
    ("2**-x", 2 ** (-x)),
    ("x**-y**2", x ** (-(y**2))),
    ("2**-x*y", y / 2**x),
    ("-x*y", -x * y),
    ("--x", x),
    ("+x", x),
    ("-+-x", x),
    ("x - -y", x + y),
    ("x * -y", -x * y),
    ("0.5*x", Rational(1, 2) * x),
    ("0.01", Rational(1, 100)),
    ("1e-3", Rational(1, 1000)),
    ("2.5E+2", Integer(250)),
    (".5", Rational(1, 2)),
    ("2.", Integer(2)),
    ("1.e2", Integer(100)),
    ("007", Integer(7)),
    ("0.1 + 0.2", Rational(3, 10)),
    ("1" * 100, Integer("1" * 100)),
    ("1e100", Integer(10) ** 100),
    ("1e-100", Rational(1, 10**100)),
    ("10**10", Integer(10) ** 10),
    ("exp(x)", sympy.exp(x)),
    ("exp (x)", sympy.exp(x)),
    ("log(x, 2)", sympy.log(x, 2)),
    ("max(x, y, z)", sympy.Max(x, y, z)),
    ("min(x, 1)", sympy.Min(x, 1)),
    ("max(1, 2)", Integer(2)),
    ("sqrt(4)", Integer(2)),
    ("sigmoid(x)", sigmoid(x)),
    ("exp(log(x))", x),
    ("tanh(sigmoid(x + y)) * exp(-x)", sympy.tanh(sigmoid(x + y)) * sympy.exp(-x)),
    ("max(exp(x), min(y, sqrt(z)), 0)", sympy.Max(sympy.exp(x), sympy.Min(y, sympy.sqrt(z)), 0)),
    ("sqrt(2/3)*exp(-1/2)", sympy.sqrt(Rational(2, 3)) * sympy.exp(Rational(-1, 2))),
    ("  x\n +\t y \r\n", x + y),
    ("x\n*\ny", x * y),
    ("1/(1 + exp(-x))", 1 / (1 + sympy.exp(-x))),
    ("x + 1/0.5", x + 2),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parses_exactly(text: str, expected: sympy.Expr) -> None:
    result = parse(text)
    assert result == expected
    assert isinstance(result, sympy.Expr)
    assert not result.has(sympy.Float)  # decimals are exact rationals


def test_subtraction_and_division_are_left_associative() -> None:
    assert parse("a - b - c") != a - (b - c)
    assert parse("a / b / c") != a / (b / c)


def test_decimal_literal_is_exact_rational() -> None:
    value = parse("0.1")
    assert isinstance(value, sympy.Rational) and value == Rational(1, 10)
    assert parse("0.5*x").args[0] == Rational(1, 2)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH) == x
    assert parse("-" * MAX_DEPTH + "x") == x
    assert parse("exp(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH).has(x)
    assert parse("x**" * MAX_DEPTH + "x").has(x)


def test_long_input_within_the_limit() -> None:
    text = "x" + "+x" * 4999
    assert len(text) == 9999
    assert parse(text) == 5000 * x


def test_symbol_table_can_hold_any_sympy_expression() -> None:
    assert parse_expression("2*pi", {"pi": sympy.pi}, {}) == 2 * sympy.pi


# --- what is refused, with which message ----------------------------------------------------

ERRORS = [
    # Python features
    ("a.b", "attribute access is not allowed"),
    ("x.__class__", "attribute access is not allowed"),
    ("x[0]", "subscripts are not allowed"),
    ("'abc'", "strings are not allowed"),
    ('"abc"', "strings are not allowed"),
    ("lambda: 0", "'lambda' is not allowed"),
    ("import os", "'import' is not allowed"),
    ("[x for x in y]", "subscripts are not allowed"),
    ("x for y", "'for' is not allowed"),
    ("x if y else z", "'if' is not allowed"),
    ("not x", "'not' is not allowed"),
    ("x and y", "'and' is not allowed"),
    ("x or y", "'or' is not allowed"),
    ("x in y", "'in' is not allowed"),
    ("x is y", "'is' is not allowed"),
    ("None", "'None' is not allowed"),
    ("True + x", "'True' is not allowed"),
    ("False", "'False' is not allowed"),
    ("__import__", "names with '__' are not allowed"),
    ("x__y", "names with '__' are not allowed"),
    ("x^2", "use ** for powers"),
    ("x == 1", "comparisons are not allowed"),
    ("x != 1", "comparisons are not allowed"),
    ("x < 1", "comparisons are not allowed"),
    ("x // 2", "floor division '//' is not allowed"),
    ("x % 2", "unexpected character '%'"),
    ("x @ y", "unexpected character '@'"),
    ("x $ y", "unexpected character '$'"),
    ("{x}", "unexpected character '{'"),
    ("9!!!", "unexpected character '!'"),
    ("x;y", "unexpected character ';'"),
    ("\u0445", "unexpected character 'х' (U+0445)"),  # Cyrillic look-alike of x
    ("\uff58", "unexpected character 'ｘ' (U+FF58)"),  # fullwidth x
    ("\x00\xff", "unexpected character U+0000"),
    ("x\u00a0+ y", "unexpected character U+00A0"),
    # structure
    ("", "empty expression"),
    ("   \n\t ", "empty expression"),
    ("(x", "missing ')'"),
    ("exp(x", "missing ')'"),
    ("max(x, y", "missing ')'"),
    ("x)", "unexpected ')'"),
    ("()", "empty parentheses"),
    ("x +", "unexpected end of expression"),
    ("* x", "unexpected '*'"),
    ("x ** * y", "unexpected '*'"),
    ("x y", "missing operator before 'y'"),
    ("x\ny", "missing operator before 'y'"),
    ("2x", "missing operator before 'x'"),
    ("(x)(y)", "missing operator before '('"),
    ("2(x)", "missing operator before '('"),
    ("x, y", "unexpected ','"),
    ("(x, y)", "unexpected ','"),
    ("max(x, )", "unexpected ')'"),
    ("x = 1", "assignment is not allowed"),
    ("exp(x)=1", "assignment is not allowed"),
    ("max(x=1, y)", "keyword arguments are not allowed"),
    ("1e", "invalid number '1e'"),
    ("1e+", "invalid number '1e+'"),
    # names and calls
    ("q", "undefined symbol 'q'"),
    ("foo(x)", "unknown function 'foo'; allowed: exp, log, max, min, sigmoid, sqrt, tanh"),
    ("eval(x)", "unknown function 'eval'"),
    ("exp", "function 'exp' must be called"),
    ("x(1)", "'x' is a symbol, not a function"),
    ("exp(x, y)", "exp() takes exactly 1 argument (2 given)"),
    ("exp()", "exp() takes exactly 1 argument (0 given)"),
    ("max(x)", "max() takes at least 2 arguments (1 given)"),
    ("log(x, y, z)", "log() takes 1 to 2 arguments (3 given)"),
    # numbers and evaluation
    ("1" * 101, "number too large"),
    ("0." + "0" * 100 + "1", "number too large"),
    ("1e101", "number too large"),
    ("1e-101", "number too large"),
    ("1e99999999999999999999", "number too large"),
    ("x**(10**10**10)", "constant too large to evaluate"),
    ("10**10**10", "constant too large to evaluate"),
    ("10**(10**10)", "constant too large to evaluate"),
    ("2**100000", "constant too large to evaluate"),
    ("1**100000", "constant too large to evaluate"),
    ("(1/3)**20000", "constant too large to evaluate"),
    ("(2*x)**(10**50)", "constant too large to evaluate"),
    ("2**1100", "constant too large to evaluate"),
    ("1/0", "expression is undefined (division by zero?)"),
    ("x/0", "expression is undefined (division by zero?)"),
    ("0**-1", "expression is undefined (division by zero?)"),
    ("log(0)", "expression is undefined (division by zero?)"),
    ("x + 0/0*x", "expression is undefined (division by zero?)"),
    ("log(1/log(1/log(1/3)))", "too costly to evaluate"),
    # limits
    (
        "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        f"expression nested deeper than {MAX_DEPTH}",
    ),
    ("-" * (MAX_DEPTH + 1) + "x", f"expression nested deeper than {MAX_DEPTH}"),
    ("x**" * (MAX_DEPTH + 1) + "x", f"expression nested deeper than {MAX_DEPTH}"),
    (
        "exp(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        f"expression nested deeper than {MAX_DEPTH}",
    ),
    ("x" * (MAX_LENGTH + 1), f"expression longer than {MAX_LENGTH} characters"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_refuses_with_a_specific_message(text: str, message: str) -> None:
    err = refusal(text)
    assert message in str(err), str(err)
    assert message in err.message or message in str(err)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("x + $", 4),
        ("a.b", 1),
        ("x[0]", 1),
        ("x y", 2),
        ("  q", 2),
        ("(x", 0),
        ("x +", 3),
        ("x)", 1),
    ],
)
def test_error_positions(text: str, position: int) -> None:
    err = refusal(text)
    assert err.position == position
    assert str(err).endswith(f"at position {position}")


def test_undefined_symbol_error_names_the_identifier() -> None:
    err = refusal("x + later * 2")
    assert err.name == "later"
    assert err.message == "undefined symbol 'later'"
    assert err.position == 4
    assert refusal("foo(x)").name is None
    assert refusal("x $").name is None


def test_error_is_a_value_error_with_attributes() -> None:
    err = ExprError("bad\nthing", 3)
    assert isinstance(err, ValueError)
    assert (err.message, err.position, err.name) == ("bad thing", 3, None)
    assert str(err) == "bad thing at position 3"
    assert str(ExprError("plain")) == "plain"


@pytest.mark.parametrize("value", [None, 1, 1.5, b"x", ["x"]])
def test_non_string_input(value: object) -> None:
    assert "must be a string" in str(refusal(value))


def test_custom_limits() -> None:
    assert parse("x+y+z", max_length=5) == x + y + z
    assert "longer than 5 characters" in str(refusal("x+y+zz", max_length=5))
    assert parse("((x))", max_depth=2) == x
    assert "nested deeper than 1" in str(refusal("((x))", max_depth=1))


def test_builder_failures_become_expr_errors() -> None:
    def boom(arg: sympy.Expr) -> sympy.Expr:
        raise ZeroDivisionError("no\nway")

    table = {"boom": (boom, 1, 1), "text": (lambda arg: "text", 1, 1)}
    with pytest.raises(ExprError, match=r"cannot evaluate boom\(\): no way"):
        parse_expression("boom(x)", SYMBOLS, table)
    with pytest.raises(ExprError, match="did not give an arithmetic expression"):
        parse_expression("text(x)", SYMBOLS, table)
    with pytest.raises(ExprError, match="is not a SymPy expression"):
        parse_expression("n", {"n": 1}, {})  # type: ignore[dict-item]
    with pytest.raises(ExprError, match="allowed: \\(none\\)"):
        parse_expression("f(x)", SYMBOLS, {})


def test_sympy_errors_become_expr_errors() -> None:
    # Max cannot compare complex numbers; SymPy raises ValueError, we raise ExprError.
    assert "cannot evaluate max()" in str(refusal("max(log(-1), 1)"))


# --- adversarial inputs: refused, quickly, without side effects ------------------------------

ADVERSARIAL = [
    "__import__('os').system('touch pwned')",
    "().__class__.__bases__",
    "x.__class__",
    "lambda: 0",
    '"abc"',
    "x[0]",
    "x**(10**10**10)",
    "10**10**10",
    "(" * 5000 + "x" + ")" * 5000,
    "(" * 4999 + "x" + ")" * 4999,
    "-" * 5000 + "x",
    "x" + "+x" * 5000,
    "y" * (MAX_LENGTH + 1),
    "",
    "   \n ",
    "\x00\xff",
    "\u0445",
    "\uff58",
    "9!!!",
    "x;y",
    "x\ny",
    "f(x)=1",
    "x=1",
    "exp(x)=1",
    "getattr(x, 'y')",
    "exp.__globals__",
    "x if 1 else y",
    "9**9**9**9",
    "(9**9)**(9**9)",
    "(" * 300 + ")" * 300,
    "exp(" * 5000,
    "x" + "**x" * 3000,
    "sqrt(10**99+1)*" * 400 + "1",
    "exp(-exp(-exp(-exp(-exp(-exp(-exp(-exp(-exp(-exp(-exp(-exp(-1))))))))))))",
    "log(2-log(2-log(2-log(2-log(2-log(2-log(2-log(2-3))))))))",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_inputs_are_refused_fast(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    refusal(text)
    assert time.perf_counter() - start < 5.0
    assert not (tmp_path / "pwned").exists()
    assert list(tmp_path.iterdir()) == []


def test_deep_nesting_error_comes_from_the_depth_check_not_recursion() -> None:
    text = "(" * 5000 + "x" + ")" * 5000
    err = refusal(text, max_length=20_000)
    assert f"nested deeper than {MAX_DEPTH}" in str(err)


def test_module_never_calls_code_evaluating_functions() -> None:
    tree = ast.parse(Path(expr_module.__file__).read_text(encoding="utf-8"))
    # sympy.S(...) would sympify a string too
    forbidden = {
        "eval",
        "exec",
        "compile",
        "sympify",
        "parse_expr",
        "literal_eval",
        "__import__",
        "S",
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
    }
    assert not (used & forbidden), used & forbidden
    assert "ast" not in imported


# --- properties -----------------------------------------------------------------------------

PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "pos": 3, "**": 4}
ATOM = 5
LEAVES = st.one_of(
    st.sampled_from(["x", "y", "z"]).map(lambda name: ("sym", name)),
    st.integers(0, 9).map(lambda n: ("num", n)),
)
SMALL_EXPONENTS = st.one_of(
    st.integers(0, 3).map(lambda n: ("num", n)),
    st.sampled_from(["x", "y"]).map(lambda name: ("sym", name)),
).flatmap(lambda leaf: st.sampled_from([leaf, ("neg", leaf)]))


def trees(depth: int) -> st.SearchStrategy[tuple]:
    if depth == 0:
        return LEAVES
    sub = trees(depth - 1)
    return st.one_of(
        LEAVES,
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), sub, sub).map(lambda t: ("bin", *t)),
        st.tuples(st.just("**"), sub, SMALL_EXPONENTS).map(lambda t: ("bin", *t)),
        st.tuples(st.sampled_from(["neg", "pos"]), sub),
        st.tuples(
            st.just("call"),
            st.sampled_from(["exp", "log", "sqrt", "tanh", "sigmoid"]),
            sub.map(lambda t: (t,)),
        ),
        st.tuples(
            st.just("call"),
            st.sampled_from(["max", "min"]),
            st.lists(sub, min_size=2, max_size=3).map(tuple),
        ),
    )


def build(tree: tuple) -> sympy.Expr:
    """The expected value: the same tree built with SymPy operators directly."""
    kind = tree[0]
    if kind == "sym":
        return SYMBOLS[tree[1]]
    if kind == "num":
        return Integer(tree[1])
    if kind == "neg":
        return -build(tree[1])
    if kind == "pos":
        return build(tree[1])
    if kind == "call":
        return FUNCTIONS[tree[1]][0](*[build(arg) for arg in tree[2]])
    op, left, right = tree[1], build(tree[2]), build(tree[3])
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    return left**right


def show(tree: tuple, sep: str = " ", full: bool = False) -> tuple[str, int]:
    """Print a tree in Python syntax: minimal parentheses, or all of them with full=True."""
    kind = tree[0]
    if kind in ("sym", "num"):
        return str(tree[1]), ATOM
    if kind == "call":
        return f"{tree[1]}({(',' + sep).join(show(arg, sep, full)[0] for arg in tree[2])})", ATOM
    if kind in ("neg", "pos"):
        text, prec = show(tree[1], sep, full)
        if full or prec < PREC["neg"]:
            text = f"({text})"
        return ("-" if kind == "neg" else "+") + text, PREC[kind]
    op = tree[1]
    (left, lprec), (right, rprec) = show(tree[2], sep, full), show(tree[3], sep, full)
    if op == "**":
        wrap_left, wrap_right = lprec <= PREC["**"], rprec < PREC["neg"]
    else:
        wrap_left, wrap_right = lprec < PREC[op], rprec <= PREC[op]
    left = f"({left})" if full or wrap_left else left
    right = f"({right})" if full or wrap_right else right
    return f"{left}{sep}{op}{sep}{right}", PREC[op]


def undefined(value: sympy.Expr) -> bool:
    return bool(value.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan))


def complex_constant(value: sympy.Expr) -> bool:
    """A constant that is not a real number inside (log(-1) = i pi, sqrt(-2))."""
    return any(
        node.is_number and not node.free_symbols and node.is_real is False for node in sympy.preorder_traversal(value)
    )


@settings(max_examples=100, deadline=None)
@given(trees(3), st.sampled_from([" ", "", "\n", " \t "]))
def test_printed_trees_parse_back(tree: tuple, sep: str) -> None:
    try:
        expected = build(tree)
    except (ValueError, TypeError):  # e.g. Max of incomparable values
        refusal(show(tree, sep)[0])
        return
    for text in (show(tree, sep)[0], show(tree, sep, full=True)[0]):
        if undefined(expected):
            assert "undefined" in str(refusal(text))
            continue
        if complex_constant(expected):
            assert "not a real number" in str(refusal(text))
            continue
        try:
            parsed = parse(text)
        except ExprError as err:  # only deep nests of pure constants are refused as costly
            assert "too costly" in str(err) and not expected.free_symbols, (text, str(err))
            continue
        assert parsed == expected, (text, parsed, expected)


@settings(max_examples=100, deadline=None)
@given(
    st.text("0123456789", max_size=6),
    st.one_of(st.none(), st.text("0123456789", max_size=6)),
    st.one_of(
        st.none(),
        st.tuples(st.sampled_from(["e", "E"]), st.sampled_from(["", "+", "-"]), st.integers(0, 100)),
    ),
)
def test_decimal_literals_are_exact(whole: str, frac: str | None, exponent: tuple | None) -> None:
    mantissa = whole + ("." + frac if frac is not None else "")
    if not (whole or frac):
        return
    text = mantissa + ("" if exponent is None else f"{exponent[0]}{exponent[1]}{exponent[2]}")
    expected = Fraction(text)
    assert parse(text) == Rational(expected.numerator, expected.denominator)


GRAMMAR_ALPHABET = "xyz0129.e+-*/() ,=^[]'\"_!<>\n" + "expsqrtlogmaxin"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(GRAMMAR_ALPHABET, max_size=40), st.text(max_size=30)))
def test_arbitrary_text_gives_an_expression_or_expr_error(text: str) -> None:
    try:
        result = parse(text)
    except ExprError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(result, sympy.Expr)
