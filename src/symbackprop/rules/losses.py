"""The loss registry: each loss is the sum over output units of a per-unit SymPy term.

Losses are composed from existing functions (log, powers), so they need no derivative
rule of their own: SymPy differentiates the term, and the activation's rule does the rest.
``targets_sum_to_one`` records the assumption under which softmax + cross-entropy collapses
to y - t (one-hot or probability targets); the simplifier applies it, the checks sample
targets that satisfy it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy
from sympy import Rational, log


@dataclass(frozen=True)
class Loss:
    name: str
    term: Callable[[sympy.Expr, sympy.Expr], sympy.Expr]  # l(y_k, t_k)
    latex: str
    needs_unit_interval: bool = False  # outputs must lie in (0, 1)
    targets_sum_to_one: bool = False
    # lemma of this loss with an output activation whose pair simplifies (name -> builder)
    lemmas: dict[str, Callable[[], list]] = field(default_factory=dict)


def _u(op, *args):
    return op(*args, evaluate=False)


def _softmax_cross_entropy_lemma() -> list:
    """dE/dz_j for softmax outputs and cross-entropy: y_j - t_j when sum_i t_i = 1."""
    i, j, n = sympy.symbols("i j n", integer=True)
    y, t, z = sympy.IndexedBase("y"), sympy.IndexedBase("t"), sympy.IndexedBase("z")
    E = sympy.Symbol("E")
    terms = _u(
        sympy.Mul, _u(sympy.Mul, -t[i], _u(sympy.Pow, y[i], -1)), y[i], _u(sympy.Add, sympy.KroneckerDelta(i, j), -y[j])
    )
    return [
        (E, -sympy.Sum(t[i] * log(y[i]), (i, 1, n))),
        (
            sympy.Derivative(E, z[j]),
            sympy.Sum(_u(sympy.Mul, sympy.Derivative(E, y[i]), sympy.Derivative(y[i], z[j])), (i, 1, n)),
        ),
        (None, sympy.Sum(terms, (i, 1, n))),
        (None, _u(sympy.Add, -t[j], _u(sympy.Mul, y[j], sympy.Sum(t[i], (i, 1, n))))),
        (None, _u(sympy.Add, y[j], -t[j])),
    ]


def _sigmoid_binary_cross_entropy_lemma() -> list:
    """dE/dz for a sigmoid output and binary cross-entropy: y - t."""
    y, t, z, E = sympy.symbols("y t z E")
    factor = _u(sympy.Add, -t / y, (1 - t) / (1 - y))
    return [
        (E, -(t * log(y) + (1 - t) * log(1 - y))),
        (sympy.Derivative(E, z), _u(sympy.Mul, sympy.Derivative(E, y), sympy.Derivative(y, z))),
        (None, _u(sympy.Mul, factor, y, 1 - y)),
        (None, _u(sympy.Add, -t * (1 - y), (1 - t) * y)),
        (None, _u(sympy.Add, y, -t)),
    ]


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("squared_error", lambda y, t: Rational(1, 2) * (y - t) ** 2, "squared error"),
        Loss(
            "cross_entropy",
            lambda y, t: -t * log(y),
            "cross-entropy",
            needs_unit_interval=True,
            targets_sum_to_one=True,
            lemmas={"softmax": _softmax_cross_entropy_lemma},
        ),
        Loss(
            "binary_cross_entropy",
            lambda y, t: -(t * log(y) + (1 - t) * log(1 - y)),
            "binary cross-entropy",
            needs_unit_interval=True,
            lemmas={"sigmoid": _sigmoid_binary_cross_entropy_lemma},
        ),
    )
}


def loss_rule(name: str) -> Loss:
    """Look up a loss by its spec name; a miss names the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}") from None
