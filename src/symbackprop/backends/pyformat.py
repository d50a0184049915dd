"""Black-style spacing for one printed Python expression, and line wrapping.

SymPy's code printers write ``a*b/2 + x**(-1)``; black and ruff format that as
``a * b / 2 + x**-1``-style spacing: spaces around binary operators, none after a unary minus,
and ``**`` hugged when both operands are simple (a name, a number, an attribute, optionally
with a unary sign). :func:`spaced` re-spaces the tokens (from :mod:`tokenize`, nothing is
evaluated); :func:`assignment` wraps a too-long assignment the way black does.
"""

from __future__ import annotations

import io
import tokenize

LINE_LENGTH = 88
_BINARY = {"+", "-", "*", "/", "@", "//", "%", "<", ">", "<=", ">=", "==", "!="}
_OPENERS = {"(", "[", ","}


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    return [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]


def _simple_left(toks: list[tokenize.TokenInfo], i: int) -> bool:
    """Is the operand ending just before token i a name/number/attribute?"""
    return i > 0 and toks[i - 1].type in (tokenize.NAME, tokenize.NUMBER)


def _simple_right(toks: list[tokenize.TokenInfo], i: int) -> bool:
    j = i + 1
    if j < len(toks) and toks[j].string in ("-", "+"):
        j += 1
    if j >= len(toks) or toks[j].type not in (tokenize.NAME, tokenize.NUMBER):
        return False
    while j + 2 < len(toks) and toks[j + 1].string == "." and toks[j + 2].type == tokenize.NAME:
        j += 2
    return not (j + 1 < len(toks) and toks[j + 1].string in ("(", "["))


def spaced(expr: str) -> str:
    """Re-space a one-line Python expression in black's style."""
    toks = _tokens(expr)
    out: list[str] = []
    prev = None
    for i, tok in enumerate(toks):
        s = tok.string
        unary = s in ("-", "+") and (prev is None or prev.string in _OPENERS | _BINARY | {"**", "="})
        if s == "**":
            hug = _simple_left(toks, i) and _simple_right(toks, i)
            out.append("**" if hug else " ** ")
        elif s in _BINARY and not unary:
            out.append(f" {s} ")
        elif s == ",":
            out.append(", ")
        elif s == "=":
            out.append("=")
        else:
            out.append(s)
        prev = tok
    return "".join(out).replace("( ", "(").replace(" )", ")").replace(", )", ")").strip()


def _top_level_split(expr: str) -> list[str]:
    """Split at + and - that are binary and outside brackets: ['a', '+ b', '- c']."""
    parts, depth, start = [], 0, 0
    toks = _tokens(expr)
    prev = None
    for tok in toks:
        s = tok.string
        if s in "([{":
            depth += 1
        elif s in ")]}":
            depth -= 1
        elif depth == 0 and s in ("+", "-") and prev is not None and prev.string not in _OPENERS | _BINARY | {"**"}:
            parts.append(expr[start : tok.start[1]].strip())
            start = tok.start[1]
        prev = tok
    parts.append(expr[start:].strip())
    return parts


def assignment(indent: str, target: str, expr: str, comment: str = "") -> list[str]:
    """``target = expr  # comment`` as black would lay it out (parentheses when too long)."""
    expr = spaced(expr)
    tail = f"  # {comment}" if comment else ""
    line = f"{indent}{target} = {expr}"
    if len(line) <= LINE_LENGTH:
        return [line + tail] if len(line + tail) <= LINE_LENGTH or not comment else [f"{indent}# {comment}", line]
    lines = [f"{indent}# {comment}"] if comment else []
    inner = indent + "    "
    if _call_parts(expr) is not None:  # black splits a call's own brackets, never wraps it in more
        return lines + _split_call(indent, f"{target} = ", expr, "")
    if len(inner + expr) <= LINE_LENGTH:
        return lines + [f"{indent}{target} = (", inner + expr, f"{indent})"]
    return lines + [f"{indent}{target} = ("] + [inner + p for p in _top_level_split(expr)] + [f"{indent})"]


def _call_parts(expr: str) -> tuple[str, list[str]] | None:
    """``f(a, g(b), c)`` as ('f(', ['a', 'g(b)', 'c']) when the whole expression is one call, and
    a list display ``[a, b]`` as ('[', ['a', 'b'])."""
    toks = _tokens(expr)
    if len(toks) >= 2 and toks[0].string == "[" and toks[-1].string == "]":
        i = -1  # a list: its bracket opens at token 0
    else:
        i = 0
        while i + 1 < len(toks) and toks[i].type == tokenize.NAME and toks[i + 1].string == ".":
            i += 2
        if len(toks) < i + 3 or toks[i].type != tokenize.NAME or toks[i + 1].string != "(" or toks[-1].string != ")":
            return None
    depth, args, start = 0, [], toks[i + 1].end[1]
    for j, tok in enumerate(toks[i + 1 :], start=i + 1):
        s = tok.string
        if s in "([{":
            depth += 1
        elif s in ")]}":
            depth -= 1
            if depth == 0 and j != len(toks) - 1:
                return None  # the call closes before the end: f(a) + b
        elif s == "," and depth == 1:
            args.append(expr[start : tok.start[1]].strip())
            start = tok.end[1]
    last = expr[start : toks[-1].start[1]].strip()
    if last:
        args.append(last)
    return expr[: toks[i + 1].end[1]], args


def _split_call(indent: str, prefix: str, expr: str, suffix: str) -> list[str]:
    """A call too long for its line split at its own brackets as black does: the arguments on
    one line if they fit, else one a line with a trailing comma, each split the same way."""
    line = f"{indent}{prefix}{expr}{suffix}"
    parts = _call_parts(expr)
    if len(line) <= LINE_LENGTH or parts is None or not parts[1]:
        return [line]
    head, args = parts
    close = "]" if head == "[" else ")"
    inner = indent + "    "
    joined = ", ".join(args)
    if len(inner + joined) <= LINE_LENGTH:
        return [f"{indent}{prefix}{head}", inner + joined, f"{indent}{close}{suffix}"]
    body = [row for a in args for row in _split_call(inner, "", a, ",")]
    return [f"{indent}{prefix}{head}", *body, f"{indent}{close}{suffix}"]
