"""SymPy printers for the documents and the generated code.

Printers are visitors: SymPy dispatches on the expression's class to ``_print_<Class>``, or to
the class's own hook (``_latex``, ``_arraycode``: the registry's functions carry theirs). These
subclasses add what the notation and the array API need, and fail loudly on anything else:

* :class:`NotationLatexPrinter` — symbols by their notation names (w_{41}, \\delta^{(2)}), the
  step as an Iverson bracket [net_4 > 0], and, in tensor equations, ``\\odot`` between factors
  that are tensors (elementwise products). Inside :meth:`~NotationLatexPrinter.one_example`
  (a batch reduction prints its summand so, and an equation of one example is printed so) a
  layer vector prints as one example's, with its index: x^{(i)}, \\delta^{(2)(i)}; a tensor
  product divided by the batch size prints as the batch means do, \\frac{1}{m} W^T \\delta.
* :class:`ArrayPrinter` — code for any array library of the array API standard: functions of
  the namespace ``xp`` (``xp.exp``), the registry's kernels as ``kernel(xp, ...)``, steps and
  piecewise functions as ``xp.where`` (a product with a step folded into it, so relu' costs a
  comparison and a select), and symbols by their code names. An op may name a value its code
  needs (``prerequisite``: a conv input's im2col, which the kernel gradient reuses); the code
  generator collects those and computes each once per function. A sum of error terms each put
  in its own place of a sequence or of a stacked gate vector (the engine's sum over the steps
  x_t, over an LSTM's gates) prints as one ``xp.stack`` or ``xp.concat`` of the parts, not as a
  sum of arrays that are zero but for one part.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symbackprop.analysis.numeric import KernelPrinter
from symbackprop.core.latex_names import upright_base, with_upright_base
from symbackprop.registry import BlockPut, Elementwise, MatTVec, TensorFunction, TimePut


class NotationLatexPrinter(LatexPrinter):
    def __init__(
        self,
        names: Mapping[sympy.Symbol, str],
        vectors: frozenset = frozenset(),
        leading: frozenset = frozenset(),
        examples: Mapping[sympy.Symbol, str] | None = None,
    ):
        # order="none": keep SymPy's argument order, which writes y - t and 1 - y, not -t + y.
        super().__init__({"symbol_names": dict(names), "mul_symbol": None, "order": "none"})
        self._vectors = vectors
        self._leading = leading  # coefficients written first in a product: lambda W, not W lambda
        self._examples = dict(examples or {})  # x -> x^{(i)}: the names of one example's vectors
        self._one_example = False

    @contextmanager
    def one_example(self) -> Iterator[None]:
        """Print what follows as one example's: inside a sum over the batch, or an equation of
        one example i (per-example vectors with the index: x^{(i)}, a^{(2)(i)})."""
        outer, self._one_example = self._one_example, True
        try:
            yield
        finally:
            self._one_example = outer

    def _print_Symbol(self, expr, style="plain"):
        """A multi-letter name that is not a Greek letter prints upright (\\mathrm{dot}), as a
        word in a formula should; one letter, or a Greek one, stays italic."""
        if self._one_example and expr in self._examples:
            return self._examples[expr]
        text = super()._print_Symbol(expr, style)
        if expr in self._settings["symbol_names"]:
            return text
        return with_upright_base(expr.name, text)

    def _print_KroneckerDelta(self, expr, exp=None):
        """[i = j] (Iverson's bracket), not delta_ij, which a reader would take for an error term."""
        i, j = (self._print(a) for a in expr.args)
        return r"\left[%s = %s\right]" % (i, j)

    def _print_Heaviside(self, expr, exp=None):
        x = self._print(expr.args[0])
        at_zero = expr.args[1] if len(expr.args) > 1 else sympy.Rational(1, 2)
        if at_zero == 0:
            return r"\left[%s > 0\right]" % x
        return r"H\left(%s\right)" % x  # H(0) = 1/2: a tie splits the gradient

    def _print_Sum(self, expr):
        """A double sum as two sums, as the textbooks write it (and students do), not one sum
        over a stacked range."""
        tex = "".join(r"\sum_{%s=%s}^{%s} " % tuple(self._print(i) for i in limit) for limit in reversed(expr.limits))
        body = self._print(expr.function)
        return tex + (r"\left(%s\right)" % body if isinstance(expr.function, sympy.Add) else body)

    def _print_Add(self, expr, order=None):
        """Error terms put in distinct places of a stacked gate vector or a sequence, summed (the
        engine's sum over the gates or the steps), as the one stacked vector they make."""
        places = _places(expr)
        if places is None:
            return super()._print_Add(expr, order)
        kind, parts = places
        if kind is TimePut:  # rows of a sequence: (W^T delta)^T is delta^T W
            cells = [self._row(p) if p is not None else r"\mathbf{0}" for p in parts]
        else:
            cells = [self._print(p) if p is not None else r"\mathbf{0}" for p in parts]
        return r"\begin{bmatrix} %s \end{bmatrix}" % r" \\ ".join(cells)

    def _row(self, part) -> str:
        """One step's row of a sequence: a vector transposed, W^T delta as delta^T W."""
        if isinstance(part, MatTVec):
            W, d = part.args
            return r"\left(%s\right)^{\top} %s" % (self._print(d), self._print(W))
        return r"\left(%s\right)^{\top}" % self._print(part)

    def _is_vector(self, expr) -> bool:
        """Does the expression hold a whole tensor? One entry of it (``scalar_entry``) does not."""
        entries = [a for a in sympy.preorder_traversal(expr) if getattr(a, "scalar_entry", False)]
        if entries:
            expr = expr.xreplace({e: sympy.Dummy() for e in entries})
        return bool(expr.free_symbols & self._vectors)

    def _print_Mul(self, expr):
        """Elementwise products of vectors with odot; a thin space between factors where one is
        a word (\\mathrm{invq} \\, \\mathrm{num}, not invqnum)."""
        reciprocal = [a for a in expr.args if a.is_Pow and a.exp == -1 and a.base.is_Symbol]
        summed = any(isinstance(a, sympy.Add) and a.has(TensorFunction) for a in expr.args)  # stacked puts too
        if len(reciprocal) == 1 and (summed or any(isinstance(a, TensorFunction) for a in expr.args)):
            rest = sympy.Mul(*(a for a in expr.args if a is not reciprocal[0]), evaluate=False)
            body = self._print(rest)
            if isinstance(rest, sympy.Add) and _places(rest) is None:  # 1/m (a + b), not 1/m a + b
                body = r"\left(%s\right)" % body
            return rf"\frac{{1}}{{{self._print(reciprocal[0].base)}}} {body}"
        words = [a for a in expr.args if isinstance(a, sympy.Symbol) and upright_base(a.name)]
        if words and len(expr.args) > 1 and self._settings["mul_symbol_latex"] == " ":
            self._settings["mul_symbol_latex"] = r" \, "
            try:
                return self._print_Mul(expr)
            finally:
                self._settings["mul_symbol_latex"] = " "
        vectors = [f for f in expr.args if self._is_vector(f)]
        if len(vectors) < 2:
            first = [f for f in expr.args if f in self._leading]
            if first and len(first) < len(expr.args) and not any(f.is_Number for f in expr.args):
                rest = [f for f in expr.args if f not in self._leading]
                return super()._print_Mul(sympy.Mul(*first, *rest, evaluate=False))
            return super()._print_Mul(expr)
        scalars = [f for f in expr.args if not self._is_vector(f)]
        coeff = sympy.Mul(*scalars)
        parts = r" \odot ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in vectors)
        if coeff == 1:
            return parts
        if coeff == -1:
            return "- " + parts
        return self.parenthesize(coeff, PRECEDENCE["Mul"]) + " " + parts


def _places(expr: sympy.Add):
    """(TimePut or BlockPut, the part at each place or None) when a sum is of such puts alone, into
    distinct places of one stack; else None."""
    puts = [a for a in expr.args if isinstance(a, (TimePut, BlockPut))]
    if len(puts) < 2 or len(puts) != len(expr.args) or len({(type(a), a.args[2]) for a in puts}) != 1:
        return None
    places = {int(a.args[1]): a.args[0] for a in puts}
    if len(places) != len(puts):
        return None
    return type(puts[0]), [places.get(k) for k in range(int(puts[0].args[2]))]


def _step_as_piecewise(h: sympy.Heaviside) -> sympy.Piecewise:
    x = h.args[0]
    at_zero = h.args[1] if len(h.args) > 1 else sympy.Rational(1, 2)
    if at_zero == 0:
        return sympy.Piecewise((1, x > 0), (0, True))
    return sympy.Piecewise((1, x > 0), (at_zero, sympy.Eq(x, 0)), (0, True))


def _fold_products(expr: sympy.Expr) -> sympy.Expr:
    """c * Piecewise((a, p), (b, True)) -> Piecewise((c a, p), (c b, True)), one factor at a time,
    so that delta * [z > 0] is one select, and sums of steps never multiply their branches."""
    if not expr.args:
        return expr
    args = [_fold_products(a) for a in expr.args]
    if expr.is_Mul:
        pieces = [a for a in args if isinstance(a, sympy.Piecewise)]
        if len(pieces) == 1:
            rest = sympy.Mul(*(a for a in args if a is not pieces[0]))
            return sympy.Piecewise(*((rest * value, cond) for value, cond in pieces[0].args))
    if args == list(expr.args):
        return expr  # unchanged: keep the order a sum was written in (W a + b)
    return expr.func(*args, evaluate=False) if expr.is_Add else expr.func(*args)


def _constants_as_floats(expr: sympy.Expr) -> sympy.Expr:
    """sqrt(2), pi, log(3) as float literals: the array API takes no function of a Python number."""
    if expr.is_Rational or expr.is_Float or not expr.args:
        return expr if not (expr.is_number and expr.is_NumberSymbol) else sympy.Float(float(expr))
    if expr.is_number and not expr.free_symbols:
        return sympy.Float(float(expr))
    args = [_constants_as_floats(a) for a in expr.args]
    if args == list(expr.args):
        return expr
    return expr.func(*args, evaluate=False) if expr.is_Add else expr.func(*args)


class ArrayPrinter(KernelPrinter):
    """Array-API code: ``xp.`` functions, ``kernel(xp, ...)`` calls, code names for symbols."""

    def __init__(
        self,
        names: Mapping[sympy.Symbol, str] | None = None,
        leading: frozenset = frozenset(),
        scalars: frozenset = frozenset(),
    ):
        super().__init__({"order": "none"})
        self.printmethod = "_arraycode"  # NumPyPrinter sets its own in __init__
        self._names = dict(names or {})
        self._leading = leading  # constants written first in a product: WEIGHT_DECAY * W1
        self._scalars = scalars  # symbols that hold plain numbers at run time (a constant gradient)
        self.prerequisites: dict[str, str] | None = None  # collected when the code generator asks

    def prerequisite(self, name: str, code: str) -> str:
        """A value an op's code needs and other lines may share (a conv input's im2col): its name
        when the caller collects prerequisites (``prerequisites`` a dict), else the code inline."""
        if self.prerequisites is None:
            return code
        self.prerequisites.setdefault(name, code)
        return name

    def _print_Add(self, expr):
        """Puts into distinct places of one sequence or stacked vector, as one stack or concat."""
        places = _places(expr)
        if places is None:
            return super()._print_Add(expr)
        kind, found = places
        some = self._print(next(p for p in found if p is not None))
        parts = [self._print(p) if p is not None else f"xp.zeros_like({some})" for p in found]
        if kind is TimePut:
            return "xp.stack([%s], axis=1)" % ", ".join(parts)
        return "xp.concat([%s], axis=-1)" % ", ".join(parts)

    def _print_Mul(self, expr):
        first = [f for f in expr.args if f in self._leading]
        if first and len(first) < len(expr.args) and not any(f.is_Number for f in expr.args):
            rest = [f for f in expr.args if f not in self._leading]
            return super()._print_Mul(sympy.Mul(*first, *rest, evaluate=False))
        return super()._print_Mul(expr)

    def doprint(self, expr, assign_to=None):
        expr = _constants_as_floats(expr)
        if expr.has(sympy.Heaviside):
            expr = expr.replace(lambda e: isinstance(e, sympy.Heaviside), _step_as_piecewise)
        return super().doprint(_fold_products(expr), assign_to)

    def _module_format(self, fqn, register=True):
        fqn = super()._module_format(fqn, register)
        return "xp." + fqn[len("numpy.") :] if fqn.startswith("numpy.") else fqn

    def kernel_call(self, name: str, args: str) -> str:
        return f"{name}(xp, {args})"

    def operand(self, expr) -> str:
        """An operand of @ or .T: a name as it is, anything else in parentheses."""
        text = self._print(expr)
        atom = expr.is_Symbol or getattr(expr, "code_atom", False)  # x[:, t, :] needs no parentheses
        return text if atom else f"({text})"

    def _print_Symbol(self, expr):
        if expr in self._names:
            return self._names[expr]
        return super()._print_Symbol(expr)  # escapes Python keywords (lambda -> lambda_)

    def _print_Function(self, expr):
        """A function the registry has no code form for: an activation added from Python is
        computed from its definition; anything else is refused, never guessed."""
        if isinstance(expr, Elementwise) and type(expr).kernel is None:
            return self._print(expr.definition(expr.args[0]))
        raise NotImplementedError(f"generated code cannot compute {type(expr).__name__}")

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return "%s %s %s" % (self.parenthesize(expr.lhs, 50), op, self.parenthesize(expr.rhs, 50))

    def _print_And(self, expr):
        text = self._print(expr.args[0])
        for a in expr.args[1:]:
            text = f"xp.logical_and({text}, {self._print(a)})"
        return text

    def _print_Or(self, expr):
        text = self._print(expr.args[0])
        for a in expr.args[1:]:
            text = f"xp.logical_or({text}, {self._print(a)})"
        return text

    def _print_Piecewise(self, expr):
        *branches, (default, last) = expr.args
        if last is not sympy.true:
            raise NotImplementedError(f"a piecewise function needs an otherwise branch: {expr}")
        text = self._print(default)
        if all(v.is_Number or v.free_symbols <= self._scalars for v, _ in expr.args):
            # a select of numbers alone needs an array (torch would make float32 of the numbers):
            # the first condition's left-hand side
            like = self._print(branches[0][1].lhs) if branches else "0.0"
            text = f"xp.full_like({like}, {text})"
        for value, cond in reversed(branches):
            text = f"xp.where({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_Heaviside(self, expr):
        return self._print(_step_as_piecewise(expr))

    def _print_Float(self, expr):
        return repr(float(expr))
