"""The multiply gate for matrices: D = W X gives dW = dD X^T and dX = W^T dD (CS231n).

CS231n ("Gradients for vectorized operations") derives the rule by the shapes alone: the
gradient of a variable has the variable's shape, and of the products of dD with X or X^T (or of
W or W^T with dD) exactly one conforms and has that shape. :func:`matrix_product_rule` lists the
products that conform with their shapes, picks the one, and proves it entry by entry with SymPy:
for the scalar f = sum_ij dD_ij D_ij, whose gradient with respect to D is dD, d f / d W_ab is
(dD X^T)_ab for every a, b, and likewise for X.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

__all__ = ["CS231N_SHAPES", "Candidate", "MatrixRule", "matrix_product_rule"]

CS231N_SHAPES = (5, 10, 3)  # W is 5 x 10 and X is 10 x 3 in the notes' example


@dataclass(frozen=True)
class Candidate:
    """A product of two factors (each maybe transposed) that conforms, and its shape."""

    left: str  # "dD", "dD^T", "X", ...
    right: str
    shape: tuple[int, int]


@dataclass(frozen=True)
class RuleFor:
    """The gradient of one factor: its shape, the products that conform, the one that fits."""

    variable: str  # "W" or "X"
    shape: tuple[int, int]
    candidates: tuple[Candidate, ...]
    chosen: Candidate
    entries: int  # entries checked against SymPy's derivative


@dataclass(frozen=True)
class MatrixRule:
    shapes: dict[str, tuple[int, int]]  # W, X, D (and dD, the shape of D)
    rules: tuple[RuleFor, ...]


def _candidates(a: tuple[str, tuple[int, int]], b: tuple[str, tuple[int, int]]) -> list[Candidate]:
    """Products of a and b, either transposed, in either order, that conform."""

    def forms(name, shape):
        return [(name, shape), (name + "^T", (shape[1], shape[0]))]

    found = []
    for x in forms(*a):
        for y in forms(*b):
            for (ln, ls), (rn, rs) in ((x, y), (y, x)):
                if ls[1] == rs[0]:
                    found.append(Candidate(ln, rn, (ls[0], rs[1])))
    return found


def _check(m: int, k: int, n: int) -> tuple[int, int]:
    """Entries of dW and dX for which SymPy's derivative equals dD X^T and W^T dD."""
    W = sympy.Matrix(m, k, lambda i, j: sympy.Symbol(f"W_{i}_{j}", real=True))
    X = sympy.Matrix(k, n, lambda i, j: sympy.Symbol(f"X_{i}_{j}", real=True))
    G = sympy.Matrix(m, n, lambda i, j: sympy.Symbol(f"G_{i}_{j}", real=True))  # dD
    D = W * X
    f = sum(G[i, j] * D[i, j] for i in range(m) for j in range(n))
    dW, dX = G * X.T, W.T * G
    good_w = sum(sympy.expand(sympy.diff(f, W[i, j]) - dW[i, j]) == 0 for i in range(m) for j in range(k))
    good_x = sum(sympy.expand(sympy.diff(f, X[i, j]) - dX[i, j]) == 0 for i in range(k) for j in range(n))
    return good_w, good_x


@cache
def matrix_product_rule(m: int = CS231N_SHAPES[0], k: int = CS231N_SHAPES[1], n: int = CS231N_SHAPES[2]) -> MatrixRule:
    """The rule for D = W X with W of shape (m, k) and X of shape (k, n), derived from the shapes
    and checked entry by entry."""
    shapes = {"W": (m, k), "X": (k, n), "D": (m, n)}
    rules = []
    checked = dict(zip("WX", _check(m, k, n)))
    for variable, other in (("W", "X"), ("X", "W")):
        candidates = _candidates(("dD", shapes["D"]), (other, shapes[other]))
        fitting = [c for c in candidates if c.shape == shapes[variable]]
        if len(fitting) != 1:
            raise ValueError(f"the shapes leave {len(fitting)} products for d{variable}")
        rules.append(RuleFor(variable, shapes[variable], tuple(candidates), fitting[0], checked[variable]))
    return MatrixRule(shapes, tuple(rules))
