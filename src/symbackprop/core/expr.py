"""Safe parser for untrusted arithmetic text, producing SymPy expressions.

User-supplied formulas (activation functions, losses, ...) must never reach
``eval``, ``exec``, ``compile``, ``sympify`` or ``parse_expr``: all of those run
Python code, so ``__import__('os').system(...)`` would execute.  This module
therefore never hands the text to Python.  It works in three stages:

1. **Tokens.**  A hand-written scanner accepts only ASCII identifiers, decimal
   literals, ``+ - * / **``, parentheses, commas and ``=`` (the last only so
   that it can be reported clearly).  Everything else - strings, ``.``
   attribute access, ``[...]``, keywords, names containing ``__``, non-ASCII
   look-alikes - is rejected with a specific message and position.  Literals
   become exact ``sympy.Integer``/``sympy.Rational`` values via integer
   arithmetic on their digits; ``float`` is never involved.
2. **Operator precedence.**  Within one nesting level, operands and operators
   are combined with an explicit operator stack (shunting-yard style precedence
   climbing, Python's rules: ``**`` is right-associative and binds tighter than
   a unary minus on its left, which binds tighter than ``*`` and ``/``).  Only
   parentheses and call arguments recurse, one Python frame per level.
3. **SymPy constructors.**  Every reduction is an ordinary SymPy operation
   (``a + b``, ``a ** b``, ``builder(*args)``), so results are normal evaluated
   expressions.  Functions and symbols come only from caller-supplied tables.

Resource limits keep every input bounded: text length, nesting depth (parens,
calls, unary operators and pending ``**`` all count, tracked explicitly),
literal size, an estimate of numeric powers before computing them, a cap on
any constant SymPy produces, and a cap on how deeply functions/powers nest
inside symbol-free sub-expressions (SymPy evaluates those numerically, at a
cost exponential in their depth).  Any other exception becomes ExprError, except
TimeoutError, which belongs to the caller's time limit.

The cost of the caller's builders is the caller's business, and some SymPy
functions are expensive: ``sympy.Max``/``sympy.Min`` compare their arguments
pairwise (``max`` nested 50 deep over distinct symbolic terms takes seconds),
and ``sympy.tanh`` nested 10 deep over a symbol not declared ``real=True`` takes
seconds, growing about tenfold per level.  Use real symbols, or cheap builders
such as ``lambda *a: sympy.Max(*a, evaluate=False)``, where that matters.
"""

from __future__ import annotations

import keyword
import math
import string
from collections.abc import Callable, Mapping
from typing import NamedTuple

import sympy

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "ExprError", "parse_expression"]

MAX_LENGTH = 10_000
MAX_DEPTH = 200
_MAX_LITERAL_DIGITS = 100
_MAX_LITERAL_EXPONENT = 100
_MAX_DIGITS = 10_000  # estimated size (decimal digits) above which a power is refused
# Cap on any constant SymPy builds.  Larger ones are cheap to multiply but not to
# use: SymPy factors bases of fractional powers (sqrt of a 1000-digit integer
# takes ~0.1 s, of a 4000-digit one ~15 s), and Python refuses int -> str beyond
# 4300 digits, which would break printing the result.
_MAX_CONSTANT_DIGITS = 300
_MAX_BITS = math.ceil(_MAX_CONSTANT_DIGITS / math.log10(2))
_WHITESPACE = " \t\n\r\f\v"
_DIGITS = frozenset(string.digits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | _DIGITS
_KEYWORDS = frozenset(keyword.kwlist)
_MAX_CONSTANT_NESTING = 4  # see _Parser._guard_constant
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "pos": 3, "**": 4}
_UNDEFINED = frozenset({sympy.zoo, sympy.oo, -sympy.oo, sympy.nan})


class ExprError(ValueError):
    """Bad expression text. str(err) is a one-line, human-readable message (no newlines)."""

    def __init__(self, message: str, position: int | None = None, name: str | None = None):
        super().__init__(message, position, name)
        self.message = " ".join(str(message).split())
        self.position = position
        self.name = name

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at position {self.position}"


class _Token(NamedTuple):
    kind: str  # "num", "name", "op" or "end"
    text: str
    pos: int
    value: sympy.Expr | None = None


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    if ch.isascii() and ch.isprintable():
        return f"'{ch}'"
    return f"'{ch}' ({code})" if ch.isprintable() else code


