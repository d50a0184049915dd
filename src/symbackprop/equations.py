"""Numbered equations: the one list both the LaTeX document and train.py are made from.

A derivation produces its equations in document order; numbering them here, once, is what
keeps the ``(7)`` in a train.py comment and the (7) in derivation.tex the same equation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Literal

import sympy

Section = Literal["forward", "loss", "delta", "delta-output", "delta-hidden", "gradient", "update"]


@dataclass(frozen=True)
class Equation:
    """lhs = rhs (or lhs <- rhs for an update).

    ``code_rhs`` is an equivalent right-hand side for code when the textbook form is not the
    numerically stable one (log softmax instead of log of a softmax).
    ``code_name`` is the variable the code assigns; ``number`` is set by :func:`number`.
    """

    key: str
    section: Section
    lhs: sympy.Expr
    rhs: sympy.Expr
    code_name: str = ""
    code_rhs: sympy.Expr | None = None
    update: bool = False
    number: int = 0
    layer: bool = False  # a layer-level (matrix) equation of a layered network

    @property
    def label(self) -> str:
        return "eq:" + self.key.replace("_", "-")


def number(equations: Iterable[Equation]) -> list[Equation]:
    """Number equations 1, 2, ... in order."""
    return [replace(eq, number=i) for i, eq in enumerate(equations, start=1)]


# Where each equation stands in a document: the part (a heading) and its rank there.
PARTS = ("forward", "loss", "delta-output", "delta-hidden", "delta", "gradient", "matrix")


def part_of(eq: Equation) -> str:
    """The document part of an equation: the backward equations of the matrix form have their
    own part; an update goes with its gradient."""
    if eq.layer and eq.section not in ("forward", "loss"):
        return "matrix"
    return "gradient" if eq.section == "update" else eq.section


def document_order(equations: Iterable[Equation]) -> list[Equation]:
    """Equations in the order a document presents them: by part, per unit before matrix form,
    each update right after its gradient."""
    eqs = list(equations)
    position = {eq.key: i for i, eq in enumerate(eqs)}

    def rank(eq: Equation) -> tuple:
        anchor = position[eq.key]
        if eq.section == "update":
            anchor = position.get(eq.key.replace("update-", "gradient-", 1), anchor)
        return (PARTS.index(part_of(eq)), eq.layer, anchor, eq.section == "update")

    return sorted(eqs, key=rank)


def graph_equations(derivation, prefix: str = "") -> list[Equation]:
    """Equations of a scalar-graph derivation: forward, error terms (output first), gradients, updates."""
    net = derivation.network
    loss = bool(net.targets)
    eqs = [
        Equation(f"{prefix}forward-{n}", "loss" if n == net.objective and loss else "forward", n, e, n.name)
        for n, e in net.nodes.items()
    ]
    for node in reversed(list(net.nodes)):
        if node.name in derivation.deltas:
            d = derivation.delta_symbols[node]
            eqs.append(Equation(f"{prefix}delta-{node}", "delta", d, derivation.deltas[node.name], d.name))
    for leaf, rhs in derivation.gradients.items():
        g = derivation.gradient_symbol(leaf)
        eqs.append(Equation(f"{prefix}gradient-{leaf}", "gradient", g, rhs, g.name))
    eta = net.learning_rate_symbol
    for param in derivation.updates:
        p = sympy.Symbol(param)
        code = p - eta * derivation.gradient_symbol(param)
        shown = sympy.Add(p, -sympy.Mul(eta, derivation.gradients[param], evaluate=False), evaluate=False)
        eqs.append(Equation(f"{prefix}update-{param}", "update", p, shown, param, code_rhs=code, update=True))
    return eqs
