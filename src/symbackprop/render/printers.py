"""SymPy printer subclasses for the documents and the generated code.

Printers are visitors: SymPy dispatches on the expression's class to ``_print_<Class>``, or to
the class's own hook (``_latex``, ``_numpycode``: the activations and layer operations carry
theirs). These subclasses add what the notation needs and nothing else:

* :class:`NotationLatexPrinter` — symbols by their notation names (w_{41}, \\delta^{(2)}),
  the step as an Iverson bracket [net_4 > 0], and, in layer equations, ``\\odot`` between
  factors that are layer vectors (elementwise products).
* :class:`NotationNumPyPrinter` — ``np.`` prefixes, symbols by their code names, the step
  and two-way piecewise functions as ``step``/``np.where`` so they work on scalars and arrays.
"""

from __future__ import annotations

from typing import Mapping

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE


class NotationLatexPrinter(LatexPrinter):
    def __init__(self, names: Mapping[sympy.Symbol, str], vectors: frozenset = frozenset()):
        # order="none": keep SymPy's argument order, which writes y - t and 1 - y, not -t + y.
        super().__init__({"symbol_names": dict(names), "mul_symbol": None, "order": "none"})
        self._vectors = vectors

    def _print_Heaviside(self, expr, exp=None):
        return r"\left[%s > 0\right]" % self._print(expr.args[0])

    def _is_vector(self, expr) -> bool:
        return bool(expr.free_symbols & self._vectors)

    def _print_Mul(self, expr):
        vectors = [f for f in expr.args if self._is_vector(f)]
        if len(vectors) < 2:
            return super()._print_Mul(expr)
        scalars = [f for f in expr.args if not self._is_vector(f)]
        coeff = sympy.Mul(*scalars)
        parts = r" \odot ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in vectors)
        if coeff == 1:
            return parts
        if coeff == -1:
            return "- " + parts
        return self.parenthesize(coeff, PRECEDENCE["Mul"]) + " " + parts


class NotationNumPyPrinter(NumPyPrinter):
    def __init__(self, names: Mapping[sympy.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False, "order": "none"})
        self._names = dict(names or {})

    def _module_format(self, fqn, register=True):
        fqn = super()._module_format(fqn, register)
        return "np." + fqn[len("numpy.") :] if fqn.startswith("numpy.") else fqn

    def _print_Symbol(self, expr):
        if expr in self._names:
            return self._names[expr]
        return super()._print_Symbol(expr)  # escapes Python keywords (lambda -> lambda_)

    def _print_Heaviside(self, expr):
        return "unit_step(%s)" % self._print(expr.args[0])

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return "%s %s %s" % (self._print(expr.lhs), op, self._print(expr.rhs))

    def _print_Piecewise(self, expr):
        (a, cond), (b, default) = expr.args if len(expr.args) == 2 else (None, None)
        if default is not sympy.true:
            raise NotImplementedError(f"cannot print {expr} as code")
        return "np.where(%s, %s, %s)" % (self._print(cond), self._print(a), self._print(b))