def _scan_number(text: str, i: int) -> tuple[_Token, int]:
    n, start = len(text), i
    while i < n and text[i] in _DIGITS:
        i += 1
    int_part, frac = text[start:i], ""
    if i < n and text[i] == ".":
        j = i + 1
        while j < n and text[j] in _DIGITS:
            j += 1
        frac, i = text[i + 1 : j], j
    exponent = 0
    if i < n and text[i] in "eE":
        j = i + 1
        sign = -1 if j < n and text[j] == "-" else 1
        j += j < n and text[j] in "+-"
        k = j
        while k < n and text[k] in _DIGITS:
            k += 1
        if k == j:
            raise ExprError(f"invalid number '{text[start:k]}'", start)
        digits = text[j:k].lstrip("0") or "0"
        if len(digits) > 3 or int(digits) > _MAX_LITERAL_EXPONENT:
            raise ExprError("number too large", start)
        exponent, i = sign * int(digits), k
    mantissa = int_part + frac
    if len(mantissa) > _MAX_LITERAL_DIGITS:
        raise ExprError("number too large", start)
    scale = exponent - len(frac)
    value = sympy.Rational(int(mantissa) * 10 ** max(scale, 0), 10 ** max(-scale, 0))
    return _Token("num", text[start:i], start, value), i


def _bad_char(text: str, i: int) -> ExprError:
    ch, nxt = text[i], text[i + 1 : i + 2]
    if ch in "'\"":
        return ExprError("strings are not allowed", i)
    if ch in "[]":
        return ExprError("subscripts are not allowed", i)
    if ch == "^":
        return ExprError("'^' is not supported; use ** for powers", i)
    if ch == "." and nxt in _NAME_START:
        return ExprError("attribute access is not allowed", i)
    if ch in "<>" or ch + nxt in ("==", "!="):
        return ExprError("comparisons are not allowed", i)
    if ch + nxt == "//":
        return ExprError("floor division '//' is not allowed", i)
    return ExprError(f"unexpected character {_describe(ch)}", i)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            word = text[i:j]
            if "__" in word:
                raise ExprError("names with '__' are not allowed", i)
            if word in _KEYWORDS:
                raise ExprError(f"'{word}' is not allowed", i)
            tokens.append(_Token("name", word, i))
            i = j
        elif ch in _DIGITS or (ch == "." and text[i + 1 : i + 2] in _DIGITS):
            token, i = _scan_number(text, i)
            tokens.append(token)
        elif text.startswith("**", i):
            tokens.append(_Token("op", "**", i))
            i += 2
        elif ch in "+-*/(),=" and text[i : i + 2] not in ("//", "=="):
            tokens.append(_Token("op", ch, i))
            i += 1
        else:
            raise _bad_char(text, i)
    tokens.append(_Token("end", "", n))
    return tokens


def _digits(r: sympy.Rational) -> float:
    """Approximate decimal size of a rational constant."""
    return max(math.log10(abs(r.p)) if r.p else 0.0, math.log10(r.q))


def _guard_pow(base: sympy.Expr, exp: sympy.Expr, pos: int) -> None:
    """Refuse powers whose numeric part would be astronomically large.

    Numbers anywhere in the base count, since SymPy expands e.g. (2*x)**n to 2**n*x**n.
    """
    if not exp.is_Rational:
        return
    mag = abs(exp)
    size = max((_digits(r) for r in base.atoms(sympy.Rational)), default=0.0)
    huge = size and (mag > 10**6 or float(mag) * size > _MAX_DIGITS)
    if huge or (base.is_Number and mag > _MAX_DIGITS):
        raise ExprError("constant too large to evaluate", pos)


