"""The loss registry: each loss is the sum over output units of a per-unit SymPy term.

Losses are composed from existing functions (log, powers), so they need no derivative
rule of their own: SymPy differentiates the term, and the activation's rule does the rest.
``targets_sum_to_one`` records the assumption under which softmax + cross-entropy collapses
to y - t (one-hot or probability targets); the simplifier applies it, the checks sample
targets that satisfy it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        ),
        Loss(
            "binary_cross_entropy",
            lambda y, t: -(t * log(y) + (1 - t) * log(1 - y)),
            "binary cross-entropy",
            needs_unit_interval=True,
        ),
    )
}


def loss_rule(name: str) -> Loss:
    """Look up a loss by its spec name; a miss names the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}") from None
