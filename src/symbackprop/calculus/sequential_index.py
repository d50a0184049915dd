"""A network of layers' equations one entry at a time, with the index sums written out.

Teaching material writes a convolution's equations per entry before it writes them per tensor:
z_{f,i,j} = sum_{c,u,v} W_{f,c,u,v} a_{c,i+u,j+v} + b_f, the input's error term the full
convolution sum_{f,u,v} W_{f,c,u,v} delta_{f,r-u,q-v} (the kernel rotated by 180 degrees), the
kernel's gradient sum_{i,j} delta_{f,i,j} a_{c,i+u,j+v}. :func:`index_equations` writes every
tensor equation of a :class:`~symbackprop.calculus.sequential.SequentialDerivation` that way, one
example at a time, with symbolic indices: each registry op says how through its
``index_form(ctx, index)`` (the same protocol as its per-unit ``units``, the indices symbols
instead of numbers). An equation whose op has no index form (batch norm's batch sums, max
pooling with overlapping windows) is left to its tensor form and the words around it.

Entries of a tensor outside its map (a padded input, delta beyond the border in the full
convolution) are zero, as the documents say; the checker of students' answers reads them so.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import Symbol

from symbackprop.calculus.equations import Equation
from symbackprop.calculus.sequential_units import vector_width
from symbackprop.registry import Conv2d, TensorFunction


class Entry(sympy.Function):
    """Entry (i, j, ...) of a tensor: x_{c,i,j}, delta^{(1)}_{f,i,j}, dJ/dW^{(1)}_{f,c,u,v}."""

    scalar_entry = True  # a number, not a tensor: products of entries print without odot

    def _latex(self, printer, exp=None):
        base, *index = self.args
        name = printer._print(base)
        sub = ",".join(index_latex(i) for i in index)
        if name.startswith(r"\frac{\partial J}{\partial ") and name.endswith("}"):
            inner = name[len(r"\frac{\partial J}{\partial ") : -1]
            text = r"\frac{\partial J}{\partial %s}" % _subscripted(inner, sub)
        else:
            text = _subscripted(name, sub)
        if exp:
            return f"{{{text}}}^{{{exp}}}"
        return f"{{{text}}}" if "^" in text and not text.startswith("\\frac") else text

    def _eval_is_real(self):
        return True


def index_latex(index: sympy.Expr) -> str:
    """An index as a teacher writes it: 2i+u-1, letters before the number, no spaces; a pooling
    window's \\lfloor i/2 \\rfloor."""
    if isinstance(index, sympy.floor):
        numerator, denominator = index.args[0].as_numer_denom()
        return r"\lfloor %s/%s \rfloor" % (index_latex(numerator), index_latex(denominator))
    if not index.is_Add:
        return sympy.latex(index).replace(" ", "")
    rank = {letter: n for n, letter in enumerate("fcrqijuvkl")}

    def order(t):
        letters = sorted(rank.get(s.name, len(rank)) for s in t.free_symbols)
        return (t.is_Number, letters)

    terms = sorted(sympy.Add.make_args(index), key=order)
    text = ""
    for t in terms:
        coeff, rest = t.as_coeff_Mul()
        word = str(abs(coeff)) if rest == 1 else ("" if abs(coeff) == 1 else str(abs(coeff))) + sympy.latex(rest)
        text += ("-" if coeff < 0 else "+" if text else "") + word
    return text.replace(" ", "")


def _subscripted(name: str, sub: str) -> str:
    """name with a subscript: W^{(1)} -> W^{(1)}_{f,c}; a name that ends in a subscript (a time
    step's, h^{(1)}_{2}) takes the index into it, h^{(1)}_{2,k}; one with a subscript elsewhere
    (W_{xh}^{(1)}) is braced."""
    head, brace, last = name.rpartition("_{")
    if brace and last.endswith("}") and "{" not in last[:-1] and "}" not in last[:-1]:
        return f"{head}_{{{last[:-1]},{sub}}}"
    if "_" in name:
        return f"{{{name}}}_{{{sub}}}"
    return f"{name}_{{{sub}}}"


LETTERS = {1: ("k",), 3: ("c", "i", "j"), 4: ("f", "c", "u", "v")}
INPUT_LETTERS = {1: ("j",), 3: ("c", "r", "q")}
POOL = ("k", "j", "i", "l", "n", "p")


