"""SymPy expressions -> NumPy functions, with the registry's kernels (``lambdify``, no text eval).

The equations of a derivation are evaluated numerically by :func:`lambdify_numpy`: SymPy's
NumPy printer, plus :class:`KernelPrinter`'s rules for what the registry adds (a kernel by its
name, bound to NumPy in the namespace; integers too large for int64 as floats, so log(10**20)
is a number NumPy can take). The generated code's printer extends this one.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from symbackprop.registry import TensorFunction, code_form, numpy_kernels
from symbackprop.registry.layers import MaxGate

BIG_INTEGER = 2**53  # beyond this an int64 literal would overflow, or lose nothing as a float


class KernelPrinter(NumPyPrinter):
    """NumPy code, the registry first: every function the registry gives a code form is printed
    from it (an array-API function, or a kernel called by name), whatever SymPy's printers know
    of it; integers too large for int64 become floats."""

    def __init__(self, settings: dict | None = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False, **(settings or {})})

    def _print(self, expr, **kwargs):
        if isinstance(expr, sympy.Basic) and expr.args and not isinstance(expr, TensorFunction):
            form = code_form(type(expr))
            if form is not None:
                return self._print_registry_function(expr, form)
        return super()._print(expr, **kwargs)

    def _print_registry_function(self, expr, form) -> str:
        kind, code, fold = form
        args = [self._print(a) for a in expr.args]
        if kind == "kernel":
            return self.kernel_call(code.__name__, ", ".join(args))
        function = self._module_format(f"numpy.{code}")
        if fold:  # max(a, b, c) = maximum(maximum(a, b), c)
            text = args[0]
            for a in args[1:]:
                text = f"{function}({text}, {a})"
            return text
        return f"{function}({', '.join(args)})"

    def _print_Integer(self, expr):
        if abs(expr.p) >= BIG_INTEGER:
            return repr(float(expr.p))
        return super()._print_Integer(expr)

    def _print_Rational(self, expr):
        if max(abs(expr.p), expr.q) >= BIG_INTEGER:
            return repr(float(expr))
        return super()._print_Rational(expr)

    def kernel_call(self, name: str, args: str) -> str:
        return f"{name}({args})"


@functools.lru_cache(maxsize=1)
def _namespace() -> dict:
    return {**numpy_kernels(), "numpy": np, "functools": functools}


def lambdify_numpy(args, expr: sympy.Expr):
    """``sympy.lambdify`` with the registry's kernels bound to NumPy."""
    return sympy.lambdify(args, expr, modules=[_namespace(), "numpy"], printer=KernelPrinter())


def evaluate_numpy(expr: sympy.Expr, values: dict[str, np.ndarray]) -> np.ndarray:
    """An expression's value at arrays of its symbols' values (by name), by walking the tree.

    For the many small variants a diagnosis compares: no code is printed or compiled (what
    ``lambdify`` spends its time on); each distinct subexpression is computed once. Sums,
    products, powers, Max, Min, Heaviside and the registry's functions are walked; anything else (a piecewise
    function, say) is compiled once by ``lambdify_numpy`` and called."""
    done: dict[sympy.Basic, np.ndarray] = {}
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        form = _form(node)
        if not ready and form is not None and node.args:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        done[node] = _evaluate_node(node, form, [done.get(a) for a in node.args], values)
    return done[expr]


def _form(node: sympy.Basic):
    if node.is_Add or node.is_Mul or node.is_Pow or isinstance(node, (sympy.Max, sympy.Min, sympy.Heaviside, MaxGate)):
        return ("structure", None, False)
    if node.args and not isinstance(node, TensorFunction):
        return code_form(type(node))
    return None


def _evaluate_node(node: sympy.Basic, form, args: list, values: dict[str, np.ndarray]):
    if node.is_Symbol:
        return values[node.name]
    if node.is_Integer and abs(node.p) < BIG_INTEGER:  # an index a kernel takes (softmax's i) stays an int
        return int(node)
    if node.is_Number or node in (sympy.pi, sympy.E):
        return float(node)
    if node.is_Add:
        return functools.reduce(np.add, args)
    if node.is_Mul:
        return functools.reduce(np.multiply, args)
    if node.is_Pow:
        return np.power(args[0], args[1])
    if isinstance(node, (sympy.Max, sympy.Min, MaxGate)):  # max pooling's windows, written out per unit
        return functools.reduce(np.minimum if isinstance(node, sympy.Min) else np.maximum, args)
    if isinstance(node, sympy.Heaviside):  # H(0) is SymPy's 1/2 unless a second argument says
        return np.heaviside(args[0], args[1] if len(args) > 1 else 0.5)
    if form is not None:
        kind, code, fold = form
        function = functools.partial(code, np) if kind == "kernel" else getattr(np, code)
        return functools.reduce(function, args) if fold else function(*args)
    symbols = tuple(sorted(node.free_symbols, key=lambda s: s.name))
    return _compiled_node(symbols, node)(*(values[s.name] for s in symbols))


@functools.lru_cache(maxsize=4096)
def _compiled_node(symbols: tuple, node: sympy.Basic):
    return lambdify_numpy(list(symbols), node)
