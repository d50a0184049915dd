"""A tensor equation's value at a batch, computed as train.py computes it (NumPy, batch first),
for the worked example (:mod:`~symbackprop.analysis.sequential_example`) and the sequence
models' gradient paths (:mod:`~symbackprop.analysis.sequence_paths`)."""

from __future__ import annotations

import functools

import numpy as np
import sympy

from symbackprop.analysis.numeric import KernelPrinter
from symbackprop.registry import kernels


class _TensorPrinter(KernelPrinter):
    """NumPy code of a tensor equation from the registry ops' own array code (``_arraycode``),
    batch first, as train.py computes it (``xp`` is NumPy, ``m`` the batch size)."""

    def __init__(self):
        super().__init__({"order": "none"})
        self.printmethod = "_arraycode"

    def kernel_call(self, name: str, args: str) -> str:
        return f"{name}(xp, {args})"

    def operand(self, expr) -> str:
        text = self._print(expr)
        return text if expr.is_Symbol else f"({text})"

    def _print_Heaviside(self, expr):  # train.py's step: 1 above 0, 0 at and below (relu's)
        x = expr.args[0]
        at_zero = expr.args[1] if len(expr.args) > 1 else sympy.Rational(1, 2)
        return self._print(sympy.Piecewise((1, x > 0), (at_zero, sympy.Eq(x, 0)), (0, True)))


@functools.lru_cache(maxsize=1)
def _namespace() -> dict:
    return {**kernels(), "numpy": np, "xp": np}


def evaluate_tensor(expr: sympy.Expr, env: dict[str, np.ndarray]) -> np.ndarray:
    """``expr`` at the values of ``env`` (by symbol name, ``m`` the batch size), as a float array."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    namespace = {**_namespace(), "m": env["m"]}
    function = sympy.lambdify(symbols, expr, modules=[namespace, "numpy"], printer=_TensorPrinter(), dummify=True)
    with np.errstate(all="ignore"):
        return np.asarray(function(*(env[s.name] for s in symbols)), dtype=float)
