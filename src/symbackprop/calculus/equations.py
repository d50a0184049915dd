"""Numbered equations: the one typed list the documents, the code and the checks share.

An :class:`Equation` says what it is (``kind``: forward, loss, delta, gradient, update), what
it defines (``target``: the node whose value or error term it is, or the leaf whose gradient or
update), at which ``level`` (per ``unit``, a whole ``tensor``, or one ``representative`` unit of
a wide layer in sigma notation) and in which ``layer``; a tensor equation about one example of
the batch (the gradient with respect to an input, ``example``) names that example. Nothing is ever parsed back from a label.
Numbering happens once, here, in document order: that keeps the ``(7)`` in a train.py comment
and the (7) in derivation.tex the same equation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Literal

import sympy
from sympy import Symbol

Kind = Literal["forward", "loss", "delta", "gradient", "update"]
Level = Literal["unit", "tensor", "representative"]
Position = Literal["", "output", "hidden"]


@dataclass(frozen=True)
class Equation:
    """lhs = rhs (lhs <- rhs for an update) defining ``target`` at one level."""

    kind: Kind
    level: Level
    target: Symbol
    lhs: sympy.Expr
    rhs: sympy.Expr
    layer: int | None = None
    position: Position = ""  # for the error terms of a layered network: output or hidden layer
    number: int = 0
    example: bool = False  # about one example i of a batch, whose vectors carry i: dJ/dx^{(i)}

    @property
    def update(self) -> bool:
        return self.kind == "update"

    @property
    def label(self) -> str:
        return f"eq:{self.level}-{self.kind}-{self.target.name}".replace("_", "-")

    @property
    def part(self) -> str:
        """The document part: forward, loss, delta-output, delta-hidden, delta, gradient, matrix."""
        if self.level == "tensor" and self.kind not in ("forward", "loss"):
            return "matrix"
        if self.kind == "update":
            return "gradient"
        if self.kind == "delta":
            return f"delta-{self.position}" if self.position else "delta"
        return self.kind


PARTS = ("forward", "loss", "delta-output", "delta-hidden", "delta", "gradient", "matrix")


def number(equations: Iterable[Equation]) -> list[Equation]:
    """Number equations 1, 2, ... in order."""
    return [replace(eq, number=i) for i, eq in enumerate(equations, start=1)]


def document_order(equations: Iterable[Equation]) -> list[Equation]:
    """Equations in the order a document presents them: by part, per unit before tensor form,
    each update right after its gradient."""
    eqs = list(equations)
    position = {(eq.level, eq.kind, eq.target): i for i, eq in enumerate(eqs)}

    def rank(eq: Equation) -> tuple:
        anchor = position[(eq.level, eq.kind, eq.target)]
        if eq.kind == "update":
            anchor = position.get((eq.level, "gradient", eq.target), anchor)
        return (PARTS.index(eq.part), eq.level == "tensor", anchor, eq.kind == "update")

    return sorted(eqs, key=rank)


def updated(parameter: Symbol, rate: Symbol, gradient: sympy.Expr) -> sympy.Expr:
    """p - rate * gradient, kept in that order for printing."""
    return sympy.Add(parameter, -sympy.Mul(rate, gradient, evaluate=False), evaluate=False)


def graph_equations(derivation, level: Level = "unit") -> list[Equation]:
    """Equations of a scalar-graph derivation: forward, error terms, gradients, updates."""
    net = derivation.network
    loss = bool(net.targets)
    eqs = [Equation("loss" if n == net.objective and loss else "forward", level, n, n, e) for n, e in net.nodes.items()]
    for node in reversed(list(net.nodes)):
        if node.name in derivation.deltas:
            eqs.append(Equation("delta", level, node, derivation.delta_symbols[node], derivation.deltas[node.name]))
    leaves = {s.name: s for s in net.leaves}
    for leaf, rhs in derivation.gradients.items():
        eqs.append(Equation("gradient", level, leaves[leaf], derivation.gradient_symbol(leaf), rhs))
    for param in derivation.updates:
        p = leaves[param]
        eqs.append(Equation("update", level, p, p, updated(p, net.learning_rate_symbol, derivation.gradients[param])))
    return eqs