def _too_big(e: sympy.Basic) -> bool:
    return bool(e.is_Rational) and (e.p.bit_length() > _MAX_BITS or e.q.bit_length() > _MAX_BITS)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class _Parser:
    def __init__(
        self,
        tokens: list[_Token],
        symbols: Mapping[str, sympy.Symbol],
        functions: Mapping[str, tuple[Callable[..., sympy.Expr], int, int | None]],
        max_depth: int,
    ):
        self.tokens, self.i = tokens, 0
        self.symbols, self.functions, self.max_depth = symbols, functions, max_depth
        self._const_depth: dict[sympy.Basic, int | None] = {}

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += tok.kind != "end"
        return tok

    def _is(self, tok: _Token, text: str) -> bool:
        return tok.kind == "op" and tok.text == text

    def _check_depth(self, depth: int, pos: int) -> None:
        if depth > self.max_depth:
            raise ExprError(f"expression nested deeper than {self.max_depth}", pos)

    def parse(self) -> sympy.Expr:
        result = self._expr(0)
        tok = self._peek()
        if tok.kind != "end":
            raise self._stray(tok)
        return result

    def _stray(self, tok: _Token, opener: _Token | None = None, call: bool = False) -> ExprError:
        if tok.kind == "end" and opener is not None:
            return ExprError("missing ')' for '('", opener.pos)
        if self._is(tok, "="):
            msg = "keyword arguments are not allowed" if call else "assignment is not allowed"
            return ExprError(msg, tok.pos)
        if tok.kind == "end":
            return ExprError("unexpected end of expression", tok.pos)
        return ExprError(f"unexpected '{tok.text}'", tok.pos)

    def _expr(self, depth: int) -> sympy.Expr:
        """Parse operands joined by binary operators, up to ')', ',', '=' or the end."""
        self._check_depth(depth, self._peek().pos)
        operands: list[sympy.Expr] = []
        ops: list[tuple[str, int]] = []  # pending operators, with their positions
        nest = 0  # how many of them are unary operators or '**'
        while True:
            tok = self._take()
            if tok.kind == "op" and tok.text in "+-":
                nest += 1
                self._check_depth(depth + nest, tok.pos)
                ops.append(("neg" if tok.text == "-" else "pos", tok.pos))
                continue
            operands.append(self._operand(tok, depth + nest + 1))
            nxt = self._peek()
            if nxt.kind in ("num", "name") or self._is(nxt, "("):
                raise ExprError(f"missing operator before '{nxt.text}'", nxt.pos)
            prec = _PREC.get(nxt.text) if nxt.kind == "op" else None
            if prec is None:
                break
            self._take()
            # Reduce what binds at least as tightly; '**' (4) is right-associative.
            while ops and (_PREC[ops[-1][0]] > prec or (_PREC[ops[-1][0]] == prec and prec != 4)):
                nest -= self._reduce(*ops.pop(), operands)
            if nxt.text == "**":
                nest += 1
                self._check_depth(depth + nest, nxt.pos)
            ops.append((nxt.text, nxt.pos))
        while ops:
            self._reduce(*ops.pop(), operands)
        return operands[0]

    def _reduce(self, op: str, pos: int, operands: list[sympy.Expr]) -> int:
        """Apply one operator to the operand stack; return 1 if it counted as nesting."""
        right = operands.pop()
        if op in ("neg", "pos"):
            operands.append(self._build(pos, "'-'", lambda: -right) if op == "neg" else right)
            return 1
        left = operands.pop()
        if op == "**":
            _guard_pow(left, right, pos)
            self._guard_constant([left, right], pos)
        fn = {
            "+": lambda: left + right,
            "-": lambda: left - right,
            "*": lambda: left * right,
            "/": lambda: left / right,
            "**": lambda: left**right,
        }[op]
        operands.append(self._build(pos, f"'{op}'", fn))
        return int(op == "**")

    def _guard_constant(self, args: list[sympy.Expr], pos: int) -> None:
        """Refuse functions/powers nested deeply inside symbol-free sub-expressions.

        SymPy evaluates such constants numerically (evalf) while constructing them,
        at a cost exponential in their nesting: log(1/log(1/...)) eight deep takes
        tens of seconds.  Sub-expressions containing a symbol are not affected.
        """
        memo, stack = self._const_depth, list(args)
        while stack:  # iterative post-order walk, memoised across the whole parse
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            pending = [a for a in node.args if a not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            kids = [memo[a] for a in node.args]
            if node.is_Symbol or None in kids:
                memo[node] = None
            elif not kids or node.is_Add or node.is_Mul:
                memo[node] = max(kids, default=0)
            else:  # a function application, power, ...
                memo[node] = max(kids) + 1
        depths = [memo[a] for a in args]
        if None not in depths and 1 + max(depths, default=0) > _MAX_CONSTANT_NESTING:
            raise ExprError(
                f"constant sub-expression nests functions or powers more than "
                f"{_MAX_CONSTANT_NESTING} deep; too costly to evaluate",
                pos,
            )

    def _build(self, pos: int, what: str, thunk: Callable[[], object]) -> sympy.Expr:
        try:
            result = thunk()
        except (ExprError, TimeoutError):  # a time limit of the caller's is the caller's to report
            raise
        except RecursionError:
            raise ExprError("expression nested too deeply", pos) from None
        except Exception as exc:  # SymPy may raise anything
            raise ExprError(f"cannot evaluate {what}: {_one_line(exc)}", pos) from exc
        if not isinstance(result, sympy.Expr):
            raise ExprError(f"{what} did not give an arithmetic expression", pos)
        for node in (result, *result.args):
            if _too_big(node) or any(map(_too_big, node.args)):
                raise ExprError("constant too large to evaluate", pos)
        return result

    def _operand(self, tok: _Token, depth: int) -> sympy.Expr:
        if tok.kind == "num":
            return tok.value
        if tok.kind == "name":
            return self._name(tok, depth)
        if self._is(tok, "("):
            if self._is(self._peek(), ")"):
                raise ExprError("empty parentheses", tok.pos)
            inner = self._expr(depth)
            close = self._take()
            if not self._is(close, ")"):
                raise self._stray(close, tok)
            return inner
        raise self._stray(tok)

    def _name(self, tok: _Token, depth: int) -> sympy.Expr:
        name = tok.text
        if not self._is(self._peek(), "("):
            if name in self.symbols:
                value = self.symbols[name]
                if not isinstance(value, sympy.Expr):
                    raise ExprError(f"symbol '{name}' is not a SymPy expression", tok.pos)
                return value
            if name in self.functions:
                raise ExprError(f"function '{name}' must be called, e.g. {name}(...)", tok.pos)
            raise ExprError(f"undefined symbol '{name}'", tok.pos, name=name)
        if name not in self.functions:
            if name in self.symbols:
                raise ExprError(f"'{name}' is a symbol, not a function", tok.pos)
            allowed = ", ".join(sorted(self.functions)) or "(none)"
            raise ExprError(f"unknown function '{name}'; allowed: {allowed}", tok.pos)
        builder, lo, hi = self.functions[name]
        opener = self._take()
        self._check_depth(depth, opener.pos)
        args: list[sympy.Expr] = []
        if self._is(self._peek(), ")"):
            self._take()
        else:
            while True:
                args.append(self._expr(depth))
                sep = self._take()
                if self._is(sep, ")"):
                    break
                if not self._is(sep, ","):
                    raise self._stray(sep, opener, call=True)
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo} to {hi}" if hi is not None else f"at least {lo}"
            want = f"exactly {lo}" if lo == hi else want
            noun = "argument" if want.endswith(" 1") else "arguments"
            raise ExprError(f"{name}() takes {want} {noun} ({len(args)} given)", tok.pos)
        if args:
            self._guard_constant(args, tok.pos)
        return self._build(tok.pos, f"{name}()", lambda: builder(*args))


