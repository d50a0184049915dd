"""How much room a short piece of LaTeX takes in a diagram, estimated from above without TeX.

A diagram is laid out in Python, before TeX sees it, so the size of every label is estimated
from its source: each glyph gets at least the width it has in Latin Modern (italic maths
letters, upright digits and operator names), scripts 70% of the size, a superscript raising
the top and a subscript lowering the bottom. The estimate is meant to be an upper bound: the
nodes and label boxes are then drawn at exactly the estimated size (``minimum width``,
``minimum height``, no inner sep beyond it), so what the layout checked is what is printed.
tests/test_diagram.py measures every label of the built-in examples with pdflatex to hold the
estimate to that.

Sizes are in points of a font of ``size`` pt (10 for \\normalsize-like text); text is set with
an explicit ``\\fontsize`` so that the English (article, 11pt) and Chinese (ctexart) documents
print it alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from symbackprop.core.latex_names import GREEK_COMMANDS

SCRIPT = 0.7  # script size relative to the text size
# widths in em, at least Latin Modern's (math italic letters, upright digits and punctuation)
_WIDE_LOWER = {"m": 0.9, "w": 0.76}
_WIDE_UPPER = {"M": 1.0, "W": 1.02, "N": 0.86, "K": 0.86, "H": 0.86, "X": 0.86}
_PUNCT = {".": 0.3, ",": 0.45, ";": 0.45, ":": 0.3, "(": 0.4, ")": 0.4, "[": 0.3, "]": 0.3, "|": 0.3, "/": 0.52}
_BINARY = {"+": 0.8, "-": 0.8, "=": 0.8, "<": 0.8, ">": 0.8, "*": 0.52}
_BINARY_SPACE = 0.5  # medium space either side of a binary operator (4/18 em each), 5/18 for relations
_COMMANDS = {
    "times": (0.8, True),
    "cdot": (0.3, True),
    "pm": (0.8, True),
    "infty": (1.02, False),
    "partial": (0.6, False),
    "nabla": (0.85, False),
    ",": (0.17, False),
    ";": (0.28, False),
    "quad": (1.0, False),
    "ldots": (1.2, False),
    "cdots": (1.2, False),
}
_GREEK = GREEK_COMMANDS
_TRANSPARENT = {"mathrm", "mathit", "mathbf", "operatorname", "text", "textrm", "boldsymbol", "left", "right"}
_DESCENDERS = set("gjpqyfQ,;()[]|/")
_GREEK_WIDE = {"omega": 0.7, "Omega": 0.8, "Sigma": 0.8, "Delta": 0.86, "Gamma": 0.7, "Lambda": 0.75}


@dataclass(frozen=True)
class TextBox:
    """Width, height above the baseline and depth below it, in pt."""

    width: float
    height: float
    depth: float

    @property
    def total(self) -> float:
        return self.height + self.depth


def _tokens(text: str) -> list[str]:
    return re.findall(r"\\[a-zA-Z]+|\\.|[^\s]", text)


def _group(tokens: list[str], i: int) -> tuple[list[str], int]:
    """The tokens of the argument starting at tokens[i] (a braced group or one token), and the index after it."""
    if i >= len(tokens):
        return [], i
    if tokens[i] != "{":
        return [tokens[i]], i + 1
    depth, j = 0, i
    while j < len(tokens):
        depth += {"{": 1, "}": -1}.get(tokens[j], 0)
        if depth == 0:
            return tokens[i + 1 : j], j + 1
        j += 1
    return tokens[i + 1 :], len(tokens)


def _glyph(token: str, upright: bool) -> float:
    """Width in em of one token that is not a group or a script."""
    if token.startswith("\\"):
        name = token[1:]
        if name in _COMMANDS:
            return _COMMANDS[name][0]
        if name in _GREEK_WIDE:
            return _GREEK_WIDE[name]
        if name in _GREEK or not name.isalpha():
            return 0.7
        return 0.56 * len(name) + 0.2  # an operator name set upright: max, exp, log, ...
    if token.isdigit():
        return 0.5
    if token == " ":
        return 0.36
    if token in _PUNCT:
        return _PUNCT[token]
    if token in _BINARY:
        return _BINARY[token]
    if ord(token) > 0x2E80:  # CJK: a full em
        return 1.0
    if token.islower():
        return _WIDE_LOWER.get(token, 0.62 if not upright else 0.56)
    if token.isupper():
        return _WIDE_UPPER.get(token, 0.82)
    return 0.8


def script_size(size: float) -> float:
    """TeX's script size for a text size (article's \\DeclareMathSizes: 10 -> 7, 8 -> 6, 7 -> 5)."""
    return max(5.0, {12: 8.0, 11: 8.0, 10: 7.0, 9: 6.0, 8: 6.0, 7: 5.0, 6: 5.0}.get(round(size), 0.7 * size))


def _optical(size: float) -> float:
    """Latin Modern's small sizes are drawn wider: the width of a glyph relative to 10 pt."""
    return 1.0 + max(0.0, 10.0 - size) * 0.05 if size >= 6 else 1.4