class IndexForms:
    """The context the ops' ``index_form`` methods receive: entries with symbolic indices."""

    def __init__(self, shapes: dict[Symbol, tuple[int, ...]]):
        self.shapes = shapes
        self.m = 1
        self.example = 0
        self.used: set[str] = set()  # the letters the current equation has taken

    def shape(self, s: Symbol) -> tuple[int, ...]:
        return self.shapes[s]

    def index(self, name: str) -> Symbol:
        return Symbol(name, integer=True)

    def running_index(self, name: str = "j") -> Symbol:
        """A summation index: ``name`` unless the equation's own indices use it."""
        for letter in (name, *POOL):
            if letter not in self.used:
                self.used.add(letter)
                return self.index(letter)
        raise ValueError("out of index letters")

    def entry(self, s: Symbol, k, j=None) -> sympy.Expr:
        index = k if isinstance(k, tuple) else ((k,) if j is None else (k, j))
        return Entry(s, *index)

    def element(self, s: Symbol, *index) -> sympy.Expr:
        return Entry(s, *index)

    def label(self, s: Symbol, axis: int, k):
        return k

    def bounds(self, s, axis: int = 0) -> tuple[int, int]:
        if not isinstance(s, Symbol):
            s = next(x for x in sorted(s.free_symbols, key=str) if x in self.shapes)
        return 0, self.shapes[s][axis] - 1

    def indexed(self, expr: sympy.Expr, index) -> sympy.Expr:
        return self.component(expr, index)

    def width(self, expr: sympy.Expr) -> int:
        return vector_width(self.shapes, expr)

    def component(self, expr: sympy.Expr, k=0, j=None) -> sympy.Expr:
        """Entry k (a symbol or a tuple of them) of one example's tensor expression."""
        if isinstance(k, tuple) and len(k) == 1:
            k = k[0]
        if expr.is_Number:
            return expr
        if expr.is_Symbol:
            if expr.name == "m":
                return sympy.Integer(1)  # one example
            if expr in self.shapes and self.shapes[expr] != ():
                return self.entry(expr, k, j)
            return expr
        if isinstance(expr, TensorFunction):
            form = getattr(type(expr), "index_form", None)
            if form is TensorFunction.index_form and type(expr).units is TensorFunction.units:
                raise NotImplementedError(type(expr).__name__)
            return expr.index_form(self, k, j)
        return expr.func(*(self.component(a, k, j) for a in expr.args))


def _letters(eq: Equation, shape: tuple, is_input: bool, convolved: bool) -> tuple[str, ...]:
    """The index letters of an equation's target: (f, i, j) for a convolution's output and
    its error term, (f, c, u, v) for a kernel, (c, r, q) for the map an error term is sent back
    to, (c, i, j) for other maps, (k, j) for a weight matrix, k or j for a vector."""
    if len(shape) == 4:
        return ("f", "c", "u", "v")
    if len(shape) == 2:
        return ("k", "j")
    sent_back = is_input or (eq.kind == "delta" and not convolved and eq.target.name.startswith("a"))
    if len(shape) == 3:
        return ("c", "r", "q") if sent_back else ("f", "i", "j") if convolved else ("c", "i", "j")
    if len(shape) == 1:
        if eq.kind == "gradient" and not is_input:
            return ("f",) if convolved else ("k",)  # a bias, gamma, beta
        return ("j",) if sent_back else ("k",)
    return ()


@dataclass(frozen=True)
class IndexEquation:
    """One tensor equation's entry-wise twin: ``equation`` (level "index"), ``tensor`` its label."""

    equation: Equation
    tensor: str


def index_equations(derivation) -> list[IndexEquation]:
    """The index form of every tensor equation that has one, in the tensor equations' order."""
    graph = derivation.graph
    shapes = dict(graph.shapes)
    for node, delta in derivation.tensor.delta_symbols.items():
        shapes[delta] = shapes[node]
    ctx = IndexForms(shapes)
    convolved = {n for n, e in graph.nodes.items() if e.atoms(Conv2d)}
    convolved |= {p for p in graph.parameters for n in convolved if p in graph.nodes[n].free_symbols}
    out = []
    for eq in derivation.equations:
        if eq.kind == "update":
            continue
        shape = shapes.get(eq.target, ())
        letters = _letters(eq, shape, eq.target in graph.inputs, eq.target in convolved)
        index = tuple(ctx.index(n) for n in letters)
        ctx.used = set(letters)
        try:
            if len(index) == 2:  # a weight matrix: row k, column j
                rhs = ctx.component(eq.rhs, *index)
            else:
                rhs = ctx.component(eq.rhs, index if len(index) != 1 else index[0])
        except (NotImplementedError, ValueError, StopIteration, KeyError):
            continue
        lhs_symbol = eq.lhs if eq.lhs.is_Symbol else eq.target
        lhs = Entry(lhs_symbol, *index) if shape else lhs_symbol
        indexed = Equation(eq.kind, "index", eq.target, lhs, rhs, eq.layer, eq.position)
        out.append(IndexEquation(indexed, eq.label))
    return out