def _check_defined(expr: sympy.Basic) -> None:
    """Refuse undefined values (1/0) and constants that are not real numbers (sqrt(-1))."""
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        if node in _UNDEFINED:
            raise ExprError("expression is undefined (division by zero?)")
        if node is sympy.I or (node.is_number and not node.free_symbols and node.is_real is False):
            raise ExprError("the expression has a constant that is not a real number (a root or log of a negative?)")
        if node not in seen:
            seen.add(node)
            stack.extend(node.args)


def parse_expression(
    text: str,
    symbols: Mapping[str, sympy.Symbol],
    functions: Mapping[str, tuple[Callable[..., sympy.Expr], int, int | None]],
    *,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
) -> sympy.Expr:
    """Parse untrusted arithmetic ``text`` into a SymPy expression, or raise ExprError.

    Bare names must be keys of ``symbols``; ``name(args)`` must be a key of
    ``functions``, which maps to ``(builder, min_args, max_args or None)``.
    """
    if not isinstance(text, str):
        raise ExprError(f"expression must be a string, not {type(text).__name__}")
    if len(text) > max_length:
        raise ExprError(f"expression longer than {max_length} characters")
    if not text.strip(_WHITESPACE):
        raise ExprError("empty expression")
    parser = _Parser(_tokenize(text), symbols, functions, max_depth)
    try:
        result = parser.parse()
        _check_defined(result)
    except (ExprError, TimeoutError):
        raise
    except RecursionError:
        raise ExprError("expression nested too deeply") from None
    except MemoryError:
        raise ExprError("expression too large to evaluate") from None
    except Exception as exc:  # contract: ExprError or a result
        raise ExprError(f"cannot evaluate expression: {_one_line(exc)}") from exc
    return result