def _depth(token: str) -> float:
    """Depth below the baseline in em: descenders, delimiters and symbols; digits and most letters none."""
    if token in _DESCENDERS or (token.startswith("\\") and (token[1:] in _GREEK or not token[1:].isalpha())):
        return 0.26
    if token.isalnum():
        return 0.0
    return 0.15


def _measure(tokens: list[str], size: float, upright: bool = False, math: bool = True) -> tuple[float, float, float]:
    """(width, height, depth) in pt of a token list set at ``size`` pt."""
    em = size * _optical(size) * 1.04  # 4% to spare
    small = script_size(size)
    width, height, depth = 0.0, 0.75 * size, 0.0
    i, previous = 0, None  # previous: the last atom was an operand (so a binary operator is binary)
    while i < len(tokens):
        t = tokens[i]
        if t == "{":
            inner, i = _group(tokens, i)
            w, h, d = _measure(inner, size, upright, math)
            width, height, depth = width + w, max(height, h), max(depth, d)
            previous = True
            continue
        if t in ("^", "_"):
            sup, sub = None, None
            while i < len(tokens) and tokens[i] in ("^", "_"):
                arg, j = _group(tokens, i + 1)
                if tokens[i] == "^":
                    sup = _measure(arg, small, upright, math)
                else:
                    sub = _measure(arg, small, upright, math)
                i = j
            width += max(sup[0] if sup else 0.0, sub[0] if sub else 0.0) + 0.1 * size
            if sup:
                height = max(height, 0.56 * size + sup[1])
            if sub:
                depth = max(depth, (0.36 if sup else 0.17) * size + sub[2])
            continue
        if t.startswith("\\") and t[1:] in _TRANSPARENT:
            inner, i = _group(tokens, i + 1)
            w, h, d = _measure(inner, size, upright or t[1:] != "mathit", math)
            width, height, depth = width + w, max(height, h), max(depth, d)
            previous = True
            continue
        if t.startswith("\\") and t[1:] in ("frac", "tfrac", "dfrac"):
            num, i = _group(tokens, i + 1)
            den, i = _group(tokens, i)
            n, d = _measure(num, small, upright, math), _measure(den, small, upright, math)
            width += max(n[0], d[0]) + 0.24 * size
            height, depth = max(height, 0.6 * size + n[1] + n[2]), max(depth, 0.35 * size + d[1] + d[2])
            previous = True
            continue
        binary = math and (t in _BINARY or (t.startswith("\\") and _COMMANDS.get(t[1:], (0, False))[1]))
        width += (_glyph(t, upright) + (_BINARY_SPACE if binary and previous else 0.0)) * em
        depth = max(depth, _depth(t) * size)
        if ord(t[-1]) > 0x2E80:  # CJK glyphs stand a little taller than Latin capitals
            height, depth = max(height, 0.8 * size), max(depth, 0.2 * size)
        previous = not binary
        i += 1
    return width, height, depth


def text_box(latex: str, size: float) -> TextBox:
    """An upper estimate of the box of ``latex`` set at ``size`` pt: maths inside ``$...$``,
    text outside it (a text label like a caption)."""
    width, height, depth = 0.0, 0.75 * size, 0.25 * size
    for k, piece in enumerate(latex.split("$")):
        if not piece:
            continue
        math = k % 2 == 1
        w, h, d = _measure(_tokens(piece) if math else list(piece), size, upright=not math, math=math)
        width, height, depth = width + w, max(height, h), max(depth, d)
    return TextBox(width, height, depth)
